//! gzip for scrape bodies, in chunks that the next body can reuse.
//!
//! The text is cut where each metric family begins (its `# HELP` line) and
//! every [`CHUNK_LINES`] lines within a family. Each chunk is deflated on its
//! own and ends on a sync flush (an empty stored block, on a byte boundary),
//! so the chunks' deflate streams join into one gzip member, the way pigz
//! joins its parts; a chunk loses only the history before it. Between two
//! scrapes of a steady call most chunks do not change: the `_info` series,
//! scores, and the loss and feedback counters. A chunk whose text is byte for
//! byte the one at the same place (same family, same chunk number) in the
//! previous compressed body takes that body's deflated bytes instead of being
//! deflated again; the text is compared, never trusted by a hash.

use std::collections::HashMap;
use std::ops::Range;

use axum::body::Bytes;
use flate2::{Compress, Compression, FlushCompress};

/// Lines per chunk within a family: tens of KB of exposition. Background
/// stats change one run of each family per slice, so a scrape a second after
/// the last deflates again about a fifth of a changing family. Small enough
/// that such a run costs little beyond itself; large enough that the history
/// lost at each chunk's start costs about 2% in size, and a compressor reset
/// per chunk nothing measurable (at 64 lines a full deflate takes a third
/// longer).
const CHUNK_LINES: usize = 128;
/// Below this much text to deflate, one thread does it all.
const PART_MIN: usize = 1 << 20;
/// Most threads one compression uses.
const MAX_PARTS: usize = 4;
/// A gzip header without name, time or flags; OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// The last block of the deflate stream: final, fixed codes, empty. It
/// follows the last chunk's sync flush.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// A gzip member of a text, and where each chunk's deflate lies in it.
pub struct Gzipped {
    bytes: Bytes,
    chunks: Vec<Chunk>,
    reused: usize,
    threads: usize,
}

/// One chunk: where its text and its deflate are.
struct Chunk {
    cut: Cut,
    deflated: Range<usize>,
}

/// A piece of the text: which family it belongs to (the range of the
/// family's `# HELP` line, empty before the first), its number within the
/// family, and its bytes.
#[derive(Clone)]
struct Cut {
    family: Range<usize>,
    index: usize,
    text: Range<usize>,
}

impl Gzipped {
    /// The gzip member.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Bytes of text whose deflate came from the previous body.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Threads the deflate ran on.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// Compresses `text` as one gzip member. The exposition repeats long label
/// sets, so the fastest level already finds most of what there is to find.
/// A large text is deflated on several threads (the free cores, at most
/// four).
pub fn gzip(text: &[u8], level: u32) -> Bytes {
    compress(text, level, None, max_parts()).bytes
}

/// [`gzip`] with the number of threads given: `1` compresses on the calling
/// thread alone, which is what a scrape costs in CPU time whatever the
/// threads.
pub fn gzip_in_parts(text: &[u8], level: u32, parts: usize) -> Bytes {
    compress(text, level, None, parts).bytes
}

/// The most threads a compression may use: the cores, at most
/// [`MAX_PARTS`]; [`compress`] uses fewer for less text.
pub fn max_parts() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.clamp(1, MAX_PARTS)
}

