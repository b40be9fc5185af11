//! The longest series line the exporter can write, as a function of the
//! options: every label value taken from the World is cut to
//! `label_value_max` characters, so no client can make a line grow without
//! bound.

use super::options::ExportOptions;

/// The most labels a series carries, and their names: the original's 13,
/// in its order.
pub const ORIGINAL_LABELS: [&str; 13] = [
    "pid",
    "room_id",
    "peer_id",
    "display_name",
    "user_agent",
    "transport_id",
    "proto",
    "local_addr",
    "remote_addr",
    "id",
    "kind",
    "codec",
    "type",
];

/// Longer than any family name the exporter writes (a unit test checks it).
pub(crate) const MAX_NAME_LEN: usize = 48;

/// Longer than any value of the 13 labels that is not cut (`outbound-rtp`,
/// a pid, `video`). Families with fixed values longer than this (a
/// signaling method's name) have at most three labels, far below the bound.
const MAX_FIXED_VALUE_LEN: usize = 12;

/// The longest sample value: a float's shortest round-trip text with its
/// exponent and sign (`-2.2250738585072014e-308`); integers take at most 20.
const MAX_SAMPLE_LEN: usize = 24;

/// Bytes a character can take once escaped: UTF-8 needs at most 4, and the
/// escaped ones (`\\`, `\"`, `\n`) take 2.
const MAX_BYTES_PER_CHAR: usize = 4;

/// The longest series line (in bytes, without its newline) the exporter
/// writes under `options`: a family name, the widest label set with every
/// value at its longest, and the longest sample value.
pub fn max_series_len(options: &ExportOptions) -> usize {
    let value = (options.label_value_max * MAX_BYTES_PER_CHAR).max(MAX_FIXED_VALUE_LEN);
    // name="value" for each label, commas between them.
    let labels: usize = ORIGINAL_LABELS
        .iter()
        .map(|name| name.len() + 3 + value)
        .sum::<usize>()
        + ORIGINAL_LABELS.len()
        - 1;
    // name{labels} value
    MAX_NAME_LEN + 1 + labels + 2 + MAX_SAMPLE_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_sample_value_fits() {
        use crate::export::render::text::{Value, push_value};
        let mut longest = 0;
        for v in [
            f64::MIN_POSITIVE,
            5e-324,
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            9_007_199_254_740_991.0,
            1.0 / 3.0,
        ] {
            for value in [Value::Float(v), Value::Float(-v)] {
                let mut out = String::new();
                push_value(&mut out, value);
                longest = longest.max(out.len() - 1);
            }
        }
        for value in [Value::Signed(i64::MIN), Value::Unsigned(u64::MAX)] {
            let mut out = String::new();
            push_value(&mut out, value);
            longest = longest.max(out.len() - 1);
        }
        // The bound is tight: a value reaches it.
        assert_eq!(longest, MAX_SAMPLE_LEN);
    }

    #[test]
    fn every_family_name_fits() {
        let options = ExportOptions {
            metrics: crate::MetricsMode::Both,
            ..ExportOptions::default()
        };
        let mut core = crate::Core::new(options);
        let text = core.render();
        let mut families = 0;
        for declared in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = declared.split_once(' ').expect("name and type");
            // A summary's samples add `_count` to its name.
            let longest = name.len() + if kind == "summary" { 6 } else { 0 };
            assert!(longest <= MAX_NAME_LEN, "{name}");
            families += 1;
        }
        assert!(families > 30, "{families} families");
    }

    #[test]
    fn grows_with_the_cap() {
        let small = ExportOptions {
            label_value_max: 16,
            ..ExportOptions::default()
        };
        assert!(max_series_len(&small) < max_series_len(&ExportOptions::default()));
    }
}
