//! The Prometheus text format (0.0.4), read line by line in one pass.
//!
//! A scrape of a server carrying a thousand streams is 2.5 MB of text every
//! second; the sim must read it for the price a Prometheus server pays (a
//! few milliseconds), not tens of times that, since the sim shares its
//! machine with the server it loads. Every line is checked against the
//! grammar (names, quoting, escapes, values), so a malformed exposition is
//! still an error that says where.

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Labels, ScrapeError, Series};

/// Every sample of an exposition, in order, and the names its `# TYPE`
/// lines declare.
#[derive(Debug, Default)]
pub struct Samples {
    /// The samples; a summary's or histogram's lines each under their own
    /// name (`_sum`, `_count`, `_bucket`), as Prometheus stores them.
    pub series: Vec<Series>,
    /// The families declared by `# TYPE`, with samples or without.
    pub declared: BTreeSet<String>,
}

/// Reads `text`; the first line that breaks the format is an error naming
/// its number.
pub fn samples(text: &str) -> Result<Samples, ScrapeError> {
    let mut out = Samples::default();
    let mut strings = Strings::default();
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let bad =
            |why: &str| ScrapeError::Parse(format!("line {}: {why}: {line:.120}", number + 1));
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_ascii_whitespace();
            if words.next() == Some("TYPE") {
                let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                    return Err(bad("TYPE without a name and a type"));
                };
                if !is_metric_name(name) {
                    return Err(bad("bad metric name"));
                }
                if !matches!(
                    kind,
                    "counter" | "gauge" | "histogram" | "summary" | "untyped"
                ) {
                    return Err(bad("unknown type"));
                }
                out.declared.insert(name.to_owned());
            }
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).ok_or_else(|| bad("no value"))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(bad("bad metric name"));
        }
        let mut rest = &line[name_end..];
        if let Some(inside) = rest.strip_prefix('{') {
            rest = read_labels(inside, &mut strings, &mut pairs).map_err(bad)?;
        }
        let labels =
            Labels::take(&mut pairs).map_err(|name| bad(&format!("label given twice ({name})")))?;
        let mut fields = rest.split_ascii_whitespace();
        let value = fields.next().ok_or_else(|| bad("no value"))?;
        let value = parse_value(value).ok_or_else(|| bad("bad value"))?;
        if let Some(timestamp) = fields.next()
            && timestamp.parse::<i64>().is_err()
        {
            return Err(bad("bad timestamp"));
        }
        if fields.next().is_some() {
            return Err(bad("text after the timestamp"));
        }
        out.series.push(Series {
            name: strings.get(name),
            labels,
            value,
        });
    }
    Ok(out)
}

/// One shared copy of each distinct string a scrape repeats (names, label
/// names and values).
#[derive(Default)]
struct Strings<'t> {
    seen: FxHashMap<&'t str, Arc<str>>,
}

impl<'t> Strings<'t> {
    /// The shared copy of `text`.
    fn get(&mut self, text: &'t str) -> Arc<str> {
        Arc::clone(self.seen.entry(text).or_insert_with(|| Arc::from(text)))
    }
}

/// Reads `name="value",...}` into `pairs`; returns what follows the `}`.
fn read_labels<'t>(
    mut rest: &'t str,
    strings: &mut Strings<'t>,
    pairs: &mut Vec<(Arc<str>, Arc<str>)>,
) -> Result<&'t str, &'static str> {
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("label without a value")?;
        let name = rest[..eq].trim_end_matches([' ', '\t']);
        if !is_label_name(name) {
            return Err("bad label name");
        }
        rest = rest[eq + 1..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let (value, after) = read_quoted(rest)?;
        let value = match value {
            Value::Plain(text) => strings.get(text),
            Value::Unescaped(owned) => Arc::from(owned),
        };
        pairs.push((strings.get(name), value));
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by commas");
        }
    }
}

/// A label value as read.
enum Value<'t> {
    /// As it stands in the text: nothing escaped.
    Plain(&'t str),
    /// With its escapes undone.
    Unescaped(String),
}

/// Reads a label value up to its closing quote, undoing `\\`, `\"` and
/// `\n`; returns it and what follows the quote.
fn read_quoted(rest: &str) -> Result<(Value<'_>, &str), &'static str> {
    let end = rest.find(['"', '\\']).ok_or("label value not closed")?;
    if rest.as_bytes()[end] == b'"' {
        // The common case: nothing to undo.
        return Ok((Value::Plain(&rest[..end]), &rest[end + 1..]));
    }
    let mut value = String::with_capacity(rest.len().min(256));
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((Value::Unescaped(value), &rest[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                _ => return Err("bad escape in a label value"),
            },
            c => value.push(c),
        }
    }
    Err("label value not closed")
}

/// A sample value: a float, `NaN`, `+Inf` or `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        // Rust also reads "inf" and "nan" in any case, which the format
        // does not allow.
        _ if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => text.parse().ok(),
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests;
