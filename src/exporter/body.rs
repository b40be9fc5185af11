//! One rendered exposition, shared by every scrape that asks while it is the
//! newest, and compressed at most once.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use tokio::sync::OnceCell;

use super::gzip::{self, Gzipped};

/// A rendered exposition and, once some scrape asked for it, its gzip.
pub struct Body {
    text: String,
    /// Which render this is: later renders have larger numbers.
    seq: u64,
    /// When its render was asked for: what it shows is at least this recent.
    begun: Instant,
    gzip: OnceCell<Gzipped>,
}

impl Body {
    /// Wraps the text of render number `seq`, asked for at `begun`.
    pub fn new(text: String, seq: u64, begun: Instant) -> Self {
        Self {
            text,
            seq,
            begun,
            gzip: OnceCell::new(),
        }
    }

    /// Which render this is.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When its render was asked for.
    pub fn begun(&self) -> Instant {
        self.begun
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text as a response body that shares this `Body` (no copy).
    pub fn identity(self: &Arc<Self>) -> Bytes {
        Bytes::from_owner(Shared(Arc::clone(self)))
    }

    /// The gzip of the text at `level`, compressed by the first scrape that
    /// asks (off the async threads) and shared with those that ask after.
    /// What did not change since `base`, an earlier body that was
    /// compressed, is taken from its gzip.
    pub async fn gzip(self: &Arc<Self>, level: u32, base: Option<Arc<Body>>) -> Bytes {
        self.gzip
            .get_or_init(|| async {
                let this = Arc::clone(self);
                let job = tokio::task::spawn_blocking(move || this.compress(level, base));
                match job.await {
                    Ok(gzipped) => gzipped,
                    // Only when the runtime is shutting down.
                    Err(_) => self.compress(level, None),
                }
            })
            .await
            .bytes()
            .clone()
    }

    fn compress(&self, level: u32, base: Option<Arc<Body>>) -> Gzipped {
        let text = self.text.as_bytes();
        let base = base
            .as_deref()
            .and_then(|b| Some((b.text.as_bytes(), b.gzip.get()?)));
        let gzipped = gzip::compress(text, level, base, gzip::max_parts());
        tracing::trace!(
            text = text.len(),
            gzip = gzipped.bytes().len(),
            reused = gzipped.reused(),
            threads = gzipped.threads(),
            "scrape body compressed"
        );
        gzipped
    }

    /// The gzip size, if some scrape compressed this body.
    pub fn gzip_len(&self) -> Option<usize> {
        self.gzip.get().map(|g| g.bytes().len())
    }

    /// Bytes of text whose deflate was taken from an earlier body, if some
    /// scrape compressed this body.
    #[cfg(test)]
    pub fn gzip_reused(&self) -> Option<usize> {
        self.gzip.get().map(Gzipped::reused)
    }

    /// The text's buffer, for the next render to write into.
    pub fn into_buffer(self) -> String {
        self.text
    }
}

/// Lets a response body hold the `Body` it sends.
struct Shared(Arc<Body>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.text.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    fn gunzip(data: &[u8]) -> String {
        let mut text = String::new();
        GzDecoder::new(data).read_to_string(&mut text).unwrap();
        text
    }

    #[tokio::test]
    async fn gzip_round_trips_and_is_computed_once() {
        let text = "mediasoup_consumer_score{room_id=\"r\"} 10\n".repeat(1000);
        let body = Arc::new(Body::new(text.clone(), 1, Instant::now()));
        assert_eq!(body.gzip_len(), None);
        let first = body.gzip(1, None).await;
        assert_eq!(gunzip(&first), text);
        assert!(first.len() < text.len() / 10, "{} bytes", first.len());
        // A second ask at another level gets the same bytes: one compression per render.
        let second = body.gzip(9, None).await;
        assert_eq!(first.as_ptr(), second.as_ptr());
        assert_eq!(body.gzip_len(), Some(first.len()));
    }

    #[tokio::test]
    async fn a_later_body_reuses_what_an_earlier_one_compressed() {
        let families = |b: u32| format!("# HELP a A.\n{}# HELP b B.\nb {b}\n", "a 1\n".repeat(100));
        let first = Arc::new(Body::new(families(1), 1, Instant::now()));
        first.gzip(1, None).await;
        assert_eq!(first.gzip_reused(), Some(0));
        let second = Arc::new(Body::new(families(2), 2, Instant::now()));
        let bytes = second.gzip(1, Some(Arc::clone(&first))).await;
        assert_eq!(gunzip(&bytes), families(2));
        // Family `a` came from the first body; `b` changed.
        assert_eq!(
            second.gzip_reused(),
            Some(families(2).find("# HELP b").unwrap())
        );
        // A base never compressed gives nothing to reuse.
        let plain = Arc::new(Body::new(families(2), 3, Instant::now()));
        let third = Arc::new(Body::new(families(2), 4, Instant::now()));
        third.gzip(1, Some(plain)).await;
        assert_eq!(third.gzip_reused(), Some(0));
    }

    #[test]
    fn identity_shares_the_text() {
        let body = Arc::new(Body::new("abc\n".into(), 1, Instant::now()));
        let bytes = body.identity();
        assert_eq!(&bytes[..], b"abc\n");
        assert_eq!(bytes.as_ptr(), body.text().as_ptr());
        assert_eq!(Arc::strong_count(&body), 2);
        drop(bytes);
        assert_eq!(Arc::strong_count(&body), 1);
    }
}
