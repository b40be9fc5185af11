//! The exporter's exposition: fetched the way Prometheus asks for it (gzip
//! accepted; see `exporter`) and read by [`text`], whose tests hold it to
//! an independent parser (openmetrics-parser) on the same text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod text;

/// The producer byte counter family.
pub const PRODUCER_BYTES: &str = "mediasoup_producer_byte_count_bytes";
/// The consumer byte counter family.
pub const CONSUMER_BYTES: &str = "mediasoup_consumer_byte_count_bytes";
/// The producer score family.
pub const PRODUCER_SCORE: &str = "mediasoup_producer_score";
/// The consumer score family.
pub const CONSUMER_SCORE: &str = "mediasoup_consumer_score";
/// The producer `_info` family (value 1, the 13 labels).
pub const PRODUCER_INFO: &str = "mediasoup_producer_info";
/// The consumer `_info` family (value 1, the 13 labels).
pub const CONSUMER_INFO: &str = "mediasoup_consumer_info";
/// The producer packet counter, a detail family (identifying labels only).
pub const PRODUCER_PACKETS: &str = "mediasoup_producer_packets_total";
/// The consumer packet counter, a detail family (identifying labels only).
pub const CONSUMER_PACKETS: &str = "mediasoup_consumer_packets_total";
/// The stream families the checks look at: the original's, `_info`, and a
/// detail family per role standing for the others (same labels and rules).
pub const STREAM_FAMILIES: [&str; 8] = [
    PRODUCER_BYTES,
    CONSUMER_BYTES,
    PRODUCER_SCORE,
    CONSUMER_SCORE,
    PRODUCER_INFO,
    CONSUMER_INFO,
    PRODUCER_PACKETS,
    CONSUMER_PACKETS,
];

/// The labels of the detail families: those that identify a stream.
pub const IDENTITY_LABELS: [&str; 4] = ["room_id", "peer_id", "id", "kind"];

/// Whether `family` is a detail family (identifying labels only).
pub fn is_detail(family: &str) -> bool {
    family == PRODUCER_PACKETS || family == CONSUMER_PACKETS
}

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("bad exporter URL {0} (http or https)")]
    Url(String),
    /// Connecting, sending or reading failed, or the response was not a
    /// 200 with a readable body.
    #[error("exporter answered badly: {0}")]
    Http(String),
    /// No answer in time.
    #[error("exporter did not answer within {0:?}")]
    Timeout(Duration),
    /// The exposition does not parse.
    #[error("exposition does not parse: {0}")]
    Parse(String),
}

/// One sample: labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The family name (shared by the family's samples).
    pub name: Arc<str>,
    /// The labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Series {
    /// A label's value, empty when absent.
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).unwrap_or("")
    }

    /// The series as Prometheus would print it, for violation reports.
    pub fn render(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}} {}", self.name, labels.join(","), self.value)
    }
}

/// A sample's labels, sorted by name, each name given once. The strings
/// are shared by every sample of a scrape that repeats them (a stream's
/// ids appear in a dozen families), so a scrape of a thousand streams
/// costs one allocation per sample rather than two per label.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels(Box<[(Arc<str>, Arc<str>)]>);

impl Labels {
    /// Labels from the name/value pairs taken out of `pairs` (left
    /// empty, its room kept for the next sample); a name given twice is
    /// returned as the error.
    pub fn take(pairs: &mut Vec<(Arc<str>, Arc<str>)>) -> Result<Self, Arc<str>> {
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(twice) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            let name = Arc::clone(&twice[0].0);
            pairs.clear();
            return Err(name);
        }
        Ok(Labels(pairs.drain(..).collect()))
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// Name and value of each label, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    /// The label names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| &**n)
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Exported streams per room, role and kind (`metrics = "aggregated"` or `"both"`).
pub const ROOM_STREAMS: &str = "Ejtimaa_room_streams";

/// One parsed scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// When the request was sent.
    pub started: Instant,
    /// How long the exporter took (connect to last byte).
    pub latency: Duration,
    /// Bytes of exposition text.
    pub body_bytes: usize,
    /// Bytes of body on the wire (the gzip size when the exporter compressed).
    pub wire_bytes: usize,
    /// Every sample, by family name.
    pub families: BTreeMap<String, Vec<Series>>,
}

impl Scrape {
    /// The samples of `family` (none when absent).
    pub fn family(&self, family: &str) -> &[Series] {
        self.families.get(family).map_or(&[], Vec::as_slice)
    }

    /// Whether the exposition declares `family` (its `# TYPE` line), with
    /// samples or without.
    pub fn declares(&self, family: &str) -> bool {
        self.families.contains_key(family)
    }

    /// `Ejtimaa_rooms`, if exported.
    pub fn rooms(&self) -> Option<f64> {
        self.family("Ejtimaa_rooms").first().map(|s| s.value)
    }

