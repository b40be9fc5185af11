//! A hand-written SVG of a run: panels over a shared time axis (peers up;
//! packets per second sent and received; scrape latency) and, for a
//! capacity run, panels against peers (delivered %; CPU of the sim and of
//! the server). Each panel has gridlines with values and a legend. Plain
//! SVG, no dependency: the shapes are simple.

use std::fmt::Write as _;

use crate::capacity::StepResult;
use crate::timeline::Timeline;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 200.0;
const GAP: f64 = 60.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 56.0;
/// Horizontal and vertical gridlines per panel.
const GRID: usize = 4;

/// One line of a panel: an `id`, a legend name, a colour and its points.
struct Line<'a> {
    id: &'a str,
    name: &'a str,
    colour: &'a str,
    points: Vec<(f64, f64)>,
}

/// One panel: its `id`, title, x axis unit and lines; the y axis runs
/// from `y_min` (or 0) to the highest value.
struct Panel<'a> {
    id: &'a str,
    label: &'a str,
    x_unit: &'a str,
    y_min: Option<f64>,
    lines: Vec<Line<'a>>,
}

/// The SVG document for `timeline`, titled `title`.
pub fn svg(timeline: &Timeline, title: &str) -> String {
    document(title, &time_panels(timeline))
}

/// The SVG document of a capacity run: the time panels, then delivered %
/// and CPU cores per step against peers.
pub fn capacity_svg(timeline: &Timeline, steps: &[StepResult], title: &str) -> String {
    let mut panels = time_panels(timeline);
    let per_step = |f: &dyn Fn(&StepResult) -> Option<f64>| -> Vec<(f64, f64)> {
        steps
            .iter()
            .filter_map(|s| f(s).map(|v| (s.peers as f64, v)))
            .collect()
    };
    let delivered = per_step(&|s| s.delivered_ratio.map(|d| d * 100.0));
    let lowest = delivered.iter().map(|p| p.1).fold(100.0_f64, f64::min);
    panels.push(Panel {
        id: "delivered",
        label: "delivered % per step, against peers",
        x_unit: "peers",
        // Zoomed on the interesting band, never above 100.
        y_min: Some((lowest - 1.0).floor().clamp(0.0, 99.0)),
        lines: vec![Line {
            id: "delivered-pct",
            name: "delivered %",
            colour: "#9467bd",
            points: delivered,
        }],
    });
    panels.push(Panel {
        id: "cpu",
        label: "CPU cores per step, against peers",
        x_unit: "peers",
        y_min: None,
        lines: vec![
            Line {
                id: "sim-cpu",
                name: "sim",
                colour: "#17becf",
                points: per_step(&|s| s.sim_cpu),
            },
            Line {
                id: "server-cpu",
                name: "server",
                colour: "#8c564b",
                points: per_step(&|s| s.server_cpu),
            },
        ],
    });
    document(title, &panels)
}

fn time_panels(timeline: &Timeline) -> Vec<Panel<'static>> {
    vec![
        Panel {
            id: "peers",
            label: "peers up",
            x_unit: "s",
            y_min: None,
            lines: vec![Line {
                id: "peers-up",
                name: "peers up",
                colour: "#1f77b4",
                points: timeline
                    .load
                    .iter()
                    .map(|s| (s.t_secs, s.peers as f64))
                    .collect(),
            }],
        },
        Panel {
            id: "throughput",
            label: "RTP packets/s",
            x_unit: "s",
            y_min: None,
            lines: vec![
                Line {
                    id: "sent-pps",
                    name: "sent",
                    colour: "#2ca02c",
                    points: timeline
                        .load
                        .iter()
                        .map(|s| (s.t_secs, s.sent_pps))
                        .collect(),
                },
                Line {
                    id: "received-pps",
                    name: "received",
                    colour: "#ff7f0e",
                    points: timeline
                        .load
                        .iter()
                        .map(|s| (s.t_secs, s.received_pps))
                        .collect(),
                },
            ],
        },
        Panel {
            id: "scrape-latency",
            label: "exporter scrape latency, ms",
            x_unit: "s",
            y_min: None,
            lines: vec![Line {
                id: "scrape-latency-ms",
                name: "scrape latency",
                colour: "#d62728",
                points: timeline
                    .scrapes
                    .iter()
                    .map(|s| (s.t_secs, s.latency_ms))
                    .collect(),
            }],
        },
    ]
}

fn document(title: &str, panels: &[Panel<'_>]) -> String {
    let height = TOP + panels.len() as f64 * (PANEL + GAP);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="16">{}</text>"#,
        escape(title)
    );
    for (i, p) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL + GAP);
        panel(&mut out, p, y0);
    }
    out.push_str("</svg>\n");
    out
}

