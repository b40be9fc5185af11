//! [`Method`]: the request methods a client may send, grouped in [`Family`]s
//! that share a rate limit, and [`MethodTally`], how many of each arrived and
//! failed and how long they took (the `Ejtimaa_signaling_*` families).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ejtimaa_systems::export::{LATENCY_BOUNDS, Limit, MethodCounts, MethodLatency};

macro_rules! methods {
    ($($variant:ident => $name:literal,)*) => {
        /// A request method the server answers.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Method {
            /// Every method, in the order the counters are exported.
            pub const ALL: &[Method] = &[$(Method::$variant),*];

            /// The method's wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                }
            }

            /// The method called `name`, if the server knows it.
            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $($name => Some(Method::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

methods! {
    GetRouterRtpCapabilities => "getRouterRtpCapabilities",
    Join => "join",
    CreateWebRtcTransport => "createWebRtcTransport",
    ConnectWebRtcTransport => "connectWebRtcTransport",
    RestartIce => "restartIce",
    Produce => "produce",
    CloseProducer => "closeProducer",
    PauseProducer => "pauseProducer",
    ResumeProducer => "resumeProducer",
    PauseConsumer => "pauseConsumer",
    ResumeConsumer => "resumeConsumer",
    SetConsumerPreferredLayers => "setConsumerPreferredLayers",
    RequestConsumerKeyFrame => "requestConsumerKeyFrame",
    GetTransportStats => "getTransportStats",
    GetProducerStats => "getProducerStats",
    GetConsumerStats => "getConsumerStats",
    ChangeDisplayName => "changeDisplayName",
}

impl Method {
    /// The family whose rate limit the method counts against.
    pub const fn family(self) -> Family {
        match self {
            Method::GetRouterRtpCapabilities
            | Method::Join
            | Method::CreateWebRtcTransport
            | Method::ConnectWebRtcTransport
            | Method::Produce => Family::Setup,
            Method::CloseProducer
            | Method::PauseProducer
            | Method::ResumeProducer
            | Method::PauseConsumer
            | Method::ResumeConsumer
            | Method::SetConsumerPreferredLayers => Family::Control,
            Method::GetTransportStats | Method::GetProducerStats | Method::GetConsumerStats => {
                Family::Stats
            }
            Method::RestartIce => Family::IceRestart,
            Method::RequestConsumerKeyFrame => Family::KeyFrame,
            Method::ChangeDisplayName => Family::DisplayName,
        }
    }
}

/// Methods that share one token bucket per socket (`[limits.rates]`): what
/// they cost the server is alike, and so is how often a client needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Joining, creating and connecting transports, producing.
    Setup,
    /// Pausing, resuming and closing producers and consumers, preferred layers.
    Control,
    /// `getTransportStats`, `getProducerStats`, `getConsumerStats`.
    Stats,
    /// `restartIce`.
    IceRestart,
    /// `requestConsumerKeyFrame`.
    KeyFrame,
    /// `changeDisplayName`, which every other peer of the room hears of.
    DisplayName,
}

impl Family {
    /// Every family; a family's index here is `family as usize`.
    pub const ALL: [Family; 6] = [
        Family::Setup,
        Family::Control,
        Family::Stats,
        Family::IceRestart,
        Family::KeyFrame,
        Family::DisplayName,
    ];

    /// The limit that refuses the family's requests over its rate.
    pub const fn limit(self) -> Limit {
        match self {
            Family::Setup => Limit::SetupRate,
            Family::Control => Limit::ControlRate,
            Family::Stats => Limit::StatsRate,
            Family::IceRestart => Limit::IceRestartRate,
            Family::KeyFrame => Limit::KeyFrameRate,
            Family::DisplayName => Limit::DisplayNameRate,
        }
    }
}

/// The `method` label of requests that name no known method, or that could
/// not be read as a request at all (malformed, oversize).
pub const UNKNOWN: &str = "unknown";

#[derive(Default)]
struct Pair {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Requests per latency bucket (the last: over every bound).
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    /// Their total time, in nanoseconds (584 years before it wraps).
    nanos: AtomicU64,
}

impl Pair {
    fn latency(&self, method: &'static str) -> MethodLatency {
        MethodLatency {
            method,
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_seconds: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }
}

/// Requests and errors per method since start; lock-free, shared by all
/// sockets.
pub struct MethodTally {
    known: Vec<Pair>,
    unknown: Pair,
}

impl Default for MethodTally {
    fn default() -> Self {
        Self {
            known: Method::ALL.iter().map(|_| Pair::default()).collect(),
            unknown: Pair::default(),
        }
    }
}

impl MethodTally {
    /// Counts one request of `method` (`None`: unknown or unreadable) that
    /// took `took` from arrival to answer.
    pub fn record(&self, method: Option<Method>, ok: bool, took: Duration) {
        let pair = match method {
            Some(m) => &self.known[m as usize],
            None => &self.unknown,
        };
        pair.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            pair.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        pair.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        pair.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The latency histograms, in the order of [`MethodTally::snapshot`].
    pub fn latencies(&self) -> Vec<MethodLatency> {
        Method::ALL
            .iter()
            .zip(&self.known)
            .map(|(m, pair)| pair.latency(m.as_str()))
            .chain(std::iter::once(self.unknown.latency(UNKNOWN)))
            .collect()
    }

    /// The counts, every known method first, then `unknown`.
    pub fn snapshot(&self) -> Vec<MethodCounts> {
        let read = |method: &'static str, pair: &Pair| MethodCounts {
            method,
            requests: pair.requests.load(Ordering::Relaxed),
            errors: pair.errors.load(Ordering::Relaxed),
        };
        Method::ALL
            .iter()
            .zip(&self.known)
            .map(|(m, pair)| read(m.as_str(), pair))
            .chain(std::iter::once(read(UNKNOWN, &self.unknown)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for (i, m) in Method::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
            assert_eq!(Method::from_name(m.as_str()), Some(*m));
        }
        assert_eq!(Method::from_name(UNKNOWN), None);
        assert_eq!(Method::from_name("Join"), None);
    }

    #[test]
    fn families_index_in_order_and_each_has_a_method_and_a_rate_limit() {
        for (i, family) in Family::ALL.iter().enumerate() {
            assert_eq!(*family as usize, i);
            assert!(Method::ALL.iter().any(|m| m.family() == *family));
            assert!(family.limit().as_str().starts_with("rates."));
        }
    }

    #[test]
    fn tally_counts_requests_and_errors_per_method() {
        let tally = MethodTally::default();
        let ms = Duration::from_millis(1);
        tally.record(Some(Method::Join), true, ms);
        tally.record(Some(Method::Join), false, ms);
        tally.record(Some(Method::Produce), true, ms);
        tally.record(None, false, ms);
        let counts = tally.snapshot();
        assert_eq!(counts.len(), Method::ALL.len() + 1);
        let get = |name: &str| *counts.iter().find(|c| c.method == name).unwrap();
        assert_eq!((get("join").requests, get("join").errors), (2, 1));
        assert_eq!((get("produce").requests, get("produce").errors), (1, 0));
        assert_eq!((get(UNKNOWN).requests, get(UNKNOWN).errors), (1, 1));
        assert_eq!(get("restartIce").requests, 0);
    }

    #[test]
    fn tally_sorts_latencies_into_buckets() {
        let tally = MethodTally::default();
        for ms in [0, 1, 3, 40, 7_000] {
            tally.record(Some(Method::Join), true, Duration::from_millis(ms));
        }
        let latencies = tally.latencies();
        assert_eq!(latencies.len(), Method::ALL.len() + 1);
        let join = latencies.iter().find(|l| l.method == "join").unwrap();
        let mut expected = vec![0; LATENCY_BOUNDS.len() + 1];
        expected[0] = 2; // 0 and 1 ms: a bound is inclusive
        expected[2] = 1; // 3 ms: <= 5 ms
        expected[5] = 1; // 40 ms: <= 50 ms
        expected[LATENCY_BOUNDS.len()] = 1; // 7 s: over the last bound
        assert_eq!(join.buckets, expected);
        assert!((join.sum_seconds - 7.044).abs() < 1e-9);
        let unknown = latencies.last().unwrap();
        assert_eq!(unknown.method, UNKNOWN);
        assert_eq!(unknown.buckets.iter().sum::<u64>(), 0);
    }
}
