//! A small, fast, non-cryptographic hasher (the multiply-rotate scheme of rustc's
//! `FxHasher`) for the bulk matcher's internal indexes. Keys come from indicators and
//! observations; the maps are not exposed, and worst-case collision attacks on them only
//! slow matching down, as with any hash map of attacker-chosen keys of this size.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Fx-style hasher: `h = (h.rotl(5) ^ word) * SEED` per 8-byte word.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its bucket index from the low bits
        // and its control byte from the top 7.
        self.hash ^ (self.hash >> 29)
    }
}

/// A hash of a byte string for the bulk matcher's Bloom filters and prefix tables
/// (not a `Hasher`: one call per key). Strings of up to 16 bytes (most keys and
/// heads) cost two or three loads and one 64×64→128-bit multiply; longer ones one
/// multiply per 16 bytes. All 64 bits are mixed (the filters take bits from the top).
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    let len = b.len();
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let half = |at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    let (a, c, mut seed) = if len <= 16 {
        let (a, c) = if len >= 8 {
            (word(0), word(len - 8))
        } else if len >= 4 {
            (half(0), half(len - 4))
        } else if len > 0 {
            (
                u64::from(b[0]) << 16 | u64::from(b[len / 2]) << 8 | u64::from(b[len - 1]),
                0,
            )
        } else {
            (0, 0)
        };
        (a, c, P0)
    } else {
        let mut seed = P0;
        let mut i = 0;
        while len - i > 16 {
            seed = fold(word(i) ^ P1, word(i + 8) ^ seed);
            i += 16;
        }
        (word(len - 16), word(len - 8), seed)
    };
    seed ^= len as u64;
    fold(a ^ P1, c ^ seed).wrapping_mul(P0) ^ seed
}

/// The folded 64×64→128-bit product.
#[inline]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn h<T: Hash + ?Sized>(t: &T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(t)
    }

    #[test]
    fn byte_hash_distinguishes_lengths_and_contents() {
        let mut seen = std::collections::HashSet::new();
        let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![0; 8], vec![0; 9]];
        for i in 0..20_000 {
            keys.push(format!("host{i}.example.com").into_bytes());
            keys.push(format!("f{i}").into_bytes());
            keys.push(format!("http://host{i}.example.com/some/longer/path").into_bytes());
        }
        for k in &keys {
            assert!(seen.insert(hash_bytes(k)), "{k:?}");
        }
        // The top bits (what the Bloom filters use) are spread too.
        let tops: std::collections::HashSet<u64> =
            keys.iter().map(|k| hash_bytes(k) >> 52).collect();
        assert!(tops.len() > 4000, "{}", tops.len());
    }

    #[test]
    fn distinguishes_lengths_and_contents() {
        assert_ne!(h("a"), h("a\0"));
        assert_ne!(h("abcdefgh"), h("abcdefgi"));
        assert_ne!(h(&(false, 1u8, 2u128)), h(&(true, 1u8, 2u128)));
        let mut m: FxMap<Box<str>, u32> = FxMap::default();
        for i in 0..10_000 {
            m.insert(format!("host{i}.example.com").into(), i);
        }
        for i in 0..10_000 {
            assert_eq!(m.get(format!("host{i}.example.com").as_str()), Some(&i));
        }
    }
}
