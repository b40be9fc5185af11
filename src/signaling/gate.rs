//! [`RequestGate`]: what one socket may ask at once and how often: its
//! requests in flight (`limits.max_requests_in_flight`) and a token bucket per
//! method family (`[limits.rates]`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::bucket::TokenBucket;
use super::method::{Family, Method};
use super::protocol::SignalingError;
use crate::config::{Rate, RatesConfig};
use ejtimaa_systems::export::Limit;

/// One socket's request limits.
pub struct RequestGate {
    /// Requests received and not yet answered (socketioxide runs each in a
    /// task of its own, so a client can have many waiting on mediasoup).
    in_flight: AtomicUsize,
    /// One bucket per family, in [`Family::ALL`] order.
    buckets: Mutex<[TokenBucket; Family::ALL.len()]>,
}

/// A request in flight; dropping it (once its ack is sent) frees its place.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `family`'s configured rate.
pub fn rate_of(rates: &RatesConfig, family: Family) -> Rate {
    match family {
        Family::Setup => rates.setup,
        Family::Control => rates.control,
        Family::Stats => rates.stats,
        Family::IceRestart => rates.ice_restart,
        Family::KeyFrame => rates.key_frame,
        Family::DisplayName => rates.display_name,
    }
}

impl RequestGate {
    /// A gate with full buckets at `now`.
    pub fn new(rates: &RatesConfig, now: Instant) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            buckets: Mutex::new(Family::ALL.map(|f| TokenBucket::full(rate_of(rates, f), now))),
        }
    }

    /// The gate of a connection that replaces this one (a reconnect with the
    /// same peer id): its buckets carry over as they are, so that
    /// reconnecting does not refill them; nothing is in flight on it yet.
    pub fn succeeded_by(&self) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            buckets: Mutex::new(*self.buckets.lock()),
        }
    }

    /// Takes a place for one more request in flight, or refuses it when
    /// `max` are already waiting for their answer.
    pub fn enter(&self, max: usize) -> Result<InFlight<'_>, SignalingError> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| InFlight(&self.in_flight))
            .map_err(|_| {
                SignalingError::limit(
                    Limit::RequestsInFlight,
                    format!("at most {max} requests awaiting an answer per connection"),
                )
            })
    }

    /// Lets a request of `method` through at `now` if its family's bucket
    /// has a token.
    pub fn admit(
        &self,
        method: Method,
        rates: &RatesConfig,
        now: Instant,
    ) -> Result<(), SignalingError> {
        let family = method.family();
        let rate = rate_of(rates, family);
        if self.buckets.lock()[family as usize].take(rate, now) {
            return Ok(());
        }
        Err(SignalingError::limit(
            family.limit(),
            format!(
                "`{}` is over its rate: {} a second, bursts of {}",
                method.as_str(),
                rate.per_sec,
                rate.burst
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn in_flight_places_are_held_until_dropped() {
        let gate = RequestGate::new(&RatesConfig::default(), Instant::now());
        let a = gate.enter(2).unwrap();
        let _b = gate.enter(2).unwrap();
        let err = gate.enter(2).err().unwrap();
        assert_eq!(err.refused_by(), Some(Limit::RequestsInFlight));
        assert!(err.to_string().contains("max_requests_in_flight"), "{err}");
        drop(a);
        let _c = gate.enter(2).unwrap();
        assert!(gate.enter(2).is_err());
    }

    #[test]
    fn each_family_has_its_own_bucket() {
        let rates = RatesConfig {
            display_name: Rate {
                per_sec: 1.0,
                burst: 2,
            },
            ..RatesConfig::default()
        };
        let t0 = Instant::now();
        let gate = RequestGate::new(&rates, t0);
        let rename = Method::ChangeDisplayName;
        assert!(gate.admit(rename, &rates, t0).is_ok());
        assert!(gate.admit(rename, &rates, t0).is_ok());
        let err = gate.admit(rename, &rates, t0).unwrap_err();
        assert_eq!(err.refused_by(), Some(Limit::DisplayNameRate));
        let text = err.to_string();
        assert!(text.contains("rates.display_name"), "{text}");
        assert!(text.contains("changeDisplayName"), "{text}");
        // Others are untouched by the renames.
        assert!(gate.admit(Method::GetConsumerStats, &rates, t0).is_ok());
        assert!(gate.admit(Method::Join, &rates, t0).is_ok());
        // And the renames' bucket refills.
        assert!(
            gate.admit(rename, &rates, t0 + Duration::from_secs(1))
                .is_ok()
        );
    }
}
