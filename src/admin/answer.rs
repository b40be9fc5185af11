//! The shapes of an answer shared by every command: errors as text, JSON
//! pretty-printed for `--json`.

use serde::Serialize;

/// An error, as the line the client sees after `error: `.
pub(super) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `value` as pretty JSON, ending with a newline.
pub(super) fn pretty(value: &impl Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(err)
}
