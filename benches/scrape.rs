//! What one scrape costs the server, whole: at 1k, 10k and 100k RTP streams,
//! the way a scrape works now beside the way it used to.
//!
//! - `before`: stats applied to the World (collected at the scrape), render,
//!   a full copy of the text out of the engine, gzip level 6 (the default of
//!   a generic compression layer).
//!   It renders today's text, which the `_info` split made smaller than the
//!   old one, so it understates what a scrape used to cost.
//! - `now`: render handed over without a copy (the buffer comes back), gzip
//!   level 1 once, on one thread: the CPU time of a scrape; stats were
//!   applied in the background, between scrapes.
//! - `now_parts`: `now` with the gzip in parts on the free cores, as the
//!   server does: the wall time of a scrape on an idle machine.
//! - `now_with_stats`: `now` plus applying one scrape's worth of stats, for a
//!   comparison that leaves nothing out.
//! - `now_reusing`: `now_with_stats` with the server's gzip, which deflates
//!   again only the chunks that changed since the previous scrape (the stats
//!   of a steady call move bytes, packets, bitrate, jitter and round-trip
//!   time; the `_info` series, losses, feedback counts and scores stay).
//! - `paced_scattered` and `paced_runs`: `now_reusing` where each scrape
//!   follows a fifth of the streams' stats, as with scrapes every second and
//!   background rounds of five: a fifth picked by a hash of the stream (how
//!   rounds were cut before), or a run of each family in the export order
//!   (how the server cuts them now, so most chunks are reused).
//!
//! Run with `cargo bench --bench scrape`; it also prints the text and gzip
//! sizes at both levels.

use std::hint::black_box;
use std::io::Write;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ejtimaa::exporter::{Gzipped, compress, gzip, gzip_in_parts};
use ejtimaa_systems::{Core, ExportOptions, WorldEvent};
use flate2::Compression;
use flate2::write::GzEncoder;

// Shared with the render bench, which also uses the plain series.
#[allow(dead_code)]
#[path = "support/world.rs"]
mod world;

use world::{Series, next_scrape, world};

/// One scrape as the server makes it: render into the spare buffer, gzip
/// reusing the previous scrape's (`base`) unchanged chunks; the new text and
/// gzip become the base and the old text's buffer the spare. Returns the
/// gzip's size and the bytes of text reused.
fn scrape_reusing(
    core: &mut Core,
    spare: &mut String,
    base: &mut (Gzipped, String),
) -> (usize, usize) {
    let text = core.render_owned(std::mem::take(spare));
    let body = compress(text.as_bytes(), 1, Some((base.1.as_bytes(), &base.0)), 1);
    let done = (body.bytes().len(), body.reused());
    *spare = std::mem::replace(base, (body, text)).1;
    done
}

/// Scrapes per background round in the `paced_*` benches.
const FIFTHS: usize = 5;

/// Which streams each of [`FIFTHS`] scrapes finds refreshed: picked by a
/// hash of the stream, or (`runs`) the producers and the consumers each in
/// the export order (room, peer, id) cut into runs.
fn fifths(series: &[Series], runs: bool) -> Vec<Vec<usize>> {
    let mut fifths = vec![Vec::new(); FIFTHS];
    if !runs {
        for i in 0..series.len() {
            let hash = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
            fifths[hash as usize % FIFTHS].push(i);
        }
        return fifths;
    }
    for producers in [true, false] {
        let mut order: Vec<usize> = (0..series.len())
            .filter(|&i| series[i].producer == producers)
            .collect();
        order.sort_by_key(|&i| {
            let labels = &series[i].labels;
            (&labels[1], &labels[2], &labels[9])
        });
        let n = order.len();
        for (k, fifth) in fifths.iter_mut().enumerate() {
            fifth.extend_from_slice(&order[n * k / FIFTHS..n * (k + 1) / FIFTHS]);
        }
    }
    fifths
}

/// A streaming gzip encoder at `level`, as a generic compression layer uses.
fn gzip_streaming(text: &str, level: u32) -> usize {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(text.as_bytes()).expect("in memory");
    encoder.finish().expect("in memory").len()
}

fn core_with(build: Vec<WorldEvent>, stats: &[WorldEvent]) -> Core {
    let mut core = Core::new(ExportOptions {
        numeric: true,
        ..ExportOptions::default()
    });
    core.apply_all(build);
    core.apply_all(stats.iter().cloned());
    core
}

fn bench_scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    for streams in [1_000, 10_000, 100_000] {
        let (build, mut stats, series) = world(streams);
        let mut core = core_with(build, &stats);
        let text = core.render().to_owned();
        println!(
            "streams={streams} text_bytes={} gzip1_bytes={} gzip6_bytes={}",
            text.len(),
            gzip(text.as_bytes(), 1).len(),
            gzip_streaming(&text, 6)
        );
        drop(text);

        if streams >= 10_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(streams as u64));
        group.bench_function(BenchmarkId::new("before", streams), |b| {
            b.iter(|| {
                next_scrape(&mut stats);
                core.apply_all(stats.iter().cloned());
                let copy = core.render().to_owned();
                black_box(gzip_streaming(&copy, 6))
            })
        });
        let mut spare = String::new();
        group.bench_function(BenchmarkId::new("now", streams), |b| {
            b.iter(|| {
                let text = core.render_owned(std::mem::take(&mut spare));
                let body = gzip_in_parts(text.as_bytes(), 1, 1);
                spare = text;
                black_box(body.len())
            })
        });
        group.bench_function(BenchmarkId::new("now_parts", streams), |b| {
            b.iter(|| {
                let text = core.render_owned(std::mem::take(&mut spare));
                let body = gzip(text.as_bytes(), 1);
                spare = text;
                black_box(body.len())
            })
        });
        group.bench_function(BenchmarkId::new("now_with_stats", streams), |b| {
            b.iter(|| {
                next_scrape(&mut stats);
                core.apply_all(stats.iter().cloned());
                let text = core.render_owned(std::mem::take(&mut spare));
                let body = gzip_in_parts(text.as_bytes(), 1, 1);
                spare = text;
                black_box(body.len())
            })
        });
        // The previous scrape's text and gzip, and a spare buffer.
        let first = core.render_owned(String::new());
        let mut base = (compress(first.as_bytes(), 1, None, 1), first);
        let mut reused = 0;
        group.bench_function(BenchmarkId::new("now_reusing", streams), |b| {
            b.iter(|| {
                next_scrape(&mut stats);
                core.apply_all(stats.iter().cloned());
                let size;
                (size, reused) = scrape_reusing(&mut core, &mut spare, &mut base);
                black_box(size)
            })
        });
        println!(
            "streams={streams} reused_bytes={reused} of text_bytes={}",
            base.1.len()
        );
        for (name, runs) in [("paced_scattered", false), ("paced_runs", true)] {
            let mut parts: Vec<Vec<WorldEvent>> = fifths(&series, runs)
                .iter()
                .map(|fifth| fifth.iter().map(|&i| stats[i].clone()).collect())
                .collect();
            let mut k = 0;
            group.bench_function(BenchmarkId::new(name, streams), |b| {
                b.iter(|| {
                    next_scrape(&mut parts[k]);
                    core.apply_all(parts[k].iter().cloned());
                    k = (k + 1) % FIFTHS;
                    let size;
                    (size, reused) = scrape_reusing(&mut core, &mut spare, &mut base);
                    black_box(size)
                })
            });
            println!(
                "streams={streams} {name}: reused_bytes={reused} of text_bytes={}",
                base.1.len()
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_scrape);
criterion_main!(benches);
