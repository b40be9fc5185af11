//! The engine thread: the only owner of the World.
//!
//! Tokio tasks and mediasoup callbacks talk to it through an [`EngineHandle`]:
//! events go in over a crossbeam channel without blocking anyone; scrapes and
//! admin queries carry a reply channel. The engine drains whatever is queued,
//! applies it in one batch, then answers.

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
}

impl EngineHandle {
    /// Reports an event. Never blocks; dropped silently once the engine stopped
    /// (at shutdown nobody needs it any more).
    pub fn send(&self, event: WorldEvent) {
        let _ = self.tx.send(Command::Event(event));
    }

    /// Reports several events, applied together.
    pub fn send_all(&self, events: Vec<WorldEvent>) {
        if !events.is_empty() {
            let _ = self.tx.send(Command::Events(events));
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
    (EngineHandle { tx }, thread)
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
}
