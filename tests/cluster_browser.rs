//! The app across a cluster: two in-process servers sharing a real
//! `redis-server`, and Debian's chromium (headless, fake camera and
//! microphone). A page loaded from the node that does not hold its room is
//! refused with a redirect, connects to the room's node instead and holds
//! the call there.

#[path = "support/cdp.rs"]
mod cdp;
// Shared with tests/cluster.rs and tests/prometheus.rs, which use the rest.
#[allow(dead_code)]
#[path = "support/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "support/prometheus.rs"]
mod prom;
mod support;

use std::time::Duration;

use cdp::{Browser, MediaPermission, Page};
use cluster::Redis;
use ejtimaa::config::ClusterConfig;
use ejtimaa::server::Server;
use support::{sample, scrape, start, test_config, wait_for};

/// The whole scenario, browser start-up included: never hang CI.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(60);

/// The page's status line (null while it is still loading).
const STATUS: &str = "document.getElementById('status')?.textContent ?? null";

async fn node(id: &str, redis: &Redis) -> Server {
    let mut config = test_config();
    let mut cluster = ClusterConfig::new(format!("redis://{}", redis.addr), id);
    (cluster.heartbeat_ms, cluster.ttl_ms) = (200, 1000);
    config.cluster = Some(cluster);
    start(config).await
}

/// Waits until `page`'s status line contains `needle`.
async fn says(browser: &Browser, page: &Page, needle: &str) -> String {
    wait_for(
        &format!("the status `{needle}`"),
        Duration::from_secs(20),
        async || {
            let status = browser.eval(page, STATUS).await;
            let status = status.as_str()?.to_string();
            status.contains(needle).then_some(status)
        },
    )
    .await
}

async fn scenario(a: &Server, b: &Server, browser: &Browser) {
    // One opens the room on a.
    let one = browser
        .open(
            &format!("http://{}/?room=r&name=One", a.signaling_addr),
            None,
        )
        .await;
    says(browser, &one, "In room r").await;
    // Two loads the page from b: b sends it to a, where the call is.
    let two = browser
        .open(
            &format!("http://{}/?room=r&name=Two", b.signaling_addr),
            None,
        )
        .await;
    let status = says(browser, &two, "1 other participant").await;
    println!("the redirected page: {status}");
    says(browser, &one, "1 other participant").await;
    assert_eq!(a.signaling.peer_count(), 2);
    assert_eq!(b.signaling.peer_count(), 0);
    let text = scrape(b).await;
    assert_eq!(sample(&text, "Ejtimaa_cluster_redirects_total"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_the_wrong_node_follows_the_redirect_into_the_call() {
    let redis = Redis::start().await.expect("redis-server starts");
    let a = node("a", &redis).await;
    let b = node("b", &redis).await;
    let browser = Browser::launch(MediaPermission::Granted).await;
    tokio::time::timeout(SCENARIO_DEADLINE, scenario(&a, &b, &browser))
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
    drop(browser);
    a.shutdown().await;
    b.shutdown().await;
}
