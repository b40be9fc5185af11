//! What a scrape asks for in its headers: gzip or not, a page or the metrics.

use axum::http::{HeaderMap, header};

/// Whether `Accept-Encoding` accepts gzip (`gzip`, `x-gzip` or `*` with a
/// non-zero quality).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let (coding, quality) = split_quality(item);
            matches!(coding.as_str(), "gzip" | "x-gzip" | "*") && quality > 0.0
        })
}

/// Whether the client is a browser asking for a page: `Accept` names
/// `text/html` (Prometheus never does).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let (media, quality) = split_quality(item);
            media == "text/html" && quality > 0.0
        })
}

/// `name;q=0.5;other=x` as the lower-cased name and its quality (1 when absent).
fn split_quality(item: &str) -> (String, f32) {
    let mut parts = item.split(';');
    let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let quality = parts
        .filter_map(|p| p.trim().strip_prefix("q="))
        .find_map(|q| q.trim().parse::<f32>().ok())
        .unwrap_or(1.0);
    (name, quality)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn gzip_is_accepted_as_prometheus_and_browsers_ask() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "br;q=1.0, GZIP;q=0.5",
            "*",
            "x-gzip",
        ] {
            assert!(accepts_gzip(&with(header::ACCEPT_ENCODING, yes)), "{yes}");
        }
        for no in ["identity", "deflate, br", "gzip;q=0", "gzip; q=0.0", ""] {
            assert!(!accepts_gzip(&with(header::ACCEPT_ENCODING, no)), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_browsers_want_a_page() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_html(&with(header::ACCEPT, browser)));
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,\
            text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(!wants_html(&with(header::ACCEPT, prometheus)));
        assert!(!wants_html(&with(header::ACCEPT, "*/*")));
        assert!(!wants_html(&with(header::ACCEPT, "text/html;q=0")));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
