//! A real Prometheus (Debian's package, installed when missing) scraping a
//! real server under simulator load; `promtool` on the exposition in every
//! metrics mode; and the operator files in `deploy/`: the example scrape
//! config passes `promtool check config`, and every query of the Grafana
//! dashboard runs on that live Prometheus over metrics the server exports.

#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/prometheus.rs"]
mod prom;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use ejtimaa::config::MetricsSetting;
use ejtimaa::server::Server;
use ejtimaa_sim::report::Report;
use ejtimaa_sim::runner::{RunOptions, run};
use ejtimaa_sim::scenario::Scenario;
use prom::{Complaint, Prometheus};
use support::{scrape, start, test_config};
use tokio::task::JoinHandle;

/// The original exporter's metric names: promtool's complaints about them
/// (counters without `_total`, ...) are inherent, since they are never
/// renamed. See deploy/README.md.
const ORIGINAL_NAMES: [&str; 6] = [
    "Ejtimaa_rooms",
    "Ejtimaa_peers",
    "mediasoup_producer_byte_count_bytes",
    "mediasoup_consumer_byte_count_bytes",
    "mediasoup_producer_score",
    "mediasoup_consumer_score",
];

/// The smoke scenario's load: 2 rooms of 3 peers, audio and video, each
/// consuming the other two.
const PEERS: usize = 6;
const PRODUCER_STREAMS: usize = 12;
const CONSUMER_STREAMS: usize = 24;

/// The shipped files under test.
const DASHBOARD: &str = "deploy/grafana/ejtimaa.json";
const SCRAPE_CONFIG: &str = "deploy/prometheus.yml";

/// What a check of a starting load may take: never hang CI.
const DEADLINE: Duration = Duration::from_secs(30);
/// What a check may take once Prometheus has seen the whole load (every
/// series scraped, rates defined): short enough to end within the load,
/// so that a failure reports the missing data rather than an ended run.
const SETTLED: Duration = Duration::from_secs(8);

/// A server with simulated peers running against it.
struct Loaded {
    server: Server,
    sim: JoinHandle<anyhow::Result<Report>>,
}

impl Loaded {
    /// Starts a server writing `metrics`, and the smoke scenario with
    /// `rooms` x `peers_per_room` for `secs` seconds against it.
    async fn start(
        metrics: MetricsSetting,
        rooms: usize,
        peers_per_room: usize,
        secs: f64,
    ) -> Loaded {
        let mut config = test_config();
        config.prometheus.metrics = metrics;
        let grace = Duration::from_millis(config.rooms.empty_grace_ms);
        let server = start(config).await;
        let mut scenario = Scenario::named("smoke").expect("smoke is built in");
        scenario.rooms = rooms;
        scenario.peers_per_room = peers_per_room;
        scenario.duration_secs = secs;
        scenario.warm_up_secs = 4.0;
        let mut opts = RunOptions::new(
            format!("http://{}", server.signaling_addr)
                .parse()
                .expect("url"),
            format!("http://{}/metrics", exporter(&server))
                .parse()
                .expect("url"),
        );
        opts.room_grace = grace;
        let sim = tokio::spawn(async move { run(&scenario, &opts).await });
        Loaded { server, sim }
    }

    /// Waits for the sim's report, then stops the server.
    async fn finish(self) -> anyhow::Result<Report> {
        let report = tokio::time::timeout(DEADLINE, self.sim)
            .await
            .context("the sim did not finish")?
            .context("the sim task")??;
        self.server.shutdown().await;
        Ok(report)
    }

    /// Stops the load without waiting for it, then the server.
    async fn abort(self) {
        self.sim.abort();
        let _ = self.sim.await;
        self.server.shutdown().await;
    }
}

fn exporter(server: &Server) -> std::net::SocketAddr {
    server.exporter_addr.expect("exporter on")
}

/// The complaints on the original names; `Err` listing any other.
fn judge(complaints: &[Complaint]) -> anyhow::Result<Vec<Complaint>> {
    let mut original = Vec::new();
    let mut rejected = Vec::new();
    for c in complaints {
        if ORIGINAL_NAMES.contains(&c.metric.as_str()) {
            original.push(c.clone());
        } else {
            rejected.push(c.to_string());
        }
    }
    ensure!(
        rejected.is_empty(),
        "promtool complains about new series:\n  {}",
        rejected.join("\n  ")
    );
    Ok(original)
}

