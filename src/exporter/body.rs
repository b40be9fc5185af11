//! One rendered exposition, shared by every scrape that asks while it is the
//! newest, and compressed at most once.

use std::io::Write;
use std::sync::Arc;

use axum::body::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::OnceCell;

/// A rendered exposition and, once some scrape asked for it, its gzip.
pub struct Body {
    text: String,
    gzip: OnceCell<Bytes>,
}

impl Body {
    /// Wraps a rendered text.
    pub fn new(text: String) -> Self {
        Self {
            text,
            gzip: OnceCell::new(),
        }
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
    pub async fn gzip(self: &Arc<Self>, level: u32) -> Bytes {
        self.gzip
            .get_or_init(|| async {
                let this = Arc::clone(self);
                let job = tokio::task::spawn_blocking(move || gzip(this.text.as_bytes(), level));
                match job.await {
                    Ok(bytes) => bytes,
                    // Only when the runtime is shutting down.
                    Err(_) => gzip(self.text.as_bytes(), level),
                }
            })
            .await
            .clone()
    }

    /// The gzip size, if some scrape compressed this body.
    pub fn gzip_len(&self) -> Option<usize> {
        self.gzip.get().map(Bytes::len)
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

/// Compresses `data` as one gzip member. The exposition repeats long label
/// sets, so the fastest level already finds most of what there is to find.
pub fn gzip(data: &[u8], level: u32) -> Bytes {
    // About a tenth of the text, from measured scrapes.
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 64),
        Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    Bytes::from(encoder.finish().unwrap_or_default())
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
        let body = Arc::new(Body::new(text.clone()));
        assert_eq!(body.gzip_len(), None);
        let first = body.gzip(1).await;
        assert_eq!(gunzip(&first), text);
        assert!(first.len() < text.len() / 10, "{} bytes", first.len());
        // A second ask at another level gets the same bytes: one compression per render.
        let second = body.gzip(9).await;
        assert_eq!(first.as_ptr(), second.as_ptr());
        assert_eq!(body.gzip_len(), Some(first.len()));
    }

    #[test]
    fn identity_shares_the_text() {
        let body = Arc::new(Body::new("abc\n".into()));
        let bytes = body.identity();
        assert_eq!(&bytes[..], b"abc\n");
        assert_eq!(bytes.as_ptr(), body.text().as_ptr());
        assert_eq!(Arc::strong_count(&body), 2);
        drop(bytes);
        assert_eq!(Arc::strong_count(&body), 1);
    }
}
