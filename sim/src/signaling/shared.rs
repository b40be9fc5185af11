//! State shared between the client handles and the connection task: the
//! table of requests waiting for an ack, whether the connection is closed,
//! counters, and the commands the handles send the task.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use serde_json::Value;
use tokio::sync::oneshot;

use super::error::{DisconnectReason, Error};

/// Work for the connection task from the client handles.
#[derive(Debug)]
pub(crate) enum Command {
    /// A complete text frame to send.
    Frame(String),
    /// Send `41`, close the websocket, then report back.
    Disconnect(oneshot::Sender<()>),
}

/// What a waiting request receives: the ack's arguments, or why it never will.
pub(crate) type AckResult = Result<Vec<Value>, Error>;

enum State {
    Open {
        /// Ack id → waiter. Ids come from a counter, so they never collide
        /// within a connection (random ids in a small range can).
        pending: HashMap<u64, oneshot::Sender<AckResult>>,
        next_id: u64,
    },
    Closed(DisconnectReason),
}

/// Counters of one connection; see [`Stats`](super::Stats) for their meaning.
#[derive(Default)]
pub(crate) struct Counters {
    pub frames_received: AtomicU64,
    pub malformed: AtomicU64,
    pub unsupported: AtomicU64,
    pub ignored: AtomicU64,
    pub unmatched_acks: AtomicU64,
    pub undelivered: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub counters: Counters,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            state: Mutex::new(State::Open {
                pending: HashMap::new(),
                next_id: 0,
            }),
            counters: Counters::default(),
        }
    }

    // Critical sections never panic, but if one ever did, the map is still
    // consistent: keep going rather than propagate the poison.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Allocates an ack id and a slot for its answer. Fails if the connection
    /// is already closed, so a waiter can never be added after [`Shared::close`]
    /// drained the table (it would hang until its timeout).
    pub fn register(&self) -> Result<(u64, oneshot::Receiver<AckResult>), Error> {
        match &mut *self.lock() {
            State::Closed(reason) => Err(Error::Disconnected(reason.clone())),
            State::Open { pending, next_id } => {
                let id = *next_id;
                *next_id += 1;
                let (tx, rx) = oneshot::channel();
                pending.insert(id, tx);
                Ok((id, rx))
            }
        }
    }

    /// Drops the slot of a request that gave up (timeout or cancelled), so
    /// the table only holds requests somebody still waits for.
    pub fn forget(&self, id: u64) {
        if let State::Open { pending, .. } = &mut *self.lock() {
            pending.remove(&id);
        }
    }

    /// Hands an ack to its waiter. Returns false if nobody waits for `id`
    /// (it timed out, or the server made the id up).
    pub fn resolve(&self, id: u64, args: Vec<Value>) -> bool {
        let waiter = match &mut *self.lock() {
            State::Open { pending, .. } => pending.remove(&id),
            State::Closed(_) => None,
        };
        // Send outside the lock; a waiter that just gave up is not an error.
        waiter.is_some_and(|tx| tx.send(Ok(args)).is_ok())
    }

    /// Marks the connection closed and fails every waiting request at once
    /// with `reason`. Only the first call counts.
    pub fn close(&self, reason: &DisconnectReason) {
        let pending = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Closed(reason.clone())) {
                State::Open { pending, .. } => pending,
                closed @ State::Closed(_) => {
                    *state = closed;
                    return;
                }
            }
        };
        for (_, tx) in pending {
            let _ = tx.send(Err(Error::Disconnected(reason.clone())));
        }
    }

    /// Why the connection closed, if it has.
    pub fn closed_reason(&self) -> Option<DisconnectReason> {
        match &*self.lock() {
            State::Open { .. } => None,
            State::Closed(reason) => Some(reason.clone()),
        }
    }

    /// The error for an operation that found the connection gone.
    pub fn disconnected_error(&self) -> Error {
        // The task closes the state before it drops its channels, so a closed
        // channel implies a reason; the fallback is for completeness only.
        Error::Disconnected(
            self.closed_reason()
                .unwrap_or(DisconnectReason::TransportClose),
        )
    }

    /// Requests currently waiting for an ack.
    pub fn pending_len(&self) -> usize {
        match &*self.lock() {
            State::Open { pending, .. } => pending.len(),
            State::Closed(_) => 0,
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("closed", &self.closed_reason())
            .finish_non_exhaustive()
    }
}

/// Removes a request's slot when its future ends for any reason (answered,
/// timed out, or dropped by a `select!`), so abandoned ids do not pile up.
pub(crate) struct PendingGuard<'a> {
    pub shared: &'a Shared,
    pub id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.forget(self.id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_count_up_and_acks_reach_their_waiter() {
        let shared = Shared::new();
        let (a, mut rx_a) = shared.register().unwrap();
        let (b, mut rx_b) = shared.register().unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(shared.resolve(b, vec![json!("b")]));
        assert!(!shared.resolve(b, vec![]), "second ack for the same id");
        assert!(!shared.resolve(99, vec![]), "unknown id");
        assert_eq!(rx_b.try_recv().unwrap().unwrap(), vec![json!("b")]);
        assert!(rx_a.try_recv().is_err(), "a is still waiting");
        assert_eq!(shared.pending_len(), 1);
    }

    #[test]
    fn close_fails_waiters_and_refuses_new_ones() {
        let shared = Shared::new();
        let (_, mut rx) = shared.register().unwrap();
        shared.close(&DisconnectReason::HeartbeatTimeout);
        shared.close(&DisconnectReason::ClientAbort); // ignored: first reason wins
        assert!(matches!(
            rx.try_recv().unwrap(),
            Err(Error::Disconnected(DisconnectReason::HeartbeatTimeout))
        ));
        assert!(matches!(
            shared.register(),
            Err(Error::Disconnected(DisconnectReason::HeartbeatTimeout))
        ));
        assert_eq!(
            shared.closed_reason(),
            Some(DisconnectReason::HeartbeatTimeout)
        );
    }

    #[test]
    fn guard_forgets_abandoned_requests() {
        let shared = Shared::new();
        let (id, _rx) = shared.register().unwrap();
        drop(PendingGuard {
            shared: &shared,
            id,
        });
        assert_eq!(shared.pending_len(), 0);
        assert!(!shared.resolve(id, vec![]));
    }
}
