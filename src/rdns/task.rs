//! The background task: sweeps the cache, starts lookups on threads of their
//! own (a few at a time, each bounded by a timeout), records answers and sends
//! the changed names to the sink.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use super::cache::Outcome;
use super::resolver::Resolver;
use super::{Counts, DnsOptions, Shared, Sink};

/// The background task: sweeps the cache, starts lookups while slots are
/// free, and records answers, until it is aborted.
pub(super) async fn run(
    shared: Arc<Shared>,
    options: DnsOptions,
    sink: Sink,
    resolver: Arc<dyn Resolver>,
) {
    let (answers_tx, mut answers) = mpsc::unbounded_channel();
    let slots = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    loop {
        let now = Instant::now();
        let (withdrawn, lookups, next) = {
            let mut cache = shared.cache.lock();
            let withdrawn = cache.sweep(now);
            let lookups = cache.take_pending(slots.available_permits());
            (withdrawn, lookups, cache.next_deadline())
        };
        if !withdrawn.is_empty() {
            sink(withdrawn);
        }
        for ip in lookups {
            // No more lookups were taken than permits were free, and only this
            // task takes permits; should that ever change, the address waits.
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                shared.cache.lock().requeue(ip);
                continue;
            };
            shared.counts.lookups.fetch_add(1, Ordering::Relaxed);
            let resolver = Arc::clone(&resolver);
            let answers_tx = answers_tx.clone();
            let shared = Arc::clone(&shared);
            let timeout = options.timeout;
            tokio::spawn(async move {
                let outcome =
                    match tokio::time::timeout(timeout, lookup(resolver, ip, slot, shared)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::TimedOut,
                    };
                let _ = answers_tx.send((ip, outcome));
            });
        }

        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            () = sleep => {}
            Some((ip, outcome)) = answers.recv() => {
                record(&shared.counts, ip, &outcome);
                let event = shared.cache.lock().answer(ip, outcome, Instant::now());
                if let Some(event) = event {
                    sink(vec![event]);
                }
            }
        }
    }
}

/// Runs one blocking lookup on a thread of its own, holding `slot` until the
/// call really returns: a timed-out call cannot be cancelled, so this bounds
/// the threads a dead resolver can hold. A plain thread (not Tokio's blocking
/// pool) because a stuck one must not delay the runtime's shutdown.
async fn lookup(
    resolver: Arc<dyn Resolver>,
    ip: IpAddr,
    slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
) -> Outcome {
    let (done, answer) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ejtimaa-rdns".into())
        .spawn(move || {
            let _ = done.send(resolver.lookup(ip));
            drop(slot);
            // A slot is free: pending addresses may go.
            shared.wake.notify_one();
        });
    if let Err(e) = spawned {
        return Outcome::Failed(format!("cannot start a lookup thread: {e}"));
    }
    match answer.await {
        Ok(Ok(name)) => Outcome::from_name(name),
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(_) => Outcome::Failed("the resolver panicked".into()),
    }
}

fn record(counts: &Counts, ip: IpAddr, outcome: &Outcome) {
    let counter = match outcome {
        Outcome::Name(_) => &counts.names,
        Outcome::NoName => &counts.no_names,
        Outcome::Failed(why) => {
            tracing::debug!(%ip, "{why}");
            &counts.failures
        }
        Outcome::TimedOut => {
            tracing::debug!(%ip, "reverse DNS lookup timed out");
            &counts.timeouts
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
}
