//! The app over HTTP on the signaling listener of a real server: the page
//! and its assets with their content types, 404 for anything else, and
//! socket.io still answering under /socket.io/.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signaling_listener_serves_the_app_beside_socket_io() {
    let server = start(test_config()).await;
    let addr = server.signaling_addr;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let (status, head, body) = http_get(addr, path, &[]).await;
        assert_eq!(status, 200, "{path}: {head}");
        let wanted = format!("content-type: {content_type}");
        assert!(
            head.to_ascii_lowercase().contains(&wanted),
            "{path}: {head}"
        );
        let asset = ejtimaa::app::asset(path.trim_start_matches('/')).expect("an asset");
        assert_eq!(body, asset.body, "{path}");
    }
    for path in ["/nope.js", "/app.js.map", "/static/app.js", "/index.html/"] {
        let (status, head, _) = http_get(addr, path, &[]).await;
        assert_eq!(status, 404, "{path}: {head}");
    }
    // The engine.io handshake of socket.io's long-polling transport.
    let (status, head, body) = http_get(addr, "/socket.io/?EIO=4&transport=polling", &[]).await;
    assert_eq!(status, 200, "{head}");
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with("0{\"sid\""), "{body}");
    server.shutdown().await;
}
