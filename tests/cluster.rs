//! Several servers, one room directory: a real `redis-server` and three
//! Ejtimaa processes (the built binary) with short heartbeats (200 ms, TTL
//! 1 s). Rooms are placed by their first join, peers reaching another node
//! are sent to the room's node, a killed node's rooms open elsewhere after
//! its TTL, `GET /sd` lists the live nodes, and a real Prometheus discovers
//! and scrapes all three through it. A server whose Redis is down refuses
//! new rooms and says so in its metrics.

#[path = "support/cluster.rs"]
mod cluster;
// Shared with tests/prometheus.rs, which uses the rest of it.
#[allow(dead_code)]
#[path = "support/prometheus.rs"]
mod prom;
mod support;

use std::time::Duration;

use anyhow::{Context, ensure};
use cluster::{Node, Redis, SCRAPE_SECRET, get};
use ejtimaa::cluster::Redirect;
use ejtimaa::config::ClusterConfig;
use ejtimaa_sim::signaling::{Client, ConnectOptions, Error, Incoming};
use prom::Prometheus;
use serde_json::Value;
use support::{expect_message, join_without_transports, wait_for};

/// Connects to `url` for `room` as `peer`.
/// Connects to `url` for `room` as `peer`, following no redirect.
async fn connect(url: &str, room: &str, peer: &str) -> Result<(Client, Incoming), Error> {
    let options = ConnectOptions {
        follow_redirects: 0,
        ..ConnectOptions::default()
    };
    Client::connect_with(url, &[("roomId", room), ("peerId", peer)], None, options).await
}

/// The `connect_error` message of a refused connection.
fn refusal(result: Result<(Client, Incoming), Error>) -> String {
    match result {
        Err(Error::ConnectRefused(data)) => {
            data["message"].as_str().unwrap_or_default().to_string()
        }
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("admitted, where a refusal was expected"),
    }
}

/// The redirect a refused connection carries.
fn redirect(result: Result<(Client, Incoming), Error>) -> Redirect {
    let message = refusal(result);
    Redirect::parse(&message).unwrap_or_else(|| panic!("not a redirect: {message}"))
}

