//! Which of a producer's packets a consumer received, by the publisher's
//! own sequence number.
//!
//! mediasoup rewrites a consumer's SSRC, sequence numbers and timestamps,
//! so a receiver cannot tell from the RTP header which packet of the
//! producer it got. The sim's publishers therefore write each packet's
//! extended sequence number into the last [`TAG_LEN`] bytes of its payload
//! (filler as far as the SFU is concerned), and the receiver records the
//! tags it sees here: a set of half-open ranges, so that a duplicate (a
//! retransmission) counts once and [`SeqSet::count`] answers "how many of
//! the packets sent in `lo..hi` arrived" exactly.

/// Bytes of the sequence tag at the end of every payload the sim sends.
pub const TAG_LEN: usize = 8;

/// Writes `seq` into the last [`TAG_LEN`] bytes of `payload`; a payload too
/// short to hold it is left alone (the sim never makes one).
pub fn write_tag(payload: &mut [u8], seq: u64) {
    if let Some(start) = payload.len().checked_sub(TAG_LEN) {
        payload[start..].copy_from_slice(&seq.to_be_bytes());
    }
}

/// The tag at the end of `payload`, if it is long enough to carry one.
pub fn read_tag(payload: &[u8]) -> Option<u64> {
    let start = payload.len().checked_sub(TAG_LEN)?;
    let bytes: [u8; TAG_LEN] = payload[start..].try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A set of sequence numbers as sorted, disjoint, non-adjacent half-open
/// ranges: in-order arrival only extends the last range, so memory grows
/// with the gaps (losses), not with the packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    ranges: Vec<(u64, u64)>,
}

impl SeqSet {
    /// Adds `seq`; whether it was new.
    pub fn insert(&mut self, seq: u64) -> bool {
        let end = seq.saturating_add(1);
        // The usual case: the next packet in order.
        if let Some(last) = self.ranges.last_mut() {
            if last.1 == seq {
                last.1 = end;
                return true;
            }
            if last.1 < seq {
                self.ranges.push((seq, end));
                return true;
            }
        } else {
            self.ranges.push((seq, end));
            return true;
        }
        // Out of order: the first range starting after `seq`.
        let i = self.ranges.partition_point(|r| r.0 <= seq);
        if i > 0 && self.ranges[i - 1].1 > seq {
            return false;
        }
        let joins_prev = i > 0 && self.ranges[i - 1].1 == seq;
        let joins_next = i < self.ranges.len() && self.ranges[i].0 == end;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i - 1].1 = self.ranges[i].1;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i - 1].1 = end,
            (false, true) => self.ranges[i].0 = seq,
            (false, false) => self.ranges.insert(i, (seq, end)),
        }
        true
    }

    /// How many numbers of `lo..hi` are in the set.
    pub fn count(&self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return 0;
        }
        let first = self.ranges.partition_point(|r| r.1 <= lo);
        self.ranges[first..]
            .iter()
            .take_while(|r| r.0 < hi)
            .map(|r| r.1.min(hi) - r.0.max(lo))
            .sum()
    }

    /// How many ranges it holds (its memory, for tests).
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_round_trip_at_the_end_of_the_payload() {
        let mut payload = vec![0x78; 20];
        write_tag(&mut payload, 0x0102_0304_0506_0708);
        assert_eq!(payload[0], 0x78);
        assert_eq!(read_tag(&payload), Some(0x0102_0304_0506_0708));
        assert_eq!(read_tag(&payload[..7]), None);
        let mut short = vec![1u8; 3];
        write_tag(&mut short, 9);
        assert_eq!(short, [1, 1, 1]);
    }

    #[test]
    fn in_order_arrival_is_one_range_and_duplicates_count_once() {
        let mut s = SeqSet::default();
        for seq in 100..200 {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(150));
        assert_eq!(s.ranges(), 1);
        assert_eq!(s.count(0, 1000), 100);
        assert_eq!(s.count(150, 160), 10);
        assert_eq!(s.count(190, 250), 10);
        assert_eq!(s.count(50, 100), 0);
        assert_eq!(s.count(160, 150), 0);
    }

    #[test]
    fn gaps_reordering_and_filling() {
        let mut s = SeqSet::default();
        for seq in [10, 11, 13, 14, 20, 12, 5, 19, 6, 21] {
            assert!(s.insert(seq), "{seq}");
        }
        // {5,6} {10..=14} {19..=21}
        assert_eq!(s.ranges(), 3);
        assert_eq!(s.count(0, 100), 10);
        assert_eq!(s.count(6, 20), 7);
        assert!(!s.insert(13));
        assert!(!s.insert(21));
    }

    proptest! {
        /// Against a plain set: any arrival order, duplicates included.
        #[test]
        fn counts_like_a_plain_set(seqs in proptest::collection::vec(0u64..300, 0..400),
                                   lo in 0u64..320, len in 0u64..320) {
            let mut s = SeqSet::default();
            let mut plain = std::collections::BTreeSet::new();
            for &q in &seqs {
                prop_assert_eq!(s.insert(q), plain.insert(q));
            }
            let hi = lo + len;
            prop_assert_eq!(s.count(lo, hi), plain.range(lo..hi).count() as u64);
            // Disjoint, sorted, never adjacent.
            for w in s.ranges.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
        }
    }
}
