//! The exporter's richer families against a real server: the server-wide
//! figures follow signaling (counts and latencies), workers and peers; the
//! `process_*` families are plausible; real media fills the new
//! per-stream families; `metrics = "aggregated"` swaps per-stream series for
//! per-room aggregates and `both` shows the two.

mod support;

use ejtimaa::config::MetricsSetting;
use ejtimaa_sim::peer::{Peer, PeerConfig};
use serde_json::json;
use support::*;

/// Sample lines of the family `name` (exactly that name, any labels).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .collect()
}

/// The value of a sample line.
fn value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {line:?}"))
}

/// The value of the `label` label of a sample line (a whole label name:
/// `id` is not the end of `pid` or `room_id`).
fn label<'a>(line: &'a str, label: &str) -> &'a str {
    let start = [format!("{{{label}=\""), format!(",{label}=\"")]
        .iter()
        .find_map(|key| line.find(key.as_str()).map(|at| at + key.len()))
        .unwrap_or_else(|| panic!("{label} in {line}"));
    let len = line[start..].find('"').expect("closing quote");
    &line[start..start + len]
}

fn counts(text: &str, method: &str) -> (f64, f64) {
    let get = |family: &str| {
        sample(text, &format!("{family}{{method=\"{method}\"}}"))
            .unwrap_or_else(|| panic!("{family} of {method} missing:\n{text}"))
    };
    (
        get("Ejtimaa_signaling_requests_total"),
        get("Ejtimaa_signaling_errors_total"),
    )
}

const LATENCY: &str = "Ejtimaa_signaling_request_duration_seconds";

/// The latency histogram of `method`: its buckets (`le`, cumulative count)
/// in the order written, its sum and its count.
fn latency(text: &str, method: &str) -> (Vec<(String, f64)>, f64, f64) {
    let of_method = format!("method=\"{method}\"");
    let buckets = samples(text, &format!("{LATENCY}_bucket"))
        .into_iter()
        .filter(|l| l.contains(&of_method))
        .map(|l| (label(l, "le").to_string(), value(l)))
        .collect();
    let get = |suffix: &str| {
        sample(text, &format!("{LATENCY}{suffix}{{{of_method}}}"))
            .unwrap_or_else(|| panic!("{LATENCY}{suffix} of {method} missing:\n{text}"))
    };
    (buckets, get("_sum"), get("_count"))
}

