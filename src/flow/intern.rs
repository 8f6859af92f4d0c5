//! A shard's table of distinct bundles.
//!
//! Many flows share one decision (same policy, SA chain and route), so a
//! shard keeps each distinct [`Bundle`] once and its entries hold a 32-bit
//! index. That keeps an entry (key + index) in one cache line, and the
//! bundles the traffic uses stay hot in L1: a hit reads the bucket line and
//! the entry line, not the three lines a 152-byte key-and-bundle entry
//! spanned. Bundles are reference-counted by the entries that name them (plain
//! integers: only the owning lcore touches a shard) and forgotten with the
//! last one. Interning hashes the bundle; it runs on the miss path only.
//! Nothing allocates after [`BundleTable::new`]: the index never holds more
//! than `capacity` bundles, and is sized for twice that up front.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::bundle::Bundle;

/// Scratch slots behind the interned ones: one burst's worth.
pub const SCRATCH: usize = super::shard::MAX_BURST;

#[derive(Clone, Copy, Default)]
struct Slot {
    bundle: Bundle,
    /// Entries naming this slot; 0 = free.
    refs: u32,
}

/// Distinct bundles of one shard, by index, followed by [`SCRATCH`] slots
/// that hold the uncached results of the current burst (never interned,
/// never on the free list), so that every result is read the same way.
pub struct BundleTable {
    slots: Box<[Slot]>,
    /// Index of the first scratch slot (= the interning capacity).
    scratch: u32,
    /// Free slot indexes (lowest on top).
    free: Vec<u32>,
    /// Live slot indexes by bundle.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl BundleTable {
    /// A table for up to `capacity` distinct bundles (at least 1).
    pub fn new(capacity: usize) -> BundleTable {
        let n = capacity.clamp(1, (u32::MAX >> 1) as usize);
        BundleTable {
            slots: vec![Slot::default(); n + SCRATCH].into_boxed_slice(),
            scratch: n as u32,
            free: (0..n as u32).rev().collect(),
            // Twice the slots: with at most half its capacity live, the
            // index clears its tombstones by rehashing in place, never by
            // growing (which would allocate).
            index: HashTable::with_capacity(2 * n),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Distinct bundles held.
    pub fn len(&self) -> usize {
        self.scratch as usize - self.free.len()
    }

    /// Put `b` in scratch slot `i` (< [`SCRATCH`]) and return its index, for
    /// [`get`](Self::get) until the slot is written again.
    #[inline(always)]
    pub fn set_scratch(&mut self, i: usize, b: Bundle) -> u32 {
        let j = self.scratch as usize + i;
        self.slots[j].bundle = b;
        j as u32
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bundle at `i` (a value [`intern`](Self::intern) returned and not yet
    /// released).
    #[inline(always)]
    pub fn get(&self, i: u32) -> &Bundle {
        &self.slots[i as usize].bundle
    }

    /// A reference to `b`'s slot, shared with equal bundles; `None` when
    /// every slot holds another bundle.
    pub fn intern(&mut self, b: &Bundle) -> Option<u32> {
        let h = self.hasher.hash_one(b);
        let slots = &self.slots;
        if let Some(&i) = self.index.find(h, |&i| slots[i as usize].bundle == *b) {
            self.slots[i as usize].refs += 1;
            return Some(i);
        }
        let i = self.free.pop()?;
        self.slots[i as usize] = Slot {
            bundle: *b,
            refs: 1,
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(h, i, |&j| hasher.hash_one(slots[j as usize].bundle));
        Some(i)
    }

    /// Drop one reference to slot `i`; the last one frees the slot.
    pub fn release(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if s.refs == 0 {
            // A double release would put the slot on the free list twice.
            debug_assert!(false, "release of a free bundle slot");
            return;
        }
        s.refs -= 1;
        if s.refs == 0 {
            let h = self.hasher.hash_one(s.bundle);
            if let Ok(e) = self.index.find_entry(h, |&j| j == i) {
                e.remove();
            }
            self.free.push(i);
        }
    }

    /// References held on slot `i` (0: free).
    #[cfg(test)]
    pub fn refs(&self, i: u32) -> u32 {
        self.slots[i as usize].refs
    }

    /// Forget every bundle.
    pub fn clear(&mut self) {
        let n = self.scratch;
        self.slots.fill(Slot::default());
        self.free.clear();
        self.free.extend((0..n).rev());
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Verdict;

    fn bundle(port: u16) -> Bundle {
        Bundle {
            verdict: Verdict::Bypass,
            routed: true,
            port,
            ..Bundle::default()
        }
    }

    #[test]
    fn equal_bundles_share_a_slot_until_the_last_release() {
        let mut t = BundleTable::new(4);
        let a = t.intern(&bundle(1)).unwrap();
        let a2 = t.intern(&bundle(1)).unwrap();
        let b = t.intern(&bundle(2)).unwrap();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        assert_eq!(*t.get(a), bundle(1));
        assert_eq!(*t.get(b), bundle(2));
        t.release(a);
        assert_eq!(t.len(), 2, "one reference to bundle 1 is left");
        assert_eq!(t.intern(&bundle(1)), Some(a));
        t.release(a);
        t.release(a);
        assert_eq!(t.len(), 1);
        // The freed slot is reused, and the old bundle is not found any more.
        let c = t.intern(&bundle(3)).unwrap();
        assert_eq!(c, a);
        assert_eq!(*t.get(c), bundle(3));
        let d = t.intern(&bundle(1)).unwrap();
        assert_ne!(d, a);
        assert_eq!(*t.get(d), bundle(1));
    }

    #[test]
    fn full_table_refuses_new_bundles_but_shares_old_ones() {
        let mut t = BundleTable::new(2);
        let a = t.intern(&bundle(1)).unwrap();
        t.intern(&bundle(2)).unwrap();
        assert_eq!(t.intern(&bundle(3)), None);
        assert_eq!(t.intern(&bundle(1)), Some(a));
        t.clear();
        assert!(t.is_empty());
        assert!(t.intern(&bundle(3)).is_some());
    }

    /// Many interleaved interns and releases agree with a reference count
    /// kept beside them, and the index never allocates past its capacity.
    #[test]
    fn churn_matches_a_reference_count() {
        let mut t = BundleTable::new(64);
        let cap0 = t.index.capacity();
        let mut held: Vec<(u16, u32)> = Vec::new();
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let port = (x % 80) as u16;
            if x & (1 << 40) != 0 && !held.is_empty() {
                let (p, i) = held.swap_remove((x >> 20) as usize % held.len());
                assert_eq!(*t.get(i), bundle(p));
                t.release(i);
            } else if let Some(i) = t.intern(&bundle(port)) {
                assert_eq!(*t.get(i), bundle(port));
                held.push((port, i));
            } else {
                let mut distinct: Vec<u16> = held.iter().map(|h| h.0).collect();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), 64, "refused while slots were free");
            }
            let mut distinct: Vec<u16> = held.iter().map(|h| h.0).collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(t.len(), distinct.len());
        }
        assert_eq!(t.index.capacity(), cap0);
    }
}
