//! Server-wide families: few series whatever the load. Workers, objects by
//! kind and state (in [`super::objects`]), peer totals (from the World) and the figures only the
//! server process knows ([`ServerFigures`]): signaling counts and latencies,
//! the standard `process_*` families, reverse DNS.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::auth::render_auth;
use super::limits::render_refusals;
use super::objects::render_objects;
use super::scrape::render_scrape;
use super::text::{Kind, Value, header, push_plain, push_value};
use crate::export::escape::{push_capped_label, push_label};
use crate::export::figures::{LATENCY_BOUNDS, ServerFigures, WorkerCpu};
use crate::export::options::ExportOptions;
use crate::world::{Consumer, EventCounts, PeerTotals, Producer, Room, Router, Transport, Worker};

/// A room (its first router) or a room's further router.
type RouterFilter = Or<(With<Room>, With<Router>)>;

/// The World's parts the server-wide families read.
#[derive(SystemParam)]
pub struct ServerSources<'w, 's> {
    figures: Res<'w, ServerFigures>,
    options: Res<'w, ExportOptions>,
    counts: Res<'w, EventCounts>,
    peer_totals: Res<'w, PeerTotals>,
    workers: Query<'w, 's, (&'static Worker, Option<&'static Children>)>,
    /// What counts as a router on a worker: a room (its first router) or a
    /// room's further router; a worker's other children are pipe transports.
    routers: Query<'w, 's, (), RouterFilter>,
    transports: Query<'w, 's, &'static Transport>,
    producers: Query<'w, 's, &'static Producer>,
    consumers: Query<'w, 's, &'static Consumer>,
}

/// Reused between scrapes.
#[derive(Default)]
pub(crate) struct ServerBuffers {
    routers: Vec<(u32, usize)>,
    cpu: Vec<WorkerCpu>,
}

/// Writes the server-wide families into `out`.
pub(crate) fn render_server(
    out: &mut String,
    buffers: &mut ServerBuffers,
    sources: &ServerSources,
) {
    let figures = &*sources.figures;

    header(
        out,
        "Ejtimaa_build_info",
        "Versions of the running server; always 1.",
        Kind::Gauge,
    );
    if let Some(build) = &figures.build {
        out.push_str("Ejtimaa_build_info{");
        let max = sources.options.label_value_max;
        push_capped_label(out, "version", &build.version, max);
        out.push(',');
        push_capped_label(out, "mediasoup_version", &build.mediasoup_version, max);
        out.push_str("} ");
        push_value(out, Value::Unsigned(1));
    }

    header(
        out,
        "Ejtimaa_scrape_duration_seconds",
        "Time the previous scrape took, from request to rendered text (stats collection included when each scrape collects them).",
        Kind::Gauge,
    );
    if let Some(duration) = figures.scrape_duration {
        push_plain(
            out,
            "Ejtimaa_scrape_duration_seconds",
            Value::Float(duration.as_secs_f64()),
        );
    }

    header(
        out,
        "Ejtimaa_stats_timeouts_total",
        "Stats requests to mediasoup that missed their deadline (their figures stay as before).",
        Kind::Counter,
    );
    push_plain(
        out,
        "Ejtimaa_stats_timeouts_total",
        Value::Unsigned(figures.stats_timeouts),
    );

    render_scrape(out, figures.scrape.as_ref());
    render_refusals(out, figures.refusals.as_ref());
    render_auth(out, figures.auth.as_ref());
    render_workers(out, buffers, sources);
    render_objects(
        out,
        &sources.transports,
        &sources.producers,
        &sources.consumers,
    );

    header(
        out,
        "Ejtimaa_peers_joined_total",
        "Peers that joined a room since start.",
        Kind::Counter,
    );
    push_plain(
        out,
        "Ejtimaa_peers_joined_total",
        Value::Unsigned(sources.peer_totals.joined),
    );
    header(
        out,
        "Ejtimaa_peers_left_total",
        "Peers that left since start, however they went (leave, disconnect, room or worker closing).",
        Kind::Counter,
    );
    push_plain(
        out,
        "Ejtimaa_peers_left_total",
        Value::Unsigned(sources.peer_totals.left),
    );

    for (name, help, pick) in [
        (
            "Ejtimaa_signaling_requests_total",
            "Signaling requests received, by method (unknown methods count as \"unknown\").",
            (|m| m.requests) as fn(&crate::export::figures::MethodCounts) -> u64,
        ),
        (
            "Ejtimaa_signaling_errors_total",
            "Signaling requests answered with an error, by method.",
            |m| m.errors,
        ),
    ] {
        header(out, name, help, Kind::Counter);
        for method in &figures.signaling {
            out.push_str(name);
            out.push('{');
            push_label(out, "method", method.method);
            out.push_str("} ");
            push_value(out, Value::Unsigned(pick(method)));
        }
    }
    render_latency(out, figures);
    render_process(out, figures);
    render_rdns(out, figures);
}

