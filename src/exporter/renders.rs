//! Overlapping scrapes share one render: while one is rendering, the others
//! wait for it and send its text, so that a burst of scrapes costs one render
//! and one compression, and renders never run side by side. The newest
//! compressed body is kept as the base the next compression reuses from.
//!
//! A render may also be made just before a steady scraper's next scrape
//! ([`Renders::prepare`]); that scrape takes it if it arrives soon enough
//! and nothing but stream figures changed in between ([`Renders::prepared`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use parking_lot::Mutex;

use super::body::Body;

/// The newest render and the lock renders take turns on.
#[derive(Default)]
pub struct Renders {
    latest: Mutex<Option<Arc<Body>>>,
    /// The newest body that was compressed: the next compression takes
    /// from its gzip what did not change.
    base: Mutex<Option<Arc<Body>>>,
    /// A text buffer no body uses any more, for the next render.
    spare: Mutex<Option<String>>,
    /// Bumped by every render that finished.
    finished: AtomicU64,
    running: tokio::sync::Mutex<()>,
    /// The render made ahead of a foretold scrape.
    prepared: Mutex<Option<Prepared>>,
}

/// A render made ahead, and the engine's count of changes (beyond figures)
/// read before it was asked for.
struct Prepared {
    body: Arc<Body>,
    changes: u64,
}

/// A body, and where its render came from.
pub struct Got {
    /// The rendered body.
    pub body: Arc<Body>,
    /// Whether the render was started by another scrape.
    pub shared: bool,
    /// Whether it was made ahead of this scrape ([`Renders::prepare`]).
    pub prepared: bool,
}

