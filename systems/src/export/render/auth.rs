//! `Ejtimaa_auth_required` and `Ejtimaa_auth_refusals_total`: whether the
//! server is open, and who was turned away at the door and why.

use super::text::{Kind, Value, header, push_plain, push_value};
use crate::export::auth::{AuthFigures, AuthRefusal};

const REQUIRED: &str = "Ejtimaa_auth_required";
const REFUSALS: &str = "Ejtimaa_auth_refusals_total";

/// Writes both families into `out`; without figures, only their headers.
pub(crate) fn render_auth(out: &mut String, figures: Option<&AuthFigures>) {
    header(
        out,
        REQUIRED,
        "1 when signaling connections need a join token signed with the [auth] secret; 0 when signaling is open.",
        Kind::Gauge,
    );
    if let Some(f) = figures {
        push_plain(out, REQUIRED, Value::Unsigned(u64::from(f.required)));
    }
    header(
        out,
        REFUSALS,
        "Signaling connections refused for their join token, by reason.",
        Kind::Counter,
    );
    let Some(f) = figures else {
        return;
    };
    for reason in AuthRefusal::ALL {
        out.push_str(REFUSALS);
        out.push_str("{reason=\"");
        out.push_str(reason.as_str());
        out.push_str("\"} ");
        push_value(out, Value::Unsigned(f.refused(reason)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_alone_until_known_then_every_reason() {
        let mut out = String::new();
        render_auth(&mut out, None);
        assert!(out.contains("# TYPE Ejtimaa_auth_required gauge\n"));
        assert!(out.contains("# TYPE Ejtimaa_auth_refusals_total counter\n"));
        assert!(out.lines().all(|l| l.starts_with('#')), "{out}");

        let mut figures = AuthFigures {
            required: true,
            ..AuthFigures::default()
        };
        let i = AuthRefusal::ALL
            .iter()
            .position(|r| *r == AuthRefusal::Expired)
            .unwrap();
        figures.refusals[i] = 3;
        let mut out = String::new();
        render_auth(&mut out, Some(&figures));
        assert!(out.contains("\nEjtimaa_auth_required 1\n"), "{out}");
        assert!(out.contains("Ejtimaa_auth_refusals_total{reason=\"expired\"} 3\n"));
        assert!(out.contains("Ejtimaa_auth_refusals_total{reason=\"wrong_peer\"} 0\n"));
        let series = out.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(series, 1 + AuthRefusal::ALL.len());
    }

    #[test]
    fn reasons_are_distinct_and_in_order() {
        let names: Vec<&str> = AuthRefusal::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
