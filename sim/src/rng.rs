//! A tiny deterministic generator (SplitMix64) for packet sizes, filler,
//! initial values and the churn's picks; statistical quality does not
//! matter here, and no dependency is needed.

/// SplitMix64: the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Seeded from `text` alone (FNV-1a): the same text, the same sequence.
    pub fn from_text(text: &str) -> Self {
        Rng(fnv1a(0xcbf2_9ce4_8422_2325, text))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `buf` with random bytes, eight per draw.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let n = rest.len();
            rest.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed that differs between peers and runs (the clock mixed with `text`).
pub fn seed_from(text: &str) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    fnv1a(nanos ^ 0xcbf2_9ce4_8422_2325, text)
}

fn fnv1a(basis: u64, text: &str) -> u64 {
    text.bytes().fold(basis, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (Rng::from_text("tag"), Rng::from_text("tag"));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            let r = a.range(3, 5);
            assert!((3..=5).contains(&r));
            b.below(7);
            b.unit();
            b.range(3, 5);
        }
    }

    #[test]
    fn fill_draws_eight_bytes_at_a_time_and_covers_every_byte() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let mut buf = [0u8; 21];
        a.fill(&mut buf);
        let expected: Vec<u8> = (0..3).flat_map(|_| b.next_u64().to_le_bytes()).collect();
        assert_eq!(buf[..], expected[..21]);
        assert_eq!(a.next_u64(), b.next_u64(), "three draws for 21 bytes");
        // Whole draws only: no value is drawn for nothing.
        a.fill(&mut [0u8; 16]);
        a.fill(&mut []);
        b.next_u64();
        b.next_u64();
        assert_eq!(
            a.next_u64(),
            b.next_u64(),
            "two draws for 16 bytes, none for 0"
        );
    }
}
