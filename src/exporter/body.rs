//! One rendered exposition, shared by every scrape that asks while it is the
//! newest, and compressed at most once.

use std::sync::Arc;

use axum::body::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};
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

/// Below this, one thread compresses the whole text.
const PART_MIN: usize = 1 << 20;
/// Most threads one compression uses.
const MAX_PARTS: usize = 4;

/// Compresses `data` as one gzip member. The exposition repeats long label
/// sets, so the fastest level already finds most of what there is to find.
/// A large text is cut into parts deflated side by side on the free cores
/// and joined the way pigz does: every part but the last ends with a sync
/// flush (an empty stored block, on a byte boundary), so the parts' deflate
/// streams concatenate into one; each part loses only the history before it.
pub fn gzip(data: &[u8], level: u32) -> Bytes {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    gzip_in_parts(
        data,
        level,
        (data.len() / PART_MIN).clamp(1, cores.min(MAX_PARTS)),
    )
}

/// [`gzip`] with the number of parts (threads) given: `1` compresses on the
/// calling thread alone, which is what a scrape costs in CPU time whatever
/// the parts.
pub fn gzip_in_parts(data: &[u8], level: u32, parts: usize) -> Bytes {
    let parts = parts.max(1);
    let size = data.len().div_ceil(parts).max(1);
    let chunks: Vec<&[u8]> = data.chunks(size).collect();
    let last = chunks.len().saturating_sub(1);
    let deflated: Vec<Vec<u8>> = if chunks.len() <= 1 {
        vec![deflate(data, level, true)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(i, chunk)| scope.spawn(move || deflate(chunk, level, i == last)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut out = Vec::with_capacity(18 + deflated.iter().map(Vec::len).sum::<usize>());
    // A gzip header without name, time or flags; OS "unknown".
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    deflated.iter().for_each(|d| out.extend_from_slice(d));
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Bytes::from(out)
}

/// Raw deflate of `data`; the last part finishes the stream, the others end
/// on a sync flush so that the next part's stream can follow.
fn deflate(data: &[u8], level: u32, last: bool) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(level), false);
    // About a sixth of the text, from measured scrapes; grown as needed.
    let mut out = Vec::with_capacity(data.len() / 6 + 64);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let consumed =
            usize::try_from(compress.total_in()).map_or(data.len(), |n| n.min(data.len()));
        let status = compress.compress_vec(&data[consumed..], &mut out, flush);
        let all_in = compress.total_in() >= data.len() as u64;
        match status {
            Ok(Status::StreamEnd) => return out,
            // A sync flush is complete once all input is in and the output
            // did not fill up (nothing was left to write).
            Ok(_) if !last && all_in && out.len() < out.capacity() => return out,
            Ok(_) => {}
            // Only on misuse of the stream, which the loop above avoids.
            Err(_) => return out,
        }
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

    #[test]
    fn parts_deflated_side_by_side_join_into_one_member() {
        // Several MB of exposition-like text: cut into parts when cores allow.
        let mut text = String::new();
        for i in 0..60_000 {
            text.push_str(&format!(
                "mediasoup_consumer_byte_count_bytes{{room_id=\"r{}\",id=\"{i:08x}\"}} {}\n",
                i % 97,
                i * 7919
            ));
        }
        assert!(text.len() > 3 * PART_MIN);
        let whole = gzip_in_parts(text.as_bytes(), 1, 1);
        for parts in 1..=MAX_PARTS {
            for level in [1, 6] {
                let gz = gzip_in_parts(text.as_bytes(), level, parts);
                assert_eq!(gunzip(&gz), text, "level {level}, {parts} parts");
            }
        }
        // Each part loses only the history before it: a few percent at most.
        let split = gzip_in_parts(text.as_bytes(), 1, MAX_PARTS);
        assert!(
            split.len() < whole.len() * 105 / 100,
            "{} vs {}",
            split.len(),
            whole.len()
        );
        assert_eq!(gunzip(&gzip(text.as_bytes(), 1)), text);
        for small in ["", "a", "abc\n"] {
            for parts in 1..=MAX_PARTS {
                assert_eq!(gunzip(&gzip_in_parts(small.as_bytes(), 1, parts)), small);
            }
        }
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