const LATENCY: &str = "Ejtimaa_signaling_request_duration_seconds";

/// The signaling latency histogram: cumulative `_bucket`s ending at `+Inf`,
/// then `_sum` and `_count`, per method.
fn render_latency(out: &mut String, figures: &ServerFigures) {
    header(
        out,
        LATENCY,
        "Time from a signaling request's arrival to its answer, by method.",
        Kind::Histogram,
    );
    for method in &figures.signaling_latency {
        let mut cumulative = 0u64;
        let bounds = LATENCY_BOUNDS.iter().map(|b| Some(*b)).chain([None]);
        for (bound, count) in bounds.zip(method.buckets.iter().chain(std::iter::repeat(&0))) {
            cumulative += count;
            out.push_str(LATENCY);
            out.push_str("_bucket{");
            push_label(out, "method", method.method);
            out.push_str(",le=\"");
            match bound {
                // Display is the shortest form that reads back exactly.
                Some(b) => out.push_str(&b.to_string()),
                None => out.push_str("+Inf"),
            }
            out.push_str("\"} ");
            push_value(out, Value::Unsigned(cumulative));
        }
        for (suffix, value) in [
            ("_sum{", Value::Float(method.sum_seconds)),
            ("_count{", Value::Unsigned(cumulative)),
        ] {
            out.push_str(LATENCY);
            out.push_str(suffix);
            push_label(out, "method", method.method);
            out.push_str("} ");
            push_value(out, value);
        }
    }
}

/// The standard `process_*` families, named as Prometheus' client libraries
/// name them, so that existing dashboards and alerts apply.
fn render_process(out: &mut String, figures: &ServerFigures) {
    let p = figures.process;
    let families: [(&str, &str, Kind, Option<Value>); 6] = [
        (
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            Kind::Counter,
            p.map(|p| Value::Float(p.cpu.as_secs_f64())),
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Kind::Gauge,
            p.map(|p| Value::Unsigned(p.resident_bytes)),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Kind::Gauge,
            p.map(|p| Value::Unsigned(p.virtual_bytes)),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            Kind::Gauge,
            p.map(|p| Value::Unsigned(p.open_fds)),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            Kind::Gauge,
            p.and_then(|p| p.max_fds).map(Value::Unsigned),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Kind::Gauge,
            p.map(|p| Value::Float(p.start_time.as_secs_f64())),
        ),
    ];
    for (name, help, kind, value) in families {
        header(out, name, help, kind);
        if let Some(value) = value {
            push_plain(out, name, value);
        }
    }
}

