//! Overlapping scrapes share one render: while one is rendering, the others
//! wait for it and send its text, so that a burst of scrapes costs one render
//! and one compression, and renders never run side by side. The newest
//! compressed body is kept as the base the next compression reuses from.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

/// A body, and whether another scrape's render produced it.
pub struct Got {
    /// The rendered body.
    pub body: Arc<Body>,
    /// Whether the render was started by another scrape.
    pub shared: bool,
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
            return Ok(Got { body, shared: true });
        }
        let text = render(self.spare()).await?;
        let body = Arc::new(Body::new(text, seen + 1));
        *self.latest.lock() = Some(Arc::clone(&body));
        self.finished.fetch_add(1, Ordering::Release);
        Ok(Got {
            body,
            shared: false,
        })
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
