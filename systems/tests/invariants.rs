//! Property tests of the exporter's invariants (`docs/design.md`, "Invariants").
//!
//! Random event sequences (with nonsense: unknown ids, double closes, events
//! after a close) and option changes are applied to the real [`Core`] and to an
//! independent model; after every step the rendered text is parsed back with
//! openmetrics-parser (not our code) and compared with the model.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ejtimaa_systems::{Core, ExportOptions, Host, WorldEvent};
use openmetrics_parser::{MetricNumber, PrometheusType, PrometheusValue};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use support::expected::{self, EMPTY_WITHOUT_FIGURES, HISTOGRAMS, STREAM_FAMILIES};
use support::model::{Closed, Expected, Labels, Model, Role, StreamKey};
use support::strategy::{Step, scenario};

/// A parsed family: labels → value, with its type.
struct Family {
    kind: PrometheusType,
    series: BTreeMap<Labels, f64>,
}

fn parse(text: &str) -> Result<HashMap<String, Family>, TestCaseError> {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
        .map_err(|e| TestCaseError::fail(format!("exposition does not parse: {e:?}\n{text}")))?;
    let mut families = HashMap::new();
    for (name, family) in exposition.families {
        let names = family.get_label_names().to_vec();
        let kind = family.family_type.clone();
        let mut series = BTreeMap::new();
        for sample in family.iter_samples() {
            let labelset = sample
                .get_labelset()
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let labels: Labels = names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        labelset.get_label_value(n).unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let value = match &sample.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => number(n),
                PrometheusValue::Counter(c) => number(&c.value),
                // A summary without quantiles: its `_sum` and `_count` series
                // become families of their own.
                PrometheusValue::Summary(summary) if summary.quantiles.is_empty() => {
                    let (Some(sum), Some(count)) = (&summary.sum, summary.count) else {
                        return Err(TestCaseError::fail(format!("{name}: half a summary")));
                    };
                    for (suffix, value) in [("_sum", number(sum)), ("_count", count as f64)] {
                        let part = families
                            .entry(format!("{name}{suffix}"))
                            .or_insert_with(|| Family {
                                kind: kind.clone(),
                                series: BTreeMap::new(),
                            });
                        prop_assert!(
                            part.series.insert(labels.clone(), value).is_none(),
                            "duplicate series in {}",
                            name
                        );
                    }
                    continue;
                }
                other => return Err(TestCaseError::fail(format!("unexpected value {other:?}"))),
            };
            // openmetrics-parser refuses duplicate label sets, so reaching here
            // already proves there are none; check anyway.
            prop_assert!(
                series.insert(labels, value).is_none(),
                "duplicate series in {name}"
            );
        }
        if kind != PrometheusType::Summary {
            families.insert(name, Family { kind, series });
        } else {
            // Declared but without series: its parts are there, empty.
            for suffix in ["_sum", "_count"] {
                families
                    .entry(format!("{name}{suffix}"))
                    .or_insert_with(|| Family {
                        kind: kind.clone(),
                        series: BTreeMap::new(),
                    });
            }
        }
    }
    Ok(families)
}

fn number(n: &MetricNumber) -> f64 {
    n.as_f64()
}

/// The 13 labels, in the original's order.
const LABEL_NAMES: [&str; 13] = [
    "pid",
    "room_id",
    "peer_id",
    "display_name",
    "user_agent",
    "transport_id",
    "proto",
    "local_addr",
    "remote_addr",
    "id",
    "kind",
    "codec",
    "type",
];

/// Whether two series sets are equal, values to within float rounding (the
/// means of aggregated families add up in another order than the model's).
fn same_series(got: &BTreeMap<Labels, f64>, want: &BTreeMap<Labels, Expected>) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|((gl, gv), (wl, w))| {
            gl == wl && (gv - w.value).abs() <= 1e-9 * gv.abs().max(w.value.abs()).max(1.0)
        })
}

/// Each counter series of the previous step: its value and contributors.
type Previous = HashMap<(String, Labels), (f64, BTreeSet<StreamKey>)>;

