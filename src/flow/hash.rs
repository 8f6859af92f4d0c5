//! The flow cache's keyed hash: a per-process random key, so that nobody
//! outside can aim many flows at one bucket.
//!
//! Folded 64x64->128 multiplies over the key's six words, three of them
//! independent so they overlap in the pipeline (the construction of foldhash
//! and wyhash). Not a MAC: its job is to keep bucket placement unpredictable.

use super::FlowKey;

/// A hash key. `FlowHasher::random()` draws one per process (or per shard).
#[derive(Clone, Copy, Debug)]
pub struct FlowHasher {
    k: [u64; 6],
}

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl FlowHasher {
    pub fn random() -> FlowHasher {
        let mut k = [0u64; 6];
        for w in &mut k {
            // Odd multipliers keep every key bit mixing.
            *w = rand::random::<u64>() | 1;
        }
        FlowHasher { k }
    }

    /// A fixed key, for reproducible tests and benches.
    pub const fn with_key(k: [u64; 6]) -> FlowHasher {
        FlowHasher { k }
    }

    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        let w = key.words();
        let k = &self.k;
        let a = fold_mul(w[0] ^ k[0], w[1] ^ k[1]);
        let b = fold_mul(w[2] ^ k[2], w[3] ^ k[3]);
        let c = fold_mul(w[4] ^ k[4], w[5] ^ k[5]);
        fold_mul(a ^ k[5], b ^ c.rotate_left(23))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{Dir, Family};

    #[test]
    fn keyed_and_spread() {
        let h1 = FlowHasher::random();
        let h2 = FlowHasher::random();
        let k = FlowKey::new(Family::V4, Dir::Out, 1, 2, 17, 3, 4, 0);
        assert_ne!(
            h1.hash(&k),
            h2.hash(&k),
            "two random keys give different hashes"
        );
        // Sequential flows spread over 1024 buckets without pathological clustering.
        let mut buckets = vec![0u32; 1024];
        for i in 0..65536u128 {
            let k = FlowKey::new(
                Family::V4,
                Dir::Out,
                0x0a00_0000 + i,
                0x0b00_0001,
                17,
                1000,
                53,
                0,
            );
            buckets[(h1.hash(&k) & 1023) as usize] += 1;
        }
        let max = *buckets.iter().max().unwrap();
        assert!(max < 64 * 2, "max bucket load {max} for mean 64");
        // Every field changes the hash.
        let base = FlowKey::new(Family::V4, Dir::Out, 1, 2, 17, 3, 4, 5);
        let mut v = vec![base];
        v.push(FlowKey { sport: 9, ..base });
        v.push(FlowKey { dport: 9, ..base });
        v.push(FlowKey { ingress: 9, ..base });
        v.push(FlowKey { proto: 6, ..base });
        v.push(FlowKey {
            dir: Dir::In,
            ..base
        });
        v.push(FlowKey {
            src: 1 << 100,
            ..base
        });
        v.push(FlowKey {
            dst: 1 << 90,
            ..base
        });
        let hs: std::collections::HashSet<u64> = v.iter().map(|k| h1.hash(k)).collect();
        assert_eq!(hs.len(), v.len());
    }
}
