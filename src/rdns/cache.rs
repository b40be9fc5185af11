//! The reverse DNS cache, without I/O or clocks: every method is told the
//! time, so its rules (dedup, TTL, forgetting, bounds) are tested directly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ejtimaa_systems::WorldEvent;
use tokio::time::Instant;

use super::DnsOptions;

/// The longest name accepted (the DNS limit); a PTR answer is chosen by
/// whoever owns the address block, so it is not trusted blindly.
const MAX_NAME_LEN: usize = 253;

/// What one lookup came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Name(String),
    NoName,
    Failed(String),
    TimedOut,
}

impl Outcome {
    pub(super) fn from_name(name: Option<String>) -> Self {
        match name {
            Some(name) if is_plausible_name(&name) => Outcome::Name(name),
            _ => Outcome::NoName,
        }
    }
}

/// An answer worth showing: not empty, not absurdly long, and not an
/// address (which would only repeat the numeric form).
pub(super) fn is_plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.parse::<IpAddr>().is_err()
        && !name.chars().any(char::is_control)
}

/// What [`Cache::want`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// A new address, queued for lookup.
    New,
    /// Already known (or being looked up).
    Known,
    /// New, but the cache is full.
    Full,
}

/// The cache, without I/O or clocks: every method is told the time.
pub(super) struct Cache {
    ttl: Duration,
    forget_after: Duration,
    max_entries: usize,
    entries: HashMap<IpAddr, Entry>,
}

struct Entry {
    last_wanted: Instant,
    state: State,
    /// The name last sent to the engine.
    announced: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Needs a lookup.
    Pending,
    /// Being looked up.
    InFlight,
    /// Answered; looked up again at `expires`.
    Known { expires: Instant },
}

impl Cache {
    pub(super) fn new(options: &DnsOptions) -> Self {
        Self {
            ttl: options.ttl,
            forget_after: options.forget_after,
            max_entries: options.max_entries,
            entries: HashMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn want(&mut self, ip: IpAddr, now: Instant) -> Wanted {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.last_wanted = now;
            return Wanted::Known;
        }
        if self.entries.len() >= self.max_entries {
            return Wanted::Full;
        }
        self.entries.insert(
            ip,
            Entry {
                last_wanted: now,
                state: State::Pending,
                announced: None,
            },
        );
        Wanted::New
    }

    /// Up to `max` addresses to look up now, marked in flight.
    pub(super) fn take_pending(&mut self, max: usize) -> Vec<IpAddr> {
        let mut taken = Vec::new();
        for (ip, entry) in &mut self.entries {
            if taken.len() >= max {
                break;
            }
            if entry.state == State::Pending {
                entry.state = State::InFlight;
                taken.push(*ip);
            }
        }
        taken
    }

    /// Puts back an address taken for lookup that could not start.
    pub(super) fn requeue(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.state = State::Pending;
        }
    }

    /// Forgets addresses not wanted for a while (returning the withdrawals of
    /// their names) and queues expired answers for another lookup.
    pub(super) fn sweep(&mut self, now: Instant) -> Vec<WorldEvent> {
        let mut withdrawn = Vec::new();
        let forget_after = self.forget_after;
        self.entries.retain(|ip, entry| {
            // An address being looked up stays until its answer is in.
            let stale = entry.state != State::InFlight && now >= entry.last_wanted + forget_after;
            if stale {
                if entry.announced.is_some() {
                    withdrawn.push(WorldEvent::HostnameResolved {
                        ip: *ip,
                        hostname: None,
                    });
                }
                return false;
            }
            if let State::Known { expires } = entry.state
                && now >= expires
            {
                entry.state = State::Pending;
            }
            true
        });
        withdrawn
    }

    /// When [`Cache::sweep`] has something to do next, if ever.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|entry| match entry.state {
                State::InFlight => None,
                State::Pending => Some(entry.last_wanted + self.forget_after),
                State::Known { expires } => {
                    Some(expires.min(entry.last_wanted + self.forget_after))
                }
            })
            .min()
    }

    /// Records a lookup's outcome; returns the event for the engine, if the
    /// name it shows changes.
    ///
    /// A failure keeps the name already shown (a flaky resolver should not
    /// make names flap); only a definite "no name" withdraws it.
    pub(super) fn answer(
        &mut self,
        ip: IpAddr,
        outcome: Outcome,
        now: Instant,
    ) -> Option<WorldEvent> {
        // Forgotten meanwhile (cannot happen while in flight, but harmless).
        let entry = self.entries.get_mut(&ip)?;
        entry.state = State::Known {
            expires: now + self.ttl,
        };
        let hostname = match outcome {
            Outcome::Name(name) => Some(name),
            Outcome::NoName => None,
            Outcome::Failed(_) | Outcome::TimedOut => return None,
        };
        if entry.announced == hostname {
            return None;
        }
        entry.announced.clone_from(&hostname);
        Some(WorldEvent::HostnameResolved { ip, hostname })
    }
}

#[cfg(test)]
mod tests;