/// The reverse DNS cache's counts (headers only when not given).
fn render_rdns(out: &mut String, figures: &ServerFigures) {
    let rdns = figures.rdns;
    header(
        out,
        "Ejtimaa_rdns_lookups_total",
        "Reverse DNS lookups of address labels, by result (name, no_name, error, timeout).",
        Kind::Counter,
    );
    if let Some(r) = rdns {
        for (result, count) in [
            ("name", r.names),
            ("no_name", r.no_names),
            ("error", r.errors),
            ("timeout", r.timeouts),
        ] {
            out.push_str("Ejtimaa_rdns_lookups_total{");
            push_label(out, "result", result);
            out.push_str("} ");
            push_value(out, Value::Unsigned(count));
        }
    }
    for (name, help, kind, value) in [
        (
            "Ejtimaa_rdns_dropped_total",
            "Addresses not looked up because the reverse DNS cache was full.",
            Kind::Counter,
            rdns.map(|r| r.dropped),
        ),
        (
            "Ejtimaa_rdns_cache_entries",
            "Addresses in the reverse DNS cache, named or not.",
            Kind::Gauge,
            rdns.map(|r| r.cache_entries),
        ),
    ] {
        header(out, name, help, kind);
        if let Some(value) = value {
            push_plain(out, name, Value::Unsigned(value));
        }
    }
}

