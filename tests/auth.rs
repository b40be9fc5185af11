//! Join tokens against the real server: who gets in, who is refused and
//! why, what a reconnect may replace, the `token` command, and the counts.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ejtimaa::server::Server;
use ejtimaa_sim::signaling::{Client, ConnectOptions, Incoming};
use ejtimaa_token::{JoinGrant, JoinSecret};
use serde_json::json;
use support::{request, sample, scrape, scrape_until, start, test_config};

const SECRET: &str = "test-secret-test-secret-test-secret!";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mint_with(secret: &str, room: &str, peer: &str, issued: u64, ttl: u64) -> String {
    let grant = JoinGrant {
        room: room.into(),
        peer: peer.into(),
    };
    JoinSecret::new(secret.as_bytes().to_vec()).unwrap().mint(
        &grant,
        issued,
        Duration::from_secs(ttl),
    )
}

fn mint(room: &str, peer: &str) -> String {
    mint_with(SECRET, room, peer, now(), 600)
}

async fn secured() -> Server {
    let mut config = test_config();
    config.auth.secret = Some(SECRET.into());
    start(config).await
}

/// Connects with `query` and, when given, `auth: { token }`.
async fn connect_as(
    server: &Server,
    query: &[(&str, &str)],
    token: Option<&str>,
) -> Result<(Client, Incoming), String> {
    let options = ConnectOptions {
        auth: token.map(|t| json!({ "token": t })),
        ..ConnectOptions::default()
    };
    let url = format!("http://{}", server.signaling_addr);
    Client::connect_with(&url, query, None, options)
        .await
        .map_err(|e| e.to_string())
}