/// The value of an unlabelled series in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Nodes a, b and c, whose claims live `ttl_ms` without a heartbeat.
async fn three_nodes(redis: &Redis, ttl_ms: u64) -> anyhow::Result<(Node, Node, Node)> {
    let (a, b, c) = tokio::join!(
        Node::start("a", redis.addr, ttl_ms),
        Node::start("b", redis.addr, ttl_ms),
        Node::start("c", redis.addr, ttl_ms)
    );
    Ok((a?, b?, c?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_join_places_a_room_and_the_other_nodes_send_its_peers_there()
-> anyhow::Result<()> {
    let redis = Redis::start().await?;
    // A long TTL: r1's claim must go when r1 closes, not when it expires.
    let (a, b, c) = three_nodes(&redis, 10_000).await?;

    // The first peer of r1 reaches a: r1 is a's.
    let (p1, mut in1) = connect(&a.url(), "r1", "p1").await?;
    assert_eq!(redis.room_owner("r1"), "a");
    join_without_transports(&p1, "one").await;

    // b and c send r1's next peer to a, by its announced URL.
    for node in [&b, &c] {
        let to = redirect(connect(&node.url(), "r1", "p2").await);
        assert_eq!(
            to,
            Redirect {
                node: "a".into(),
                url: a.url()
            }
        );
    }
    let b_metrics = b.metrics().await?;
    // The cluster families follow Prometheus' naming rules.
    let complaints = prom::promtool_check_metrics(&b_metrics)?;
    let ours: Vec<_> = complaints
        .iter()
        .filter(|c| c.metric.starts_with("Ejtimaa_cluster"))
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
    assert!(b_metrics.contains("# TYPE Ejtimaa_cluster_directory_up gauge"));
    assert_eq!(
        sample(&b_metrics, "Ejtimaa_cluster_redirects_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&b_metrics, "Ejtimaa_rooms"),
        Some(0.0),
        "b opened no room"
    );

    // The simulator's client follows the redirect (by default) into the
    // same room as p1.
    let (p2, _in2) = Client::connect(&b.url(), &[("roomId", "r1"), ("peerId", "p2")], None).await?;
    join_without_transports(&p2, "two").await;
    let new_peer = expect_message(&mut in1, "newPeer").await;
    assert_eq!(new_peer["id"], "p2", "{new_peer}");

    // Another room opens where its first peer arrives, and a sends there.
    let (_p3, _in3) = connect(&b.url(), "r2", "p3").await?;
    assert_eq!(redis.room_owner("r2"), "b");
    let to = redirect(connect(&a.url(), "r2", "p4").await);
    assert_eq!(to.url, b.url());

    // Once r1's peers leave and it closes, a gives up its claim at once
    // (not after the TTL), and r1 opens wherever its next peer arrives.
    p1.disconnect().await;
    p2.disconnect().await;
    wait_for("r1's claim released", Duration::from_secs(5), async || {
        redis.room_owner("r1").is_empty().then_some(())
    })
    .await;
    let (_p5, _in5) = connect(&c.url(), "r1", "p5").await?;
    assert_eq!(redis.room_owner("r1"), "c");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_rooms_open_elsewhere_after_its_ttl_and_it_rejoins() -> anyhow::Result<()> {
    let redis = Redis::start().await?;
    let (mut a, b, c) = three_nodes(&redis, 1000).await?;
    let (_p1, _in1) = connect(&a.url(), "r", "p1").await?;
    assert_eq!(redis.room_owner("r"), "a");

    a.kill();
    // Until its TTL passes, the room is still a's: peers are sent there.
    assert_eq!(redirect(connect(&b.url(), "r", "p2").await).node, "a");
    // Then it opens on the node its next peer reaches.
    let (_p2, _in2) = wait_for("r to open on b", Duration::from_secs(5), async || {
        connect(&b.url(), "r", "p2").await.ok()
    })
    .await;
    assert_eq!(redis.room_owner("r"), "b");
    assert_eq!(redirect(connect(&c.url(), "r", "p3").await).node, "b");
    let listed = |sd: &str| -> anyhow::Result<Vec<String>> {
        let groups: Value = serde_json::from_str(sd).context("sd is JSON")?;
        Ok(groups
            .as_array()
            .context("an array")?
            .iter()
            .map(|g| g["labels"]["node"].as_str().unwrap_or_default().to_string())
            .collect())
    };
    let (_, sd) = get(c.exporter, "/sd", Some(SCRAPE_SECRET)).await?;
    assert_eq!(listed(&sd)?, ["b", "c"], "{sd}");

    // A node restarted with the same id joins again and takes new rooms.
    let a = Node::start("a", redis.addr, 1000).await?;
    let (_, sd) = get(c.exporter, "/sd", Some(SCRAPE_SECRET)).await?;
    assert_eq!(listed(&sd)?, ["a", "b", "c"], "{sd}");
    let (_p4, _in4) = connect(&a.url(), "r3", "p4").await?;
    assert_eq!(redis.room_owner("r3"), "a");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_every_node_through_one_nodes_sd() -> anyhow::Result<()> {
    let redis = Redis::start().await?;
    let (a, b, c) = three_nodes(&redis, 1000).await?;

    // The list itself, behind the exporter's secret.
    let (status, _) = get(b.exporter, "/sd", None).await?;
    assert_eq!(status, 401);
    let (status, sd) = get(b.exporter, "/sd", Some(SCRAPE_SECRET)).await?;
    assert_eq!(status, 200, "{sd}");
    let groups: Value = serde_json::from_str(&sd)?;
    let expected: Vec<Value> = [&a, &b, &c]
        .iter()
        .map(|n| {
            serde_json::json!({
                "targets": [n.exporter.to_string()],
                "labels": {
                    "node": n.id,
                    "region": "test",
                    "__scheme__": "http",
                    "__meta_ejtimaa_signaling_url": n.url(),
                },
            })
        })
        .collect();
    assert_eq!(groups, Value::Array(expected));

    // A real Prometheus that knows only b's /sd scrapes all three.
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: ejtimaa\n    authorization:\n      credentials: {SCRAPE_SECRET}\n\
         \x20   http_sd_configs:\n      - url: http://{}/sd\n        refresh_interval: 1s\n\
         \x20       authorization:\n          type: Bearer\n          credentials: {SCRAPE_SECRET}\n",
        b.exporter
    );
    let prometheus = Prometheus::start_with(&yaml).await?;
    let started = std::time::Instant::now();
    let up = loop {
        let up = prometheus.query("up{job=\"ejtimaa\"}").await?;
        if up.len() == 3 && up.iter().all(|s| s.value == 1.0) {
            break up;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "not all three nodes up in Prometheus within 30 s: {up:?}\n{yaml}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut nodes: Vec<String> = up
        .iter()
        .map(|s| s.labels["node"].as_str().unwrap_or_default().to_string())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["a", "b", "c"], "{up:?}");
    assert!(up.iter().all(|s| s.labels["region"] == "test"), "{up:?}");
    // And what it scraped is each node's own exposition.
    let directory_up = prometheus.query("Ejtimaa_cluster_directory_up").await?;
    ensure!(
        directory_up.len() == 3 && directory_up.iter().all(|s| s.value == 1.0),
        "{directory_up:?}\n{}",
        prometheus.log()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_new_rooms_are_refused_and_the_metrics_say_so() -> anyhow::Result<()> {
    // A directory address where nothing listens yet.
    let redis_addr = prom::free_loopback_port()?;
    let mut config = support::test_config();
    let mut c = ClusterConfig::new(format!("redis://{redis_addr}"), "solo");
    (c.heartbeat_ms, c.ttl_ms) = (200, 1000);
    config.cluster = Some(c);
    let server = support::start(config).await;
    let url = format!("http://{}", server.signaling_addr);

    let message = refusal(connect(&url, "r", "p1").await);
    assert!(
        message.contains("room directory is unreachable"),
        "{message}"
    );
    let text = support::scrape(&server).await;
    assert_eq!(
        sample(&text, "Ejtimaa_cluster_directory_up"),
        Some(0.0),
        "{text}"
    );
    assert!(sample(&text, "Ejtimaa_cluster_directory_errors_total").unwrap_or(0.0) >= 1.0);
    let (status, _, _) = support::http_get(server.exporter_addr.unwrap(), "/sd", &[]).await;
    assert_eq!(status, 503);

    // Once Redis is there, the heartbeat registers the node and rooms open.
    let redis = Redis::start_on(redis_addr).await?;
    support::scrape_until(&server, "the directory back up", |t| {
        sample(t, "Ejtimaa_cluster_directory_up") == Some(1.0)
    })
    .await;
    let (_p1, _in1) = connect(&url, "r", "p1").await?;
    assert_eq!(redis.room_owner("r"), "solo");
    server.shutdown().await;
    // An orderly stop gives the rooms and the registration back at once.
    assert_eq!(redis.room_owner("r"), "");
    assert_eq!(redis.cli(&["EXISTS", "ejtimaa:node:solo"])?, "0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_that_cannot_open_here_is_not_left_claimed() -> anyhow::Result<()> {
    let redis = Redis::start().await?;
    let mut config = support::test_config();
    config.limits.max_rooms = 1;
    // A long TTL: the claim must go when the opening fails, not when it expires.
    let mut c = ClusterConfig::new(format!("redis://{}", redis.addr), "solo");
    (c.heartbeat_ms, c.ttl_ms) = (200, 10_000);
    config.cluster = Some(c);
    let server = support::start(config).await;
    let url = format!("http://{}", server.signaling_addr);

    let (_p1, _in1) = connect(&url, "r1", "p1").await?;
    let message = refusal(connect(&url, "r2", "p2").await);
    assert!(message.contains("max_rooms"), "{message}");
    wait_for(
        "r2's claim given back",
        Duration::from_secs(3),
        async || redis.room_owner("r2").is_empty().then_some(()),
    )
    .await;
    assert_eq!(redis.room_owner("r1"), "solo");
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_with_a_node_id_in_use_takes_no_rooms_until_it_is_free()
-> anyhow::Result<()> {
    let redis = Redis::start().await?;
    let solo = || {
        let mut config = support::test_config();
        let mut c = ClusterConfig::new(format!("redis://{}", redis.addr), "twin");
        (c.heartbeat_ms, c.ttl_ms) = (200, 10_000);
        config.cluster = Some(c);
        config
    };
    let first = support::start(solo()).await;
    let second = support::start(solo()).await;
    let url = format!("http://{}", second.signaling_addr);

    let message = refusal(connect(&url, "r", "p1").await);
    assert!(message.contains("not registered"), "{message}");
    let text = support::scrape(&second).await;
    assert_eq!(sample(&text, "Ejtimaa_cluster_directory_up"), Some(0.0));
    // The first one keeps its registration and its rooms.
    let first_url = format!("http://{}", first.signaling_addr);
    let (_p2, _in2) = connect(&first_url, "r2", "p2").await?;
    assert_eq!(redis.room_owner("r2"), "twin");

    // Once the first stops (and leaves the directory), the second takes over.
    first.shutdown().await;
    support::scrape_until(&second, "the second registered", |t| {
        sample(t, "Ejtimaa_cluster_directory_up") == Some(1.0)
    })
    .await;
    let (_p1, _in1) = connect(&url, "r", "p1").await?;
    second.shutdown().await;
    Ok(())
}
