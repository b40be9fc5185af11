//! [`Method`]: the request methods a client may send, and [`MethodTally`], how
//! many of each arrived and failed (the `Ejtimaa_signaling_*` counters).

use std::sync::atomic::{AtomicU64, Ordering};

use ejtimaa_systems::export::MethodCounts;

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

/// The `method` label of requests that name no known method, or that could
/// not be read as a request at all (malformed, oversize).
pub const UNKNOWN: &str = "unknown";

#[derive(Default)]
struct Pair {
    requests: AtomicU64,
    errors: AtomicU64,
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
    /// Counts one request of `method` (`None`: unknown or unreadable).
    pub fn record(&self, method: Option<Method>, ok: bool) {
        let pair = match method {
            Some(m) => &self.known[m as usize],
            None => &self.unknown,
        };
        pair.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            pair.errors.fetch_add(1, Ordering::Relaxed);
        }
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
    fn tally_counts_requests_and_errors_per_method() {
        let tally = MethodTally::default();
        tally.record(Some(Method::Join), true);
        tally.record(Some(Method::Join), false);
        tally.record(Some(Method::Produce), true);
        tally.record(None, false);
        let counts = tally.snapshot();
        assert_eq!(counts.len(), Method::ALL.len() + 1);
        let get = |name: &str| *counts.iter().find(|c| c.method == name).unwrap();
        assert_eq!((get("join").requests, get("join").errors), (2, 1));
        assert_eq!((get("produce").requests, get("produce").errors), (1, 0));
        assert_eq!((get(UNKNOWN).requests, get(UNKNOWN).errors), (1, 1));
        assert_eq!(get("restartIce").requests, 0);
    }
}
