//! A blocked Bloom filter in front of the revocation maps, so that the
//! common check (a session that is not revoked) reads one cache line of a
//! small array instead of probing hash tables of tens of megabytes.
//!
//! Each key sets and tests 8 bits in one 64-byte block, one bit in each of
//! the block's eight 64-bit words. The filter answers "maybe" for every key
//! ever inserted since it was last built (no false negatives); a "maybe"
//! for a key that was not inserted (a false positive) only costs the map
//! lookup that decides. It is sized for `BITS_PER_ENTRY` bits per entry at
//! its capacity and rebuilt at twice the number of entries when that is
//! exceeded, or after a sweep; the false positive rate then stays at or
//! below about 1 % (0.03 % just after a rebuild).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::core::identity::SessionId;

/// Bits of filter per entry when it holds its capacity; it is rebuilt for
/// twice its entries, so it uses 10 to 20 bits (1.25 to 2.5 bytes) per
/// entry. Keep BENCHMARKS.md ("Revocation check") and the docs of
/// `RevocationSet` in step with this number.
pub(crate) const BITS_PER_ENTRY: usize = 10;
/// The smallest capacity a filter is built for (two blocks).
const MIN_CAPACITY: usize = 64;
const BLOCK_BITS: usize = 512;

/// One cache line: a key's 8 bits all fall in the same block.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Where a key's bits are: which block, and one bit per word.
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    block: u64,
    bits: u64,
}

pub(crate) struct Filter {
    blocks: Vec<Block>,
    /// Entries the filter is sized for.
    capacity: usize,
    /// Keys the hash of a subject (an application's text, which a user may
    /// influence), so nobody can aim subjects at one block.
    subject_key: u64,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::with_capacity(0)
    }
}

impl Filter {
    /// An empty filter for `entries` entries.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let capacity = entries.max(MIN_CAPACITY);
        let blocks = capacity.saturating_mul(BITS_PER_ENTRY).div_ceil(BLOCK_BITS);
        Filter {
            blocks: vec![Block::default(); blocks],
            capacity,
            // std's per-process random SipHash keys, drawn once per filter.
            subject_key: RandomState::new().hash_one(0x5eed_u64),
        }
    }

    /// The number of entries the filter holds at its design rate.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Heap bytes of the filter.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }

    /// A session id's probe. Session ids are uniform random (a keyed
    /// function of a random nonce, never chosen by a client): their two
    /// halves serve as two independent hashes.
    pub(crate) fn session(id: &SessionId) -> Probe {
        let id = u128::from_le_bytes(*id.as_bytes());
        Probe {
            block: id as u64,
            bits: (id >> 64) as u64,
        }
    }

    /// A subject's probe: a keyed multiply-fold hash of its (at most 64)
    /// bytes, and a mix of it for the bits. Not SipHash: this runs on every
    /// check, and a subject aimed at a block (by someone who learnt the
    /// key) costs only the map lookup, which keeps std's SipHash.
    pub(crate) fn subject(&self, subject: &str) -> Probe {
        let bytes = subject.as_bytes();
        let mut hash = self.subject_key ^ bytes.len() as u64;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            hash = fold(hash ^ u64::from_le_bytes(word), 0x9e37_79b9_7f4a_7c15);
        }
        let hash = mix(hash);
        Probe {
            block: hash,
            bits: mix(hash ^ self.subject_key),
        }
    }

    pub(crate) fn insert(&mut self, probe: Probe) {
        if let Some(block) = self.block_mut(probe.block) {
            for (j, word) in block.0.iter_mut().enumerate() {
                *word |= bit(probe.bits, j);
            }
        }
    }

    /// False only when the key was never inserted. A probe outside the
    /// blocks (which no filter built here produces) is a "maybe", so the
    /// maps decide.
    pub(crate) fn may_contain(&self, probe: Probe) -> bool {
        let Some(block) = self.block(probe.block) else {
            return true;
        };
        let mut missing = 0;
        for (j, word) in block.0.iter().enumerate() {
            let bit = bit(probe.bits, j);
            missing |= bit & !word;
        }
        missing == 0
    }

    fn index(&self, hash: u64) -> usize {
        // Multiply-shift range reduction: uniform over any number of
        // blocks, no division.
        let len = self.blocks.len() as u128;
        ((u128::from(hash) * len) >> 64) as usize
    }

    fn block(&self, hash: u64) -> Option<&Block> {
        self.blocks.get(self.index(hash))
    }

    fn block_mut(&mut self, hash: u64) -> Option<&mut Block> {
        let index = self.index(hash);
        self.blocks.get_mut(index)
    }
}

