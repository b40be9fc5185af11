//! The app in a real browser: Debian's chromium, headless with fake camera
//! and microphone, driven over the DevTools protocol, against a real
//! in-process server. Two pages join one room by URL and see and hear each
//! other; the stats panel shows the server's figures; the exporter follows
//! them; a page closed leaves no series; a full
//! room, a refused camera and a server gone each give their clear message;
//! invitation links with join tokens get in where a page without one is refused.

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/series.rs"]
mod series;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cdp::{Browser, MediaPermission, Page};
use serde_json::Value;
use series::{Series, key, named, parse};
use support::*;

const ROOM: &str = "browser-room";
const PRODUCER_BYTES: &str = "mediasoup_producer_byte_count_bytes";
const CONSUMER_BYTES: &str = "mediasoup_consumer_byte_count_bytes";
/// The whole call scenario, browser start-up included: never hang CI.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(60);
/// Luma variance (0..255 scale) under which a frame counts as flat (black,
/// or one colour); chromium's fake camera draws a moving pattern far above.
const FLAT_FRAME_VARIANCE: f64 = 50.0;

/// The remote tiles of a page: who, whether their video plays, and the
/// luma mean and variance of the current frame drawn into a canvas.
const REMOTE_TILES: &str = r#"(() => {
  const tiles = [...document.querySelectorAll('#grid figure.tile:not(.local)')];
  return tiles.map((t) => {
    const v = t.querySelector('video');
    const a = t.querySelector('audio');
    const out = {
      peerId: t.dataset.peerId,
      name: t.querySelector('.name').textContent,
      width: v.videoWidth,
      playing: !v.paused && v.readyState >= 2,
      time: v.currentTime,
      audio: Boolean(a.srcObject) && a.srcObject.getAudioTracks().some((k) => k.readyState === 'live'),
      variance: 0,
      mean: 0,
    };
    if (v.videoWidth > 0) {
      const c = document.createElement('canvas');
      c.width = 64; c.height = 48;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0, sq = 0, n = 0;
      for (let i = 0; i < d.length; i += 4) {
        const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        sum += y; sq += y * y; n += 1;
      }
      out.mean = sum / n;
      out.variance = sq / n - out.mean * out.mean;
    }
    return out;
  });
})()"#;

/// What the page says: the status line and the error region (null while
/// the page is still loading).
const MESSAGES: &str = r#"(() => {
  const status = document.getElementById('status');
  const error = document.getElementById('error');
  if (!status || !error) return null;
  return {
    status: status.textContent,
    error: error.checkVisibility() ? error.textContent : '',
    form: document.getElementById('join-form').checkVisibility(),
    call: document.getElementById('call').checkVisibility(),
  };
})()"#;

/// The stats tables of the local tile and of the remote ones: per row,
/// the cells (stream, kbit/s, lost, jitter ms, RTT ms, score).
const STATS_ROWS: &str = r#"(() => {
  const rows = (selector) => [...document.querySelectorAll(`${selector} table.stats tbody tr`)]
    .map((row) => [...row.cells].map((cell) => cell.textContent));
  const table = document.querySelector('#grid table.stats');
  return {
    shown: Boolean(table) && table.checkVisibility(),
    local: rows('#grid figure.tile.local'),
    remote: rows('#grid figure.tile:not(.local)'),
  };
})()"#;

/// Whether `rows` has an audio and a video row, each with a bitrate above
/// zero and a score within 0..=10.
fn live_stats(rows: &Value) -> bool {
    let Some(rows) = rows.as_array() else {
        return false;
    };
    let mut kinds: Vec<&str> = Vec::new();
    for row in rows {
        let cell = |i: usize| row[i].as_str().unwrap_or_default();
        let number = |i: usize| cell(i).parse::<f64>().ok();
        let ok = number(1).is_some_and(|kbps| kbps > 0.0)
            && number(2).is_some()
            && number(3).is_some()
            && number(5).is_some_and(|score| (0.0..=10.0).contains(&score));
        if !ok {
            return false;
        }
        kinds.push(cell(0));
    }
    kinds.sort_unstable();
    kinds == ["audio", "video"]
}

