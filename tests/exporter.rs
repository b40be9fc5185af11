//! The exporter's HTTP side against a real server: gzip as Prometheus asks
//! for it, the landing page, shared renders and the cap on waiting scrapes.

mod support;

use std::io::Read;
use std::time::Duration;

use flate2::read::GzDecoder;
use support::*;

fn gunzip(data: &[u8]) -> String {
    let mut text = String::new();
    GzDecoder::new(data)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

/// Family names (the `# TYPE` lines) of an exposition.
fn families(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_when_asked_plain_otherwise() {
    let server = start(test_config()).await;
    let addr = server.exporter_addr.expect("exporter on");
    let (client, _incoming) = connect(&server, "gz", "alice").await;
    join(&client, "Alice").await;

    let prometheus = [
        ("Accept-Encoding", "gzip"),
        (
            "Accept",
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        ),
    ];
    let (status, head, body) = http_get(addr, "/metrics", &prometheus).await;
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = gunzip(&body);
    assert!(text.contains("Ejtimaa_peers{room_id=\"gz\"} 1\n"), "{text}");

    let (status, head, body) = http_get(addr, "/metrics", &[("Accept-Encoding", "identity")]).await;
    assert_eq!(status, 200);
    assert!(
        !head.to_ascii_lowercase().contains("content-encoding"),
        "{head}"
    );
    let plain = String::from_utf8(body).expect("utf-8");
    assert_eq!(families(&plain), families(&text));

    // The next render reports the size of the scrape before it.
    let text = scrape_until(&server, "the body size", |t| {
        sample(t, "Ejtimaa_scrape_body_bytes{encoding=\"identity\"}").is_some()
    })
    .await;
    let identity = sample(&text, "Ejtimaa_scrape_body_bytes{encoding=\"identity\"}").unwrap();
    assert!(identity > 1000.0 && identity < 1e6, "{identity}");
    assert!(sample(&text, "Ejtimaa_stats_interval_seconds").unwrap() > 0.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_a_landing_page_at_the_root_only() {
    let server = start(test_config()).await;
    let addr = server.exporter_addr.expect("exporter on");
    let browser = [(
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    )];
    scrape(&server).await;
    let (status, head, body) = http_get(addr, "/", &browser).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    let page = String::from_utf8(body).expect("utf-8");
    assert!(page.contains("<a href=\"/metrics\">"), "{page}");
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    assert!(page.contains("Series in the last scrape: "), "{page}");

    // `/metrics` is always the metrics, and `/` is for anything but a browser.
    let (_, _, body) = http_get(addr, "/metrics", &browser).await;
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("# TYPE Ejtimaa_rooms gauge")
    );
    let (_, _, body) = http_get(addr, "/", &[]).await;
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("# TYPE Ejtimaa_rooms gauge")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_scrapes_shares_renders_and_the_excess_is_refused() {
    let mut config = test_config();
    config.prometheus.max_concurrent_scrapes = 4;
    // The whole burst comes from one address; the caps on connections are
    // tests/listeners.rs's to try.
    config.prometheus.max_scrape_connections_per_ip = 64;
    let server = start(config).await;
    let addr = server.exporter_addr.expect("exporter on");
    let burst = 48;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..burst {
        tasks
            .spawn(async move { http_get(addr, "/metrics", &[("Accept-Encoding", "gzip")]).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (status, head, body) = done.expect("the scrape task");
        match status {
            200 => {
                ok += 1;
                assert!(gunzip(&body).contains("# TYPE Ejtimaa_rooms gauge"));
            }
            503 => {
                refused += 1;
                assert!(
                    head.to_ascii_lowercase().contains("retry-after: 1"),
                    "{head}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok + refused, burst);
    assert!(ok >= 1);

    // The exporter says what the burst cost: every scrape is counted once,
    // and none rendered side by side with another.
    let text = scrape(&server).await;
    let outcome =
        |o: &str| sample(&text, &format!("Ejtimaa_scrapes_total{{outcome=\"{o}\"}}")).unwrap();
    let (rendered, shared, rejected) =
        (outcome("rendered"), outcome("shared"), outcome("rejected"));
    assert_eq!(rendered + shared, f64::from(ok), "{text}");
    assert_eq!(rejected, f64::from(refused), "{text}");
    // The server carries on.
    let (client, _incoming) = connect(&server, "after", "bob").await;
    join(&client, "Bob").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_time_collection_is_still_there() {
    let mut config = test_config();
    config.prometheus.stats_interval_ms = 0;
    let server = start(config).await;
    scrape(&server).await;
    scrape(&server).await;
    assert_eq!(server.stats.rounds(), 0, "no background rounds");
    assert!(server.stats.refreshes() >= 1, "each scrape refreshes");
    let text = scrape(&server).await;
    assert_eq!(sample(&text, "Ejtimaa_stats_interval_seconds"), Some(0.0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_names_and_user_agents_give_bounded_series() {
    use ejtimaa_sim::peer::{Peer, PeerConfig};
    use ejtimaa_systems::ExportOptions;
    use ejtimaa_systems::export::max_series_len;

    let mut config = test_config();
    // Names far over the default cap on a request's strings: the exporter
    // must bound whatever a configuration lets through.
    config.limits.max_string_bytes = 60_000;
    let options = ExportOptions {
        label_value_max: config.prometheus.label_value_max,
        ..ExportOptions::default()
    };
    let bound = max_series_len(&options);
    let server = start(config).await;
    let url = format!("http://{}", server.signaling_addr);
    let mut peers = Vec::new();
    for id in ["p1", "p2"] {
        let mut peer = PeerConfig::new("huge", format!("huge-{id}"));
        peer.display_name = "\"\\\n«ünïcödé» 🎥 ".repeat(2_000);
        peer.user_agent = format!("Mozilla/5.0 {}", "(X11; \"quoted\") ".repeat(250));
        peers.push(
            Peer::spawn(&url, peer)
                .await
                .expect("a peer with a huge name joins"),
        );
    }
    let text = scrape_until(&server, "both peers' streams", |t| {
        t.lines()
            .filter(|l| l.starts_with("mediasoup_consumer_byte_count_bytes{"))
            .count()
            == 4
    })
    .await;
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest <= bound,
        "a {longest}-byte line over the {bound}-byte bound"
    );
    assert!(
        text.contains('…'),
        "long values are cut with a visible marker"
    );
    // The server carries on: the peers leave and their series go.
    for peer in peers {
        peer.leave().await;
    }
    scrape_until(&server, "the peers gone", |t| !t.contains("huge-p1")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_scraper_finds_its_body_prepared_and_never_misses_a_join() {
    let mut config = test_config();
    // Ahead by much more than a join takes, so that the join below falls
    // between a preparation and the scrape it was made for.
    config.prometheus.prepare_ahead_ms = 400;
    let server = start(config).await;
    let first = tokio::time::Instant::now();
    let at = |n: u32| first + Duration::from_millis(1000) * n;
    let outcome = |text: &str, o: &str| {
        sample(text, &format!("Ejtimaa_scrapes_total{{outcome=\"{o}\"}}")).unwrap()
    };
    let age = |text: &str| sample(text, "Ejtimaa_scrape_body_age_seconds").unwrap();
    // Four evenly spaced scrapes foretell the fifth, which finds its body
    // made ahead.
    for n in 0..5 {
        tokio::time::sleep_until(at(n)).await;
        scrape(&server).await;
    }
    // The sixth scrape's body was prepared 400 ms before it is due; a peer
    // joins after that. Its scrape must show the peer all the same.
    tokio::time::sleep_until(at(5) - Duration::from_millis(300)).await;
    let (client, _incoming) = connect(&server, "r", "alice").await;
    join_without_transports(&client, "Alice").await;
    assert!(
        tokio::time::Instant::now() < at(5) - Duration::from_millis(50),
        "the join took too long to test anything"
    );
    tokio::time::sleep_until(at(5)).await;
    let text = scrape(&server).await;
    assert_eq!(
        sample(&text, "Ejtimaa_peers{room_id=\"r\"}"),
        Some(1.0),
        "{text}"
    );
    // It reports the scrape before: prepared, its body 400 ms old.
    assert_eq!(outcome(&text, "prepared"), 1.0, "{text}");
    assert_eq!(outcome(&text, "rendered"), 4.0, "{text}");
    assert!((0.2..0.8).contains(&age(&text)), "{text}");
    // The next, steady again, is prepared; it reports the join's scrape,
    // rendered on arrival.
    tokio::time::sleep_until(at(6)).await;
    let text = scrape(&server).await;
    assert_eq!(outcome(&text, "rendered"), 5.0, "{text}");
    assert!(age(&text) < 0.2, "{text}");
    tokio::time::sleep_until(at(7)).await;
    let text = scrape(&server).await;
    assert_eq!(outcome(&text, "prepared"), 2.0, "{text}");
    assert_eq!(outcome(&text, "rendered"), 5.0, "{text}");
    assert_eq!(outcome(&text, "shared"), 0.0, "{text}");
    server.shutdown().await;
}
