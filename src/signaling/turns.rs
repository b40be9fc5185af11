//! [`Turns`]: one holder per id at a time, any number of ids side by side.
//! Rooms open in turns per room id, so that a worker slow to create one
//! router holds up only the peers of that room; peers are admitted in turns
//! per peer id, so that two connections with one id cannot both get in.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Past this many entries, those no one holds any more are swept out.
const SWEEP_ABOVE: usize = 64;

/// A gate per id being worked on; an id's gate lives while someone holds or
/// waits for it.
#[derive(Default)]
pub struct Turns {
    gates: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl Turns {
    /// Waits until no one else holds `id`'s turn; the turn is the caller's
    /// until the guard is dropped.
    pub async fn turn(&self, id: &str) -> OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.gates.lock();
            match gates.get(id).and_then(Weak::upgrade) {
                Some(gate) => gate,
                None => {
                    if gates.len() >= SWEEP_ABOVE {
                        gates.retain(|_, gate| gate.strong_count() > 0);
                    }
                    let gate = Arc::new(AsyncMutex::new(()));
                    gates.insert(id.to_owned(), Arc::downgrade(&gate));
                    gate
                }
            }
        };
        gate.lock_owned().await
    }

    /// Entries kept (held, waited for, or not swept yet).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.gates.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_turn_per_id_and_ids_side_by_side() {
        let gates = Arc::new(Turns::default());
        let a = gates.turn("a").await;
        // Another id proceeds while `a` is held.
        let b = tokio::time::timeout(Duration::from_secs(1), gates.turn("b"))
            .await
            .expect("another id is not held up");
        // The same id waits until `a` is released.
        let g = Arc::clone(&gates);
        let second_a = tokio::spawn(async move { g.turn("a").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second_a.is_finished(), "two turns of one id at once");
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), second_a)
            .await
            .expect("its turn comes once released")
            .unwrap();
        drop(b);
    }

    #[tokio::test]
    async fn gates_no_one_holds_are_swept() {
        let gates = Turns::default();
        for i in 0..SWEEP_ABOVE * 4 {
            drop(gates.turn(&format!("room{i}")).await);
        }
        assert!(
            gates.entries() <= SWEEP_ABOVE,
            "{} entries",
            gates.entries()
        );
    }
}
