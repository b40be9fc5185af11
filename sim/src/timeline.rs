//! What a run looked like over time, for the plot and the JSON report:
//! peers up, packets per second sent and received, and scrape latency.

use std::time::Duration;

use serde::Serialize;

/// One sample of the run's load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadSample {
    /// Seconds since the run started.
    pub t_secs: f64,
    /// Peers up.
    pub peers: usize,
    /// RTP packets per second sent by all peers since the previous sample.
    pub sent_pps: f64,
    /// RTP packets per second received by all peers since the previous sample.
    pub received_pps: f64,
}

/// One scrape's latency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScrapeSample {
    /// Seconds since the run started, when the scrape was sent.
    pub t_secs: f64,
    /// Connect to last byte, milliseconds.
    pub latency_ms: f64,
}

/// The run over time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// Load, sampled about twice a second.
    pub load: Vec<LoadSample>,
    /// Every successful scrape.
    pub scrapes: Vec<ScrapeSample>,
    /// Cumulative packets (sent, received) at the last sample.
    #[serde(skip)]
    last: Option<(f64, u64, u64)>,
}

impl Timeline {
    /// Records the load at `t` from cumulative packet counts of every peer
    /// the run ever had (so that peers leaving do not make rates negative).
    pub fn record_load(&mut self, t: Duration, peers: usize, sent: u64, received: u64) {
        let t_secs = t.as_secs_f64();
        let (sent_pps, received_pps) = match self.last {
            Some((t0, s0, r0)) if t_secs > t0 => {
                let dt = t_secs - t0;
                (
                    sent.saturating_sub(s0) as f64 / dt,
                    received.saturating_sub(r0) as f64 / dt,
                )
            }
            _ => (0.0, 0.0),
        };
        self.last = Some((t_secs, sent, received));
        self.load.push(LoadSample {
            t_secs,
            peers,
            sent_pps,
            received_pps,
        });
    }

    /// Records a scrape sent at `t` that took `latency`.
    pub fn record_scrape(&mut self, t: Duration, latency: Duration) {
        self.scrapes.push(ScrapeSample {
            t_secs: t.as_secs_f64(),
            latency_ms: latency.as_secs_f64() * 1e3,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_differences() {
        let mut t = Timeline::default();
        t.record_load(Duration::from_secs(1), 2, 100, 50);
        t.record_load(Duration::from_secs(3), 4, 500, 450);
        assert_eq!(t.load[0].sent_pps, 0.0);
        assert_eq!(t.load[1].sent_pps, 200.0);
        assert_eq!(t.load[1].received_pps, 200.0);
        assert_eq!(t.load[1].peers, 4);
    }
}
