//! A hand-written SVG of a run's [`Timeline`]: three panels over a shared
//! time axis (peers up; packets per second sent and received; scrape
//! latency). Plain SVG, no dependency: the shapes are simple.

use std::fmt::Write as _;

use crate::timeline::Timeline;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 200.0;
const GAP: f64 = 50.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;

/// One line of a panel: a name (its `id`), a colour and its points.
struct Line<'a> {
    id: &'a str,
    colour: &'a str,
    points: Vec<(f64, f64)>,
}

/// The SVG document for `timeline`, titled `title`.
pub fn svg(timeline: &Timeline, title: &str) -> String {
    let t_max = timeline
        .load
        .iter()
        .map(|s| s.t_secs)
        .chain(timeline.scrapes.iter().map(|s| s.t_secs))
        .fold(1.0_f64, f64::max);
    let panels = [
        (
            "peers",
            "peers up",
            vec![Line {
                id: "peers-up",
                colour: "#1f77b4",
                points: timeline
                    .load
                    .iter()
                    .map(|s| (s.t_secs, s.peers as f64))
                    .collect(),
            }],
        ),
        (
            "throughput",
            "RTP packets/s (sent, received)",
            vec![
                Line {
                    id: "sent-pps",
                    colour: "#2ca02c",
                    points: timeline
                        .load
                        .iter()
                        .map(|s| (s.t_secs, s.sent_pps))
                        .collect(),
                },
                Line {
                    id: "received-pps",
                    colour: "#ff7f0e",
                    points: timeline
                        .load
                        .iter()
                        .map(|s| (s.t_secs, s.received_pps))
                        .collect(),
                },
            ],
        ),
        (
            "scrape-latency",
            "exporter scrape latency, ms",
            vec![Line {
                id: "scrape-latency-ms",
                colour: "#d62728",
                points: timeline
                    .scrapes
                    .iter()
                    .map(|s| (s.t_secs, s.latency_ms))
                    .collect(),
            }],
        ),
    ];
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
    for (i, (id, label, lines)) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL + GAP);
        panel(&mut out, id, label, lines, y0, t_max);
    }
    out.push_str("</svg>\n");
    out
}

/// One panel: frame, axis labels and its lines, scaled to `[0, t_max]`
/// and `[0, highest value]`.
fn panel(out: &mut String, id: &str, label: &str, lines: &[Line<'_>], y0: f64, t_max: f64) {
    let w = WIDTH - LEFT - RIGHT;
    let v_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let _ = writeln!(out, r#"<g id="{id}">"#);
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{y0}" width="{w}" height="{PANEL}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        y0 - 6.0,
        escape(label)
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{v_max:.0}</text><text x="{}" y="{}" text-anchor="end">0</text>"#,
        LEFT - 6.0,
        y0 + 12.0,
        LEFT - 6.0,
        y0 + PANEL
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{t_max:.0} s</text>"#,
        LEFT + w,
        y0 + PANEL + 14.0
    );
    for line in lines {
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(t, v)| {
                let x = LEFT + t / t_max * w;
                let y = y0 + PANEL - v / v_max * PANEL;
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
    fn an_empty_timeline_still_plots() {
        let text = svg(&Timeline::default(), "empty");
        assert!(roxmltree::Document::parse(&text).is_ok());
    }
}