/// Compresses `text`, reusing the deflate of every chunk that is unchanged
/// from `base` (the previous body's text and its gzip), on up to `parts`
/// threads: one per [`PART_MIN`] of text left to deflate, since another
/// thread costs a wait for a core, which on a machine busy with media can
/// outlast what it saves.
pub fn compress(text: &[u8], level: u32, base: Option<(&[u8], &Gzipped)>, parts: usize) -> Gzipped {
    let cuts = cut(text);
    let reusable = base.map(|(base_text, gzipped)| {
        let chunks: HashMap<(&[u8], usize), &Chunk> = gzipped
            .chunks
            .iter()
            .map(|c| ((&base_text[c.cut.family.clone()], c.cut.index), c))
            .collect();
        (base_text, gzipped, chunks)
    });
    // For each cut, the previous deflate of the same text, if there is one.
    let previous: Vec<Option<&[u8]>> = cuts
        .iter()
        .map(|cut| {
            let (base_text, gzipped, chunks) = reusable.as_ref()?;
            let old = chunks.get(&(&text[cut.family.clone()], cut.index))?;
            (base_text.get(old.cut.text.clone())? == &text[cut.text.clone()])
                .then(|| &gzipped.bytes[old.deflated.clone()])
        })
        .collect();
    let fresh: Vec<&Cut> = cuts
        .iter()
        .zip(&previous)
        .filter(|(_, old)| old.is_none())
        .map(|(cut, _)| cut)
        .collect();
    let to_deflate: usize = fresh.iter().map(|c| c.text.len()).sum();
    let threads = parts
        .clamp(1, (to_deflate / PART_MIN).max(1))
        .min(fresh.len().max(1));
    let mut deflated = deflate_all(text, &fresh, to_deflate, level, threads).into_iter();

    let mut out = Vec::with_capacity(
        HEADER.len()
            + FINAL_BLOCK.len()
            + 8
            + previous.iter().flatten().map(|d| d.len()).sum::<usize>()
            + fresh.iter().map(|c| c.text.len() / 6).sum::<usize>(),
    );
    out.extend_from_slice(&HEADER);
    let mut chunks = Vec::with_capacity(cuts.len());
    let mut reused = 0;
    for (cut, old) in cuts.into_iter().zip(previous) {
        let start = out.len();
        match old {
            Some(bytes) => {
                reused += cut.text.len();
                out.extend_from_slice(bytes);
            }
            None => out.extend_from_slice(&deflated.next().unwrap_or_default()),
        }
        chunks.push(Chunk {
            cut,
            deflated: start..out.len(),
        });
    }
    out.extend_from_slice(&FINAL_BLOCK);
    out.extend_from_slice(&crc32fast::hash(text).to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    Gzipped {
        bytes: Bytes::from(out),
        chunks,
        reused,
        threads,
    }
}

/// Cuts `text` at each family's `# HELP` line and every [`CHUNK_LINES`]
/// lines within a family.
fn cut(text: &[u8]) -> Vec<Cut> {
    let mut cuts = Vec::new();
    let mut family = 0..0;
    let (mut start, mut index, mut lines) = (0, 0, 0);
    let mut pos = 0;
    while pos < text.len() {
        let end = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i + 1);
        let new_family = text[pos..end].starts_with(b"# HELP ");
        if new_family || lines == CHUNK_LINES {
            if pos > start {
                cuts.push(Cut {
                    family: family.clone(),
                    index,
                    text: start..pos,
                });
            }
            if new_family {
                family = pos..end;
                index = 0;
            } else {
                index += 1;
            }
            (start, lines) = (pos, 0);
        }
        lines += 1;
        pos = end;
    }
    if text.len() > start {
        cuts.push(Cut {
            family,
            index,
            text: start..text.len(),
        });
    }
    cuts
}

/// Deflates each cut (in order, `total` bytes of text) on `parts` threads
/// (at least one, at most one per cut), each taking a run of cuts of about
/// the same size.
fn deflate_all(text: &[u8], cuts: &[&Cut], total: usize, level: u32, parts: usize) -> Vec<Vec<u8>> {
    if parts <= 1 {
        return deflate_run(text, cuts, level);
    }
    let share = total.div_ceil(parts).max(1);
    let mut runs: Vec<&[&Cut]> = Vec::with_capacity(parts);
    let (mut first, mut size) = (0, 0);
    for (i, cut) in cuts.iter().enumerate() {
        size += cut.text.len();
        if size >= share && runs.len() + 1 < parts {
            runs.push(&cuts[first..=i]);
            (first, size) = (i + 1, 0);
        }
    }
    runs.push(&cuts[first..]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| scope.spawn(move || deflate_run(text, run, level)))
            .collect();
        handles
            .into_iter()
            .zip(&runs)
            .flat_map(|(handle, run)| {
                // A panicking deflate (none is known) leaves its chunks out
                // rather than taking the server down; the scrape then fails
                // its CRC on the scraper's side.
                handle
                    .join()
                    .unwrap_or_else(|_| vec![Vec::new(); run.len()])
            })
            .collect()
    })
}

/// Deflates `cuts` one after another with one compressor.
fn deflate_run(text: &[u8], cuts: &[&Cut], level: u32) -> Vec<Vec<u8>> {
    let mut compress = Compress::new(Compression::new(level), false);
    cuts.iter()
        .map(|cut| {
            compress.reset();
            deflate_chunk(&mut compress, &text[cut.text.clone()])
        })
        .collect()
}

/// Raw deflate of `data`, ending on a sync flush so that another chunk's
/// stream can follow.
fn deflate_chunk(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    // About a sixth of the text, from measured scrapes; grown as needed.
    let mut out = Vec::with_capacity(data.len() / 6 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let consumed =
            usize::try_from(compress.total_in()).map_or(data.len(), |n| n.min(data.len()));
        let status = compress.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync);
        let all_in = compress.total_in() >= data.len() as u64;
        match status {
            // A sync flush is complete once all input is in and the output
            // did not fill up (nothing was left to write).
            Ok(_) if all_in && out.len() < out.capacity() => return out,
            Ok(_) => {}
            // Only on misuse of the stream, which the loop above avoids.
            Err(_) => return out,
        }
    }
}

#[cfg(test)]
mod tests;