/// Waits until `page` plays the video of exactly one other peer, called
/// `other`, with its sound attached, and the frame is not flat; returns
/// that peer's id.
async fn sees_playing(browser: &Browser, page: &Page, other: &str) -> String {
    let what = format!("the video of {other} to play");
    let first = wait_for(&what, Duration::from_secs(30), async || {
        let tiles = browser.eval(page, REMOTE_TILES).await;
        let tiles = tiles.as_array()?.clone();
        let [tile] = tiles.as_slice() else {
            return None;
        };
        let ok = tile["name"] == other
            && tile["playing"] == true
            && tile["audio"] == true
            && tile["width"].as_u64() > Some(0)
            && tile["variance"].as_f64() > Some(FLAT_FRAME_VARIANCE);
        ok.then(|| tile.clone())
    })
    .await;
    // And it moves: the playback clock advances.
    let t0 = first["time"].as_f64().expect("time");
    wait_for(
        &format!("{other}'s video to advance"),
        Duration::from_secs(5),
        async || {
            let tiles = browser.eval(page, REMOTE_TILES).await;
            (tiles[0]["time"].as_f64()? > t0).then_some(())
        },
    )
    .await;
    println!("{other}: {first}");
    first["peerId"].as_str().expect("peer id").to_string()
}

/// Producer and consumer byte series of `peer`.
fn streams_of<'a>(series: &'a [Series], metric: &str, peer: &str) -> Vec<&'a Series> {
    named(series, metric)
        .into_iter()
        .filter(|s| s.label("peer_id") == peer)
        .collect()
}

fn kinds(series: &[&Series]) -> Vec<String> {
    let mut kinds: Vec<String> = series.iter().map(|s| s.label("kind").to_string()).collect();
    kinds.sort();
    kinds
}