/// Polls `step` until it returns `Some`, failing with its last `Err` after
/// `deadline`, or as soon as `load` is over (the checks need it).
async fn poll<T, F, Fut>(
    what: &str,
    load: &Loaded,
    deadline: Duration,
    mut step: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        let last = match step().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            Err(e) => Some(e),
        };
        let last = || last.unwrap_or_else(|| anyhow::anyhow!("still waiting"));
        if load.sim.is_finished() {
            return Err(last()).with_context(|| format!("the simulated load ended before {what}"));
        }
        if start.elapsed() > deadline {
            return Err(last()).with_context(|| format!("{what}: not within {deadline:?}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The value of a query that must return exactly one sample.
async fn scalar(prometheus: &Prometheus, promql: &str) -> anyhow::Result<f64> {
    let samples = prometheus.query(promql).await?;
    match samples.as_slice() {
        [one] => Ok(one.value),
        [] => bail!("`{promql}` returned no sample yet"),
        more => bail!("`{promql}` returned {} samples: {more:?}", more.len()),
    }
}

/// Waits until Prometheus sees the target up, every peer, and every
/// stream's byte counter rising.
async fn check_scraped_load(prometheus: &Prometheus, load: &Loaded) -> anyhow::Result<()> {
    let job = prom::JOB;
    let expected = [
        (format!(r#"up{{job="{job}"}}"#), 1.0),
        (
            format!(r#"sum(Ejtimaa_peers{{job="{job}"}})"#),
            PEERS as f64,
        ),
        (
            format!(r#"count(rate(mediasoup_producer_byte_count_bytes{{job="{job}"}}[5s]) > 0)"#),
            PRODUCER_STREAMS as f64,
        ),
        (
            format!(r#"count(rate(mediasoup_consumer_byte_count_bytes{{job="{job}"}}[5s]) > 0)"#),
            CONSUMER_STREAMS as f64,
        ),
    ];
    let expected = &expected;
    poll(
        "Prometheus seeing the whole load",
        load,
        DEADLINE,
        || async move {
            let mut wrong = Vec::new();
            for (promql, want) in expected {
                match scalar(prometheus, promql).await {
                    Ok(v) if v == *want => {}
                    Ok(v) => wrong.push(format!("`{promql}` = {v}, want {want}")),
                    Err(e) => wrong.push(format!("{e:#}")),
                }
            }
            if wrong.is_empty() {
                for (promql, want) in expected {
                    println!("{promql} = {want}");
                }
                Ok(Some(()))
            } else {
                Err(anyhow::anyhow!("{}", wrong.join("\n")))
            }
        },
    )
    .await
    .with_context(|| format!("Prometheus' log:\n{}", prometheus.log()))
}

/// Every panel query runs on the live Prometheus and returns data.
async fn check_dashboard_queries(prometheus: &Prometheus, load: &Loaded) -> anyhow::Result<()> {
    let dashboard = dashboard::load(&prom::repo_root().join(DASHBOARD))?;
    let exprs = dashboard::panel_exprs(&dashboard);
    ensure!(
        exprs.len() >= 20,
        "only {} panel queries found",
        exprs.len()
    );
    let mut queries = BTreeMap::new();
    for e in &exprs {
        queries.insert(dashboard::substitute(&e.expr)?, e.panel.clone());
    }
    // A query Prometheus refuses fails at once; an empty one is retried
    // (a rate needs two scrapes inside its window).
    let queries = &queries;
    poll(
        "every dashboard query returning data",
        load,
        SETTLED,
        || async move {
            let mut empty = BTreeMap::new();
            for (promql, panel) in queries {
                let samples = prometheus
                    .query(promql)
                    .await
                    .with_context(|| format!("panel {panel:?}"))?;
                if samples.is_empty() {
                    empty.insert(promql, panel);
                }
            }
            if empty.is_empty() {
                Ok(Some(()))
            } else {
                Err(anyhow::anyhow!("no data yet for {empty:#?}"))
            }
        },
    )
    .await?;
    println!("{} dashboard queries ran and returned data", queries.len());
    Ok(())
}

/// Every metric the dashboard references has samples in a live scrape of a
/// server in `both` mode (and the scrape passes promtool's lint).
async fn check_dashboard_metrics(load: &Loaded) -> anyhow::Result<()> {
    let dashboard = dashboard::load(&prom::repo_root().join(DASHBOARD))?;
    let mut referenced = BTreeSet::new();
    for e in dashboard::panel_exprs(&dashboard) {
        referenced.extend(dashboard::metric_names(&e.expr));
    }
    for q in dashboard::variable_queries(&dashboard) {
        referenced.extend(dashboard::metric_names(&q));
    }
    ensure!(
        referenced.len() >= 20,
        "only {} metric names found in the dashboard: {referenced:?}",
        referenced.len()
    );
    let referenced = &referenced;
    let text = poll(
        "every referenced metric in a scrape",
        load,
        SETTLED,
        || async move {
            let text = scrape(&load.server).await;
            let missing: Vec<_> = referenced
                .difference(&dashboard::sampled_names(&text))
                .cloned()
                .collect();
            if missing.is_empty() {
                Ok(Some(text))
            } else {
                Err(anyhow::anyhow!(
                    "the dashboard references metrics the server does not export: {missing:?}"
                ))
            }
        },
    )
    .await?;
    println!(
        "{} metric names referenced by the dashboard, all exported",
        referenced.len()
    );
    let original = judge(&prom::promtool_check_metrics(&text)?)?;
    print_allowlisted("both", &original);
    Ok(())
}

fn print_allowlisted(mode: &str, original: &[Complaint]) {
    for c in original {
        println!("promtool ({mode}), allowlisted original name: {c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_a_loaded_server_and_runs_the_dashboard() -> anyhow::Result<()> {
    prom::ensure_installed()?;
    // Long enough for Prometheus' first scrape (its scrape manager starts
    // targets after up to 5 s) and a few more; the checks poll, so a fast
    // machine does not wait for the end before checking.
    let load = Loaded::start(MetricsSetting::Both, 2, 3, 25.0).await;
    let prometheus = Prometheus::start(&[exporter(&load.server)]).await?;

    check_scraped_load(&prometheus, &load).await?;
    check_dashboard_queries(&prometheus, &load).await?;
    check_dashboard_metrics(&load).await?;

    drop(prometheus);
    let report = load.finish().await?;
    ensure!(report.failed_joins.is_empty(), "{:?}", report.failed_joins);
    ensure!(report.total.peers == PEERS, "{} peers", report.total.peers);
    Ok(())
}

/// `promtool check metrics` on a loaded server's exposition, in each metrics
/// mode, once every family the server declares has samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_has_no_complaint_on_new_series_in_any_mode() -> anyhow::Result<()> {
    prom::ensure_installed()?;
    for mode in [
        MetricsSetting::Default,
        MetricsSetting::Aggregated,
        MetricsSetting::Both,
    ] {
        let name = format!("{mode:?}").to_lowercase();
        // 2 peers in one room: producers and consumers of both kinds.
        let loaded = Loaded::start(mode, 1, 2, 15.0).await;
        let load = &loaded;
        let text = poll(
            "every declared family having samples",
            load,
            DEADLINE,
            || async move {
                let text = scrape(&load.server).await;
                let empty: Vec<_> = dashboard::declared_names(&text)
                    .difference(&dashboard::sampled_names(&text))
                    .cloned()
                    .collect();
                if empty.is_empty() {
                    Ok(Some(text))
                } else {
                    Err(anyhow::anyhow!("families without samples: {empty:?}"))
                }
            },
        )
        .await
        .with_context(|| format!("metrics = {name}"))?;
        loaded.abort().await;

        // The mode took effect: aggregates only when asked for, per-stream
        // series unless only aggregates were.
        let declared = dashboard::declared_names(&text);
        ensure!(
            declared.contains("Ejtimaa_room_score") == (mode != MetricsSetting::Default),
            "metrics = {name}: aggregates declared: {}",
            declared.contains("Ejtimaa_room_score")
        );
        ensure!(
            declared.contains("mediasoup_consumer_packets_total")
                == (mode != MetricsSetting::Aggregated),
            "metrics = {name}: per-stream series declared: {}",
            declared.contains("mediasoup_consumer_packets_total")
        );

        let complaints = prom::promtool_check_metrics(&text)?;
        let original = judge(&complaints).with_context(|| format!("metrics = {name}"))?;
        print_allowlisted(&name, &original);
    }
    Ok(())
}

#[test]
fn the_example_scrape_config_passes_promtool() -> anyhow::Result<()> {
    let out = prom::promtool_check_config(&prom::repo_root().join(SCRAPE_CONFIG))?;
    println!("{out}");
    Ok(())
}

/// The dashboard's shape, without a server: importable, filtered by server
/// and room, and covering what an operator needs.
#[test]
fn the_dashboard_is_importable_and_covers_the_exporter() -> anyhow::Result<()> {
    let d = dashboard::load(&prom::repo_root().join(DASHBOARD))?;
    ensure!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {}",
        d["schemaVersion"]
    );
    ensure!(d["uid"].is_string() && d["title"].is_string());
    let vars: BTreeMap<&str, &str> = d["templating"]["list"]
        .as_array()
        .context("templating.list")?
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["type"].as_str()?)))
        .collect();
    ensure!(vars.get("datasource") == Some(&"datasource"), "{vars:?}");
    ensure!(vars.get("instance") == Some(&"query"), "{vars:?}");
    ensure!(vars.get("node") == Some(&"query"), "{vars:?}");
    ensure!(vars.get("room_id") == Some(&"query"), "{vars:?}");

    let exprs = dashboard::panel_exprs(&d);
    ensure!(exprs.len() >= 20, "only {} panel queries", exprs.len());
    let mut referenced = BTreeSet::new();
    for e in &exprs {
        dashboard::substitute(&e.expr).with_context(|| format!("panel {:?}", e.panel))?;
        // Several servers behind one Prometheus: every query is filtered
        // by the Server selector.
        ensure!(
            e.expr.contains(r#"instance=~"$instance""#),
            "panel {:?} ignores the instance variable: {}",
            e.panel,
            e.expr
        );
        // A cluster's nodes (GET /sd's `node` label): the Node selector too.
        ensure!(
            e.expr.contains(r#"node=~"$node""#),
            "panel {:?} ignores the node variable: {}",
            e.panel,
            e.expr
        );
        referenced.extend(dashboard::metric_names(&e.expr));
    }

    // Every panel talks to the selected data source.
    let mut ids = BTreeSet::new();
    fn panels(v: &serde_json::Value) -> Vec<&serde_json::Value> {
        let mut out = Vec::new();
        for p in v.as_array().into_iter().flatten() {
            out.push(p);
            out.extend(panels(&p["panels"]));
        }
        out
    }
    for p in panels(&d["panels"]) {
        ensure!(
            ids.insert(p["id"].as_u64()),
            "duplicate panel id {}",
            p["id"]
        );
        if p["type"] != "row" {
            ensure!(
                p["datasource"]["uid"] == "${datasource}",
                "panel {} has datasource {}",
                p["title"],
                p["datasource"]
            );
        }
    }

    let needed = [
        "Ejtimaa_rooms",
        "Ejtimaa_peers",
        "mediasoup_producer_byte_count_bytes",
        "mediasoup_consumer_byte_count_bytes",
        "Ejtimaa_room_rate_bytes_per_second_sum",
        "Ejtimaa_room_score_min",
        "mediasoup_producer_info",
        "mediasoup_consumer_info",
        "mediasoup_producer_score",
        "mediasoup_consumer_score",
        "mediasoup_consumer_fraction_lost_ratio",
        "mediasoup_consumer_packets_lost",
        "mediasoup_consumer_round_trip_time_seconds",
        "mediasoup_producer_jitter_seconds",
        "Ejtimaa_worker_cpu_seconds_total",
        "Ejtimaa_workers",
        "Ejtimaa_worker_routers",
        "Ejtimaa_transports",
        "Ejtimaa_signaling_requests_total",
        "Ejtimaa_signaling_errors_total",
        "Ejtimaa_scrape_duration_seconds",
        "Ejtimaa_stats_timeouts_total",
        "Ejtimaa_peers_joined_total",
        "Ejtimaa_peers_left_total",
    ];
    let missing: Vec<_> = needed
        .iter()
        .filter(|n| !referenced.contains(**n))
        .collect();
    ensure!(missing.is_empty(), "no panel shows {missing:?}");
    Ok(())
}

#[test]
fn judging_allows_complaints_on_original_names_only() {
    let c = |metric: &str, problem: &str| Complaint {
        metric: metric.to_string(),
        problem: problem.to_string(),
    };
    let original = judge(&[
        c(
            "mediasoup_consumer_byte_count_bytes",
            r#"counter metrics should have "_total" suffix"#,
        ),
        c("mediasoup_producer_score", "no unit"),
    ])
    .unwrap();
    assert_eq!(original.len(), 2);
    // Any complaint on a new series fails.
    assert!(judge(&[c("Ejtimaa_workers", "no help text")]).is_err());
    assert!(
        judge(&[c(
            "Ejtimaa_room_rate_bytes_per_second",
            r#"use base unit "bytes" instead of "bits""#
        )])
        .is_err()
    );
}
