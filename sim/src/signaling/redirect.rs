//! A cluster's redirect: a server refuses a room held by another node with a
//! `connect_error` whose message is `redirect: <url> (the room is on node
//! <id>)`; the client connects to `<url>` instead.

use serde_json::Value;

/// What every redirect message starts with.
const PREFIX: &str = "redirect: ";

/// The URL a refusal (`connect_error` data) redirects to, if it is a redirect.
pub fn target(refusal: &Value) -> Option<String> {
    let message = refusal.get("message")?.as_str()?;
    let url = message.strip_prefix(PREFIX)?.split(' ').next()?;
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_redirects_name_a_target() {
        let r = json!({"message": "redirect: https://b.example.com:4443 (the room is on node b)"});
        assert_eq!(target(&r).as_deref(), Some("https://b.example.com:4443"));
        assert_eq!(
            target(&json!({"message": "redirect: http://127.0.0.1:1"})).as_deref(),
            Some("http://127.0.0.1:1")
        );
        for other in [
            json!({"message": "limit reached (rooms): at most 1 rooms"}),
            json!({"message": "redirect: ftp://x (the room is on node b)"}),
            json!({"message": "redirect: "}),
            json!("redirect: http://x"),
            json!({}),
        ] {
            assert_eq!(target(&other), None, "{other}");
        }
    }
}
