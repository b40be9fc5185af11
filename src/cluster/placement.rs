//! Where a connecting peer's room is: the directory's answer to a claim,
//! and the decision taken from it (sans-IO; the time is passed in).
//!
//! When the directory cannot be asked, a room already open here stays open
//! to newcomers for as long as this node's claims are certainly still held
//! (its lease: the last successful heartbeat plus the TTL, less a heartbeat
//! for safety); any other room is refused rather than opened here, since
//! another node may hold it and the same room would then run twice.

use std::time::{Duration, Instant};

use super::record::{NodeRecord, Redirect};

/// The directory's answer to "this room, for me?".
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The room is this node's (claimed now, or renewed).
    Here,
    /// Another live node holds it.
    Elsewhere(NodeRecord),
    /// This node is not registered (not yet, or its id is held by another
    /// process), so it may not claim rooms.
    Unregistered,
}

/// What admission does with a connecting peer.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Admit it here.
    Here,
    /// Send it to the room's node.
    Redirect(Redirect),
    /// Refuse it: the room cannot be placed now.
    Unavailable(Unavailable),
}

/// Why a room cannot be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Redis did not answer.
    #[error("the room directory is unreachable; new rooms are refused until it is back")]
    DirectoryDown,
    /// This node has no registration in the directory.
    #[error(
        "this node is not registered in the room directory (starting, or its node id is in use by another server)"
    )]
    NotRegistered,
}

/// Decides from the directory's `claim` (or its failure), whether the room
/// is `open_here` already, and whether this node's `lease` still holds.
pub fn decide(claim: Result<Claim, ()>, open_here: bool, lease: bool) -> Placement {
    match claim {
        Ok(Claim::Here) => Placement::Here,
        Ok(Claim::Elsewhere(node)) => Placement::Redirect(Redirect {
            url: node.signaling_url,
            node: node.node,
        }),
        Ok(Claim::Unregistered) if open_here && lease => Placement::Here,
        Ok(Claim::Unregistered) => Placement::Unavailable(Unavailable::NotRegistered),
        Err(()) if open_here && lease => Placement::Here,
        Err(()) => Placement::Unavailable(Unavailable::DirectoryDown),
    }
}

/// Whether claims renewed by a heartbeat sent at `last_ok` still hold at
/// `now`: for `ttl` after it, less one `heartbeat` of margin.
pub fn lease_holds(
    last_ok: Option<Instant>,
    now: Instant,
    ttl: Duration,
    heartbeat: Duration,
) -> bool {
    last_ok.is_some_and(|sent| now.saturating_duration_since(sent) < ttl.saturating_sub(heartbeat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> NodeRecord {
        NodeRecord {
            node: "b".into(),
            instance: "x".into(),
            signaling_url: "https://b:4443".into(),
            exporter: None,
            region: "default".into(),
            peers: 0,
            rooms: 0,
        }
    }

    #[test]
    fn the_directory_decides_when_it_answers() {
        for (open, lease) in [(false, false), (true, true)] {
            assert_eq!(decide(Ok(Claim::Here), open, lease), Placement::Here);
            // Even a room open here goes to its owner once the directory says so.
            assert_eq!(
                decide(Ok(Claim::Elsewhere(b())), open, lease),
                Placement::Redirect(Redirect {
                    node: "b".into(),
                    url: "https://b:4443".into()
                })
            );
        }
    }

    #[test]
    fn without_the_directory_only_open_rooms_under_lease_take_newcomers() {
        assert_eq!(decide(Err(()), true, true), Placement::Here);
        assert_eq!(
            decide(Err(()), true, false),
            Placement::Unavailable(Unavailable::DirectoryDown)
        );
        assert_eq!(
            decide(Err(()), false, true),
            Placement::Unavailable(Unavailable::DirectoryDown)
        );
        assert_eq!(decide(Ok(Claim::Unregistered), true, true), Placement::Here);
        assert_eq!(
            decide(Ok(Claim::Unregistered), false, true),
            Placement::Unavailable(Unavailable::NotRegistered)
        );
    }

    #[test]
    fn the_lease_ends_a_heartbeat_before_the_ttl() {
        let t0 = Instant::now();
        let (ttl, beat) = (Duration::from_secs(10), Duration::from_secs(2));
        assert!(!lease_holds(None, t0, ttl, beat));
        assert!(lease_holds(Some(t0), t0, ttl, beat));
        assert!(lease_holds(
            Some(t0),
            t0 + Duration::from_millis(7999),
            ttl,
            beat
        ));
        assert!(!lease_holds(
            Some(t0),
            t0 + Duration::from_secs(8),
            ttl,
            beat
        ));
    }
}