impl Renders {
    /// The body for a scrape arriving now: the render of a scrape already in
    /// progress, or a new one by `render`, which gets a spare buffer to write
    /// into.
    pub async fn get<F, Fut, E>(&self, render: F) -> Result<Got, E>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        let seen = self.finished.load(Ordering::Acquire);
        let _running = self.running.lock().await;
        if self.finished.load(Ordering::Acquire) != seen
            && let Some(body) = self.latest.lock().clone()
        {
            // A render finished while we waited: it ran after we arrived, or
            // overlapped our arrival, and is as fresh as ours would be.
            return Ok(Got {
                body,
                shared: true,
                prepared: false,
            });
        }
        let begun = Instant::now();
        let text = render(self.spare()).await?;
        let body = Arc::new(Body::new(text, seen + 1, begun));
        *self.latest.lock() = Some(Arc::clone(&body));
        self.finished.fetch_add(1, Ordering::Release);
        Ok(Got {
            body,
            shared: false,
            prepared: false,
        })
    }

    /// Renders ahead of a scrape foretold to arrive soon, as [`Self::get`]
    /// would for it; `changes` is the engine's count of changes read before
    /// this call. A render shared with a scrape already under way is not
    /// kept as prepared: it may have been asked for before `changes` was read.
    pub async fn prepare<F, Fut, E>(&self, changes: u64, render: F) -> Result<Arc<Body>, E>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        let got = self.get(render).await?;
        if !got.shared {
            *self.prepared.lock() = Some(Prepared {
                body: Arc::clone(&got.body),
                changes,
            });
        }
        Ok(got.body)
    }

    /// The prepared body, for a scrape arriving at `now` while the engine's
    /// count of changes is `changes`: if its render began at most `max_age`
    /// before and no change beyond stream figures was sent since.
    pub fn prepared(&self, now: Instant, changes: u64, max_age: Duration) -> Option<Arc<Body>> {
        let prepared = self.prepared.lock();
        let p = prepared.as_ref()?;
        (p.changes == changes && now.saturating_duration_since(p.body.begun()) <= max_age)
            .then(|| Arc::clone(&p.body))
    }

    /// `body`'s gzip at `level`, reusing what did not change since the
    /// newest compressed body, which it then becomes if it is newer.
    pub async fn gzip(&self, body: &Arc<Body>, level: u32) -> Bytes {
        let base = self
            .base
            .lock()
            .clone()
            .filter(|base| base.seq() < body.seq());
        let bytes = body.gzip(level, base).await;
        let replaced = {
            let mut base = self.base.lock();
            if base.as_ref().is_none_or(|b| b.seq() < body.seq()) {
                base.replace(Arc::clone(body))
            } else {
                None
            }
        };
        if let Some(old) = replaced {
            self.recycle(old);
        }
        bytes
    }

    /// The newest body, if any render happened.
    pub fn latest(&self) -> Option<Arc<Body>> {
        self.latest.lock().clone()
    }

    /// A buffer for the next render: one set aside when a base was
    /// replaced, or else the previous body's if nothing holds it any more
    /// (no response, not the base), so that steady-state renders reuse a
    /// few buffers instead of allocating.
    fn spare(&self) -> String {
        let mut buffer = self.spare.lock().take().or_else(|| {
            let previous = self.latest.lock().take()?;
            match Arc::try_unwrap(previous) {
                Ok(body) => Some(body.into_buffer()),
                Err(held) => {
                    // Still being sent, or the base; the render allocates.
                    *self.latest.lock() = Some(held);
                    None
                }
            }
        });
        if let Some(buffer) = buffer.as_mut() {
            buffer.clear();
        }
        buffer.unwrap_or_default()
    }

    /// Sets aside the buffer of a body that stopped being the base, if it
    /// was the last holder.
    fn recycle(&self, old: Arc<Body>) {
        if let Ok(body) = Arc::try_unwrap(old) {
            let mut spare = self.spare.lock();
            if spare.is_none() {
                *spare = Some(body.into_buffer());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn overlapping_scrapes_share_one_render() {
        let renders = Arc::new(Renders::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (renders, calls) = (Arc::clone(&renders), Arc::clone(&calls));
            tasks.push(tokio::spawn(async move {
                renders
                    .get(|_spare| async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, Infallible>(format!("render {n}\n"))
                    })
                    .await
                    .unwrap()
            }));
        }
        let mut shared = 0;
        for task in tasks {
            let got = task.await.unwrap();
            shared += usize::from(got.shared);
        }
        // The first renders; the seven that arrived meanwhile need one more
        // render at most (those that queued before the first finished share it).
        let calls = calls.load(Ordering::SeqCst);
        assert!(calls <= 2, "{calls} renders for 8 overlapping scrapes");
        assert_eq!(shared, 8 - calls);
    }

    #[tokio::test]
    async fn a_scrape_after_a_render_renders_again_reusing_its_buffer() {
        let renders = Renders::default();
        let first = renders
            .get(|_| async { Ok::<_, Infallible>(String::with_capacity(4096) + "a\n") })
            .await
            .unwrap();
        assert!(!first.shared);
        let first_ptr = first.body.text().as_ptr();
        drop(first);
        let second = renders
            .get(|spare| async move {
                // The previous text's buffer comes back to be written into.
                assert!(spare.capacity() >= 4096);
                assert_eq!(spare.as_ptr(), first_ptr);
                Ok::<_, Infallible>("b\n".to_owned())
            })
            .await
            .unwrap();
        assert!(!second.shared);
        assert_eq!(renders.latest().unwrap().text(), "b\n");
    }

    #[tokio::test]
    async fn compressed_scrapes_reuse_the_base_and_rotate_buffers() {
        let renders = Renders::default();
        let text = |n: u32| format!("# HELP a A.\n{}# HELP b B.\nb {n}\n", "a 1\n".repeat(200));
        let mut pointers = Vec::new();
        for n in 0..4 {
            let got = renders
                .get(|spare| async move {
                    let mut spare = spare;
                    spare.reserve(4096);
                    spare.push_str(&text(n));
                    Ok::<_, Infallible>(spare)
                })
                .await
                .unwrap();
            pointers.push(got.body.text().as_ptr());
            let bytes = renders.gzip(&got.body, 1).await;
            let mut unzipped = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&bytes[..]),
                &mut unzipped,
            )
            .unwrap();
            assert_eq!(unzipped, text(n));
            // Family `a` is the same in every render; the first has no base.
            let unchanged = text(n).find("# HELP b").unwrap();
            assert_eq!(
                got.body.gzip_reused(),
                Some(if n == 0 { 0 } else { unchanged })
            );
        }
        // The base is kept while the next renders; the one before it gives
        // its buffer to the render after next.
        assert_eq!(pointers[2], pointers[0]);
        assert_eq!(pointers[3], pointers[1]);
    }

    #[tokio::test]
    async fn a_prepared_body_serves_while_young_and_unchanged() {
        let renders = Renders::default();
        let body = renders
            .prepare(7, |_| async { Ok::<_, Infallible>("a\n".to_owned()) })
            .await
            .unwrap();
        let age = Duration::from_millis(100);
        let soon = body.begun() + Duration::from_millis(60);
        let got = renders.prepared(soon, 7, age).expect("prepared");
        assert!(Arc::ptr_eq(&got, &body));
        // A change beyond figures was sent since, or the body is too old.
        assert!(renders.prepared(soon, 8, age).is_none());
        assert!(renders.prepared(soon + age, 7, age).is_none());
        // A later render does not replace it; a later preparation does.
        renders
            .get(|_| async { Ok::<_, Infallible>("b\n".to_owned()) })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&renders.prepared(soon, 7, age).unwrap(), &body));
        let next = renders
            .prepare(8, |_| async { Ok::<_, Infallible>("c\n".to_owned()) })
            .await
            .unwrap();
        let got = renders.prepared(next.begun(), 8, age).unwrap();
        assert_eq!(got.text(), "c\n");
    }

    #[tokio::test]
    async fn a_preparation_that_shares_a_scrapes_render_is_not_kept() {
        let renders = Arc::new(Renders::default());
        let scrape = {
            let renders = Arc::clone(&renders);
            tokio::spawn(async move {
                renders
                    .get(|_| async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, Infallible>("scrape\n".to_owned())
                    })
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let body = renders
            .prepare(1, |_| async { Ok::<_, Infallible>("ahead\n".to_owned()) })
            .await
            .unwrap();
        assert_eq!(body.text(), "scrape\n");
        assert!(!scrape.await.unwrap().shared);
        assert!(renders.prepared(Instant::now(), 1, Duration::MAX).is_none());
    }

    #[tokio::test]
    async fn a_held_body_is_not_reused() {
        let renders = Renders::default();
        let first = renders
            .get(|_| async { Ok::<_, Infallible>("a\n".to_owned()) })
            .await
            .unwrap();
        let held = first.body.identity();
        renders
            .get(|spare| async move {
                assert_eq!(spare.capacity(), 0);
                Ok::<_, Infallible>("b\n".to_owned())
            })
            .await
            .unwrap();
        assert_eq!(&held[..], b"a\n");
    }
}
