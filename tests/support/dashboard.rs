//! Reading the Grafana dashboard (`deploy/grafana/ejtimaa.json`): its
//! PromQL expressions, with Grafana's variables replaced by values a plain
//! Prometheus accepts, and the Ejtimaa metric names they reference.

use std::collections::BTreeSet;

use anyhow::Context;
use serde_json::Value;

/// One query of one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelExpr {
    /// The panel's title (for error messages).
    pub panel: String,
    /// The PromQL, as written in the dashboard.
    pub expr: String,
}

/// Every target `expr` of every panel, rows' nested panels included.
pub fn panel_exprs(dashboard: &Value) -> Vec<PanelExpr> {
    fn walk(panels: &Value, out: &mut Vec<PanelExpr>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(PanelExpr {
                        panel: title.to_string(),
                        expr: expr.to_string(),
                    });
                }
            }
            // Collapsed rows keep their panels inside.
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The queries of the template variables (Grafana's `label_values(...)`).
pub fn variable_queries(dashboard: &Value) -> Vec<String> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .filter_map(|v| match &v["query"] {
            Value::String(q) => Some(q.clone()),
            q => q["query"].as_str().map(str::to_string),
        })
        .collect()
}

/// Grafana's variables and the values a test substitutes: intervals a
/// Prometheus scraping every second can rate over, and match-all regexes
/// (the dashboard always matches `node`, `instance` and `room_id` with `=~`).
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("__rate_interval", "30s"),
    ("__interval", "15s"),
    ("__range", "5m"),
    ("node", ".*"),
    ("instance", ".*"),
    ("room_id", ".*"),
];

/// `expr` with every `$var` / `${var}` replaced; `Err` on an unknown variable.
pub fn substitute(expr: &str) -> anyhow::Result<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => braced
                .split_once('}')
                .with_context(|| format!("unclosed `${{` in `{expr}`"))?,
            None => after.split_at(after.find(|c| !is_name(c)).unwrap_or(after.len())),
        };
        let value = SUBSTITUTIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .with_context(|| format!("unknown Grafana variable `${name}` in `{expr}`"))?;
        out.push_str(value);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// The Ejtimaa metric names (`Ejtimaa_*`, `mediasoup_*`) an expression
/// references, ignoring quoted strings (label values, regexes).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                // Skip to the closing quote (backslash escapes except in backticks).
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' && c != '`' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                        end = i + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &expr[start..end];
                if word.starts_with("Ejtimaa_") || word.starts_with("mediasoup_") {
                    names.insert(word.to_string());
                }
            }
            _ => {}
        }
    }
    names
}

/// The metric names that have at least one sample in an exposition.
pub fn sampled_names(exposition: &str) -> BTreeSet<String> {
    // A summary's samples are its `_sum` and `_count` series, a histogram's
    // its `_bucket`, `_sum` and `_count` series: they sample it too.
    let summaries: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" summary"))
        .collect();
    let mut names = BTreeSet::new();
    for name in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
    {
        let base = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"));
        if let Some(base) = base.filter(|b| summaries.contains(b)) {
            names.insert(base.to_string());
        }
        names.insert(name.to_string());
    }
    let histograms: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_suffix("_bucket"))
        .filter(|base| names.contains(&format!("{base}_count")))
        .map(str::to_string)
        .collect();
    names.extend(histograms);
    names
}

/// The families an exposition declares with `# TYPE`.
pub fn declared_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// Loads and parses the shipped dashboard.
pub fn load(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exprs_are_found_in_rows_and_panels() {
        let d = json!({"panels": [
            {"type": "row", "title": "r", "panels": [
                {"title": "inner", "targets": [{"expr": "Ejtimaa_rooms"}]}
            ]},
            {"title": "outer", "targets": [{"expr": "a"}, {"refId": "B"}]}
        ]});
        let exprs = panel_exprs(&d);
        assert_eq!(exprs.len(), 2);
        assert_eq!(exprs[0].panel, "inner");
        assert_eq!(exprs[0].expr, "Ejtimaa_rooms");
        assert_eq!(exprs[1].panel, "outer");
    }

    #[test]
    fn variables_are_substituted_and_unknown_ones_refused() {
        assert_eq!(
            substitute(r#"rate(x{instance=~"$instance",room_id=~"${room_id}"}[$__rate_interval])"#)
                .unwrap(),
            r#"rate(x{instance=~".*",room_id=~".*"}[30s])"#
        );
        assert!(substitute("x[$__interval_ms]").is_err());
        assert!(substitute(r#"x{a="$nope"}"#).is_err());
    }

    #[test]
    fn metric_names_skip_strings_and_labels() {
        let names = metric_names(
            r#"sum by (room_id) (rate(mediasoup_producer_byte_count_bytes{room_id=~"Ejtimaa_fake"}[1m])) * 8 / Ejtimaa_rooms"#,
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["Ejtimaa_rooms", "mediasoup_producer_byte_count_bytes"]
        );
        assert!(metric_names("up").is_empty());
    }

    #[test]
    fn expositions_give_sampled_and_declared_names() {
        let text = "# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 2\n# TYPE Ejtimaa_peers gauge\n\
                    # TYPE x counter\nx{a=\"b c\"} 1\n";
        assert_eq!(
            sampled_names(text).into_iter().collect::<Vec<_>>(),
            ["Ejtimaa_rooms", "x"]
        );
        assert_eq!(declared_names(text).len(), 3);
        let histogram = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
        assert!(sampled_names(histogram).contains("h"));
    }

    #[test]
    fn variable_queries_are_read_in_both_shapes() {
        let d = json!({"templating": {"list": [
            {"type": "datasource", "query": "prometheus"},
            {"type": "query", "query": "label_values(Ejtimaa_build_info, instance)"},
            {"type": "query", "query": {"query": "label_values(Ejtimaa_peers, room_id)"}}
        ]}});
        assert_eq!(variable_queries(&d).len(), 2);
    }

    #[test]
    fn a_summarys_parts_sample_it() {
        let text = "# TYPE a summary\na_sum{x=\"1\"} 2\na_count{x=\"1\"} 1\n\
                    # TYPE b gauge\n# TYPE c_sum gauge\nc_sum 1\n";
        let sampled = sampled_names(text);
        assert!(sampled.contains("a") && sampled.contains("a_sum"));
        assert!(!sampled.contains("b") && !sampled.contains("c"));
    }
}