async fn wait_closed(client: &Client) {
    let start = std::time::Instant::now();
    while client.closed_reason().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_token_for_the_room_and_peer_gets_in() {
    let server = secured().await;
    let ask = [("roomId", "lobby"), ("peerId", "alice")];
    let other_secret = "another-secret-another-secret-another";
    let cases: [(Option<String>, &str); 7] = [
        (None, "needs a join token"),
        (Some("not.a.token".into()), "malformed"),
        (
            Some(mint_with(other_secret, "lobby", "alice", now(), 600)),
            "signature",
        ),
        (
            Some(mint_with(SECRET, "lobby", "alice", now() - 7200, 600)),
            "expired",
        ),
        (
            Some(mint_with(SECRET, "lobby", "alice", now() + 3600, 600)),
            "not valid yet",
        ),
        (Some(mint("elsewhere", "alice")), "another room"),
        (Some(mint("lobby", "mallory")), "another peer id"),
    ];
    for (token, needle) in &cases {
        let err = connect_as(&server, &ask, token.as_deref())
            .await
            .err()
            .unwrap_or_else(|| panic!("admitted with {token:?}"));
        assert!(
            err.contains("unauthorized") && err.contains(needle),
            "{err}"
        );
    }
    assert_eq!(server.signaling.peer_count(), 0);

    // The right token, in the `auth` object or in the query.
    let token = mint("lobby", "alice");
    let (alice, _alice_in) = connect_as(&server, &ask, Some(&token)).await.unwrap();
    request(&alice, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("served");
    let bob_token = mint("lobby", "bob");
    let (bob, _bob_in) = connect_as(&server, &[("token", bob_token.as_str())], None)
        .await
        .expect("a query token alone names room and peer");
    request(&bob, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("served");

    let text = scrape_until(&server, "two peers", |t| {
        sample(t, "Ejtimaa_peers{room_id=\"lobby\"}") == Some(2.0)
    })
    .await;
    assert_eq!(sample(&text, "Ejtimaa_auth_required"), Some(1.0), "{text}");
    for reason in [
        "missing",
        "malformed",
        "signature",
        "expired",
        "not_yet_valid",
        "wrong_room",
        "wrong_peer",
    ] {
        let series = format!("Ejtimaa_auth_refusals_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&text, &series), Some(1.0), "{series}\n{text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_replaces_a_peer_only_with_that_peers_token() {
    let server = secured().await;
    let ask = [("roomId", "lobby"), ("peerId", "alice")];
    let (alice, _alice_in) = connect_as(&server, &ask, Some(&mint("lobby", "alice")))
        .await
        .unwrap();
    support::join(&alice, "Alice").await;

    // Someone who knows alice's id, with no token or with their own.
    for token in [None, Some(mint("lobby", "mallory"))] {
        let err = connect_as(&server, &ask, token.as_deref())
            .await
            .unwrap_err();
        assert!(err.contains("unauthorized"), "{err}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        alice.closed_reason().is_none(),
        "a refused newcomer closed alice"
    );
    request(&alice, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("alice still served");

    // Alice herself, reconnecting with her token, replaces her old connection.
    let (alice2, _alice2_in) = connect_as(&server, &ask, Some(&mint("lobby", "alice")))
        .await
        .unwrap();
    wait_closed(&alice).await;
    request(&alice2, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("the new alice is served");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_says_so_and_ignores_tokens() {
    let server = start(test_config()).await;
    let (peer, _in) = connect_as(
        &server,
        &[("roomId", "r"), ("peerId", "p")],
        Some("whatever"),
    )
    .await
    .unwrap();
    request(&peer, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("served");
    let text = scrape(&server).await;
    assert_eq!(sample(&text, "Ejtimaa_auth_required"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "Ejtimaa_auth_refusals_total{reason=\"missing\"}"),
        Some(0.0)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_command_mints_what_the_server_accepts() {
    let bin = env!("CARGO_BIN_EXE_ejtimaa");
    let out = std::process::Command::new(bin)
        .args([
            "token", "--room", "lobby", "--peer", "carol", "--ttl", "10m",
        ])
        .env("EJTIMAA_AUTH_SECRET", SECRET)
        .env_remove("EJTIMAA_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim_end();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let server = secured().await;
    let (carol, _in) = connect_as(&server, &[("roomId", "lobby")], Some(token))
        .await
        .expect("the minted token admits");
    request(&carol, "getRouterRtpCapabilities", json!({}))
        .await
        .expect("served");
    server.shutdown().await;

    // Without a secret there is nothing to sign with: a clear error.
    let out = std::process::Command::new(bin)
        .args(["token", "--room", "lobby", "--peer", "carol"])
        .env_remove("EJTIMAA_AUTH_SECRET")
        .env_remove("EJTIMAA_AUTH_SECRET_FILE")
        .env_remove("EJTIMAA_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no join-token secret"), "{err}");
}

/// The simulator, given the secret, mints a token for each of its peers:
/// every peer joins and the run's live checks pass, with nothing refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_joins_a_server_that_requires_tokens() {
    use ejtimaa_sim::runner::{RunOptions, run};
    use ejtimaa_sim::scenario::Scenario;
    use ejtimaa_sim::tokens::Tokens;

    let server = secured().await;
    let mut scenario = Scenario::named("smoke").expect("smoke is built in");
    scenario.duration_secs = 5.0;
    scenario.warm_up_secs = 3.0;
    let signaling = format!("http://{}", server.signaling_addr);
    let exporter = format!("http://{}/metrics", server.exporter_addr.unwrap());
    let mut opts = RunOptions::new(signaling.parse().unwrap(), exporter.parse().unwrap());
    opts.room_grace = Duration::from_millis(100);
    opts.tokens = Tokens::new(Some(JoinSecret::new(SECRET.as_bytes().to_vec()).unwrap()));
    let report = tokio::time::timeout(Duration::from_secs(40), run(&scenario, &opts))
        .await
        .expect("the run ends in time")
        .expect("the run completes");
    assert!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.total.peers, 6);
    let text = scrape(&server).await;
    let refused: f64 = text
        .lines()
        .filter(|l| l.starts_with("Ejtimaa_auth_refusals_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(refused, 0.0, "{text}");
    server.shutdown().await;
}