fn render_workers(out: &mut String, buffers: &mut ServerBuffers, sources: &ServerSources) {
    let mut num = itoa::Buffer::new();
    header(
        out,
        "Ejtimaa_workers",
        "mediasoup workers running.",
        Kind::Gauge,
    );
    push_plain(
        out,
        "Ejtimaa_workers",
        Value::Unsigned(sources.workers.iter().len() as u64),
    );
    header(
        out,
        "Ejtimaa_worker_deaths_total",
        "mediasoup workers that died unexpectedly since start.",
        Kind::Counter,
    );
    push_plain(
        out,
        "Ejtimaa_worker_deaths_total",
        Value::Unsigned(sources.counts.worker_deaths),
    );

    // By pid: workers whose thread could not be identified share the process
    // id, and their figures add up rather than repeat a label set.
    let routers = &mut buffers.routers;
    routers.clear();
    routers.extend(sources.workers.iter().map(|(w, children)| {
        let on_it = children.map_or(0, |c| {
            c.iter().filter(|e| sources.routers.contains(*e)).count()
        });
        (w.pid, on_it)
    }));
    routers.sort_unstable();
    routers.dedup_by(|later, first| {
        let same = later.0 == first.0;
        if same {
            first.1 += later.1;
        }
        same
    });
    header(
        out,
        "Ejtimaa_worker_routers",
        "Routers on each worker, by its pid label: one per room, and one more per room spread onto it.",
        Kind::Gauge,
    );
    for &(pid, count) in routers.iter() {
        out.push_str("Ejtimaa_worker_routers{");
        push_label(out, "pid", num.format(pid));
        out.push_str("} ");
        push_value(out, Value::Unsigned(count as u64));
    }

    header(
        out,
        "Ejtimaa_worker_cpu_seconds_total",
        "CPU time each worker thread used, by pid label and mode (user or system).",
        Kind::Counter,
    );
    // Same rule as routers: one series per pid label, times added up.
    let cpus = &mut buffers.cpu;
    cpus.clear();
    cpus.extend_from_slice(&sources.figures.worker_cpu);
    cpus.sort_unstable_by_key(|c| c.pid);
    cpus.dedup_by(|later, first| {
        let same = later.pid == first.pid;
        if same {
            first.user += later.user;
            first.system += later.system;
        }
        same
    });
    for cpu in cpus.iter() {
        for (mode, time) in [("user", cpu.user), ("system", cpu.system)] {
            out.push_str("Ejtimaa_worker_cpu_seconds_total{");
            push_label(out, "pid", num.format(cpu.pid));
            out.push(',');
            push_label(out, "mode", mode);
            out.push_str("} ");
            push_value(out, Value::Float(time.as_secs_f64()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::export::figures::{
        BuildInfo, LATENCY_BOUNDS, MethodCounts, MethodLatency, ProcessFigures, RdnsFigures,
        ServerFigures, WorkerCpu,
    };
    use crate::{Core, WorldEvent};

    fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .collect()
    }

    #[test]
    fn figures_are_rendered_as_given() {
        let mut core = Core::default();
        core.apply_all([WorldEvent::WorkerStarted {
            worker: "w".into(),
            pid: 7,
        }]);
        let absent = core.render().to_owned();
        assert!(absent.contains("# TYPE Ejtimaa_build_info gauge\n"));
        assert!(lines_of(&absent, "Ejtimaa_build_info").is_empty());
        assert!(lines_of(&absent, "Ejtimaa_scrape_duration_seconds").is_empty());
        assert_eq!(
            lines_of(&absent, "Ejtimaa_stats_timeouts_total"),
            ["Ejtimaa_stats_timeouts_total 0"]
        );

        core.set_server_figures(ServerFigures {
            build: Some(BuildInfo {
                version: "1.2.3".into(),
                mediasoup_version: "0.33.1".into(),
            }),
            scrape_duration: Some(Duration::from_millis(1500)),
            stats_timeouts: 4,
            signaling: vec![
                MethodCounts {
                    method: "join",
                    requests: 10,
                    errors: 1,
                },
                MethodCounts {
                    method: "unknown",
                    requests: 2,
                    errors: 2,
                },
            ],
            // Two entries for one pid add up: one series per label set.
            worker_cpu: vec![
                WorkerCpu {
                    pid: 7,
                    user: Duration::from_millis(250),
                    system: Duration::from_millis(500),
                },
                WorkerCpu {
                    pid: 3,
                    user: Duration::from_secs(1),
                    system: Duration::ZERO,
                },
                WorkerCpu {
                    pid: 7,
                    user: Duration::from_millis(250),
                    system: Duration::ZERO,
                },
            ],
            ..ServerFigures::default()
        });
        let text = core.render();
        assert_eq!(
            lines_of(text, "Ejtimaa_build_info"),
            ["Ejtimaa_build_info{version=\"1.2.3\",mediasoup_version=\"0.33.1\"} 1"]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_scrape_duration_seconds"),
            ["Ejtimaa_scrape_duration_seconds 1.5"]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_stats_timeouts_total"),
            ["Ejtimaa_stats_timeouts_total 4"]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_signaling_requests_total"),
            [
                "Ejtimaa_signaling_requests_total{method=\"join\"} 10",
                "Ejtimaa_signaling_requests_total{method=\"unknown\"} 2",
            ]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_signaling_errors_total"),
            [
                "Ejtimaa_signaling_errors_total{method=\"join\"} 1",
                "Ejtimaa_signaling_errors_total{method=\"unknown\"} 2",
            ]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_worker_cpu_seconds_total"),
            [
                "Ejtimaa_worker_cpu_seconds_total{pid=\"3\",mode=\"user\"} 1",
                "Ejtimaa_worker_cpu_seconds_total{pid=\"3\",mode=\"system\"} 0",
                "Ejtimaa_worker_cpu_seconds_total{pid=\"7\",mode=\"user\"} 0.5",
                "Ejtimaa_worker_cpu_seconds_total{pid=\"7\",mode=\"system\"} 0.5",
            ]
        );
        assert_eq!(
            lines_of(text, "Ejtimaa_worker_routers"),
            ["Ejtimaa_worker_routers{pid=\"7\"} 0"]
        );
        assert_eq!(lines_of(text, "Ejtimaa_workers"), ["Ejtimaa_workers 1"]);
    }

    #[test]
    fn latency_histogram_is_cumulative_and_ends_at_inf() {
        let mut core = Core::default();
        let absent = core.render().to_owned();
        assert!(absent.contains("# TYPE Ejtimaa_signaling_request_duration_seconds histogram\n"));
        assert!(lines_of(&absent, "Ejtimaa_signaling_request_duration_seconds_count").is_empty());

        let mut buckets = vec![0; LATENCY_BOUNDS.len() + 1];
        buckets[0] = 2; // <= 1 ms
        buckets[3] = 1; // <= 10 ms
        buckets[LATENCY_BOUNDS.len()] = 1; // over 5 s
        core.set_server_figures(ServerFigures {
            signaling_latency: vec![
                MethodLatency {
                    method: "join",
                    buckets,
                    sum_seconds: 6.5,
                },
                MethodLatency {
                    method: "unknown",
                    buckets: vec![0; LATENCY_BOUNDS.len() + 1],
                    sum_seconds: 0.0,
                },
            ],
            ..ServerFigures::default()
        });
        let text = core.render();
        let name = "Ejtimaa_signaling_request_duration_seconds";
        let join: Vec<&str> = lines_of(text, &format!("{name}_bucket"))
            .into_iter()
            .filter(|l| l.contains("method=\"join\""))
            .collect();
        assert_eq!(join.len(), LATENCY_BOUNDS.len() + 1);
        assert_eq!(
            join[0],
            format!("{name}_bucket{{method=\"join\",le=\"0.001\"}} 2")
        );
        assert_eq!(
            join[2],
            format!("{name}_bucket{{method=\"join\",le=\"0.005\"}} 2")
        );
        assert_eq!(
            join[3],
            format!("{name}_bucket{{method=\"join\",le=\"0.01\"}} 3")
        );
        assert_eq!(
            join[LATENCY_BOUNDS.len() - 1],
            format!("{name}_bucket{{method=\"join\",le=\"5\"}} 3")
        );
        assert_eq!(
            join[LATENCY_BOUNDS.len()],
            format!("{name}_bucket{{method=\"join\",le=\"+Inf\"}} 4")
        );
        let values: Vec<u64> = join
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert_eq!(
            lines_of(text, &format!("{name}_sum")),
            [
                format!("{name}_sum{{method=\"join\"}} 6.5"),
                format!("{name}_sum{{method=\"unknown\"}} 0"),
            ]
        );
        assert_eq!(
            lines_of(text, &format!("{name}_count")),
            [
                format!("{name}_count{{method=\"join\"}} 4"),
                format!("{name}_count{{method=\"unknown\"}} 0"),
            ]
        );
    }

    #[test]
    fn process_and_rdns_figures_are_rendered_as_given() {
        let mut core = Core::default();
        let absent = core.render().to_owned();
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "Ejtimaa_rdns_lookups_total",
            "Ejtimaa_rdns_cache_entries",
        ] {
            assert!(absent.contains(&format!("# TYPE {family} ")), "{family}");
            assert!(lines_of(&absent, family).is_empty(), "{family}");
        }
        core.set_server_figures(ServerFigures {
            process: Some(ProcessFigures {
                cpu: Duration::from_millis(1250),
                resident_bytes: 4096,
                virtual_bytes: 8192,
                open_fds: 12,
                max_fds: None,
                start_time: Duration::from_secs(1_700_000_000),
            }),
            rdns: Some(RdnsFigures {
                names: 3,
                no_names: 2,
                errors: 1,
                timeouts: 0,
                dropped: 5,
                cache_entries: 6,
            }),
            ..ServerFigures::default()
        });
        let text = core.render();
        for (family, line) in [
            (
                "process_cpu_seconds_total",
                "process_cpu_seconds_total 1.25",
            ),
            (
                "process_resident_memory_bytes",
                "process_resident_memory_bytes 4096",
            ),
            (
                "process_virtual_memory_bytes",
                "process_virtual_memory_bytes 8192",
            ),
            ("process_open_fds", "process_open_fds 12"),
            (
                "process_start_time_seconds",
                "process_start_time_seconds 1700000000",
            ),
            ("Ejtimaa_rdns_dropped_total", "Ejtimaa_rdns_dropped_total 5"),
            ("Ejtimaa_rdns_cache_entries", "Ejtimaa_rdns_cache_entries 6"),
        ] {
            assert_eq!(lines_of(text, family), [line]);
        }
        // Unlimited: no series rather than a made-up number.
        assert!(lines_of(text, "process_max_fds").is_empty());
        assert_eq!(
            lines_of(text, "Ejtimaa_rdns_lookups_total"),
            [
                "Ejtimaa_rdns_lookups_total{result=\"name\"} 3",
                "Ejtimaa_rdns_lookups_total{result=\"no_name\"} 2",
                "Ejtimaa_rdns_lookups_total{result=\"error\"} 1",
                "Ejtimaa_rdns_lookups_total{result=\"timeout\"} 0",
            ]
        );
    }
}
