//! One lcore's flow-cache shard.
//!
//! A fixed-capacity, two-choice, 8-way set-associative table: a flow lives in
//! one of two buckets picked by a keyed hash; a bucket is one cache line of
//! signatures and admission state, entries sit in a parallel array. Lookups
//! work on a whole burst: hash everything, touch both buckets of every key,
//! then probe. Nothing allocates after [`Shard::new`].
//!
//! Flood resistance (why Linux's cache could be thrashed, and this one not):
//! a flow seen for the first time enters only into a free way or in place of
//! another *unproven* entry. It becomes *protected* when it is hit again, or
//! when a small Bloom "doorkeeper" of recently missed flows says it was seen
//! before. Only proven newcomers may evict a protected entry, and only one
//! whose recency has aged to zero (not hit for three sweep passes). A flood of
//! one-packet flows therefore churns the unproven ways and leaves the
//! established flows alone; the flood's own packets are resolved exactly as
//! with no cache.

use super::bundle::Bundle;
use super::hash::FlowHasher;
use super::FlowKey;
use crate::mgmt::engine::{Engine, Strategy};
use lcore::Reader;

/// Ways per bucket.
pub const WAYS: usize = 8;
/// Largest burst handled in one pass (longer slices are chunked).
pub const MAX_BURST: usize = 64;

const PROTECTED: u8 = 0x80;
const RECENCY_MAX: u8 = 3;
const RECENCY: u8 = 0x03;

/// Bit `w` set iff `sigs[w] == sig` (compiled to vector compares).
#[inline(always)]
fn match_mask(sigs: &[u32; WAYS], sig: u32) -> u32 {
    sigs.iter()
        .enumerate()
        .fold(0u32, |m, (w, &s)| m | (((s == sig) as u32) << w))
}

/// One cache line: signatures (0 = empty way) and per-way admission state.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    sig: [u32; WAYS],
    meta: [u8; WAYS],
}

#[derive(Clone, Copy, Default)]
struct Entry {
    key: FlowKey,
    bundle: Bundle,
}

/// Counters of one shard. Plain integers: only the owning lcore writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShardStats {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    /// Hits on an entry that failed `get` and was resolved afresh.
    pub stale: u64,
    pub inserts: u64,
    /// Valid entries replaced by a newcomer.
    pub evictions: u64,
    /// Newcomers not admitted (unproven, no free or unproven way).
    pub denied: u64,
    /// Stale entries released by the sweep hand.
    pub swept: u64,
    /// Results not cached because a table change raced the lookup.
    pub uncacheable: u64,
    /// Entries moved to their other bucket to make room.
    pub displaced: u64,
    /// Acquires not reported because of the rate bound.
    pub acquires_suppressed: u64,
}

/// A flow-cache shard.
pub struct Shard {
    buckets: Box<[Bucket]>,
    entries: Box<[Entry]>,
    bmask: usize,
    hasher: FlowHasher,
    /// Doorkeeper: Bloom filter of recently missed flows, aged by a clearing hand.
    door: Box<[u64]>,
    door_hand: usize,
    door_tick: u32,
    /// Sweep clock hand over entries.
    hand: usize,
    len: usize,
    acquire_tokens: u32,
    acquire_ms: u64,
    pub stats: ShardStats,
    /// Sampled miss-resolution times (ns), drained by the worker into its histogram.
    miss_samples: [u64; MISS_SAMPLES],
    n_miss_samples: usize,
}

/// One miss in this many is timed (two clock reads), so a flood does not pay
/// a clock read per packet.
const MISS_SAMPLE_EVERY: u64 = 16;
const MISS_SAMPLES: usize = 64;

/// Acquires a shard may report per millisecond.
const ACQUIRES_PER_MS: u32 = 8;

impl Shard {
    /// A shard for at least `capacity` flows (rounded up to a power of two, at least 16).
    pub fn new(capacity: usize) -> Shard {
        Self::with_hasher(capacity, FlowHasher::random())
    }

