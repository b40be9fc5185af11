//! The engine thread: the only owner of the World.
//!
//! Tokio tasks and mediasoup callbacks talk to it through an [`EngineHandle`]:
//! events go in over a crossbeam channel without blocking anyone; scrapes and
//! admin queries carry a reply channel. The engine drains whatever is queued,
//! applies it in one batch, then answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ejtimaa_systems::{Core, ExportOptions, ServerFigures, WorldEvent};
use thiserror::Error;
use tokio::sync::oneshot;

/// The engine thread has stopped (only during shutdown, or after a bug).
#[derive(Debug, Error)]
#[error("the engine thread has stopped")]
pub struct EngineGone;

type Query = Box<dyn FnOnce(&mut Core) + Send>;

enum Command {
    Event(WorldEvent),
    Events(Vec<WorldEvent>),
    Render(Box<Render>),
    Query(Query),
    Stop,
}

/// One render request: the figures to show, the buffer to write into and
/// where the text goes.
struct Render {
    figures: ServerFigures,
    spare: String,
    reply: oneshot::Sender<String>,
}

/// A cheap, cloneable way to reach the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: Sender<Command>,
    /// Counts the sends that carried more than figures (see [`Self::changes`]).
    changes: Arc<AtomicU64>,
}

impl EngineHandle {
    /// Reports an event. Never blocks; dropped silently once the engine stopped
    /// (at shutdown nobody needs it any more).
    pub fn send(&self, event: WorldEvent) {
        let figures_only = event.brings_figures_only();
        let _ = self.tx.send(Command::Event(event));
        self.count_change(figures_only);
    }

    /// Reports several events, applied together.
    pub fn send_all(&self, events: Vec<WorldEvent>) {
        if !events.is_empty() {
            let figures_only = events.iter().all(WorldEvent::brings_figures_only);
            let _ = self.tx.send(Command::Events(events));
            self.count_change(figures_only);
        }
    }

    /// How many sends so far carried more than stream figures (an object
    /// opened or closed, a peer joined, a label changed). Counted after the
    /// send: a render asked for after reading `n` here applies every such
    /// event counted in `n`, so a render whose count is still current
    /// misses none of them.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn count_change(&self, figures_only: bool) {
        if !figures_only {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Applies everything sent so far and renders the exposition text, with
    /// `figures` as the server's own figures.
    pub async fn render(&self, figures: ServerFigures) -> Result<String, EngineGone> {
        self.render_into(figures, String::new()).await
    }

    /// Like [`EngineHandle::render`], writing into `spare` (a buffer of an
    /// earlier render nobody needs any more): the text is handed over, never
    /// copied, and steady-state renders do not allocate.
    pub async fn render_into(
        &self,
        figures: ServerFigures,
        spare: String,
    ) -> Result<String, EngineGone> {
        let (reply, rx) = oneshot::channel();
        let render = Render {
            figures,
            spare,
            reply,
        };
        self.tx
            .send(Command::Render(Box::new(render)))
            .map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    /// Runs `f` on the engine thread, after everything sent so far is applied.
    pub async fn query<T, F>(&self, f: F) -> Result<T, EngineGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Core) -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Query = Box::new(move |core| {
            let _ = reply.send(f(core));
        });
        self.tx.send(Command::Query(job)).map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    /// Asks the engine thread to finish (after what is already queued).
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }
}

/// Starts the engine thread.
pub fn spawn(options: ExportOptions) -> (EngineHandle, JoinHandle<()>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let thread = std::thread::Builder::new()
        .name("ejtimaa-engine".into())
        .spawn(move || run(Core::new(options), rx))
        .expect("the engine thread starts");
    let handle = EngineHandle {
        tx,
        changes: Arc::default(),
    };
    (handle, thread)
}

fn run(mut core: Core, rx: Receiver<Command>) {
    while let Ok(first) = rx.recv() {
        // Take everything already queued, so that a burst of events is applied
        // as one batch and a scrape answers with the state at its arrival.
        let mut stop = false;
        for command in std::iter::once(first).chain(rx.try_iter()) {
            match command {
                Command::Event(event) => core.push(event),
                Command::Events(events) => events.into_iter().for_each(|e| core.push(e)),
                Command::Render(render) => {
                    let Render {
                        figures,
                        spare,
                        reply,
                    } = *render;
                    core.set_server_figures(figures);
                    let _ = reply.send(core.render_owned(spare));
                }
                Command::Query(job) => {
                    core.apply();
                    job(&mut core);
                }
                Command::Stop => stop = true,
            }
        }
        core.apply();
        if stop {
            break;
        }
    }
    tracing::debug!("engine thread finished");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_applied_before_a_render_or_query_answers() {
        let (engine, thread) = spawn(ExportOptions::default());
        engine.send(WorldEvent::WorkerStarted {
            worker: "w".into(),
            pid: 7,
        });
        engine.send_all(vec![WorldEvent::RoomOpened {
            room: "r".into(),
            worker: "w".into(),
        }]);
        let text = engine.render(ServerFigures::default()).await.unwrap();
        assert!(text.contains("Ejtimaa_rooms 1\n"), "{text}");
        assert!(text.contains("Ejtimaa_peers{room_id=\"r\"} 0\n"), "{text}");
        let applied = engine.query(|core| core.counts().applied).await.unwrap();
        assert_eq!(applied, 2);
        engine.stop();
        thread.join().unwrap();
        assert!(engine.render(ServerFigures::default()).await.is_err());
    }

    #[test]
    fn only_sends_that_bring_more_than_figures_count_as_changes() {
        let (engine, thread) = spawn(ExportOptions::default());
        let score = || WorldEvent::ScoreChanged {
            owner: ejtimaa_systems::StreamOwner::Producer("p".into()),
            ssrc: 1,
            score: ejtimaa_systems::Score::MAX,
        };
        assert_eq!(engine.changes(), 0);
        engine.send(score());
        engine.send_all(vec![score(), score()]);
        assert_eq!(engine.changes(), 0);
        engine.send(WorldEvent::WorkerStarted {
            worker: "w".into(),
            pid: 7,
        });
        assert_eq!(engine.changes(), 1);
        // A batch with one such event among figures counts once.
        engine.send_all(vec![
            score(),
            WorldEvent::RoomOpened {
                room: "r".into(),
                worker: "w".into(),
            },
        ]);
        assert_eq!(engine.changes(), 2);
        // Clones share the count.
        engine
            .clone()
            .send(WorldEvent::RoomClosed { room: "r".into() });
        assert_eq!(engine.changes(), 3);
        engine.stop();
        thread.join().unwrap();
    }
}
