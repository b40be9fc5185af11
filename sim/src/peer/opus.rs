//! Opus packets a decoder plays as silence (RFC 6716), of any length from
//! [`MIN_PACKET`] up: one 20 ms CELT frame coded as silence, and the rest
//! of the packet padding, which a decoder must accept whatever it holds
//! (the sim's sequence tag and filler go there). A browser consuming a sim
//! peer so hears nothing instead of decoding random bytes into noise,
//! which its echo canceller would then work against.

/// TOC byte: configuration 31 (CELT only, fullband, 20 ms), mono, code 3
/// (a frame count byte follows).
const TOC: u8 = (31 << 3) | 3;
/// Frame count byte: constant bitrate, padding present, one frame.
const ONE_FRAME_PADDED: u8 = 0x40 | 1;
/// A CELT frame whose first symbol is the silence flag.
const SILENT_FRAME: [u8; 2] = [0xff, 0xfe];
/// The shortest packet: TOC, count, one padding length byte, the frame.
pub const MIN_PACKET: usize = 3 + SILENT_FRAME.len();

/// A silent 20 ms packet of `len` bytes (at least [`MIN_PACKET`]), its
/// padding (everything after the frame) bytes of `fill`.
pub fn silent_packet(len: usize, mut fill: impl FnMut() -> u8) -> Vec<u8> {
    let len = len.max(MIN_PACKET);
    // The padding length takes k bytes: k-1 of 255 (254 each, more to
    // follow) and one of 0..=254. The smallest k whose padding fits; a
    // longer k than the shortest encoding needs is valid too.
    let (k, padding) = (1..)
        .map(|k| (k, len - 2 - k - SILENT_FRAME.len()))
        .find(|&(k, p)| p >= 254 * (k - 1) && p - 254 * (k - 1) <= 254)
        .expect("some length of the padding length fits");
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[TOC, ONE_FRAME_PADDED]);
    out.extend(std::iter::repeat_n(255, k - 1));
    out.push((padding - 254 * (k - 1)) as u8);
    out.extend_from_slice(&SILENT_FRAME);
    out.resize_with(len, &mut fill);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6716 section 3.2.5, for code 3 packets of one CBR frame: the
    /// frame and the padding length.
    fn parse(p: &[u8]) -> Option<(&[u8], usize)> {
        let (&toc, rest) = p.split_first()?;
        if toc & 3 != 3 {
            return None;
        }
        let (&count, mut rest) = rest.split_first()?;
        if count & 0x80 != 0 || count & 0x3f != 1 {
            return None;
        }
        let mut padding = 0;
        if count & 0x40 != 0 {
            loop {
                let (&b, r) = rest.split_first()?;
                rest = r;
                padding += if b == 255 { 254 } else { usize::from(b) };
                if b != 255 {
                    break;
                }
            }
        }
        let frame_len = rest.len().checked_sub(padding)?;
        Some((&rest[..frame_len], padding))
    }

    #[test]
    fn every_length_holds_the_silent_frame_and_the_rest_is_padding() {
        for len in MIN_PACKET..1200 {
            let p = silent_packet(len, || 0xa5);
            assert_eq!(p.len(), len);
            assert_eq!(p[0] >> 3, 31, "CELT fullband 20 ms");
            let (frame, padding) = parse(&p).unwrap_or_else(|| panic!("{len}"));
            assert_eq!(frame, SILENT_FRAME, "{len}");
            // Less only the extra padding length bytes.
            assert!(padding + len / 254 >= len - MIN_PACKET, "{len}: {padding}");
            assert!(p[len - padding..].iter().all(|&b| b == 0xa5), "{len}");
        }
        assert_eq!(silent_packet(0, || 0).len(), MIN_PACKET);
    }
}