/// A histogram's buckets rise with `le`, never fall, and end at `+Inf`
/// holding the count.
fn assert_cumulative(buckets: &[(String, f64)], count: f64) {
    assert!(buckets.len() >= 2, "{buckets:?}");
    let (last_le, last) = buckets.last().expect("buckets");
    assert_eq!((last_le.as_str(), *last), ("+Inf", count), "{buckets:?}");
    for pair in buckets.windows(2) {
        assert!(pair[0].1 <= pair[1].1, "{buckets:?}");
        if pair[1].0 != "+Inf" {
            let le = |b: &(String, f64)| b.0.parse::<f64>().expect("numeric le");
            assert!(le(&pair[0]) < le(&pair[1]), "{buckets:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_figures_follow_signaling_workers_and_peers() {
    let mut config = test_config();
    config.mediasoup.num_workers = Some(2);
    let server = start(config).await;

    let first = scrape(&server).await;
    assert_eq!(
        samples(&first, "Ejtimaa_build_info"),
        [format!(
            "Ejtimaa_build_info{{version=\"{}\",mediasoup_version=\"0.33.1\"}} 1",
            env!("CARGO_PKG_VERSION")
        )]
    );
    assert_eq!(sample(&first, "Ejtimaa_workers"), Some(2.0));
    assert_eq!(sample(&first, "Ejtimaa_worker_deaths_total"), Some(0.0));
    // Every worker has its routers and its CPU (user and system) by pid.
    let pids: Vec<&str> = samples(&first, "Ejtimaa_worker_routers")
        .iter()
        .map(|l| label(l, "pid"))
        .collect();
    assert_eq!(pids.len(), 2, "{first}");
    let cpu = samples(&first, "Ejtimaa_worker_cpu_seconds_total");
    assert_eq!(cpu.len(), 4, "{first}");
    for pid in &pids {
        for mode in ["user", "system"] {
            let series =
                format!("Ejtimaa_worker_cpu_seconds_total{{pid=\"{pid}\",mode=\"{mode}\"}}");
            assert!(
                sample(&first, &series).is_some_and(|v| v >= 0.0),
                "{series}"
            );
        }
    }
    assert_eq!(counts(&first, "join"), (0.0, 0.0));

    let (client, _incoming) = connect(&server, "figures-room", "alice").await;
    join(&client, "Alice").await;
    // A second join fails, an unknown method and malformed data are errors.
    assert!(
        request(&client, "join", json!({ "displayName": "again" }))
            .await
            .is_err()
    );
    assert!(request(&client, "fly", json!({})).await.is_err());
    assert!(
        request(&client, "produce", json!({ "kind": 7 }))
            .await
            .is_err()
    );

    let text = scrape_until(&server, "both transports", |t| {
        sample(
            t,
            "Ejtimaa_transports{transport_type=\"webrtc\",ice_state=\"new\"}",
        ) == Some(2.0)
    })
    .await;
    assert_eq!(counts(&text, "getRouterRtpCapabilities"), (1.0, 0.0));
    assert_eq!(counts(&text, "createWebRtcTransport"), (2.0, 0.0));
    assert_eq!(counts(&text, "join"), (2.0, 1.0));
    assert_eq!(counts(&text, "produce"), (1.0, 1.0));
    assert_eq!(counts(&text, "unknown"), (1.0, 1.0));
    assert_eq!(counts(&text, "restartIce"), (0.0, 0.0));
    // Every request is timed under its method, errors and unknown ones too.
    for (method, requests) in [
        ("join", 2.0),
        ("createWebRtcTransport", 2.0),
        ("unknown", 1.0),
    ] {
        let (buckets, sum, count) = latency(&text, method);
        assert_eq!(count, requests, "{method}");
        assert!(sum > 0.0 && sum < 10.0, "{method}: {sum}");
        assert_cumulative(&buckets, count);
    }
    let (buckets, sum, count) = latency(&text, "restartIce");
    assert_eq!((sum, count), (0.0, 0.0));
    assert_cumulative(&buckets, count);
    assert_eq!(sample(&text, "Ejtimaa_peers_joined_total"), Some(1.0));
    assert_eq!(sample(&text, "Ejtimaa_peers_left_total"), Some(0.0));
    assert_eq!(
        sample(&text, "Ejtimaa_producers{kind=\"audio\",paused=\"false\"}"),
        Some(0.0)
    );
    // One room on one of the two workers.
    let routers: f64 = samples(&text, "Ejtimaa_worker_routers")
        .iter()
        .map(|l| value(l))
        .sum();
    assert_eq!(routers, 1.0);
    // Each scrape reports the one before it.
    let duration = sample(&text, "Ejtimaa_scrape_duration_seconds").expect("scrape duration");
    assert!(duration > 0.0 && duration < 10.0, "{duration}");
    assert!(sample(&text, "Ejtimaa_stats_timeouts_total").is_some());

    client.disconnect().await;
    let text = scrape_until(&server, "alice gone", |t| {
        sample(t, "Ejtimaa_peers_left_total") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "Ejtimaa_peers_joined_total"), Some(1.0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_families_are_plausible() {
    let server = start(test_config()).await;
    let get = |text: &str, name: &str| {
        sample(text, name).unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    let first = scrape(&server).await;
    let resident = get(&first, "process_resident_memory_bytes");
    assert!(resident > 0.0, "{resident}");
    assert!(get(&first, "process_virtual_memory_bytes") >= resident);
    let (open, max) = (
        get(&first, "process_open_fds"),
        get(&first, "process_max_fds"),
    );
    assert!(open > 0.0 && open <= max, "{open} of {max}");
    // Reverse DNS is off (`numeric`): its families say so with zeros.
    for result in ["name", "no_name", "error", "timeout"] {
        let series = format!("Ejtimaa_rdns_lookups_total{{result=\"{result}\"}}");
        assert_eq!(sample(&first, &series), Some(0.0), "{series}");
    }
    assert_eq!(sample(&first, "Ejtimaa_rdns_cache_entries"), Some(0.0));
    assert_eq!(sample(&first, "Ejtimaa_rdns_dropped_total"), Some(0.0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs_f64();
    let started = get(&first, "process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} against {now}"
    );

    // The server runs in this process: work here is its CPU time too.
    let cpu = get(&first, "process_cpu_seconds_total");
    tokio::task::spawn_blocking(|| {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
    })
    .await
    .expect("work done");
    let later = get(&scrape(&server).await, "process_cpu_seconds_total");
    assert!(later > cpu, "{later} after {cpu}");
    server.shutdown().await;
}

/// Starts two publishing and consuming peers in `room` and scrapes until
/// `ready` holds of the exposition.
async fn with_media(metrics: MetricsSetting, room: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut config = test_config();
    config.prometheus.metrics = metrics;
    let server = start(config).await;
    let url = format!("http://{}", server.signaling_addr);
    let mut peers = Vec::new();
    for id in ["p1", "p2"] {
        let peer = Peer::spawn(&url, PeerConfig::new(room, format!("{room}-{id}")))
            .await
            .expect("peer up");
        peers.push(peer);
    }
    let text = scrape_until(&server, "media in the exposition", ready).await;
    for peer in peers {
        peer.leave().await;
    }
    server.shutdown().await;
    text
}

/// Streams of role P in the `Ejtimaa_room_streams` family.
fn room_streams(text: &str, room: &str, role: &str, kind: &str) -> Option<f64> {
    sample(
        text,
        &format!("Ejtimaa_room_streams{{room_id=\"{room}\",role=\"{role}\",kind=\"{kind}\"}}"),
    )
}

/// Both peers' audio and video streams, produced and consumed, are in.
fn every_role_and_kind_has_two(text: &str, room: &str) -> bool {
    ["producer", "consumer"].iter().all(|role| {
        ["audio", "video"]
            .iter()
            .all(|kind| room_streams(text, room, role, kind) == Some(2.0))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_fills_the_per_stream_families() {
    let text = with_media(MetricsSetting::Default, "streams-room", |t| {
        // Video packets flowing both ways, and loss stats reported back.
        samples(t, "mediasoup_producer_packets_total").len() == 4
            && samples(t, "mediasoup_consumer_packets_total").len() == 4
            && samples(t, "mediasoup_consumer_packets_total")
                .iter()
                .all(|l| value(l) > 0.0)
            && {
                let video: Vec<f64> = samples(t, "mediasoup_producer_rate_bytes_per_second")
                    .iter()
                    .filter(|l| label(l, "kind") == "video")
                    .map(|l| value(l))
                    .collect();
                video.len() == 2 && video.iter().all(|v| *v > 12_500.0)
            }
    })
    .await;
    for role in ["producer", "consumer"] {
        let bytes = samples(&text, &format!("mediasoup_{role}_byte_count_bytes"));
        assert_eq!(bytes.len(), 4, "{text}");
        // One `_info` series per byte series, with the same 13 labels, value 1.
        let info = samples(&text, &format!("mediasoup_{role}_info"));
        assert_eq!(info.len(), bytes.len(), "{role} info:\n{text}");
        for line in &info {
            assert_eq!(value(line), 1.0, "{line}");
            let labels = line[..line.find('}').expect("labels")]
                .split_once('{')
                .expect("labels")
                .1;
            assert!(
                bytes.iter().any(|b| b.contains(&format!("{{{labels}}}"))),
                "no byte series with the labels of {line}"
            );
        }
        for family in [
            "packets_total",
            "nack_packets_total",
            "pli_packets_total",
            "fir_packets_total",
            "packets_lost",
            "fraction_lost_ratio",
            "jitter_seconds",
            "rate_bytes_per_second",
        ] {
            let lines = samples(&text, &format!("mediasoup_{role}_{family}"));
            assert_eq!(lines.len(), bytes.len(), "{role} {family}:\n{text}");
            for line in lines {
                let v = value(line);
                assert!(v.is_finite() && v >= 0.0, "{line}");
                // Exactly the identifying labels, those of one stream's
                // original series (to join `_info` on).
                let labels = line[..line.find('}').expect("labels")]
                    .split_once('{')
                    .expect("labels")
                    .1;
                let names: Vec<&str> = labels
                    .split("\",")
                    .map(|pair| pair.split_once('=').expect("name=value").0)
                    .collect();
                assert_eq!(names, ["room_id", "peer_id", "id", "kind"], "{line}");
                let of_stream = bytes.iter().filter(|b| {
                    ["room_id", "peer_id", "id", "kind"]
                        .iter()
                        .all(|k| label(b, k) == label(line, k))
                });
                assert_eq!(of_stream.count(), 1, "no single stream for {line}");
            }
        }
        let lost = samples(&text, &format!("mediasoup_{role}_fraction_lost_ratio"));
        assert!(lost.iter().all(|l| value(l) <= 1.0), "{lost:?}");
    }
    // No aggregates in the default mode.
    assert!(samples(&text, "Ejtimaa_room_streams").is_empty());
    assert_eq!(
        sample(&text, "Ejtimaa_producers{kind=\"video\",paused=\"false\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "Ejtimaa_consumers{kind=\"audio\",paused=\"false\"}"),
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_mode_has_rooms_instead_of_streams() {
    let room = "aggregated-room";
    let of = |t: &str, family: &str, role: &str, kind: &str| {
        sample(
            t,
            &format!("{family}{{room_id=\"{room}\",role=\"{role}\",kind=\"{kind}\"}}"),
        )
    };
    let text = with_media(MetricsSetting::Aggregated, room, |t| {
        // Both video producers at 100 kbit/s or more.
        every_role_and_kind_has_two(t, room)
            && of(
                t,
                "Ejtimaa_room_rate_bytes_per_second_sum",
                "producer",
                "video",
            )
            .is_some_and(|v| v > 2.0 * 12_500.0)
    })
    .await;
    assert!(
        !text.lines().any(|l| l.starts_with("mediasoup_")),
        "per-stream series in aggregated mode:\n{text}"
    );
    assert!(!text.contains("stat=\""), "{text}");
    for role in ["producer", "consumer"] {
        for kind in ["audio", "video"] {
            assert_eq!(room_streams(&text, room, role, kind), Some(2.0), "{text}");
            let get = |family: &str| {
                of(&text, family, role, kind)
                    .unwrap_or_else(|| panic!("{family} {role} {kind}:\n{text}"))
            };
            // Sum and count of every stream: the mean is their quotient.
            let mean = |family: &str| {
                let count = get(&format!("{family}_count"));
                assert_eq!(count, 2.0, "{family} {role} {kind}");
                get(&format!("{family}_sum")) / count
            };
            let score = mean("Ejtimaa_room_score");
            let worst = get("Ejtimaa_room_score_min");
            assert!(
                (0.0..=worst).contains(&worst) && worst <= score && score <= 10.0,
                "score {role} {kind}: min {worst}, mean {score}"
            );
            let rate = mean("Ejtimaa_room_rate_bytes_per_second");
            assert!(rate.is_finite() && rate >= 0.0, "{rate}");
            let loss = mean("Ejtimaa_room_fraction_lost_ratio");
            let most = get("Ejtimaa_room_fraction_lost_ratio_max");
            assert!(
                (0.0..=most).contains(&loss) && most <= 1.0,
                "loss {role} {kind}: mean {loss}, max {most}"
            );
            // Round-trip times only of streams that have one.
            let rtt_family = "Ejtimaa_room_round_trip_time_seconds";
            if let Some(count) = of(&text, &format!("{rtt_family}_count"), role, kind) {
                assert!((1.0..=2.0).contains(&count), "{count}");
                let mean = get(&format!("{rtt_family}_sum")) / count;
                let most = get(&format!("{rtt_family}_max"));
                assert!((0.0..=most).contains(&mean), "rtt {mean} {most}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_mode_has_streams_and_rooms() {
    let room = "both-room";
    let text = with_media(MetricsSetting::Both, room, |t| {
        every_role_and_kind_has_two(t, room)
            && samples(t, "mediasoup_consumer_byte_count_bytes").len() == 4
    })
    .await;
    // The aggregates count exactly the streams the per-stream families show.
    for role in ["producer", "consumer"] {
        assert_eq!(
            samples(&text, &format!("mediasoup_{role}_info")).len(),
            samples(&text, &format!("mediasoup_{role}_score")).len(),
            "{text}"
        );
        for kind in ["audio", "video"] {
            let per_stream = samples(&text, &format!("mediasoup_{role}_score"))
                .iter()
                .filter(|l| label(l, "room_id") == room && label(l, "kind") == kind)
                .count();
            assert_eq!(
                room_streams(&text, room, role, kind),
                Some(per_stream as f64),
                "{role} {kind}:\n{text}"
            );
        }
    }
}
