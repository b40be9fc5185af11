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
pub fn silent_packet(len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
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
    let start = out.len();
    out.resize(len, 0);
    fill(&mut out[start..]);
    out
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Instant;

    use super::super::media::AudioSource;
    use super::*;
    use crate::rng::Rng;

    /// CRC-32 of Ogg pages: polynomial 0x04c11db7, not reflected, no
    /// initial or final inversion.
    fn ogg_crc(data: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &b in data {
            crc ^= u32::from(b) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04c1_1db7
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// One Ogg page holding one packet (under 255 * 255 bytes).
    fn ogg_page(out: &mut Vec<u8>, packet: &[u8], flags: u8, granule: u64, seq: u32) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0); // version
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&0x5eed_u32.to_le_bytes()); // stream serial
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, filled in below
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        out.extend_from_slice(packet);
        let crc = ogg_crc(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
    }

    /// An Ogg Opus file (RFC 7845) of 20 ms mono packets.
    fn ogg_opus(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 1]); // version, one channel
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // gain
        head.push(0); // mapping family
        ogg_page(&mut out, &head, 0x02, 0, 0);
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&3u32.to_le_bytes());
        tags.extend_from_slice(b"sim");
        tags.extend_from_slice(&0u32.to_le_bytes());
        ogg_page(&mut out, &tags, 0, 0, 1);
        for (i, p) in packets.iter().enumerate() {
            let last = i + 1 == packets.len();
            let granule = 960 * (i as u64 + 1);
            ogg_page(
                &mut out,
                p,
                if last { 0x04 } else { 0 },
                granule,
                i as u32 + 2,
            );
        }
        out
    }

    /// The sim's Opus packets, sequence tags and filler in their padding,
    /// decoded by libopus's `opusdec` (installed by `tools/dev setup`):
    /// one second of silence.
    #[test]
    fn the_sims_audio_decodes_to_silence_with_libopus() {
        let t0 = Instant::now();
        // 25 to 100 bytes a packet, and a few long enough for a two-byte
        // padding length.
        let mut packets = Vec::new();
        for bitrate in [10_000, 25_200, 40_000, 120_000] {
            let mut a = AudioSource::new(t0, 48_000, bitrate, Rng::new(3));
            for _ in 0..25 {
                packets.push(a.poll(a.next_due()).expect("due").payload);
            }
        }
        assert!(packets.iter().any(|p| p.len() > 2 + 254 + 2));
        let dir = tempfile::tempdir().expect("scratch dir");
        let input = dir.path().join("sim.opus");
        let output = dir.path().join("sim.raw");
        std::fs::write(&input, ogg_opus(&packets)).expect("write the Ogg file");
        let run = Command::new("opusdec")
            .args(["--quiet", "--no-dither", "--rate", "48000"])
            .arg(&input)
            .arg(&output)
            .output()
            .expect("opusdec (Debian's opus-tools; run tools/dev setup)");
        assert!(
            run.status.success(),
            "opusdec: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        // Raw 16-bit samples (no WAV header: the name does not end in .wav).
        let raw = std::fs::read(&output).expect("decoded audio");
        let samples: Vec<i16> = raw
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(samples.len(), 960 * packets.len(), "every packet played");
        assert!(samples.iter().all(|&s| s == 0), "silence");
    }

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
            let p = silent_packet(len, |b| b.fill(0xa5));
            assert_eq!(p.len(), len);
            assert_eq!(p[0] >> 3, 31, "CELT fullband 20 ms");
            let (frame, padding) = parse(&p).unwrap_or_else(|| panic!("{len}"));
            assert_eq!(frame, SILENT_FRAME, "{len}");
            // Less only the extra padding length bytes.
            assert!(padding + len / 254 >= len - MIN_PACKET, "{len}: {padding}");
            assert!(p[len - padding..].iter().all(|&b| b == 0xa5), "{len}");
        }
        assert_eq!(silent_packet(0, |_| ()).len(), MIN_PACKET);
    }
}
