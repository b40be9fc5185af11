//! `Ejtimaa_limit_refusals_total`: what the configured limits refused, so an
//! operator sees a limit being hit before users report it.

use super::text::{Kind, Value, header, push_value};
use crate::export::figures::{Limit, LimitRefusals};

const NAME: &str = "Ejtimaa_limit_refusals_total";

/// Writes the refusals family into `out`; without figures, only its header.
pub(crate) fn render_refusals(out: &mut String, refusals: Option<&LimitRefusals>) {
    header(
        out,
        NAME,
        "Requests and connections refused by a configured limit, by the option that refused them ([limits], or [prometheus] for the exporter's connections).",
        Kind::Counter,
    );
    let Some(refusals) = refusals else {
        return;
    };
    for limit in Limit::ALL {
        out.push_str(NAME);
        out.push_str("{limit=\"");
        out.push_str(limit.as_str());
        out.push_str("\"} ");
        push_value(out, Value::Unsigned(refusals.get(limit)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_series_once_known() {
        let mut out = String::new();
        render_refusals(&mut out, None);
        assert!(out.contains("# TYPE Ejtimaa_limit_refusals_total counter\n"));
        assert!(!out.contains("\nEjtimaa_limit_refusals_total{"), "{out}");

        let mut refusals = LimitRefusals::default();
        refusals.0[Limit::ALL.iter().position(|l| *l == Limit::Rooms).unwrap()] = 7;
        let mut out = String::new();
        render_refusals(&mut out, Some(&refusals));
        assert!(
            out.contains("Ejtimaa_limit_refusals_total{limit=\"max_rooms\"} 7\n"),
            "{out}"
        );
        assert!(out.contains("Ejtimaa_limit_refusals_total{limit=\"max_message_bytes\"} 0\n"));
        let series = out.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(series, Limit::ALL.len());
    }

    #[test]
    fn label_values_are_distinct_and_in_order() {
        let names: Vec<&str> = Limit::ALL.iter().map(|l| l.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
