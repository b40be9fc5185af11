//! Decodable VP8 frames of a flat grey picture (RFC 6386): a keyframe
//! whose macroblocks are all DC-predicted with no residual, and an
//! interframe whose macroblocks all repeat the last frame (ZEROMV from
//! LAST, no residual). A real decoder shows them without complaint, so a
//! browser consuming a sim peer asks for no keyframes; the bytes after
//! the frame are free for filler (the decoder never reads them: every
//! macroblock is skipped, so the token partition stays unread).
//!
//! Pure: no I/O; the frames for one size are the same every time.

use std::sync::OnceLock;

/// Width of the sim's video, pixels.
pub const WIDTH: u16 = 640;
/// Height of the sim's video, pixels.
pub const HEIGHT: u16 = 360;

/// The keyframe at [`WIDTH`]x[`HEIGHT`] (made once).
pub fn keyframe() -> &'static [u8] {
    static FRAME: OnceLock<Vec<u8>> = OnceLock::new();
    FRAME.get_or_init(|| encode_keyframe(WIDTH, HEIGHT))
}

/// The interframe at [`WIDTH`]x[`HEIGHT`] (made once).
pub fn interframe() -> &'static [u8] {
    static FRAME: OnceLock<Vec<u8>> = OnceLock::new();
    FRAME.get_or_init(|| encode_interframe(WIDTH, HEIGHT))
}

/// A keyframe of `width`x`height` (at most 16383 each): flat mid-grey.
pub fn encode_keyframe(width: u16, height: u16) -> Vec<u8> {
    let (cols, rows) = macroblocks(width, height);
    let mut e = BoolEncoder::default();
    e.literal(0, 1); // color_space: YUV
    e.literal(0, 1); // clamping_type: clamped
    common_header(&mut e);
    e.literal(1, 1); // refresh_entropy_probs
    no_token_prob_updates(&mut e);
    skip_probability(&mut e);
    for _ in 0..cols * rows {
        e.bool(true, PROB_SKIP_FALSE); // no coefficients
        // DC_PRED, the 16x16 mode: predicts 128 at the picture's edges and
        // so 128 everywhere.
        tree(&mut e, &KF_YMODE_DC);
        tree(&mut e, &KF_UV_MODE_DC);
    }
    let first = e.finish();
    let mut frame = Vec::with_capacity(10 + first.len());
    frame.extend_from_slice(&frame_tag(true, first.len()));
    frame.extend_from_slice(&[0x9d, 0x01, 0x2a]); // start code
    // Scale bits (the top two) 0: no upscaling.
    frame.extend_from_slice(&(width & 0x3fff).to_le_bytes());
    frame.extend_from_slice(&(height & 0x3fff).to_le_bytes());
    frame.extend_from_slice(&first);
    frame
}

/// An interframe for a stream of `width`x`height`: every macroblock the
/// last frame's, unmoved.
pub fn encode_interframe(width: u16, height: u16) -> Vec<u8> {
    let (cols, rows) = macroblocks(width, height);
    let mut e = BoolEncoder::default();
    common_header(&mut e);
    e.literal(0, 1); // refresh_golden_frame
    e.literal(0, 1); // refresh_alternate_frame
    e.literal(0, 2); // copy_buffer_to_golden: none
    e.literal(0, 2); // copy_buffer_to_alternate: none
    e.literal(0, 1); // sign_bias_golden
    e.literal(0, 1); // sign_bias_alternate
    e.literal(1, 1); // refresh_entropy_probs
    e.literal(1, 1); // refresh_last
    no_token_prob_updates(&mut e);
    skip_probability(&mut e);
    e.literal(u32::from(PROB_INTRA), 8);
    e.literal(u32::from(PROB_LAST), 8);
    e.literal(128, 8); // prob_gf: unused
    e.literal(0, 1); // intra_16x16_prob_update_flag
    e.literal(0, 1); // intra_chroma_prob_update_flag
    for probs in MV_UPDATE_PROBS {
        for p in probs {
            e.bool(false, p);
        }
    }
    for row in 0..rows {
        for col in 0..cols {
            e.bool(true, PROB_SKIP_FALSE); // no coefficients
            e.bool(true, PROB_INTRA); // inter
            e.bool(false, PROB_LAST); // from LAST
            // ZEROMV, the first branch of the mode tree, whose probability
            // depends on how many neighbours (above and left count 2,
            // above-left 1) are inter macroblocks with a zero vector:
            // here every neighbour inside the picture.
            let above = row > 0;
            let left = col > 0;
            let context =
                2 * usize::from(above) + 2 * usize::from(left) + usize::from(above && left);
            e.bool(false, MODE_CONTEXTS[context]);
        }
    }
    let first = e.finish();
    let mut frame = Vec::with_capacity(3 + first.len());
    frame.extend_from_slice(&frame_tag(false, first.len()));
    frame.extend_from_slice(&first);
    frame
}

