//! The admin socket against a real server with peers joined: every command,
//! several clients at once, bad input, and the socket file's life.

mod support;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use ejtimaa::admin::unframe;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// A socket in a directory of its own, which the server creates private.
fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("ejtimaa-test-{}-{name}", std::process::id()))
        .join("admin.sock")
}

struct Admin {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Admin {
    async fn open(path: &PathBuf) -> Admin {
        let stream = UnixStream::connect(path)
            .await
            .expect("admin socket answers");
        let (read, writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("ejtimaa "), "{greeting}");
        Admin { reader, writer }
    }

    async fn ask(&mut self, command: &str) -> String {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.read_answer().await.expect("an answer")
    }

    async fn read_answer(&mut self) -> Option<String> {
        let mut answer = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            match unframe(line.trim_end_matches('\n')) {
                None => return Some(answer),
                Some(text) => {
                    answer.push_str(text);
                    answer.push('\n');
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers() {
    let path = socket_path("commands");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path.parent().unwrap())
        .unwrap();
    std::fs::write(&path, b"stale file from a crashed run").unwrap();
    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.socket = path.clone();
    let server = start(config).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let (alice, _a) = connect(&server, "lobby", "alice").await;
    let (alice_send, _) = join(&alice, "Alice \"A\"\nnewline").await;
    request(
        &alice,
        "produce",
        json!({ "transportId": alice_send, "kind": "audio", "rtpParameters": opus_parameters(77) }),
    )
    .await
    .unwrap();
    let (bob, mut bob_in) = connect(&server, "lobby", "bob").await;
    join(&bob, "Bob").await;
    expect_message(&mut bob_in, "newConsumer").await;

    let mut admin = Admin::open(&path).await;
    let mut other = Admin::open(&path).await; // several clients at once

    let help = admin.ask("help").await;
    for command in [
        "usage",
        "stats",
        "rooms",
        "peers",
        "dumpRooms",
        "dumpPeers",
        "dw",
        "dr",
        "dt",
        "dp",
        "dc",
        "st",
        "sp",
        "sc",
        "logLevel",
    ] {
        assert!(help.contains(command), "help lacks {command}:\n{help}");
    }
    let stats = other.ask("stats").await;
    assert!(stats.starts_with("rooms:1 peers:2 transports:4 producers:1 consumers:1 workers:1 connected:2 ignored_events:0"), "{stats}");
    let stats: Value = serde_json::from_str(&admin.ask("stats --json").await).unwrap();
    assert_eq!(stats["peers"], 2);

    let usage = admin.ask("usage").await;
    assert!(
        usage.starts_with("process: cpu ") && usage.contains("rss"),
        "{usage}"
    );
    let usage: Value = serde_json::from_str(&admin.ask("usage --json").await).unwrap();
    assert!(usage["process"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(
        usage["workers"][0]["cpu_seconds"].as_f64().is_some(),
        "{usage}"
    );

    let rooms = admin.ask("rooms").await;
    assert!(
        rooms
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("lobby") && l.trim_end().ends_with('2')),
        "{rooms}"
    );
    let peers = admin.ask("peers").await;
    assert!(
        peers.contains("Alice \"A\"\\nnewline"),
        "control characters escaped:\n{peers}"
    );
    assert_eq!(peers.lines().count(), 3, "{peers}");
    let peers: Value = serde_json::from_str(&admin.ask("peers --json").await).unwrap();
    assert_eq!(peers[0]["id"], "alice");
    assert_eq!(peers[0]["display_name"], "Alice \"A\"\nnewline");
    assert_eq!(peers[0]["transports"].as_array().unwrap().len(), 2);
    let dump: Value = serde_json::from_str(&admin.ask("dumpRooms").await).unwrap();
    assert_eq!(
        dump,
        json!([{ "id": "lobby", "pid": dump[0]["pid"], "peers": ["alice", "bob"] }])
    );
    let dump: Value = serde_json::from_str(&admin.ask("dumpPeers").await).unwrap();
    assert_eq!(dump[1]["id"], "bob");

    // mediasoup's own dumps and stats, newest by default or by id.
    let worker: Value = serde_json::from_str(&admin.ask("dw").await).unwrap();
    assert!(
        worker["routerIds"].as_array().is_some_and(|r| r.len() == 1),
        "{worker}"
    );
    let router: Value = serde_json::from_str(&admin.ask("dr").await).unwrap();
    assert_eq!(router["transportIds"].as_array().unwrap().len(), 4);
    let transport: Value = serde_json::from_str(&admin.ask("dt").await).unwrap();
    let id = transport["id"].as_str().unwrap().to_string();
    let again: Value = serde_json::from_str(&admin.ask(&format!("dt {id}")).await).unwrap();
    assert_eq!(again["id"], id.as_str());
    let producer: Value = serde_json::from_str(&admin.ask("dp").await).unwrap();
    assert_eq!(producer["kind"], "audio");
    let consumer: Value = serde_json::from_str(&admin.ask("dc").await).unwrap();
    assert_eq!(consumer["producerId"], producer["id"]);
    for command in ["st", "sp", "sc"] {
        let stats: Value = serde_json::from_str(&admin.ask(command).await).unwrap();
        assert!(stats.is_array(), "{command}: {stats}");
    }

    // logLevel: this in-process server has no log control to change.
    assert!(admin.ask("logLevel debug").await.starts_with("error: "));
    assert!(admin.ask("logLevel").await.starts_with("error: usage"));
    // Bad input answers an error and the connection carries on.
    assert!(
        admin
            .ask("frobnicate")
            .await
            .starts_with("error: unknown command")
    );
    assert!(admin.ask("dt not-an-id").await.starts_with("error: "));
    assert!(
        admin
            .ask("dt 00000000-0000-0000-0000-000000000000")
            .await
            .starts_with("error: no transport")
    );
    assert!(admin.ask("rooms a b").await.starts_with("error: "));
    admin
        .writer
        .write_all(b"\xff\xfe\x00garbage\n")
        .await
        .unwrap();
    assert!(
        admin
            .read_answer()
            .await
            .unwrap()
            .starts_with("error: not UTF-8")
    );
    assert!(admin.ask("stats").await.starts_with("rooms:1"));

    // A huge line closes that connection, and only that one.
    let mut huge = Admin::open(&path).await;
    huge.writer.write_all(&vec![b'x'; 100_000]).await.unwrap();
    let answer = huge.read_answer().await.unwrap_or_default();
    assert!(answer.starts_with("error: line too long"), "{answer}");
    assert!(huge.read_answer().await.is_none(), "connection closed");
    // A client that leaves mid-command does no harm.
    let mut leaver = Admin::open(&path).await;
    leaver.writer.write_all(b"dumpPeers").await.unwrap();
    drop(leaver);
    assert!(other.ask("stats").await.starts_with("rooms:1"));

    server.shutdown().await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
    std::fs::remove_dir(path.parent().unwrap()).expect("only the socket was in it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_not_taken_over() {
    let path = socket_path("live");
    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.socket = path.clone();
    let first = start(config.clone()).await;
    let err = ejtimaa::server::Server::start(config)
        .await
        .err()
        .expect("second server refused");
    assert!(format!("{err:#}").contains("another server"), "{err:#}");
    let mut admin = Admin::open(&path).await;
    assert!(admin.ask("stats").await.starts_with("rooms:0"));
    first.shutdown().await;
    let _ = std::fs::remove_dir(path.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_where_others_may_write_is_refused() {
    let path = socket_path("open");
    let dir = path.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut config = test_config();
    config.admin.enabled = true;
    config.admin.socket = path.clone();
    let err = ejtimaa::server::Server::start(config.clone())
        .await
        .err()
        .expect("an open directory is refused");
    assert!(format!("{err:#}").contains("others may write"), "{err:#}");
    assert!(!path.exists(), "nothing was bound");
    // Made private, the same place is accepted.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = start(config).await;
    Admin::open(&path).await;
    server.shutdown().await;
    std::fs::remove_dir(&dir).unwrap();
}
