//! The app: the browser client built from `app/` into `app/dist/`, embedded
//! in the binary and served on the signaling listener (`GET /` and its
//! assets), so the page works wherever the server runs, with or without node.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One file of `app/dist/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name, as requested under `/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, as committed.
    pub body: &'static [u8],
}

/// Every file of `app/dist/`; the page is the first.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../app/dist/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../app/dist/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../app/dist/style.css"),
    },
];

/// The asset called `name` (`""` is the page).
pub fn asset(name: &str) -> Option<&'static Asset> {
    let name = if name.is_empty() { "index.html" } else { name };
    ASSETS.iter().find(|a| a.name == name)
}

/// `GET /` and `GET /{asset}`; anything else falls through (to socket.io,
/// which the caller layers on top, or a 404).
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { respond("") }))
        .route(
            "/{name}",
            get(|Path(name): Path<String>| async move { respond(&name) }),
        )
}

/// The response for `name`: the asset, or 404.
pub fn respond(name: &str) -> Response {
    let Some(asset) = asset(name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The assets change with the binary: browsers revalidate rather than
    // keep an old bundle beside a new server.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(response: &Response) -> &str {
        response.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[test]
    fn the_page_is_served_at_the_root() {
        let response = respond("");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), "text/html; charset=utf-8");
    }

    #[test]
    fn each_asset_has_its_content_type() {
        for (name, wanted) in [
            ("index.html", "text/html"),
            ("app.js", "text/javascript"),
            ("style.css", "text/css"),
        ] {
            let response = respond(name);
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert!(content_type(&response).starts_with(wanted), "{name}");
        }
    }

    #[test]
    fn unknown_assets_are_not_found() {
        for name in ["nope.js", "app.js.map", "..", "index.htm", "socket.io"] {
            assert_eq!(respond(name).status(), StatusCode::NOT_FOUND, "{name}");
        }
    }

    #[test]
    fn everything_the_page_refers_to_is_served() {
        let page = std::str::from_utf8(asset("").unwrap().body).unwrap();
        let mut refs = 0;
        for attr in ["src=\"", "href=\""] {
            for part in page.split(attr).skip(1) {
                let target = part.split('"').next().unwrap();
                assert!(asset(target).is_some(), "{target} is not served");
                refs += 1;
            }
        }
        assert_eq!(refs, ASSETS.len() - 1, "the page uses every other asset");
    }

    #[test]
    fn assets_are_not_empty() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{}", a.name);
        }
    }
}
