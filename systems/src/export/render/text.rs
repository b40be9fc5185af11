//! Writing pieces of the text exposition: family headers and sample values.

use std::fmt::Write;

/// A family's type, as the `# TYPE` line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    /// Written as `_sum` and `_count` only, without quantiles.
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A sample value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Unsigned(u64),
    Signed(i64),
    /// Finite by construction (callers drop NaN and infinities).
    Float(f64),
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: Kind) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Writes a value and ends the line.
pub(crate) fn push_value(out: &mut String, value: Value) {
    match value {
        Value::Unsigned(v) => out.push_str(itoa::Buffer::new().format(v)),
        Value::Signed(v) => out.push_str(itoa::Buffer::new().format(v)),
        // Rust's shortest round-trip form never uses an exponent, and
        // Prometheus reads it back exactly.
        Value::Float(v) => {
            let _ = write!(out, "{v}");
        }
    }
    out.push('\n');
}

/// Writes a whole sample without labels.
pub(crate) fn push_plain(out: &mut String, name: &str, value: Value) {
    out.push_str(name);
    out.push(' ');
    push_value(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_exactly() {
        for v in [0.0, 0.5, 1.0 / 3.0, 1e-7, 123_456.789, f64::MIN_POSITIVE] {
            let mut out = String::new();
            push_value(&mut out, Value::Float(v));
            assert_eq!(out.trim_end().parse::<f64>(), Ok(v), "{out}");
            assert!(!out.contains("inf") && !out.contains("NaN"));
        }
        let mut out = String::new();
        push_value(&mut out, Value::Signed(-3));
        push_value(&mut out, Value::Unsigned(u64::MAX));
        assert_eq!(out, format!("-3\n{}\n", u64::MAX));
    }
}
