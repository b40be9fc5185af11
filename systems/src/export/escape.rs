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
}
