//! Sample lines of the Prometheus text format, parsed for tests that judge
//! series by their labels (media_flow.rs, browser.rs).
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One sample of the exposition: metric name, labels, value.
#[derive(Debug, Clone)]
pub struct Series {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Series {
    /// A label's value (`""` when absent).
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }
}

/// Parses the text format's sample lines (`name{k="v",...} value`),
/// unescaping `\\`, `\"` and `\n` in label values.
pub fn parse(text: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let mut parts = line.split_whitespace();
                let name = parts.next().unwrap_or_default();
                let value = parts
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                out.push(Series {
                    name: name.to_string(),
                    labels: BTreeMap::new(),
                    value,
                });
                continue;
            }
        };
        let mut labels = BTreeMap::new();
        let mut chars = rest.chars();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let key = key.trim_start_matches(',').to_string();
            if key.starts_with('}') || key.is_empty() {
                break;
            }
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => break,
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
            let rest: String = chars.clone().collect();
            if rest.starts_with('}') {
                chars.next();
                break;
            }
        }
        let value = chars.collect::<String>().trim().parse().unwrap_or(f64::NAN);
        out.push(Series {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

/// The samples of metric `name`.
pub fn named<'a>(series: &'a [Series], name: &str) -> Vec<&'a Series> {
    series.iter().filter(|s| s.name == name).collect()
}

/// A series' identity across scrapes.
pub fn key(s: &Series) -> String {
    format!("{}{:?}", s.name, s.labels)
}