/// The bit of word `j` (0..8): 6 bits of `bits` each.
fn bit(bits: u64, j: usize) -> u64 {
    1 << ((bits >> (6 * j)) & 63)
}

/// The folded 64 x 64 -> 128-bit product (the core of wyhash and
/// foldhash).
fn fold(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The splitmix64 finalizer: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64 over a counter: uniform ids without a dependency.
    fn ids(seed: u64, n: usize) -> impl Iterator<Item = SessionId> {
        (0..n as u64).map(move |i| {
            let a = mix(seed ^ mix(2 * i));
            let b = mix(seed ^ mix(2 * i + 1));
            SessionId::from_bytes((u128::from(a) | u128::from(b) << 64).to_le_bytes())
        })
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives_at_capacity() {
        let n = 100_000;
        let mut filter = Filter::with_capacity(n);
        for id in ids(1, n) {
            filter.insert(Filter::session(&id));
        }
        let subjects: Vec<String> = (0..n).map(|i| format!("user-{i}")).collect();
        // Subjects share the filter with ids (sized here for ids alone, so
        // the filter is at twice its capacity for the subject part).
        let mut both = Filter::with_capacity(2 * n);
        for (id, subject) in ids(1, n).zip(&subjects) {
            both.insert(Filter::session(&id));
            let probe = both.subject(subject);
            both.insert(probe);
        }
        assert!(ids(1, n).all(|id| filter.may_contain(Filter::session(&id))));
        assert!(ids(1, n).all(|id| both.may_contain(Filter::session(&id))));
        assert!(subjects.iter().all(|s| both.may_contain(both.subject(s))));
        let probes = 1_000_000;
        let false_positives = ids(2, probes)
            .filter(|id| filter.may_contain(Filter::session(id)))
            .count();
        let rate = false_positives as f64 / probes as f64;
        assert!(rate < 0.02, "false positive rate {rate}");
        let subject_rate = (0..probes)
            .filter(|i| both.may_contain(both.subject(&format!("other-{i}"))))
            .count() as f64
            / probes as f64;
        assert!(subject_rate < 0.02, "false positive rate {subject_rate}");
    }

    #[test]
    fn memory_is_bits_per_entry_at_capacity() {
        for n in [0, 1, 64, 65, 10_000, 1_000_000] {
            let filter = Filter::with_capacity(n);
            let bound = n.max(MIN_CAPACITY) * BITS_PER_ENTRY / 8 + 64;
            assert!(filter.heap_bytes() <= bound, "{n}: {}", filter.heap_bytes());
            assert!(filter.capacity() >= n);
        }
    }

    #[test]
    fn an_empty_filter_holds_nothing_and_probes_stay_in_bounds() {
        let filter = Filter::default();
        assert!(!filter.may_contain(Filter::session(&SessionId::from_bytes([0xff; 16]))));
        assert!(!filter.may_contain(Filter::session(&SessionId::from_bytes([0; 16]))));
        // The last block is reachable: a hash of all ones maps into range.
        let mut filter = Filter::with_capacity(1_000);
        let top = SessionId::from_bytes([0xff; 16]);
        filter.insert(Filter::session(&top));
        assert!(filter.may_contain(Filter::session(&top)));
        assert_eq!(filter.index(u64::MAX), filter.blocks.len() - 1);
    }
}
