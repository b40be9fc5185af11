//! The exporter's own families: how stats are refreshed and what scrapes
//! cost, so that an operator sees the price of the numbers they read.

use super::text::{Kind, Value, header, push_plain, push_value};
use crate::export::figures::ScrapeFigures;

/// Writes the exporter's own families into `out`.
/// Without figures (`None`), only the headers.
pub(crate) fn render_scrape(out: &mut String, figures: Option<&ScrapeFigures>) {
    let none = ScrapeFigures::default();
    let known = figures.is_some();
    let figures = figures.unwrap_or(&none);
    header(
        out,
        "Ejtimaa_stats_interval_seconds",
        "How often mediasoup's stats are refreshed in the background; 0 when each scrape collects them.",
        Kind::Gauge,
    );
    if known {
        push_plain(
            out,
            "Ejtimaa_stats_interval_seconds",
            Value::Float(figures.stats_interval.as_secs_f64()),
        );
    }

    header(
        out,
        "Ejtimaa_stats_round_duration_seconds",
        "Time the last complete background stats round took (normally the interval; longer when workers are slow).",
        Kind::Gauge,
    );
    if let Some(round) = figures.stats_round {
        push_plain(
            out,
            "Ejtimaa_stats_round_duration_seconds",
            Value::Float(round.as_secs_f64()),
        );
    }

    header(
        out,
        "Ejtimaa_scrape_body_bytes",
        "Size of the previous scrape's body, by encoding (gzip only when it was compressed).",
        Kind::Gauge,
    );
    if let Some(body) = figures.body {
        let sizes = [("gzip", body.gzip), ("identity", Some(body.identity))];
        for (encoding, bytes) in sizes {
            if let Some(bytes) = bytes {
                out.push_str("Ejtimaa_scrape_body_bytes{encoding=\"");
                out.push_str(encoding);
                out.push_str("\"} ");
                push_value(out, Value::Unsigned(bytes));
            }
        }
    }

    header(
        out,
        "Ejtimaa_scrape_body_age_seconds",
        "Age of the previous scrape's body when it was sent, from the start of its render.",
        Kind::Gauge,
    );
    if let Some(age) = figures.body_age {
        push_plain(
            out,
            "Ejtimaa_scrape_body_age_seconds",
            Value::Float(age.as_secs_f64()),
        );
    }

    header(
        out,
        "Ejtimaa_scrapes_total",
        "Scrapes by outcome: rendered for them, shared a render in progress, prepared just before they arrived (steady scrapers), or rejected (too many waiting).",
        Kind::Counter,
    );
    let outcomes = [
        ("prepared", figures.prepared),
        ("rejected", figures.rejected),
        ("rendered", figures.rendered),
        ("shared", figures.shared),
    ];
    for (outcome, count) in outcomes.into_iter().filter(|_| known) {
        out.push_str("Ejtimaa_scrapes_total{outcome=\"");
        out.push_str(outcome);
        out.push_str("\"} ");
        push_value(out, Value::Unsigned(count));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::export::figures::BodySize;

    #[test]
    fn writes_every_family_and_only_known_sizes() {
        let mut out = String::new();
        render_scrape(&mut out, None);
        assert!(
            out.contains("# TYPE Ejtimaa_scrapes_total counter\n"),
            "{out}"
        );
        assert!(!out.contains("\nEjtimaa_"), "headers only: {out}");

        let mut out = String::new();
        render_scrape(&mut out, Some(&ScrapeFigures::default()));
        assert!(out.contains("Ejtimaa_stats_interval_seconds 0\n"), "{out}");
        assert!(!out.contains("\nEjtimaa_stats_round_duration_seconds "));
        assert!(!out.contains("Ejtimaa_scrape_body_bytes{"));
        assert!(!out.contains("\nEjtimaa_scrape_body_age_seconds "));
        assert!(out.contains("Ejtimaa_scrapes_total{outcome=\"rejected\"} 0\n"));

        let mut out = String::new();
        let figures = ScrapeFigures {
            stats_interval: Duration::from_millis(2500),
            stats_round: Some(Duration::from_millis(2600)),
            body: Some(BodySize {
                identity: 4000,
                gzip: Some(400),
            }),
            rendered: 3,
            shared: 2,
            prepared: 4,
            rejected: 1,
            body_age: Some(Duration::from_millis(40)),
        };
        render_scrape(&mut out, Some(&figures));
        for line in [
            "Ejtimaa_stats_interval_seconds 2.5\n",
            "Ejtimaa_stats_round_duration_seconds 2.6\n",
            "Ejtimaa_scrape_body_bytes{encoding=\"gzip\"} 400\n",
            "Ejtimaa_scrape_body_bytes{encoding=\"identity\"} 4000\n",
            "Ejtimaa_scrapes_total{outcome=\"rendered\"} 3\n",
            "Ejtimaa_scrapes_total{outcome=\"shared\"} 2\n",
            "Ejtimaa_scrapes_total{outcome=\"rejected\"} 1\n",
            "Ejtimaa_scrapes_total{outcome=\"prepared\"} 4\n",
            "Ejtimaa_scrape_body_age_seconds 0.04\n",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
    }
}
