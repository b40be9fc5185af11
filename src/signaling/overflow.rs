//! Sockets whose outgoing queue is full (`limits.max_queued_messages`): the
//! client has stopped reading, and whatever it misses from now on (a peer
//! leaving, a consumer closing) cannot be replayed, so it is taken out of its
//! room rather than left with a view of the room that is no longer true.
//!
//! The overflow is found wherever a message is queued, which may be on one
//! of mediasoup's threads; the eviction itself (closing mediasoup objects)
//! runs on a task of its own.

use std::sync::atomic::{AtomicBool, Ordering};

use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;

/// Where sockets to evict are sent; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Overflows(mpsc::UnboundedSender<SocketRef>);

/// The receiving end, drained by the signaling's eviction task.
pub type OverflowQueue = mpsc::UnboundedReceiver<SocketRef>;

impl Overflows {
    /// A sender and the queue it feeds.
    pub fn new() -> (Self, OverflowQueue) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

/// One socket's side: reports its overflow once.
pub struct OverflowWatch {
    overflows: Overflows,
    reported: AtomicBool,
}

impl OverflowWatch {
    /// A watch reporting to `overflows`.
    pub fn new(overflows: Overflows) -> Self {
        Self {
            overflows,
            reported: AtomicBool::new(false),
        }
    }

    /// Looks at why a message to `socket` was not queued; a full queue
    /// has the socket evicted (the first time). True if it was full.
    pub fn undelivered(&self, socket: &SocketRef, error: &SendError) -> bool {
        if !is_full(error) {
            return false;
        }
        if !self.reported.swap(true, Ordering::AcqRel) {
            // The eviction task is gone only at shutdown, when the socket
            // is closed anyway.
            let _ = self.overflows.0.send(socket.clone());
        }
        true
    }
}

/// Whether `error` says the socket's outgoing queue is full.
pub fn is_full(error: &SendError) -> bool {
    matches!(error, SendError::Socket(SocketError::InternalChannelFull))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_queue_counts() {
        assert!(is_full(&SendError::Socket(
            SocketError::InternalChannelFull
        )));
        assert!(!is_full(&SendError::Socket(SocketError::Closed)));
    }
}
