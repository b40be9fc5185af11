//! What reading one scrape costs the sim, which shares its machine with the
//! server it loads: its own reader of the text format beside
//! openmetrics-parser, the parser it used before, on the same exposition
//! of 1k and 10k RTP streams.
//!
//! Run with `cargo bench --bench parse`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ejtimaa_systems::{Core, ExportOptions};

#[allow(dead_code)]
#[path = "support/world.rs"]
mod world;

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    for streams in [1_000, 10_000] {
        let (build, stats, _) = world::world(streams);
        let mut core = Core::new(ExportOptions::default());
        core.apply_all(build);
        core.apply_all(stats);
        let text = core.render().to_owned();
        println!("streams={streams} text_bytes={}", text.len());
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("sim", streams), |b| {
            b.iter(|| black_box(ejtimaa_sim::exposition::parse(&text).expect("parses").len()))
        });
        group.bench_function(BenchmarkId::new("openmetrics_parser", streams), |b| {
            b.iter(|| {
                let parsed =
                    openmetrics_parser::prometheus::parse_prometheus(&text).expect("parses");
                black_box(parsed.families.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