/// Everything checked after one step.
fn check_step(
    text: &str,
    model: &Model,
    options: &ExportOptions,
    closed: &Closed,
    previous: &mut Previous,
) -> Result<(), TestCaseError> {
    let families = parse(text)?;
    let expected = expected::families(model, options);

    // Every family, exactly: per-stream series are the live streams on
    // ICE-completed WebRTC transports, with every label read back equal to
    // what was put in; aggregates and server-wide figures match the model.
    let names: BTreeSet<&String> = families.keys().chain(expected.keys()).collect();
    let none = BTreeMap::new();
    let none_expected = BTreeMap::new();
    for name in names {
        let got = families.get(name).map_or(&none, |f| &f.series);
        if EMPTY_WITHOUT_FIGURES.contains(&name.as_str()) {
            prop_assert!(got.is_empty(), "{} has series: {:?}", name, got);
            continue;
        }
        let want = expected.get(name).unwrap_or(&none_expected);
        prop_assert!(
            same_series(got, want),
            "{} differs:\n got {:?}\nwant {:?}",
            name,
            got,
            want
        );
    }
    for (name, family) in &families {
        let counter = name.ends_with("_total") || name.ends_with("_byte_count_bytes");
        let summary = expected::ROOM_FAMILIES
            .iter()
            .any(|(base, _)| *name == format!("{base}_sum") || *name == format!("{base}_count"));
        let kind = if HISTOGRAMS.contains(&name.as_str()) {
            PrometheusType::Histogram
        } else if counter {
            PrometheusType::Counter
        } else if summary {
            PrometheusType::Summary
        } else {
            PrometheusType::Gauge
        };
        prop_assert_eq!(&family.kind, &kind, "type of {}", name);
    }
    prop_assert_eq!(
        model.peers_joined - model.peers_left,
        model.peers.len() as u64
    );
    // Which stream families appear follows the `metrics` option.
    prop_assert_eq!(text.contains("mediasoup_"), options.metrics.per_stream());
    prop_assert_eq!(text.contains("Ejtimaa_room_"), options.metrics.aggregated());

    let mut current = HashMap::new();
    for role in [Role::Producer, Role::Consumer] {
        for family in &STREAM_FAMILIES {
            let name = family.name(role);
            let Some(got) = families.get(&name) else {
                continue;
            };
            for (labels, value) in &got.series {
                if family.identity {
                    let names: Vec<&str> = labels.keys().map(String::as_str).collect();
                    let mut want = expected::IDENTITY.to_vec();
                    want.sort_unstable();
                    prop_assert_eq!(names, want);
                } else {
                    prop_assert_eq!(labels.len(), LABEL_NAMES.len());
                }
                check_privacy(labels, model, options)?;
                if family.suffix == "score" {
                    prop_assert!((0.0..=10.0).contains(value), "score {} out of range", value);
                }
                if !family.counter {
                    continue;
                }
                let contributors = expected[&name][labels].contributors.clone();
                // A counter never decreases while its series lives, i.e. while
                // no stream that made it up has gone (with `quiet`, streams of
                // distinct owners can share one label set; losing one is a reset).
                if let Some((before, had)) = previous.get(&(name.clone(), labels.clone()))
                    && contributors.is_superset(had)
                {
                    prop_assert!(
                        value >= before,
                        "{} went down from {} to {}",
                        name,
                        before,
                        value
                    );
                }
                current.insert((name.clone(), labels.clone()), (*value, contributors));
            }
        }
    }
    *previous = current;
    for role in [Role::Producer, Role::Consumer] {
        if let Some(info) = families.get(expected::info_name(role)) {
            for (labels, value) in &info.series {
                prop_assert_eq!(labels.len(), LABEL_NAMES.len());
                prop_assert_eq!(*value, 1.0);
                check_privacy(labels, model, options)?;
            }
        }
    }

    // After a close, nothing of the closed object, or of anything under it, remains.
    for family in families.values() {
        for labels in family.series.keys() {
            let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or_default();
            prop_assert!(
                !closed.rooms.iter().any(|r| r == get("room_id")),
                "closed room in {:?}",
                labels
            );
            if labels.contains_key("peer_id") {
                prop_assert!(!closed.peers.iter().any(|p| p == get("peer_id")));
            }
            if !options.quiet && labels.contains_key("id") {
                prop_assert!(!closed.transports.iter().any(|t| t == get("transport_id")));
                prop_assert!(!closed.owners.iter().any(|o| o == get("id")));
            }
        }
    }
    Ok(())
}

