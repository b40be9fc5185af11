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
//!
//! A simulcast publisher sends one stream per spatial layer, each with its
//! own sequence numbers; its tags carry the layer in their top
//! [`LAYER_BITS`] bits ([`layer_tag`]), so a receiver knows exactly which
//! packet of which layer it got. Layer 0 tags are plain sequence numbers.
//! [`LayeredSeqs`] keeps a receiver's sets per layer and the stretches it
//! spent on each (mediasoup forwards one layer at a time).

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

/// Bits of a tag that carry the spatial layer (the top ones).
pub const LAYER_BITS: u32 = 8;
/// Spatial layers a receiver keeps apart; tags naming a higher layer are
/// ignored (a publisher never sends more, so only garbage would).
pub const MAX_LAYERS: usize = 4;
const SEQ_MASK: u64 = (1 << (64 - LAYER_BITS)) - 1;

/// The tag of packet `seq` of spatial layer `layer`.
pub fn layer_tag(layer: u8, seq: u64) -> u64 {
    (u64::from(layer) << (64 - LAYER_BITS)) | (seq & SEQ_MASK)
}

/// A tag's layer and sequence number.
pub fn split_tag(tag: u64) -> (u8, u64) {
    ((tag >> (64 - LAYER_BITS)) as u8, tag & SEQ_MASK)
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

/// What one receiver got of a (possibly simulcast) producer: the set of
/// sequence numbers per layer, and per layer the stretches `first..last+1`
/// of that layer's numbers during which it was the layer arriving.
///
/// A stretch starts with the first packet of a layer after another layer
/// arrived (mediasoup switched, at a keyframe) and grows with every later
/// packet of it; a packet of a layer older than that layer's last stretch
/// (a late retransmission after a switch) is recorded but switches nothing.
/// Within a stretch every packet counts; packets of a layer outside its
/// stretches were never meant for this receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayeredSeqs {
    sets: [SeqSet; MAX_LAYERS],
    stretches: [Vec<(u64, u64)>; MAX_LAYERS],
    current: Option<u8>,
}

impl LayeredSeqs {
    /// Records the packet tagged `tag`; whether it was new.
    pub fn insert(&mut self, tag: u64) -> bool {
        let (layer, seq) = split_tag(tag);
        let l = usize::from(layer);
        if l >= MAX_LAYERS {
            return false;
        }
        let new = self.sets[l].insert(seq);
        let end = seq.saturating_add(1);
        let stretches = &mut self.stretches[l];
        match stretches.last_mut() {
            Some(last) if self.current == Some(layer) => last.1 = last.1.max(end),
            Some(last) if seq < last.1 => {}
            _ => {
                stretches.push((seq, end));
                self.current = Some(layer);
            }
        }
        new
    }

    /// How many of layer `layer`'s numbers in `lo..hi` arrived.
    pub fn count(&self, layer: u8, lo: u64, hi: u64) -> u64 {
        self.sets
            .get(usize::from(layer))
            .map_or(0, |s| s.count(lo, hi))
    }

    /// Of layer `layer`'s numbers `lo..hi`, those within its stretches:
    /// (how many, how many arrived).
    pub fn on_layer(&self, layer: u8, lo: u64, hi: u64) -> (u64, u64) {
        let l = usize::from(layer);
        let (Some(set), Some(stretches)) = (self.sets.get(l), self.stretches.get(l)) else {
            return (0, 0);
        };
        let mut out = (0, 0);
        for &(a, b) in stretches {
            let (a, b) = (a.max(lo), b.min(hi));
            if a < b {
                out.0 += b - a;
                out.1 += set.count(a, b);
            }
        }
        out
    }

    /// The layer of the last stretch begun: what is arriving now.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// Whether anything arrived at all.
    pub fn is_empty(&self) -> bool {
        self.current.is_none()
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

    #[test]
    fn layer_tags_round_trip_and_layer_zero_is_the_plain_number() {
        assert_eq!(layer_tag(0, 1234), 1234);
        assert_eq!(split_tag(layer_tag(2, 0x7fff_1234)), (2, 0x7fff_1234));
        assert_eq!(split_tag(5), (0, 5));
    }

    #[test]
    fn stretches_follow_switches_and_ignore_late_packets() {
        let mut s = LayeredSeqs::default();
        // Layer 0 from 100, one lost (103), then a switch to layer 2 at
        // its 50 (its 0..50 were never meant for us), one lost (52).
        for q in [100, 101, 102, 104, 105] {
            s.insert(layer_tag(0, q));
        }
        assert_eq!(s.current(), Some(0));
        for q in [50, 51, 53, 54] {
            s.insert(layer_tag(2, q));
        }
        // A late retransmission of layer 0 switches nothing.
        s.insert(layer_tag(0, 103));
        s.insert(layer_tag(2, 55));
        assert_eq!(s.current(), Some(2));
        assert_eq!(s.on_layer(0, 0, 1000), (6, 6));
        assert_eq!(s.on_layer(2, 0, 1000), (6, 5));
        assert_eq!(s.on_layer(2, 0, 53), (3, 2));
        assert_eq!(s.on_layer(1, 0, 1000), (0, 0));
        // Back to layer 0, later: a new stretch; the gap is not counted.
        s.insert(layer_tag(0, 200));
        s.insert(layer_tag(0, 201));
        assert_eq!(s.on_layer(0, 0, 1000), (8, 8));
        assert_eq!(s.count(0, 0, 1000), 8);
        // Garbage layers are ignored.
        assert!(!s.insert(layer_tag(9, 1)));
        assert_eq!(s.current(), Some(0));
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
