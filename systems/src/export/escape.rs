//! Escaping for the text exposition format 0.0.4.

/// Appends `value` escaped as a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
/// Everything else (any unicode, carriage returns included) is valid as is.
pub fn push_label_value(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `name="value"` with the value escaped.
pub fn push_label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    push_label_value(out, value);
    out.push('"');
}

/// The mark that ends a cut label value.
pub const TRUNCATION_MARKER: char = '…';

/// `value` cut to at most `max` characters, on a character boundary, the last
/// one being [`TRUNCATION_MARKER`] when something was cut; and whether it was.
pub fn capped(value: &str, max: usize) -> (&str, bool) {
    if value.char_indices().nth(max).is_none() {
        return (value, false);
    }
    let keep = max.saturating_sub(1);
    let end = value
        .char_indices()
        .nth(keep)
        .map_or(value.len(), |(i, _)| i);
    (&value[..end], true)
}

/// Appends `value` cut to `max` characters (see [`capped`]) and escaped.
pub fn push_capped_value(out: &mut String, value: &str, max: usize) {
    let (kept, cut) = capped(value, max);
    push_label_value(out, kept);
    if cut && max > 0 {
        out.push(TRUNCATION_MARKER);
    }
}

/// Appends `name="value"` with the value cut to `max` characters and escaped.
pub fn push_capped_label(out: &mut String, name: &str, value: &str, max: usize) {
    out.push_str(name);
    out.push_str("=\"");
    push_capped_value(out, value, max);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        push_label_value(&mut out, s);
        out
    }

    #[test]
    fn escapes_backslash_quote_and_newline_only() {
        assert_eq!(escaped("plain"), "plain");
        assert_eq!(escaped(r#"a"b"#), r#"a\"b"#);
        assert_eq!(escaped(r"C:\dir"), r"C:\\dir");
        assert_eq!(escaped("two\nlines"), r"two\nlines");
        assert_eq!(escaped("cr\rstays"), "cr\rstays");
        assert_eq!(escaped("ünï 😀 {},="), "ünï 😀 {},=");
    }

    fn cut(s: &str, max: usize) -> String {
        let mut out = String::new();
        push_capped_value(&mut out, s, max);
        out
    }

    #[test]
    fn cuts_on_a_char_boundary_and_counts_the_marker() {
        assert_eq!(cut("short", 5), "short");
        assert_eq!(cut("longer", 5), "long…");
        assert_eq!(cut("😀😀😀😀😀😀", 3), "😀😀…");
        assert_eq!(cut("abc", 1), "…");
        assert_eq!(cut("abc", 0), "");
        assert_eq!(cut("", 0), "");
        // Escaping comes after the cut: the bound is on characters of the value.
        assert_eq!(cut("\"\"\"\"", 3), "\\\"\\\"…");
        for max in 0..8 {
            assert!(cut("ünïcödé wörds", max).chars().count() <= max);
        }
    }
}