/// `quiet` leaves ids empty; `deidentify` never shows a whole address.
fn check_privacy(
    labels: &Labels,
    model: &Model,
    options: &ExportOptions,
) -> Result<(), TestCaseError> {
    if options.quiet {
        prop_assert_eq!(labels["id"].as_str(), "");
        if let Some(transport_id) = labels.get("transport_id") {
            prop_assert_eq!(transport_id.as_str(), "");
        }
    }
    if options.deidentify && labels.contains_key("remote_addr") {
        for t in model.transports.values() {
            let Some(tuple) = &t.tuple else { continue };
            for host in [&tuple.local.host, &tuple.remote.host] {
                let Host::Ip(ip) = host else { continue };
                let whole = ip.to_string();
                for name in ["local_addr", "remote_addr"] {
                    prop_assert!(
                        !labels[name].contains(&whole),
                        "{} = {:?} shows the whole address {}",
                        name,
                        labels[name],
                        whole
                    );
                }
            }
        }
    }
    Ok(())
}

fn run_scenario(options: ExportOptions, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut options = options;
    let mut core = Core::new(options);
    let mut model = Model::default();
    let mut previous = HashMap::new();
    for step in steps {
        let closed = match step {
            Step::Event(event) => {
                core.push(event.clone());
                model.apply(event)
            }
            Step::Options(o) => {
                options = *o;
                core.set_options(options);
                Closed::default()
            }
        };
        let text = core.render().to_owned();
        check_step(&text, &model, &options, &closed, &mut previous)?;
    }
    Ok(())
}

