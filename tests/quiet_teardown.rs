//! A normal leave, however many peers leave at once, logs no error: neither
//! the server's nor mediasoup's (whose `log` records, the C++ worker's
//! included, reach tracing). Peers leave in bulk, drop their connections in
//! bulk, rooms close the moment they empty, and the server shuts down with
//! everyone in.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ejtimaa_sim::peer::{Peer, PeerConfig};
use support::*;
use tracing_subscriber::prelude::*;

/// Log lines at WARN and above, as written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs the capture as the process's subscriber (and `log` bridge).
    fn install() -> Captured {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::WARN)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .try_init()
            .expect("the only subscriber of this test binary");
        captured
    }

    /// The lines logged at ERROR (the worker's own included: asking stats of
    /// an object it has just closed makes it log one).
    fn errors(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains(" ERROR "))
            .map(str::to_string)
            .collect()
    }
}

const ROOMS: usize = 6;
const PER_ROOM: usize = 5;

/// Rooms of five under `tag`, everyone publishing and consuming the others.
async fn crowd(server: &ejtimaa::server::Server, tag: &str) -> Vec<Peer> {
    let url = format!("http://{}", server.signaling_addr);
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..ROOMS * PER_ROOM {
        let (url, tag) = (url.clone(), tag.to_string());
        joins.spawn(async move {
            let room = format!("{tag}-{}", i / PER_ROOM);
            let mut config = PeerConfig::new(room, format!("{tag}-p{i}"));
            config.video_bitrate = 100_000;
            Peer::spawn(&url, config).await.expect("peer up")
        });
    }
    let peers = joins.join_all().await;
    scrape_until(server, "every consumer", |t| {
        sample(t, "Ejtimaa_consumers{kind=\"video\",paused=\"false\"}")
            == Some((ROOMS * PER_ROOM * (PER_ROOM - 1)) as f64)
    })
    .await;
    peers
}

/// Everything the crowds had is gone.
async fn all_closed(server: &ejtimaa::server::Server) {
    scrape_until(server, "every room closed", |t| {
        sample(t, "Ejtimaa_rooms") == Some(0.0)
            && sample(
                t,
                "Ejtimaa_transports{transport_type=\"webrtc\",ice_state=\"completed\"}",
            ) == Some(0.0)
    })
    .await;
    // Closes are requests to the worker, answered asynchronously.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Scrapes as fast as the exporter answers until `stop`, so that stats are
/// asked for while everyone goes.
fn scrape_meanwhile(
    server: &ejtimaa::server::Server,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<usize>,
) {
    let addr = server.exporter_addr.expect("exporter on");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut scrapes = 0;
        while !*stopped.borrow() {
            let (status, _, _) = http_get(addr, "/metrics", &[("Accept-Encoding", "gzip")]).await;
            assert_eq!(status, 200);
            scrapes += 1;
        }
        scrapes
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_leave_logs_no_error() {
    let logs = Captured::install();
    // Stats asked for at every scrape, racing the closes; then in background
    // rounds (every 200 ms here) with scrapes as well.
    for stats_interval_ms in [0, 200] {
        let mut config = test_config();
        config.mediasoup.num_workers = Some(2);
        // Rooms close the moment their last peer goes, while its transports do.
        config.rooms.empty_grace_ms = 0;
        config.prometheus.stats_interval_ms = stats_interval_ms;
        let server = start(config).await;
        let (stop, scraper) = scrape_meanwhile(&server);

        // Everyone leaves at once.
        let peers = crowd(&server, "leave").await;
        futures_util::future::join_all(peers.into_iter().map(Peer::leave)).await;
        all_closed(&server).await;
        // Everyone's connection drops at once.
        for peer in crowd(&server, "abort").await {
            peer.abort();
        }
        all_closed(&server).await;
        stop.send(true).expect("the scraper listens");
        assert!(scraper.await.expect("the scraper") > 0);
        // The server shuts down under a full house.
        let _peers = crowd(&server, "shutdown").await;
        server.shutdown().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let errors = logs.errors();
        assert!(
            errors.is_empty(),
            "stats_interval_ms = {stats_interval_ms}: {errors:#?}"
        );
    }
}