/// Macroblock columns and rows.
fn macroblocks(width: u16, height: u16) -> (usize, usize) {
    (
        usize::from(width & 0x3fff).div_ceil(16),
        usize::from(height & 0x3fff).div_ceil(16),
    )
}

/// The 3-byte frame tag: frame type, version 0, shown, and the first
/// partition's size (19 bits).
fn frame_tag(key: bool, first_partition: usize) -> [u8; 3] {
    let tag = u32::from(!key) | (1 << 4) | ((first_partition as u32 & 0x7ffff) << 5);
    let b = tag.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// What both frame types share, from segmentation to the quantiser.
fn common_header(e: &mut BoolEncoder) {
    e.literal(0, 1); // segmentation_enabled
    e.literal(0, 1); // filter_type: normal
    e.literal(0, 6); // loop_filter_level: off (nothing to smooth)
    e.literal(0, 3); // sharpness_level
    e.literal(0, 1); // loop_filter_adj_enable
    e.literal(0, 2); // log2_nbr_of_dct_partitions: one token partition
    e.literal(QUANTIZER, 7); // y_ac_qi
    for _ in 0..5 {
        e.literal(0, 1); // no y_dc, y2_dc, y2_ac, uv_dc, uv_ac deltas
    }
}

/// Keeps every coefficient probability (the flags cost a few bytes).
fn no_token_prob_updates(e: &mut BoolEncoder) {
    for block in COEFF_UPDATE_PROBS {
        for band in block {
            for context in band {
                for p in context {
                    e.bool(false, p);
                }
            }
        }
    }
}

/// mb_no_coeff_skip on, with the probability that a macroblock has
/// coefficients.
fn skip_probability(e: &mut BoolEncoder) {
    e.literal(1, 1);
    e.literal(u32::from(PROB_SKIP_FALSE), 8);
}

/// Writes a path through a tree: (bit, probability) from the root.
fn tree(e: &mut BoolEncoder, path: &[(bool, u8)]) {
    for &(bit, p) in path {
        e.bool(bit, p);
    }
}

/// Any quantiser will do: there are no coefficients to scale.
const QUANTIZER: u32 = 60;
/// Probability (of 256) that a macroblock has coefficients: the least, as
/// none has.
const PROB_SKIP_FALSE: u8 = 1;
/// Probability that a macroblock of an interframe is intra: the least.
const PROB_INTRA: u8 = 1;
/// Probability that an inter macroblock refers to the last frame: the most.
const PROB_LAST: u8 = 255;
/// DC_PRED in the keyframe luma mode tree (probabilities 145, 156, 163,
/// 128): right, left, left.
const KF_YMODE_DC: [(bool, u8); 3] = [(true, 145), (false, 156), (false, 163)];
/// DC_PRED in the keyframe chroma mode tree (142, 114, 183): left.
const KF_UV_MODE_DC: [(bool, u8); 1] = [(false, 142)];
/// The first column of the inter mode contexts (RFC 6386 `vp8_mode_contexts`):
/// the probability of ZEROMV by neighbour count.
const MODE_CONTEXTS: [u8; 6] = [7, 14, 135, 60, 159, 234];
/// Probabilities that a motion vector probability is updated (RFC 6386
/// `vp8_mv_update_probs`).
const MV_UPDATE_PROBS: [[u8; 19]; 2] = [
    [
        237, 246, 253, 253, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 250, 250, 252, 254,
        254,
    ],
    [
        231, 243, 245, 253, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 251, 251, 254, 254,
        254,
    ],
];

/// The boolean entropy encoder of RFC 6386 section 7.
#[derive(Debug)]
struct BoolEncoder {
    out: Vec<u8>,
    range: u32,
    bottom: u32,
    bit_count: i32,
}

impl Default for BoolEncoder {
    fn default() -> Self {
        BoolEncoder {
            out: Vec::new(),
            range: 255,
            bottom: 0,
            bit_count: 24,
        }
    }
}

impl BoolEncoder {
    /// Writes `value` where `prob`/256 is the probability of `false`.
    fn bool(&mut self, value: bool, prob: u8) {
        let split = 1 + (((self.range - 1) * u32::from(prob)) >> 8);
        if value {
            self.bottom = self.bottom.wrapping_add(split);
            self.range -= split;
        } else {
            self.range = split;
        }
        while self.range < 128 {
            self.range <<= 1;
            if self.bottom & (1 << 31) != 0 {
                self.carry();
            }
            self.bottom <<= 1;
            self.bit_count -= 1;
            if self.bit_count == 0 {
                self.out.push((self.bottom >> 24) as u8);
                self.bottom &= (1 << 24) - 1;
                self.bit_count = 8;
            }
        }
    }

    /// An unsigned `bits`-bit literal, most significant bit first.
    fn literal(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.bool((value >> i) & 1 == 1, 128);
        }
    }

    /// Propagates a carry into the bytes already written.
    fn carry(&mut self) {
        for b in self.out.iter_mut().rev() {
            if *b == 255 {
                *b = 0;
            } else {
                *b += 1;
                return;
            }
        }
    }

    /// Flushes the pending bits (32 zeros at even odds push them all
    /// out, as libvpx does); the partition's bytes.
    fn finish(mut self) -> Vec<u8> {
        for _ in 0..32 {
            self.bool(false, 128);
        }
        self.out
    }
}