/// A value for an axis label: no decimals when large.
fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One panel: frame, gridlines with values, title, legend and lines.
fn panel(out: &mut String, p: &Panel<'_>, y0: f64) {
    let w = WIDTH - LEFT - RIGHT;
    let values = || p.lines.iter().flat_map(|l| l.points.iter());
    let x_max = values()
        .map(|q| q.0)
        .filter(|v| v.is_finite())
        .fold(1.0_f64, f64::max);
    let y_min = p.y_min.unwrap_or(0.0);
    let y_max = values()
        .map(|q| q.1)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(y_min + 1.0);
    let _ = writeln!(out, r#"<g id="{}">"#, p.id);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        y0 - 6.0,
        escape(p.label)
    );
    let grid = r##"stroke="#ddd" stroke-width="1""##;
    for i in 0..=GRID {
        let f = i as f64 / GRID as f64;
        let y = y0 + PANEL - f * PANEL;
        let x = LEFT + f * w;
        // The last time label ends at the frame instead of overflowing it.
        let anchor = if i == GRID { "end" } else { "middle" };
        let _ = writeln!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" {grid}/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT + w,
            LEFT - 6.0,
            y + 4.0,
            tick(y_min + f * (y_max - y_min))
        );
        let _ = writeln!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" {grid}/><text x="{x:.1}" y="{}" text-anchor="{anchor}">{} {}</text>"#,
            y0 + PANEL,
            y0 + PANEL + 14.0,
            tick(f * x_max),
            p.x_unit
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{y0}" width="{w}" height="{PANEL}" fill="none" stroke="#888"/>"##
    );
    // The legend, top right inside the panel.
    let _ = writeln!(out, r#"<g class="legend">"#);
    for (i, line) in p.lines.iter().enumerate() {
        let ly = y0 + 14.0 + i as f64 * 16.0;
        let lx = LEFT + w - 130.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{}" y="{ly:.1}">{}</text>"#,
            ly - 4.0,
            lx + 20.0,
            ly - 4.0,
            line.colour,
            lx + 26.0,
            escape(line.name)
        );
    }
    out.push_str("</g>\n");
    for line in &p.lines {
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|q| q.0.is_finite() && q.1.is_finite())
            .map(|&(t, v)| {
                let x = LEFT + t / x_max * w;
                let y = y0 + PANEL - (v - y_min).max(0.0) / (y_max - y_min) * PANEL;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline id="{}" fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            line.id,
            line.colour,
            points.join(" ")
        );
    }
    out.push_str("</g>\n");
}

/// Escapes text for XML content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_plot_is_well_formed_and_has_the_three_series() {
        let mut t = Timeline::default();
        for i in 0..10u64 {
            t.record_load(Duration::from_secs(i), i as usize, i * 1000, i * 3900);
            t.record_scrape(Duration::from_secs(i), Duration::from_millis(5 + i));
        }
        let text = svg(&t, "a <capacity> & run");
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        for id in ["peers", "throughput", "scrape-latency"] {
            assert!(
                doc.descendants().any(|n| n.attribute("id") == Some(id)),
                "no {id} panel"
            );
        }
        for id in ["peers-up", "sent-pps", "received-pps", "scrape-latency-ms"] {
            let line = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(id))
                .unwrap_or_else(|| panic!("no {id} line"));
            assert_eq!(line.tag_name().name(), "polyline");
            let points = line.attribute("points").unwrap_or_default();
            assert_eq!(points.split_whitespace().count(), 10, "{id}: {points}");
        }
    }

    #[test]
    fn panels_have_legends_and_gridlines() {
        let mut t = Timeline::default();
        t.record_load(Duration::from_secs(1), 2, 100, 50);
        let text = svg(&t, "run");
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let count = |class: &str| {
            doc.descendants()
                .filter(|n| n.attribute("class") == Some(class))
                .count()
        };
        assert_eq!(count("legend"), 3);
        assert_eq!(count("grid"), 3 * 2 * (GRID + 1));
        for name in ["peers up", "sent", "received", "scrape latency"] {
            assert!(
                doc.descendants().any(|n| n.text() == Some(name)),
                "no legend entry {name}"
            );
        }
    }

    #[test]
    fn the_capacity_plot_has_delivered_and_cpu_against_peers() {
        let step = |peers: usize, delivered: f64, sim: f64, server: f64| StepResult {
            step: peers / 5,
            peers,
            producers: 0,
            consumers: 0,
            duplicate_consumers: 0,
            secs: 5.0,
            sent_pps: 0.0,
            received_pps: 0.0,
            sent_bps: 0.0,
            received_bps: 0.0,
            expected: 100,
            received: 100,
            lost: 0,
            delivered_ratio: Some(delivered),
            frames_due: 0,
            frames_skipped: 0,
            on_schedule: None,
            joins: crate::report::LatencyReport::default(),
            sim_cpu: Some(sim),
            server_cpu: Some(server),
            steal: None,
            discarded: Vec::new(),
        };
        let steps = [step(5, 1.0, 0.1, 0.2), step(10, 0.995, 0.3, 0.4)];
        let text = capacity_svg(&Timeline::default(), &steps, "capacity");
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        for id in ["delivered-pct", "sim-cpu", "server-cpu"] {
            let line = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(id))
                .unwrap_or_else(|| panic!("no {id} line"));
            let points = line.attribute("points").unwrap_or_default();
            assert_eq!(points.split_whitespace().count(), 2, "{id}: {points}");
        }
        // The delivered axis is zoomed: 98 % at the bottom.
        assert!(doc.descendants().any(|n| n.text() == Some("98")));
    }

    #[test]
    fn an_empty_timeline_still_plots() {
        let text = svg(&Timeline::default(), "empty");
        assert!(roxmltree::Document::parse(&text).is_ok());
    }
}