async fn call_scenario(server: &ejtimaa::server::Server, browser: &Browser) {
    let base = format!("http://{}", server.signaling_addr);
    let alice = browser
        .open(&format!("{base}/?room={ROOM}&name=Alice"), None)
        .await;
    let bob = browser
        .open(&format!("{base}/?room={ROOM}&name=Bob"), None)
        .await;

    // Each page plays the other's moving video and has its sound.
    let bob_id = sees_playing(browser, &alice, "Bob").await;
    let alice_id = sees_playing(browser, &bob, "Alice").await;
    assert_ne!(alice_id, bob_id);
    for page in [&alice, &bob] {
        let messages = browser.eval(page, MESSAGES).await;
        assert_eq!(messages["error"], "", "{messages}");
        assert_eq!(
            messages["form"], false,
            "no join form in a call: {messages}"
        );
        assert_eq!(messages["call"], true, "{messages}");
        assert!(
            messages["status"]
                .as_str()
                .unwrap_or_default()
                .contains("1 other participant"),
            "{messages}"
        );
    }

    // The stats panel shows the server's figures for Alice's own streams
    // and for the two she receives from Bob.
    let shown = browser
        .eval(
            &alice,
            "document.getElementById('toggle-stats').click(), true",
        )
        .await;
    assert_eq!(shown, true);
    let stats = wait_for(
        "live stats on Alice's page",
        Duration::from_secs(10),
        async || {
            let stats = browser.eval(&alice, STATS_ROWS).await;
            (stats["shown"] == true && live_stats(&stats["local"]) && live_stats(&stats["remote"]))
                .then_some(stats)
        },
    )
    .await;
    println!("Alice's stats: {stats}");

    // `EJTIMAA_SCREENSHOT=PATH` keeps a picture of the call (the README's).
    if let Some(path) = std::env::var_os("EJTIMAA_SCREENSHOT") {
        let png = browser.screenshot(&alice).await;
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, png).expect("screenshot written");
    }

    // The exporter: two peers in the room, an audio and a video producer
    // of each, and each consuming the other's two.
    let peers_series = format!("Ejtimaa_peers{{room_id=\"{ROOM}\"}}");
    let first = wait_for(
        "both peers' streams in the exporter",
        Duration::from_secs(10),
        async || {
            let text = scrape(server).await;
            let series = parse(&text);
            let complete = sample(&text, &peers_series) == Some(2.0)
                && [&alice_id, &bob_id].iter().all(|id| {
                    kinds(&streams_of(&series, PRODUCER_BYTES, id)) == ["audio", "video"]
                        && kinds(&streams_of(&series, CONSUMER_BYTES, id)) == ["audio", "video"]
                });
            complete.then_some(series)
        },
    )
    .await;
    for (id, name) in [(&alice_id, "Alice"), (&bob_id, "Bob")] {
        for s in streams_of(&first, PRODUCER_BYTES, id)
            .into_iter()
            .chain(streams_of(&first, CONSUMER_BYTES, id))
        {
            assert_eq!(s.label("room_id"), ROOM, "{s:?}");
            assert_eq!(s.label("display_name"), name, "{s:?}");
            assert!(s.label("user_agent").contains("Chrome"), "{s:?}");
        }
    }

    // Byte counters rise while the call goes on.
    let before: BTreeMap<String, f64> = first.iter().map(|s| (key(s), s.value)).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = parse(&scrape(server).await);
    for id in [&alice_id, &bob_id] {
        for s in streams_of(&second, PRODUCER_BYTES, id)
            .into_iter()
            .chain(streams_of(&second, CONSUMER_BYTES, id))
        {
            let old = before
                .get(&key(s))
                .copied()
                .unwrap_or_else(|| panic!("new series {s:?}"));
            assert!(
                s.value > old,
                "{} did not rise: {old} -> {}",
                key(s),
                s.value
            );
        }
    }

    // Bob closes his tab: his series go, Alice's page drops his tile.
    browser.close(&bob).await;
    wait_for("Bob's series to go", Duration::from_secs(10), async || {
        let text = scrape(server).await;
        let series = parse(&text);
        let gone = sample(&text, &peers_series) == Some(1.0)
            && !series.iter().any(|s| s.label("peer_id") == bob_id)
            && streams_of(&series, CONSUMER_BYTES, &alice_id).is_empty()
            && kinds(&streams_of(&series, PRODUCER_BYTES, &alice_id)) == ["audio", "video"];
        gone.then_some(())
    })
    .await;
    wait_for(
        "Alice's page to drop Bob",
        Duration::from_secs(10),
        async || {
            let tiles = browser.eval(&alice, REMOTE_TILES).await;
            tiles.as_array()?.is_empty().then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_hold_a_call_and_the_exporter_follows() {
    let server = start(test_config()).await;
    let browser = Browser::launch(MediaPermission::Granted).await;
    tokio::time::timeout(SCENARIO_DEADLINE, call_scenario(&server, &browser))
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
    drop(browser);
    server.shutdown().await;
}

/// Waits until `page`'s error region says something containing `needle`.
async fn shows_error(browser: &Browser, page: &Page, needle: &str) -> Value {
    page_says(browser, page, "error", needle).await
}

/// Waits until `page`'s `region` (`status` or `error`) says something
/// containing `needle`; returns all its messages.
async fn page_says(browser: &Browser, page: &Page, region: &str, needle: &str) -> Value {
    wait_for(
        &format!("the {region} `{needle}`"),
        Duration::from_secs(20),
        async || {
            let messages = browser.eval(page, MESSAGES).await;
            messages[region]
                .as_str()?
                .contains(needle)
                .then_some(messages)
        },
    )
    .await
}

async fn messages_scenario(server: &ejtimaa::server::Server, browser: &Browser) {
    let base = format!("http://{}", server.signaling_addr);
    // The camera refused (the browser blocks the request): the page says
    // so and still joins, receive-only.
    let refused = browser
        .open(&format!("{base}/?room=solo&name=Refused"), None)
        .await;
    let messages = shows_error(
        browser,
        &refused,
        "Camera and microphone access was refused",
    )
    .await;
    println!("camera refused: {messages}");
    wait_for(
        "the receive-only page to join",
        Duration::from_secs(10),
        async || {
            let messages = browser.eval(&refused, MESSAGES).await;
            messages["status"]
                .as_str()?
                .contains("In room solo")
                .then_some(())
        },
    )
    .await;

    // The room holds one peer (max_peers_per_room = 1): the next is
    // refused before it asks for the camera.
    let second = browser
        .open(&format!("{base}/?room=solo&name=Late"), None)
        .await;
    let messages = shows_error(browser, &second, "This room is full").await;
    println!("room full: {messages}");
    assert_eq!(
        messages["form"], true,
        "the join form, for another try: {messages}"
    );
    assert_eq!(messages["call"], false, "{messages}");
}

/// A page loaded, then the server gone: joining says it cannot be reached.
async fn unreachable_scenario(server: ejtimaa::server::Server, browser: &Browser) {
    let page = browser
        .open(&format!("http://{}/", server.signaling_addr), None)
        .await;
    wait_for("the join form", Duration::from_secs(10), async || {
        let messages = browser.eval(&page, MESSAGES).await;
        (!messages.is_null()).then_some(())
    })
    .await;
    server.shutdown().await;
    let joined = browser
        .eval(
            &page,
            r#"(() => {
              document.getElementById('join-room').value = 'gone';
              document.getElementById('join-name').value = 'Late';
              document.getElementById('join-form').requestSubmit();
              return true;
            })()"#,
        )
        .await;
    assert_eq!(joined, true);
    let messages = shows_error(browser, &page, "The server cannot be reached").await;
    println!("server gone: {messages}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_a_refused_camera_and_a_server_gone_give_clear_messages() {
    let mut config = test_config();
    config.limits.max_peers_per_room = 1;
    let server = start(config).await;
    let browser = Browser::launch(MediaPermission::Denied).await;
    let scenario = async {
        messages_scenario(&server, &browser).await;
        unreachable_scenario(server, &browser).await;
    };
    tokio::time::timeout(SCENARIO_DEADLINE, scenario)
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
}

async fn invitations_scenario(server: &ejtimaa::server::Server, browser: &Browser, secret: &str) {
    let base = format!("http://{}", server.signaling_addr);
    let secret = ejtimaa_token::JoinSecret::new(secret.as_bytes().to_vec()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let invite = |peer: &str| {
        let grant = ejtimaa_token::JoinGrant {
            room: "invited".into(),
            peer: peer.into(),
        };
        secret.mint(&grant, now, Duration::from_secs(600))
    };
    // Two invitation links: the room comes from the token.
    let ann = browser
        .open(&format!("{base}/?token={}&name=Ann", invite("ann")), None)
        .await;
    let ben = browser
        .open(&format!("{base}/?token={}&name=Ben", invite("ben")), None)
        .await;
    for page in [&ann, &ben] {
        let messages = page_says(
            browser,
            page,
            "status",
            "In room invited with 1 other participant",
        )
        .await;
        println!("invited: {messages}");
    }
    // Without a token, the server says why it refuses.
    let stranger = browser
        .open(&format!("{base}/?room=invited&name=Eve"), None)
        .await;
    let messages = shows_error(browser, &stranger, "needs a join token").await;
    println!("no token: {messages}");
    assert_eq!(messages["form"], true, "{messages}");
    let text = scrape(server).await;
    assert_eq!(
        sample(&text, "Ejtimaa_peers{room_id=\"invited\"}"),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_links_join_a_server_that_requires_tokens() {
    const SECRET: &str = "browser-secret-browser-secret-browser!";
    let mut config = test_config();
    config.auth.secret = Some(SECRET.into());
    let server = start(config).await;
    let browser = Browser::launch(MediaPermission::Granted).await;
    tokio::time::timeout(
        SCENARIO_DEADLINE,
        invitations_scenario(&server, &browser, SECRET),
    )
    .await
    .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_DEADLINE:?}"));
    drop(browser);
    server.shutdown().await;
}
