//! Overlapping scrapes share one render: while one is rendering, the others
//! wait for it and send its text, so that a burst of scrapes costs one render
//! and one compression, and renders never run side by side.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::body::Body;

/// The newest render and the lock renders take turns on.
#[derive(Default)]
pub struct Renders {
    latest: Mutex<Option<Arc<Body>>>,
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
        let body = Arc::new(Body::new(text));
        *self.latest.lock() = Some(Arc::clone(&body));
        self.finished.fetch_add(1, Ordering::Release);
        Ok(Got {
            body,
            shared: false,
        })
    }

    /// The newest body, if any render happened.
    pub fn latest(&self) -> Option<Arc<Body>> {
        self.latest.lock().clone()
    }

    /// The previous body's buffer if no response holds it any more, so that
    /// steady-state renders reuse two buffers instead of allocating.
    fn spare(&self) -> String {
        let Some(previous) = self.latest.lock().take() else {
            return String::new();
        };
        match Arc::try_unwrap(previous) {
            Ok(body) => {
                let mut buffer = body.into_buffer();
                buffer.clear();
                buffer
            }
            Err(held) => {
                // Still being sent; the next render allocates.
                *self.latest.lock() = Some(held);
                String::new()
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