    /// How old a stream's figures may be in this scrape: nothing when the
    /// exporter collects stats at each scrape; with background stats, a
    /// round (its interval, or the last round's length if longer) and a
    /// second of slack for the calls themselves.
    pub fn stats_staleness(&self) -> Duration {
        let seconds = |family: &str| {
            self.family(family)
                .first()
                .map(|s| s.value)
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        match seconds("Ejtimaa_stats_interval_seconds") {
            None => Duration::ZERO,
            Some(interval) => {
                let round = seconds("Ejtimaa_stats_round_duration_seconds").unwrap_or(0.0);
                Duration::from_secs_f64(interval.max(round).min(3600.0)) + Duration::from_secs(1)
            }
        }
    }

    /// `Ejtimaa_peers{room_id}` as room → value.
    pub fn peers(&self) -> BTreeMap<String, f64> {
        self.family("Ejtimaa_peers")
            .iter()
            .map(|s| (s.label("room_id").to_string(), s.value))
            .collect()
    }
}

/// Parses an exposition into families of samples: a family per sample
/// name (a summary's `_sum` and `_count` apart, as Prometheus stores them),
/// and an empty one for a family declared without samples.
pub fn parse(text: &str) -> Result<BTreeMap<String, Vec<Series>>, ScrapeError> {
    let read = text::samples(text)?;
    let mut families: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    // An exposition lists a family's samples together: move them as runs.
    let mut run: Vec<Series> = Vec::new();
    for series in read.series {
        if run.last().is_some_and(|last| last.name != series.name) {
            file_run(&mut families, &mut run);
        }
        run.push(series);
    }
    file_run(&mut families, &mut run);
    for name in read.declared {
        families.entry(name).or_default();
    }
    Ok(families)
}

/// Moves a run of samples of one name into its family.
fn file_run(families: &mut BTreeMap<String, Vec<Series>>, run: &mut Vec<Series>) {
    let Some(first) = run.first() else {
        return;
    };
    match families.get_mut(&*first.name) {
        Some(family) => family.append(run),
        None => {
            families.insert(first.name.to_string(), std::mem::take(run));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes() {
        let text = "# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 2\n\
            # TYPE Ejtimaa_peers gauge\nEjtimaa_peers{room_id=\"a\\\"b\"} 3\n";
        let families = parse(text).unwrap();
        assert_eq!(families["Ejtimaa_rooms"][0].value, 2.0);
        assert_eq!(families["Ejtimaa_peers"][0].label("room_id"), "a\"b");
    }

    #[test]
    fn labels_are_sorted_found_by_name_and_given_once() {
        let pair = |k: &str, v: &str| (Arc::<str>::from(k), Arc::<str>::from(v));
        let mut pairs = vec![pair("room_id", "r"), pair("id", "x"), pair("kind", "audio")];
        let labels = Labels::take(&mut pairs).unwrap();
        assert!(pairs.is_empty());
        assert_eq!(
            labels.names().collect::<Vec<_>>(),
            ["id", "kind", "room_id"]
        );
        assert_eq!(labels.get("kind"), Some("audio"));
        assert_eq!(labels.get("peer_id"), None);
        assert_eq!(labels.len(), 3);
        let mut twice = vec![pair("a", "1"), pair("b", "2"), pair("a", "3")];
        assert_eq!(Labels::take(&mut twice).unwrap_err().as_ref(), "a");
        assert!(twice.is_empty());
        assert!(Labels::take(&mut Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn a_family_listed_in_two_runs_keeps_all_its_samples() {
        let families = parse("a 1\nb 2\na 3\n").unwrap();
        let values: Vec<f64> = families["a"].iter().map(|s| s.value).collect();
        assert_eq!(values, [1.0, 3.0]);
        assert_eq!(families["b"].len(), 1);
    }

    #[test]
    fn staleness_follows_the_exporters_stats_cadence() {
        let scrape = |text: &str| Scrape {
            started: Instant::now(),
            latency: Duration::ZERO,
            body_bytes: 0,
            wire_bytes: 0,
            families: parse(text).unwrap(),
        };
        let old = scrape("# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 0\n");
        assert_eq!(old.stats_staleness(), Duration::ZERO);
        let on_scrape = scrape(
            "# TYPE Ejtimaa_stats_interval_seconds gauge\nEjtimaa_stats_interval_seconds 0\n",
        );
        assert_eq!(on_scrape.stats_staleness(), Duration::ZERO);
        let background = scrape(
            "# TYPE Ejtimaa_stats_interval_seconds gauge\nEjtimaa_stats_interval_seconds 5\n\
             # TYPE Ejtimaa_stats_round_duration_seconds gauge\nEjtimaa_stats_round_duration_seconds 6.5\n",
        );
        assert_eq!(background.stats_staleness(), Duration::from_millis(7500));
    }

    #[test]
    fn reads_summaries_as_their_sum_and_count() {
        let text = "# TYPE Ejtimaa_room_score summary\n\
            Ejtimaa_room_score_sum{room_id=\"a\"} 19\n\
            Ejtimaa_room_score_count{room_id=\"a\"} 2\n";
        let families = parse(text).unwrap();
        assert_eq!(families["Ejtimaa_room_score_sum"][0].value, 19.0);
        assert_eq!(families["Ejtimaa_room_score_count"][0].value, 2.0);
        assert_eq!(
            families["Ejtimaa_room_score_count"][0].label("room_id"),
            "a"
        );
    }
}
