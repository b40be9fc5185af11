//! `ejtimaa-sim` as a load tester for a deployment: against an `ejtimaa`
//! binary started separately with TLS on signaling and exporter, a
//! bearer-protected exporter and required join tokens, the sim binary runs
//! with `--server wss://… --exporter https://… --exporter-secret …
//! --auth-secret … --insecure` and flags only (no scenario file), checks the
//! exporter live and reports an exact delivered ratio in its JSON report.
//! Without `--insecure` the self-signed certificate is refused, and a wrong
//! scrape secret ends the run before it starts.

mod support;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::sim_bin;

const AUTH_SECRET: &str = "a-join-secret-of-at-least-32-bytes-for-tests";
const SCRAPE_SECRET: &str = "a-scrape-secret";

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server with TLS everywhere and both secrets; returns it and
/// its signaling and exporter URLs as it printed them.
fn start_server(dir: &Path) -> (Server, String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let config = dir.join("ejtimaa.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nport = 0\n[http.tls]\ncert = {cert_path:?}\nkey = {key_path:?}\n\
             [auth]\nsecret = {AUTH_SECRET:?}\n\
             [prometheus]\nport = 0\nreuse_http_tls = true\nsecret = {SCRAPE_SECRET:?}\n\
             [mediasoup]\nnum_workers = 1\n[admin]\nenabled = false\n\
             [rooms]\nempty_grace_ms = 500\n[limits]\nmax_connections_per_ip = 1000\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ejtimaa"))
        .arg("--config")
        .arg(&config)
        .args(["--log", "warn"])
        .env_remove("EJTIMAA_AUTH_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout for the server's whole life, so that it never blocks.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("ejtimaa: signaling ") {
                let _ = tx.send(("signaling", url.to_string()));
            } else if let Some(url) = line.strip_prefix("ejtimaa: exporter ") {
                let _ = tx.send(("exporter", url.to_string()));
            }
        }
    });
    let (mut signaling, mut exporter) = (None, None);
    while signaling.is_none() || exporter.is_none() {
        let (what, url) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its URLs within 30 s");
        match what {
            "signaling" => signaling = Some(url),
            _ => exporter = Some(url),
        }
    }
    (server, signaling.unwrap(), exporter.unwrap())
}

/// `https://127.0.0.1:PORT` as `wss://…`, the way a user would give it.
fn wss(signaling: &str) -> String {
    signaling.replacen("https://", "wss://", 1)
}

#[test]
fn the_sim_loads_a_tls_server_with_secrets_from_flags_alone() {
    let dir = std::env::temp_dir().join(format!("ejtimaa-sim-remote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (server, signaling, exporter) = start_server(&dir);
    assert!(signaling.starts_with("https://"), "{signaling}");
    assert!(exporter.starts_with("https://"), "{exporter}");
    let report = dir.join("report.json");
    let output = Command::new(sim_bin())
        .args(["--server", &wss(&signaling)])
        .args(["--exporter", &exporter])
        .args(["--exporter-secret", SCRAPE_SECRET])
        .args(["--auth-secret", AUTH_SECRET])
        .arg("--insecure")
        .args(["--rooms", "3", "--peers-per-room", "4", "--duration", "20s"])
        .args([
            "--warm-up",
            "4s",
            "--scrape-interval",
            "1s",
            "--ramp-up",
            "20",
        ])
        .args(["--video-bitrate", "200k", "--video-fps", "15"])
        .args(["--room-grace-ms", "500"])
        .arg("--report")
        .arg(&report)
        .env_remove("EJTIMAA_AUTH_SECRET")
        .env_remove("EJTIMAA_EXPORTER_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("the sim runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("a report")).expect("JSON");
    assert!(json["server"].as_str().unwrap().starts_with("wss://"));
    assert_eq!(json["scenario"]["rooms"], 3);
    assert_eq!(json["scenario"]["peers_per_room"], 4);
    assert_eq!(json["violations"].as_array().unwrap().len(), 0, "{json:#}");
    assert_eq!(json["failed_joins"].as_array().unwrap().len(), 0);
    let total = &json["total"];
    assert_eq!(total["peers"], 12);
    assert!(json["scrapes"]["count"].as_u64().unwrap() >= 5);
    let delivered = total["delivered_ratio"]
        .as_f64()
        .expect("a delivered ratio");
    assert!(
        (0.999..=1.0).contains(&delivered),
        "delivered ratio {delivered}"
    );
    assert!(total["received_mbps"].as_f64().unwrap() > 0.0);
    // Each of the 12 subscribers gets both streams of its 3 room mates.
    let subscribers = json["subscribers"].as_array().unwrap();
    assert_eq!(subscribers.len(), 12);
    for s in subscribers {
        assert_eq!(s["tracks"]["received"], 6, "{s}");
        assert_eq!(s["tracks"]["expected"], 6, "{s}");
    }

    // A wrong scrape secret: the exporter refuses every scrape.
    let unauthorised = Command::new(sim_bin())
        .args(["--server", &wss(&signaling)])
        .args(["--exporter", &exporter])
        .args(["--exporter-secret", "not-the-secret"])
        .args(["--auth-secret", AUTH_SECRET])
        .arg("--insecure")
        .args(["--rooms", "1", "--peers-per-room", "1", "--duration", "1s"])
        .env_remove("EJTIMAA_AUTH_SECRET")
        .env_remove("EJTIMAA_EXPORTER_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("the sim runs");
    let stderr = String::from_utf8_lossy(&unauthorised.stderr);
    assert_eq!(unauthorised.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("status 401"), "{stderr}");

    // The same server, no --insecure: its certificate is not trusted.
    let refused = Command::new(sim_bin())
        .args(["--server", &wss(&signaling)])
        .args(["--exporter", &exporter])
        .args(["--exporter-secret", SCRAPE_SECRET])
        .args(["--auth-secret", AUTH_SECRET])
        .args(["--rooms", "1", "--peers-per-room", "1", "--duration", "1s"])
        .env_remove("EJTIMAA_AUTH_SECRET")
        .env_remove("EJTIMAA_EXPORTER_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("the sim runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