/// The text without the samples of lifetime totals (peers joined and left,
/// worker deaths), which count history by design.
fn without_history(text: &str) -> String {
    text.lines()
        .filter(|l| {
            ![
                "Ejtimaa_peers_joined_total ",
                "Ejtimaa_peers_left_total ",
                "Ejtimaa_worker_deaths_total ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(Config { cases: 1000, max_shrink_iters: 2000, ..Config::default() })]

    #[test]
    fn exposition_matches_the_model_after_every_event((options, steps) in scenario(200)) {
        run_scenario(options, &steps)?;
    }

    /// The output depends on what the world holds, not on how it got there:
    /// rebuilding the same state from scratch, in another order, renders the
    /// same text.
    #[test]
    fn output_is_independent_of_history((options, steps) in scenario(150)) {
        let mut core = Core::new(options);
        let mut model = Model::default();
        let mut options = options;
        for step in &steps {
            match step {
                Step::Event(e) => { core.push(e.clone()); model.apply(e); }
                Step::Options(o) => { options = *o; core.set_options(options); }
            }
        }
        let text = core.render().to_owned();
        let mut fresh = Core::new(options);
        fresh.apply_all(support::snapshot::events(&model));
        prop_assert_eq!(fresh.counts().unknown + fresh.counts().duplicate + fresh.counts().stale, 0);
        prop_assert_eq!(without_history(fresh.render()), without_history(&text));
    }
}

/// The generator must reach the interesting states, or the properties above
/// would pass vacuously: in most scenarios stream series are exported for a
/// good share of the steps (the properties are checked after every step).
#[test]
fn scenarios_reach_exported_streams() {
    let mut runner = TestRunner::deterministic();
    let strategy = scenario(200);
    let (mut scenarios_with_series, total) = (0, 200);
    let (mut steps_with_series, mut steps) = (0, 0);
    for _ in 0..total {
        let (options, scenario_steps) = strategy.new_tree(&mut runner).expect("generate").current();
        let mut core = Core::new(options);
        let mut seen = false;
        for step in &scenario_steps {
            match step {
                Step::Event(e) => core.push(e.clone()),
                Step::Options(o) => core.set_options(*o),
            }
            steps += 1;
            if core.render().contains("_byte_count_bytes{") {
                steps_with_series += 1;
                seen = true;
            }
        }
        scenarios_with_series += usize::from(seen);
    }
    println!(
        "{scenarios_with_series}/{total} scenarios, {steps_with_series}/{steps} steps export streams"
    );
    assert!(
        scenarios_with_series * 2 > total,
        "only {scenarios_with_series} of {total} scenarios exported a stream"
    );
    assert!(
        steps_with_series * 4 > steps,
        "only {steps_with_series} of {steps} steps exported a stream"
    );
}

#[test]
fn closing_a_worker_removes_everything_on_it() {
    let mut core = Core::default();
    let mut model = Model::default();
    let events = support::snapshot::demo_world();
    for e in &events {
        model.apply(e);
    }
    core.apply_all(events);
    let before = core.render().to_owned();
    assert!(before.contains("mediasoup_producer_byte_count_bytes{"));
    assert!(before.contains("mediasoup_consumer_score{"));

    let died = WorldEvent::WorkerDied {
        worker: "w0".into(),
    };
    model.apply(&died);
    core.apply_all([died]);
    let after = core.render().to_owned();
    assert!(after.contains("Ejtimaa_rooms 0\n"), "{after}");
    assert!(!after.contains("room_id="), "{after}");
    assert_eq!(core.counts().worker_deaths, 1);
    assert!(model.rooms.is_empty() && model.peers.is_empty() && model.owners.is_empty());
    let summary = core.summary();
    assert_eq!(summary.peers, 0);
    assert_eq!(summary.producers, 0);
    assert_eq!(summary.rooms, 0);
}

/// A room spread over two workers: each worker counts its router, the pipe
/// transports are counted as such, media on a pipe is no peer's stream, and
/// closing the room (or the worker of its first router) removes it all.
#[test]
fn a_room_across_workers_counts_its_routers_and_pipes() {
    let spread = |core: &mut Core| {
        core.apply_all([
            WorldEvent::WorkerStarted {
                worker: "w0".into(),
                pid: 10,
            },
            WorldEvent::WorkerStarted {
                worker: "w1".into(),
                pid: 11,
            },
            WorldEvent::RoomOpened {
                room: "big".into(),
                worker: "w0".into(),
            },
            WorldEvent::RouterOpened {
                router: "R1".into(),
                room: "big".into(),
                worker: "w1".into(),
            },
            WorldEvent::PipeTransportCreated {
                transport: "pipe0".into(),
                room: "big".into(),
                worker: "w0".into(),
            },
            WorldEvent::PipeTransportCreated {
                transport: "pipe1".into(),
                room: "big".into(),
                worker: "w1".into(),
            },
        ]);
    };
    let mut core = Core::default();
    spread(&mut core);
    let text = core.render().to_owned();
    assert!(
        text.contains("Ejtimaa_worker_routers{pid=\"10\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("Ejtimaa_worker_routers{pid=\"11\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("Ejtimaa_transports{transport_type=\"pipe\",ice_state=\"\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("Ejtimaa_rooms 1\n"), "{text}");
    // A piped copy of a producer is not a peer's producer.
    core.apply_all([WorldEvent::ProducerCreated {
        producer: "P".into(),
        transport: "pipe1".into(),
        kind: ejtimaa_systems::MediaKind::Audio,
        mime_type: "audio/opus".into(),
        clock_rate: std::num::NonZeroU32::new(48_000).unwrap(),
        paused: false,
    }]);
    assert_eq!(core.summary().producers, 0);
    assert_eq!(core.counts().unknown, 1);

    core.apply_all([WorldEvent::RoomClosed { room: "big".into() }]);
    let text = core.render().to_owned();
    assert!(
        text.contains("Ejtimaa_worker_routers{pid=\"11\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("transport_type=\"pipe\""), "{text}");
    assert_eq!(core.summary().transports, 0);

    // The worker of the room's first router goes: the room's other router
    // and pipes, on the other worker, go with the room.
    let mut core = Core::default();
    spread(&mut core);
    core.apply_all([WorldEvent::WorkerDied {
        worker: "w0".into(),
    }]);
    let text = core.render().to_owned();
    assert!(
        text.contains("Ejtimaa_worker_routers{pid=\"11\"} 0\n"),
        "{text}"
    );
    assert_eq!(core.summary().transports, 0);
}
