//! [`RefusalTally`]: how many requests and connections each configured limit
//! refused (`Ejtimaa_limit_refusals_total`).

use std::sync::atomic::{AtomicU64, Ordering};

use ejtimaa_systems::export::{Limit, LimitRefusals};

use super::protocol::SignalingError;

/// Refusals per limit since start; lock-free, shared by all sockets.
#[derive(Default)]
pub struct RefusalTally([AtomicU64; Limit::ALL.len()]);

impl RefusalTally {
    /// Counts `error` if a limit refused it.
    pub fn record(&self, error: &SignalingError) {
        if let Some(limit) = error.refused_by() {
            self.count(limit);
        }
    }

    /// Counts one refusal by `limit`.
    pub fn count(&self, limit: Limit) {
        if let Some(i) = Limit::ALL.iter().position(|l| *l == limit) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> LimitRefusals {
        LimitRefusals(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_refusals_by_a_limit() {
        let tally = RefusalTally::default();
        tally.record(&SignalingError::limit(Limit::Rooms, "at most 1 rooms"));
        tally.record(&SignalingError::limit(Limit::Rooms, "at most 1 rooms"));
        tally.record(&SignalingError::TooLarge { size: 9, limit: 8 });
        tally.record(&SignalingError::NotJoined);
        tally.record(&SignalingError::Media("no".into()));
        let counts = tally.snapshot();
        assert_eq!(counts.get(Limit::Rooms), 2);
        assert_eq!(counts.get(Limit::MessageBytes), 1);
        assert_eq!(counts.0.iter().sum::<u64>(), 3);
    }
}
