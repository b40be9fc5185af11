//! Sample lines of the Prometheus text format, parsed for tests that judge
//! series by their labels (media_flow.rs, browser.rs, sim_fidelity.rs),
//! with the sim's reader: a malformed exposition fails the test.
#![allow(dead_code)]

pub use ejtimaa_sim::exposition::Series;

/// Every sample line of `text` (histogram buckets and summary parts under
/// their own names).
pub fn parse(text: &str) -> Vec<Series> {
    ejtimaa_sim::exposition::text::samples(text)
        .expect("the exposition parses")
        .series
}

/// The samples of metric `name`.
pub fn named<'a>(series: &'a [Series], name: &str) -> Vec<&'a Series> {
    series.iter().filter(|s| &*s.name == name).collect()
}

/// A series' identity across scrapes.
pub fn key(s: &Series) -> String {
    format!("{}{:?}", s.name, s.labels)
}