/// Probabilities that a coefficient probability is updated (RFC 6386
/// `coeff_update_probs`), by block type, band, context and tree node.
#[rustfmt::skip]
const COEFF_UPDATE_PROBS: [[[[u8; 11]; 3]; 8]; 4] = [
    [
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [176, 246, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [223, 241, 252, 255, 255, 255, 255, 255, 255, 255, 255],
            [249, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 244, 252, 255, 255, 255, 255, 255, 255, 255, 255],
            [234, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 246, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [239, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 248, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [251, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [251, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 253, 255, 254, 255, 255, 255, 255, 255, 255],
            [250, 255, 254, 255, 254, 255, 255, 255, 255, 255, 255],
            [254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
    ],
    [
        [
            [217, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [225, 252, 241, 253, 255, 255, 254, 255, 255, 255, 255],
            [234, 250, 241, 250, 253, 255, 253, 254, 255, 255, 255],
        ],
        [
            [255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [223, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [238, 253, 254, 254, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 248, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [249, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 253, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [247, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [252, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [250, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
    ],
    [
        [
            [186, 251, 250, 255, 255, 255, 255, 255, 255, 255, 255],
            [234, 251, 244, 254, 255, 255, 255, 255, 255, 255, 255],
            [251, 251, 243, 253, 254, 255, 254, 255, 255, 255, 255],
        ],
        [
            [255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [236, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [251, 253, 253, 254, 254, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
    ],
    [
        [
            [248, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [250, 254, 252, 254, 255, 255, 255, 255, 255, 255, 255],
            [248, 254, 249, 253, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [246, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [252, 254, 251, 254, 254, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 254, 252, 255, 255, 255, 255, 255, 255, 255, 255],
            [248, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [253, 255, 254, 254, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 251, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [245, 251, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [253, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 251, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [252, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 252, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [249, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            [250, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
        [
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
            [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255],
        ],
    ],
];

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::super::media::{MAX_PAYLOAD, VideoParams, VideoSource};
    use super::super::seqs::TAG_LEN;
    use super::*;
    use crate::rng::Rng;

    /// The VP8 payload descriptor the sim writes (see `media`).
    const DESCRIPTOR: usize = 6;

    /// `frame` as a lossy WebP file: a keyframe in a RIFF container.
    fn webp(frame: &[u8]) -> Vec<u8> {
        let padded = frame.len() + frame.len() % 2;
        let mut out = Vec::with_capacity(20 + padded);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&((12 + padded) as u32).to_le_bytes());
        out.extend_from_slice(b"WEBPVP8 ");
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
        out.resize(20 + padded, 0);
        out
    }

    #[test]
    fn a_keyframe_with_filler_after_it_decodes_to_a_flat_picture() {
        let mut frame = keyframe().to_vec();
        // Filler and a tag, as the sim sends them.
        frame.extend((0..1000u32).map(|i| (i * 7919 % 251) as u8));
        let mut d = image_webp::WebPDecoder::new(Cursor::new(webp(&frame))).expect("a WebP");
        assert_eq!(d.dimensions(), (u32::from(WIDTH), u32::from(HEIGHT)));
        let mut rgb = vec![0; d.output_buffer_size().expect("a size")];
        d.read_image(&mut rgb).expect("the keyframe decodes");
        // Mid-grey (Y = U = V = 128) everywhere.
        assert!(rgb.iter().all(|&c| c == rgb[0]), "not flat");
        assert!((120..=140).contains(&rgb[0]), "{}", rgb[0]);
    }

    #[test]
    fn frames_are_small_enough_for_the_first_packet() {
        // A split frame's first packet carries at least half of a full
        // payload, less the descriptor.
        let room = (MAX_PAYLOAD - DESCRIPTOR) / 2 - TAG_LEN;
        assert!(keyframe().len() <= room, "{}", keyframe().len());
        assert!(interframe().len() < keyframe().len() / 4);
        // Another size: a smaller picture, a smaller frame.
        assert!(encode_keyframe(320, 180).len() < keyframe().len() / 2);
    }

    /// An IVF file (libvpx's container) of `frames`.
    fn ivf(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"DKIF");
        out.extend_from_slice(&0u16.to_le_bytes()); // version
        out.extend_from_slice(&32u16.to_le_bytes()); // header size
        out.extend_from_slice(b"VP80");
        out.extend_from_slice(&WIDTH.to_le_bytes());
        out.extend_from_slice(&HEIGHT.to_le_bytes());
        out.extend_from_slice(&30u32.to_le_bytes()); // time base: 1/30 s
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(i as u64).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    /// What a receiver reassembles from the sim's packets (descriptors
    /// dropped, sequence tags left in), decoded by libvpx's `vpxdec`
    /// (installed by `tools/dev setup`): every frame, keyframes on the
    /// schedule and on request, interframes, a frame split over packets.
    #[test]
    fn the_sims_video_decodes_with_libvpx() {
        let t0 = Instant::now();
        let params = VideoParams {
            bitrate: 1_500_000,
            fps: 30,
            keyframe_interval: Duration::from_secs(1),
        };
        let mut v = VideoSource::new(t0, params, Rng::new(11));
        let mut frames = Vec::new();
        let mut split = 0;
        for i in 0..60 {
            if i == 40 {
                v.request_keyframe();
            }
            let f = v.poll(v.next_due()).expect("due");
            split += usize::from(f.packets.len() > 1);
            let data: Vec<u8> = f
                .packets
                .iter()
                .flat_map(|p| p.payload[DESCRIPTOR..].iter().copied())
                .collect();
            frames.push(data);
        }
        assert!(split > 30, "{split} frames over several packets");
        let dir = tempfile::tempdir().expect("scratch dir");
        let input = dir.path().join("sim.ivf");
        let output = dir.path().join("sim.yuv");
        std::fs::write(&input, ivf(&frames)).expect("write the IVF file");
        let run = Command::new("vpxdec")
            .arg("--i420")
            .arg("-o")
            .arg(&output)
            .arg(&input)
            .output()
            .expect("vpxdec (Debian's vpx-tools; run tools/dev setup)");
        assert!(
            run.status.success(),
            "vpxdec: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let yuv = std::fs::read(&output).expect("decoded frames");
        let picture = usize::from(WIDTH) * usize::from(HEIGHT) * 3 / 2;
        assert_eq!(yuv.len(), picture * frames.len(), "every frame shown");
        assert!(yuv.iter().all(|&b| b == 128), "a flat mid-grey picture");
    }
}
