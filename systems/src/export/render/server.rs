//! Server-wide families: few series whatever the load. Workers, objects by
//! kind and state (in [`super::objects`]), peer totals (from the World) and the figures only the
//! server process knows ([`ServerFigures`]).

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::objects::render_objects;
use super::text::{Kind, Value, header, push_plain, push_value};
use crate::export::escape::{push_capped_label, push_label};
use crate::export::figures::{ServerFigures, WorkerCpu};
use crate::export::options::ExportOptions;
use crate::world::{Consumer, EventCounts, PeerTotals, Producer, Transport, Worker};

/// The World's parts the server-wide families read.
#[derive(SystemParam)]
pub struct ServerSources<'w, 's> {
    figures: Res<'w, ServerFigures>,
    options: Res<'w, ExportOptions>,
    counts: Res<'w, EventCounts>,
    peer_totals: Res<'w, PeerTotals>,
    workers: Query<'w, 's, (&'static Worker, Option<&'static Children>)>,
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
        "Time the previous scrape took, from request to rendered text (stats collection included).",
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
        "Stats requests to mediasoup that missed the scrape's deadline (their figures stay as before).",
        Kind::Counter,
    );
    push_plain(
        out,
        "Ejtimaa_stats_timeouts_total",
        Value::Unsigned(figures.stats_timeouts),
    );

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
    routers.extend(
        sources
            .workers
            .iter()
            .map(|(w, children)| (w.pid, children.map_or(0, |c| c.len()))),
    );
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
        "Routers (rooms) on each worker, by its pid label.",
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

    use crate::export::figures::{BuildInfo, MethodCounts, ServerFigures, WorkerCpu};
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
}