    pub fn with_hasher(capacity: usize, hasher: FlowHasher) -> Shard {
        let cap = capacity.max(2 * WAYS).next_power_of_two();
        let nb = cap / WAYS;
        // 32 doorkeeper bits per entry: with 3 hash bits and a window of `cap`
        // misses the false-positive rate stays below 0.1 %.
        let door_words = (cap / 2).max(1);
        let buckets = super::mem::huge_boxed_slice(nb, Bucket::default());
        let entries = super::mem::huge_boxed_slice(cap, Entry::default());
        Shard {
            buckets,
            entries,
            bmask: nb - 1,
            hasher,
            door: vec![0u64; door_words].into_boxed_slice(),
            door_hand: 0,
            door_tick: 0,
            hand: 0,
            len: 0,
            acquire_tokens: ACQUIRES_PER_MS,
            acquire_ms: 0,
            stats: ShardStats::default(),
            miss_samples: [0; MISS_SAMPLES],
            n_miss_samples: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Valid entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The other bucket of a flow in bucket `b` with signature `sig`. Symmetric:
    /// `alt(alt(b, sig), sig) == b`, so an entry can move between its two buckets
    /// without knowing its hash.
    #[inline(always)]
    fn alt(&self, b: usize, sig: u32) -> usize {
        let x = (sig.wrapping_mul(0x5bd1_e995) as usize >> 3) & self.bmask;
        if x == 0 {
            b ^ 1
        } else {
            b ^ x
        }
    }

    #[inline(always)]
    fn place(&self, h: u64) -> (usize, usize, u32) {
        let sig = ((h >> 32) as u32) | 1;
        let b1 = (h as usize) & self.bmask;
        (b1, self.alt(b1, sig), sig)
    }

    /// Make a free way in `b1` or `b2` by moving one of their entries to its
    /// other bucket (one level of cuckoo displacement). Only proven newcomers
    /// pay for this, so a flood never does.
    fn displace(&mut self, b1: usize, b2: usize) -> Option<usize> {
        for b in [b1, b2] {
            for w in 0..WAYS {
                let sig = self.buckets[b].sig[w];
                let ab = self.alt(b, sig);
                if let Some(aw) = (0..WAYS).find(|&aw| self.buckets[ab].sig[aw] == 0) {
                    let (from, to) = (b * WAYS + w, ab * WAYS + aw);
                    self.entries[to] = self.entries[from];
                    self.buckets[ab].sig[aw] = sig;
                    self.buckets[ab].meta[aw] = self.buckets[b].meta[w];
                    self.buckets[b].sig[w] = 0;
                    self.buckets[b].meta[w] = 0;
                    self.stats.displaced += 1;
                    return Some(from);
                }
            }
        }
        None
    }

    #[inline(always)]
    fn find(&self, key: &FlowKey, b1: usize, b2: usize, sig: u32) -> Option<usize> {
        for b in [b1, b2] {
            // All eight signatures compared at once, then only the matching ways' keys.
            let mut m = match_mask(&self.buckets[b].sig, sig);
            while m != 0 {
                let w = m.trailing_zeros() as usize;
                m &= m - 1;
                let pos = b * WAYS + w;
                if self.entries[pos].key == *key {
                    return Some(pos);
                }
            }
        }
        None
    }

    /// Entry op `delete`: release a cached result. Entries hold generational
    /// handles, not counted references, so releasing is forgetting.
    #[inline]
    fn delete(&mut self, pos: usize) {
        let (b, w) = (pos / WAYS, pos % WAYS);
        if self.buckets[b].sig[w] != 0 {
            self.buckets[b].sig[w] = 0;
            self.buckets[b].meta[w] = 0;
            self.len -= 1;
        }
    }

    /// Look up a burst of keys; `out[i]` receives the decision for `keys[i]`.
    /// Misses are resolved against the engine and cached subject to admission.
    pub fn lookup_burst(
        &mut self,
        engine: &Engine,
        reader: &Reader,
        keys: &[FlowKey],
        out: &mut [Bundle],
    ) {
        debug_assert!(out.len() >= keys.len());
        if engine.strategy == Strategy::Off {
            for (k, o) in keys.iter().zip(out.iter_mut()) {
                *o = self.resolve(engine, reader, k).0;
            }
            self.stats.lookups += keys.len() as u64;
            self.stats.misses += keys.len() as u64;
            return;
        }
        for (kc, oc) in keys.chunks(MAX_BURST).zip(out.chunks_mut(MAX_BURST)) {
            self.lookup_chunk(engine, reader, kc, oc);
        }
    }

    fn lookup_chunk(
        &mut self,
        engine: &Engine,
        reader: &Reader,
        keys: &[FlowKey],
        out: &mut [Bundle],
    ) {
        let n = keys.len();
        let mut place = [(0u32, 0u32, 0u32); MAX_BURST];
        // Stage 1: hash the burst, prefetch both buckets of every key.
        for (i, k) in keys.iter().enumerate() {
            let h = self.hasher.hash(k);
            let (b1, b2, sig) = self.place(h);
            place[i] = (b1 as u32, b2 as u32, sig);
            super::mem::prefetch(&self.buckets[b1]);
            super::mem::prefetch(&self.buckets[b2]);
        }
        // Stage 2: with the buckets near, prefetch the entries whose signature matches.
        for &(b1, b2, sig) in &place[..n] {
            for b in [b1 as usize, b2 as usize] {
                let bk = &self.buckets[b];
                let m = match_mask(&bk.sig, sig);
                if m != 0 {
                    let w = m.trailing_zeros() as usize;
                    let e = &self.entries[b * WAYS + w];
                    super::mem::prefetch(e);
                    super::mem::prefetch(&e.bundle);
                    break;
                }
            }
        }
        // Pass 2: probe, validate, resolve misses.
        self.stats.lookups += n as u64;
        for i in 0..n {
            let (b1, b2, sig) = place[i];
            let (b1, b2) = (b1 as usize, b2 as usize);
            let key = &keys[i];
            match self.find(key, b1, b2, sig) {
                Some(pos) => {
                    let e = &self.entries[pos];
                    if engine.validate(&e.bundle, key.dir) {
                        out[i] = e.bundle;
                        let (b, w) = (pos / WAYS, pos % WAYS);
                        let m = self.buckets[b].meta[w];
                        if m != PROTECTED | RECENCY_MAX {
                            self.buckets[b].meta[w] =
                                PROTECTED | ((m & RECENCY) + 1).min(RECENCY_MAX);
                        }
                        self.stats.hits += 1;
                    } else {
                        // `get` failed: release and resolve afresh in the same way.
                        self.stats.stale += 1;
                        self.stats.misses += 1;
                        let (b, cacheable) = self.resolve(engine, reader, key);
                        out[i] = b;
                        let (bi, w) = (pos / WAYS, pos % WAYS);
                        if cacheable {
                            self.entries[pos].bundle = b;
                            // A refreshed flow keeps its standing.
                            self.buckets[bi].meta[w] |= PROTECTED;
                        } else {
                            self.delete(pos);
                            self.stats.uncacheable += 1;
                        }
                    }
                }
                None => {
                    self.stats.misses += 1;
                    let (b, cacheable) = self.resolve(engine, reader, key);
                    out[i] = b;
                    if cacheable {
                        let h = self.hasher.hash(key);
                        self.admit(key, b, b1, b2, sig, h);
                    } else {
                        self.stats.uncacheable += 1;
                    }
                }
            }
        }
    }

    #[inline]
    fn resolve(&mut self, engine: &Engine, reader: &Reader, key: &FlowKey) -> (Bundle, bool) {
        let report = self.acquire_tokens > 0;
        let timed = self.stats.misses.is_multiple_of(MISS_SAMPLE_EVERY)
            && self.n_miss_samples < MISS_SAMPLES;
        let t0 = timed.then(std::time::Instant::now);
        let (b, cacheable) = engine.resolve_for_cache(key, reader, report);
        if let Some(t0) = t0 {
            self.miss_samples[self.n_miss_samples] = t0.elapsed().as_nanos() as u64;
            self.n_miss_samples += 1;
        }
        if b.verdict == super::Verdict::Larval {
            if report {
                self.acquire_tokens -= 1;
            } else {
                self.stats.acquires_suppressed += 1;
            }
        }
        (b, cacheable)
    }

    /// Doorkeeper: was this flow missed recently? Marks it as seen either way.
    #[inline]
    fn door_seen(&mut self, h: u64) -> bool {
        let bits = self.door.len() * 64;
        let mut seen = true;
        for j in 0..3 {
            let bit = ((h.rotate_left(17 * j + 7)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20)
                as usize
                % bits;
            let (wi, m) = (bit / 64, 1u64 << (bit % 64));
            seen &= self.door[wi] & m != 0;
            self.door[wi] |= m;
        }
        // Age the filter: clear one word every other miss, so it remembers
        // about `capacity` misses.
        self.door_tick = self.door_tick.wrapping_add(1);
        if self.door_tick & 1 == 0 {
            self.door[self.door_hand] = 0;
            self.door_hand = (self.door_hand + 1) % self.door.len();
        }
        seen
    }

    fn admit(&mut self, key: &FlowKey, b: Bundle, b1: usize, b2: usize, sig: u32, h: u64) {
        let mut free = None;
        let mut unproven = None;
        let mut idle = None;
        for bi in [b1, b2] {
            let bk = &self.buckets[bi];
            for w in 0..WAYS {
                let pos = bi * WAYS + w;
                if bk.sig[w] == 0 {
                    free = free.or(Some(pos));
                } else if bk.meta[w] & PROTECTED == 0 {
                    unproven = unproven.or(Some(pos));
                } else if bk.meta[w] & RECENCY == 0 {
                    idle = idle.or(Some(pos));
                }
            }
        }
        let proven = self.door_seen(h);
        let (pos, meta) = if let Some(p) = free {
            (p, if proven { PROTECTED | 1 } else { 0 })
        } else if let Some(p) = unproven {
            (p, if proven { PROTECTED | 1 } else { 0 })
        } else if let Some(p) = if proven {
            self.displace(b1, b2).or(idle)
        } else {
            None
        } {
            (p, PROTECTED | 1)
        } else {
            self.stats.denied += 1;
            return;
        };
        let (bi, w) = (pos / WAYS, pos % WAYS);
        if self.buckets[bi].sig[w] != 0 {
            self.stats.evictions += 1;
        } else {
            self.len += 1;
        }
        self.buckets[bi].sig[w] = sig;
        self.buckets[bi].meta[w] = meta;
        self.entries[pos] = Entry {
            key: *key,
            bundle: b,
        };
        self.stats.inserts += 1;
    }

    /// Advance the clock hand over `n` ways: entries whose `get` fails are
    /// deleted (so dead objects' entries go even if never hit again), and the
    /// recency of the others ages. Also refills the acquire budget; `now_ms` is
    /// any monotonic millisecond clock.
    pub fn sweep(&mut self, engine: &Engine, n: usize, now_ms: u64) {
        if now_ms != self.acquire_ms {
            self.acquire_ms = now_ms;
            self.acquire_tokens = ACQUIRES_PER_MS;
        }
        let cap = self.entries.len();
        for _ in 0..n.min(cap) {
            let pos = self.hand;
            self.hand = (self.hand + 1) & (cap - 1);
            let (b, w) = (pos / WAYS, pos % WAYS);
            if self.buckets[b].sig[w] == 0 {
                continue;
            }
            let e = &self.entries[pos];
            if !engine.validate(&e.bundle, e.key.dir) {
                self.delete(pos);
                self.stats.swept += 1;
            } else {
                let m = self.buckets[b].meta[w];
                if m & RECENCY != 0 {
                    self.buckets[b].meta[w] = m - 1;
                }
            }
        }
    }

    /// Hand the sampled miss-resolution times to `f` and forget them.
    pub fn drain_miss_samples(&mut self, mut f: impl FnMut(u64)) {
        for &ns in &self.miss_samples[..self.n_miss_samples] {
            f(ns);
        }
        self.n_miss_samples = 0;
    }

    /// Forget everything (used when the cache strategy changes, and by tests).
    pub fn clear(&mut self) {
        for b in self.buckets.iter_mut() {
            *b = Bucket::default();
        }
        self.len = 0;
    }

    /// The valid entries, for `flows` listings (not for the data path).
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Bundle, bool)> + '_ {
        self.buckets.iter().enumerate().flat_map(move |(bi, bk)| {
            (0..WAYS).filter(move |w| bk.sig[*w] != 0).map(move |w| {
                let e = &self.entries[bi * WAYS + w];
                (&e.key, &e.bundle, bk.meta[w] & PROTECTED != 0)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_mask_finds_every_way() {
        let sigs = [5u32, 7, 5, 0, 9, 5, 1, 7];
        assert_eq!(match_mask(&sigs, 5), 0b0010_0101);
        assert_eq!(match_mask(&sigs, 7), 0b1000_0010);
        assert_eq!(match_mask(&sigs, 3), 0);
    }
}
