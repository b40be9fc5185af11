//! Render benchmark: the exposition of a world of 1k, 10k and 100k RTP
//! streams, rendered by the export system, side by side with the way the
//! original exporter did it (a fresh registry of the `prometheus` crate,
//! filled every scrape, then its `TextEncoder`). The baseline keeps the
//! earlier layout, unchanged so that runs stay comparable: eleven per-stream
//! families per role, all with the 13 labels. Ejtimaa writes the same
//! figures in its own layout: the original's two families and `_info` with
//! the 13 labels, the nine detail families with the four identifying ones.
//!
//! Run with `cargo bench --bench render`. Besides criterion's timings it
//! prints, per size, the series count, the exposition size and the world's
//! heap memory per stream (counted by the allocator below).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ejtimaa_systems::{Core, ExportOptions, RtpStreamStats};
use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// Counts live heap bytes, to measure the world's memory per stream.
struct CountingAlloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[path = "support/world.rs"]
mod world;

use world::{PEERS_PER_ROOM, STREAMS_PER_PEER, Series, next_scrape, world};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const LABEL_NAMES: [&str; 13] = ejtimaa_systems::export::ORIGINAL_LABELS;

/// One role's families in the `prometheus` crate, named as ours.
struct RoleFamilies {
    counters: [IntCounterVec; 5],
    int_gauges: [IntGaugeVec; 2],
    float_gauges: [GaugeVec; 4],
}

impl RoleFamilies {
    fn register(registry: &Registry, role: &str) -> Self {
        let opts = |suffix: &str| Opts::new(format!("mediasoup_{role}_{suffix}"), suffix);
        let counters = ["byte_count_bytes", "packets_total", "nack_packets_total"]
            .into_iter()
            .chain(["pli_packets_total", "fir_packets_total"])
            .map(|n| IntCounterVec::new(opts(n), &LABEL_NAMES).unwrap());
        let int_gauges =
            ["score", "packets_lost"].map(|n| IntGaugeVec::new(opts(n), &LABEL_NAMES).unwrap());
        let float_gauges = [
            "fraction_lost_ratio",
            "jitter_seconds",
            "round_trip_time_seconds",
            "rate_bytes_per_second",
        ]
        .map(|n| GaugeVec::new(opts(n), &LABEL_NAMES).unwrap());
        let families = Self {
            counters: counters.collect::<Vec<_>>().try_into().unwrap(),
            int_gauges,
            float_gauges,
        };
        for c in &families.counters {
            registry.register(Box::new(c.clone())).unwrap();
        }
        for g in &families.int_gauges {
            registry.register(Box::new(g.clone())).unwrap();
        }
        for g in &families.float_gauges {
            registry.register(Box::new(g.clone())).unwrap();
        }
        families
    }

    fn fill(&self, labels: &[&str; 13], s: &RtpStreamStats, clock_rate: f64) {
        let counts = [
            s.byte_count,
            s.packet_count,
            s.nack_count,
            s.pli_count,
            s.fir_count,
        ];
        for (family, value) in self.counters.iter().zip(counts) {
            family.with_label_values(labels).inc_by(value);
        }
        let ints = [i64::from(s.score.get()), s.packets_lost];
        for (family, value) in self.int_gauges.iter().zip(ints) {
            family.with_label_values(labels).set(value);
        }
        let floats = [
            f64::from(s.fraction_lost) / 256.0,
            f64::from(s.jitter) / clock_rate,
            f64::from(s.round_trip_time.unwrap_or_default()) / 1000.0,
            s.bitrate as f64 / 8.0,
        ];
        for (family, value) in self.float_gauges.iter().zip(floats) {
            family.with_label_values(labels).set(value);
        }
    }
}

/// The original's way: a new registry per scrape, metrics created and filled
/// from scratch, then encoded.
fn render_with_prometheus_crate(series: &[Series], rooms: usize, out: &mut Vec<u8>) {
    let registry = Registry::new();
    let rooms_gauge = IntGaugeVec::new(Opts::new("Ejtimaa_rooms", "#rooms"), &[]).unwrap();
    let peers_gauge = IntGaugeVec::new(Opts::new("Ejtimaa_peers", "#peers"), &["room_id"]).unwrap();
    registry.register(Box::new(rooms_gauge.clone())).unwrap();
    registry.register(Box::new(peers_gauge.clone())).unwrap();
    rooms_gauge
        .with_label_values(&[] as &[&str])
        .set(rooms as i64);
    let roles = [
        RoleFamilies::register(&registry, "consumer"),
        RoleFamilies::register(&registry, "producer"),
    ];
    for s in series {
        let labels: [&str; 13] = std::array::from_fn(|i| s.labels[i].as_str());
        let clock_rate = if labels[10] == "audio" {
            48_000.0
        } else {
            90_000.0
        };
        roles[usize::from(s.producer)].fill(&labels, &s.stats, clock_rate);
        peers_gauge
            .with_label_values(&[labels[1]])
            .set(PEERS_PER_ROOM as i64);
    }
    out.clear();
    TextEncoder::new().encode(&registry.gather(), out).unwrap();
}

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    for streams in [1_000, 10_000, 100_000] {
        let (build, mut stats, series) = world(streams);
        let rooms = streams.div_ceil(STREAMS_PER_PEER).div_ceil(PEERS_PER_ROOM);
        let consumers = series.iter().filter(|s| !s.producer).count();

        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let mut core = Core::new(ExportOptions {
            numeric: true,
            ..ExportOptions::default()
        });
        core.apply_all(build);
        core.apply_all(stats.iter().cloned());
        let world_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
        let size = core.render().len();
        // The label caches, sort order and output buffer the first render adds.
        let export_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before - world_bytes;
        let mut encoded = Vec::new();
        render_with_prometheus_crate(&series, rooms, &mut encoded);
        println!(
            "streams={streams} consumer_series={consumers} exposition_bytes={size} \
             exposition_bytes_per_stream={} prometheus_crate_bytes={} \
             world_heap_bytes_per_stream={} export_cache_bytes_per_stream={}",
            size / streams,
            encoded.len(),
            world_bytes / streams,
            export_bytes / streams
        );

        if streams >= 100_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(2 * streams as u64));
        group.bench_function(BenchmarkId::new("ejtimaa_render", streams), |b| {
            b.iter(|| black_box(core.render().len()))
        });
        group.bench_function(BenchmarkId::new("ejtimaa_stats_and_render", streams), |b| {
            b.iter(|| {
                next_scrape(&mut stats);
                core.apply_all(stats.iter().cloned());
                black_box(core.render().len())
            })
        });
        group.bench_function(
            BenchmarkId::new("prometheus_crate_registry", streams),
            |b| {
                b.iter(|| {
                    render_with_prometheus_crate(&series, rooms, &mut encoded);
                    black_box(encoded.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
