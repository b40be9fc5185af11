//! The simulator across a cluster: a real `redis-server`, three Ejtimaa
//! processes, and `sim/scenarios/cluster.toml` run by the sim library given
//! one node's signaling and exporter. The sim finds the other nodes through
//! that exporter's `GET /sd`, starts the rooms on different nodes and sends
//! their later peers to other nodes, which redirect them; every node's
//! exporter is checked live against the peers that ended up on it.

#[path = "support/cluster.rs"]
mod cluster;
// Shared with tests/prometheus.rs, which uses the rest of it.
#[allow(dead_code)]
#[path = "support/prometheus.rs"]
mod prom;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster::{Node, Redis, SCRAPE_SECRET};
use ejtimaa_sim::exporter::Exporter;
use ejtimaa_sim::runner::{RunOptions, run};
use ejtimaa_sim::scenario::Scenario;

/// The whole run, cluster start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(60);

/// `Ejtimaa_peers{room_id}` of one exposition, as room → peers.
fn peers_by_room(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Ejtimaa_peers{room_id=\"")?;
            let (room, rest) = rest.split_once("\"}")?;
            Some((room.to_string(), rest.trim().parse().ok()?))
        })
        .collect()
}

/// The value of an unlabelled series.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_spreads_rooms_over_three_nodes_and_checks_each_against_its_own_peers() {
    // The sim's warnings (a join refused, a scrape failed) go to the test's
    // output, which a failure shows.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let redis = Redis::start().await.expect("redis starts");
    let (a, b, c) = tokio::join!(
        Node::start("a", redis.addr, 10_000),
        Node::start("b", redis.addr, 10_000),
        Node::start("c", redis.addr, 10_000)
    );
    let nodes = [a.expect("a"), b.expect("b"), c.expect("c")];
    let scenario = Scenario::named("cluster").expect("cluster is built in");
    let peers_per_room = scenario.peers_per_room as f64;

    // Only b is named: the sim finds a and c through b's GET /sd.
    let exporter = Exporter::new(
        format!("http://{}/metrics", nodes[1].exporter)
            .parse()
            .unwrap(),
        &ejtimaa_sim::tls::system(),
        Some(SCRAPE_SECRET.into()),
    )
    .expect("an exporter");
    let mut opts = RunOptions::with_exporter(nodes[1].url().parse().unwrap(), exporter);
    opts.room_grace = Duration::from_millis(100);
    let tag = opts.tag.clone();
    let sim =
        tokio::spawn(async move { tokio::time::timeout(DEADLINE, run(&scenario, &opts)).await });

    // Meanwhile, from outside the sim: once every peer is up, each room is
    // exported by exactly one node, with all its peers, and that node holds
    // the room's claim in Redis.
    let started = Instant::now();
    let placed = loop {
        let mut placed = BTreeMap::new();
        for node in &nodes {
            let metrics = node.metrics().await.expect("metrics");
            for (room, peers) in peers_by_room(&metrics) {
                if room.starts_with(&tag) {
                    placed
                        .entry(room)
                        .or_insert_with(Vec::new)
                        .push((node.id.clone(), peers));
                }
            }
        }
        let full = placed
            .values()
            .filter(|on: &&Vec<(String, f64)>| on.len() == 1 && on[0].1 == peers_per_room)
            .count();
        if full == 6 {
            break placed;
        }
        // A run that ended already, or rooms still not placed, fail with
        // what the sim said and what the nodes logged.
        if sim.is_finished() || started.elapsed() > Duration::from_secs(20) {
            let outcome = if sim.is_finished() {
                format!(
                    "the sim ended: {:?}",
                    sim.await.map(|r| r.map(|r| r.map(|r| r.table())))
                )
            } else {
                "the sim is still running".to_string()
            };
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("--- node {}:\n{}", n.id, n.log()))
                .collect();
            panic!(
                "rooms not each on one node with all their peers: {placed:?}; {outcome}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut used = BTreeSet::new();
    for (room, on) in &placed {
        assert_eq!(redis.room_owner(room), on[0].0, "{room}");
        used.insert(on[0].0.clone());
    }
    assert_eq!(used.len(), 3, "the rooms start on every node: {placed:?}");

    let report = sim
        .await
        .expect("the sim task")
        .expect("the run ends within its deadline")
        .expect("the run completes");
    println!("{}", report.table());
    assert!(report.passed(), "{}", report.table());
    assert_eq!(report.total.peers, 18);
    assert!(report.total.delivered_ratio.is_some_and(|d| d > 0.99));

    // One line per node, each checked against its own peers and scraped.
    assert_eq!(report.nodes.len(), 3);
    for n in &report.nodes {
        assert!(n.steady_scrapes > 0, "{n:?}");
        assert_eq!(n.violations, 0, "{n:?}");
        assert_eq!(n.total.peers, n.rooms * 3, "{n:?}");
    }
    let node_ids: Vec<&str> = report.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(node_ids, ["a", "b", "c"]);
    // Rooms in the report are on the node that exported them.
    for r in &report.rooms {
        assert_eq!(r.node.as_deref(), Some(placed[&r.room_id][0].0.as_str()));
    }

    // Redirects happened, and the nodes counted exactly those.
    assert!(report.redirects > 0, "no redirect followed");
    let mut exported = 0.0;
    for (node, line) in nodes.iter().zip(&report.nodes) {
        let metrics = node.metrics().await.expect("metrics");
        let counted = sample(&metrics, "Ejtimaa_cluster_redirects_total");
        assert_eq!(counted as usize, line.redirected_away, "node {}", node.id);
        assert_eq!(line.redirects_exported, Some(line.redirected_away as u64));
        exported += counted;
    }
    assert_eq!(exported as usize, report.redirects);
}
