//! One lcore's flow-cache shard.
//!
//! A fixed-capacity, two-choice, 8-way set-associative table: a flow lives in
//! one of two buckets picked by a keyed hash; a bucket is half a cache line of
//! 16-bit signatures and admission state, entries (key + index of the
//! shard-wide interned bundle, one cache line) sit in a parallel array. Lookups
//! work on a whole burst: hash everything, touch both buckets of every key,
//! then probe. Nothing allocates after [`Shard::new`].
//!
//! Flood resistance (why Linux's cache could be thrashed, and this one not):
//! a flow seen for the first time enters only into a free way; it evicts
//! nothing. A flow missed again while a Bloom "doorkeeper" of recent misses
//! (at least the last four capacities' worth) still remembers it is *proven*: it may
//! replace an *unproven* entry, make room by moving an entry to its other
//! bucket, or replace a *protected* entry whose recency has aged to zero (not
//! hit for three sweep passes). An entry becomes protected when it is hit. A
//! flood of one-packet flows therefore fills the free ways once and is then
//! denied, at the cost of one doorkeeper cache line per packet; the
//! established flows stay; the flood's own packets are resolved exactly as
//! with no cache.

use super::bundle::Bundle;
use super::hash::FlowHasher;
use super::intern::BundleTable;
use super::FlowKey;
use crate::mgmt::engine::{Engine, Strategy};
use lcore::Reader;

/// Ways per bucket.
pub const WAYS: usize = 8;
/// Largest burst handled in one pass (longer slices are chunked).
pub const MAX_BURST: usize = 64;

/// A doorkeeper epoch lasts `DOOR_EPOCH * capacity` misses; a mark is
/// remembered for two to three epochs (at least four capacities' worth of
/// misses).
const DOOR_EPOCH: usize = 2;
/// Epochs a doorkeeper block remembers (its slots).
const DOOR_SLOTS: usize = 3;
/// Bits a doorkeeper mark sets in a slot.
const DOOR_HASHES: u32 = 6;

/// One flow's doorkeeper block: a cache line holding three 128-bit Bloom
/// filter slots, each tagged with the epoch its marks belong to. A mark goes
/// into the slot of the current epoch (taking over the slot of the oldest
/// epoch when there is none yet); a lookup ORs the slots of the current and
/// the two previous epochs. Slots of older epochs are simply ignored and
/// reused, so aging needs no clearing pass, and a miss touches exactly one
/// line (before: two lines in two filters, plus a clearing hand).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct DoorBlock {
    bits: [[u64; 2]; DOOR_SLOTS],
    /// Epoch of each slot (wrapping; an age of 0..=2 is live).
    tags: [u32; DOOR_SLOTS],
}

const PROTECTED: u8 = 0x80;
const RECENCY_MAX: u8 = 3;
const RECENCY: u8 = 0x03;

/// Bit `i` set iff 16-bit lane `i` of `x` is zero, for the four lanes of a
/// word. SWAR: a lane is zero iff its high bit survives
/// `!(((x & 7fff) + 7fff) | x)` (exact: no carry leaves a lane); shifted down
/// to bit `16 i`, the four flags are gathered by one multiplication that moves
/// bit `16 i` to bit `48 + i` (every partial product lands on a distinct bit,
/// so nothing carries into the result bits).
#[inline(always)]
fn zero_lanes(x: u64) -> u32 {
    const LOW15: u64 = 0x7fff_7fff_7fff_7fff;
    // Bit 16 i -> bit 48 + i.
    const GATHER: u64 = (1 << 48) | (1 << 33) | (1 << 18) | (1 << 3);
    let z = !(((x & LOW15) + LOW15) | x | LOW15) >> 15;
    ((z.wrapping_mul(GATHER) >> 48) & 0xf) as u32
}

/// Bit `w` set iff way `w`'s signature is `sig`: all eight compared at once
/// (two SWAR words; safe code, about 20 instructions).
#[inline(always)]
fn match_mask(sigs: &[u64; 2], sig: u16) -> u32 {
    const ONES: u64 = 0x0001_0001_0001_0001;
    let s = ONES * sig as u64;
    zero_lanes(sigs[0] ^ s) | zero_lanes(sigs[1] ^ s) << 4
}

/// Signatures (16 bits per way, 0 = empty, four ways per word) and per-way
/// admission state of one bucket: 24 bytes, two buckets per cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Bucket {
    sigs: [u64; 2],
    meta: [u8; WAYS],
}

impl Bucket {
    #[inline(always)]
    fn sig(&self, w: usize) -> u16 {
        (self.sigs[w / 4] >> (16 * (w % 4))) as u16
    }

    #[inline(always)]
    fn set_sig(&mut self, w: usize, sig: u16) {
        let sh = 16 * (w % 4);
        let word = &mut self.sigs[w / 4];
        *word = (*word & !(0xffff << sh)) | (sig as u64) << sh;
    }
}

/// A cached flow: its key and its decision's slot in the shard's
/// [`BundleTable`]. One cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Entry {
    key: FlowKey,
    bid: u32,
}

/// Distinct bundles a shard can hold (fewer when the shard is smaller): the
/// decisions of the policies, SAs and routes its flows use. A newcomer whose
/// bundle finds no slot is not cached (counted as denied).
pub const MAX_BUNDLES: usize = 1 << 16;

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
    bundles: BundleTable,
    bmask: usize,
    hasher: FlowHasher,
    /// Doorkeeper: a blocked Bloom filter of recently missed flows with
    /// per-block epoch slots (see [`DoorBlock`]), one block per entry.
    door: Box<[DoorBlock]>,
    /// The current doorkeeper epoch.
    door_epoch: u32,
    /// Marks in the current epoch.
    door_tick: usize,
    /// Sweep clock hand over entries.
    hand: usize,
    len: usize,
    acquire_tokens: u32,
    acquire_ms: u64,
    pub stats: ShardStats,
    /// Sampled miss-resolution times (ns), drained by the worker into its histogram.
    miss_samples: [u64; MISS_SAMPLES],
    n_miss_samples: usize,
    /// Bundle slots released during the last burst. Their release waits for
    /// the next call that changes the shard, so that every [`BundleRef`] the
    /// burst handed out names the same bundle until then.
    pending: [u32; MAX_BURST],
    npending: usize,
}

/// What a burst lookup found for one key: a slot of the shard's bundle
/// table, either an interned bundle (a hit: nothing is copied) or a scratch
/// slot of this burst (a miss, a refresh, the `off` strategy). Valid until
/// the next call that takes the shard mutably; read it with [`Shard::bundle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BundleRef(u32);

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
        // One doorkeeper block per entry: `DOOR_EPOCH * cap` misses per
        // epoch put about two marks in a slot, so with 6 bits per mark the
        // three live slots of a block OR to a fraction 1 - e^(-36/128) = 25 %
        // of set bits, and a never-seen flow passes with probability near
        // 0.25^6 = 0.02 %.
        let buckets = super::mem::huge_boxed_slice(nb, Bucket::default());
        let entries = super::mem::huge_boxed_slice(cap, Entry::default());
        Shard {
            buckets,
            entries,
            bundles: BundleTable::new(cap.min(MAX_BUNDLES)),
            bmask: nb - 1,
            hasher,
            // Epoch 3 with all tags 0: every slot starts dead (age 3).
            door: super::mem::huge_boxed_slice(cap, DoorBlock::default()),
            door_epoch: DOOR_SLOTS as u32,
            door_tick: 0,
            hand: 0,
            len: 0,
            acquire_tokens: ACQUIRES_PER_MS,
            acquire_ms: 0,
            stats: ShardStats::default(),
            miss_samples: [0; MISS_SAMPLES],
            n_miss_samples: 0,
            pending: [0; MAX_BURST],
            npending: 0,
        }
    }

    /// The bundle `r` names (`r` from the last [`lookup_burst_refs`](Self::lookup_burst_refs)).
    #[inline(always)]
    pub fn bundle(&self, r: BundleRef) -> &Bundle {
        self.bundles.get(r.0)
    }

    /// A result that is not (or not yet) a cached bundle: key `i`'s scratch slot.
    #[inline(always)]
    fn scratch(&mut self, i: usize, b: Bundle) -> BundleRef {
        BundleRef(self.bundles.set_scratch(i, b))
    }

    /// Release slot `bid` once the refs of this burst are no longer read.
    #[inline]
    fn release_later(&mut self, bid: u32) {
        if self.npending < self.pending.len() {
            self.pending[self.npending] = bid;
            self.npending += 1;
        } else {
            // Cannot happen (one release per key of a burst of at most
            // MAX_BURST); releasing now is still safe for the cache itself.
            self.bundles.release(bid);
        }
    }

    /// Apply the releases the last burst deferred.
    #[inline]
    fn release_pending(&mut self) {
        for i in 0..self.npending {
            self.bundles.release(self.pending[i]);
        }
        self.npending = 0;
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

    /// Distinct bundles the entries name (each held once, see [`BundleTable`]).
    pub fn distinct_bundles(&self) -> usize {
        self.bundles.len()
    }

    /// The other bucket of a flow in bucket `b` with signature `sig`. Symmetric:
    /// `alt(alt(b, sig), sig) == b`, so an entry can move between its two buckets
    /// without knowing its hash.
    #[inline(always)]
    fn alt(&self, b: usize, sig: u16) -> usize {
        let x = ((sig as u32).wrapping_mul(0x5bd1_e995) as usize >> 3) & self.bmask;
        if x == 0 {
            b ^ 1
        } else {
            b ^ x
        }
    }

    #[inline(always)]
    fn place(&self, h: u64) -> (usize, usize, u16) {
        let sig = ((h >> 48) as u16) | 1;
        let b1 = (h as usize) & self.bmask;
        (b1, self.alt(b1, sig), sig)
    }

    /// Make a free way in `b1` or `b2` by moving one of their entries to its
    /// other bucket (one level of cuckoo displacement). Only proven newcomers
    /// pay for this, so a flood never does.
    fn displace(&mut self, b1: usize, b2: usize) -> Option<usize> {
        for b in [b1, b2] {
            for w in 0..WAYS {
                let sig = self.buckets[b].sig(w);
                let ab = self.alt(b, sig);
                if let Some(aw) = (0..WAYS).find(|&aw| self.buckets[ab].sig(aw) == 0) {
                    let (from, to) = (b * WAYS + w, ab * WAYS + aw);
                    self.entries[to] = self.entries[from];
                    self.buckets[ab].set_sig(aw, sig);
                    self.buckets[ab].meta[aw] = self.buckets[b].meta[w];
                    self.buckets[b].set_sig(w, 0);
                    self.buckets[b].meta[w] = 0;
                    self.stats.displaced += 1;
                    return Some(from);
                }
            }
        }
        None
    }

    #[inline(always)]
    fn find(&self, key: &FlowKey, b1: usize, b2: usize, sig: u16) -> Option<usize> {
        for b in [b1, b2] {
            // All eight signatures compared at once, then only the matching ways' keys.
            let mut m = match_mask(&self.buckets[b].sigs, sig);
            while m != 0 {
                let w = m.trailing_zeros() as usize;
                m &= m - 1;
                let pos = b * WAYS + w;
                if self.entries[pos].key.same(key) {
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
        if self.buckets[b].sig(w) != 0 {
            self.buckets[b].set_sig(w, 0);
            self.buckets[b].meta[w] = 0;
            self.release_later(self.entries[pos].bid);
            self.len -= 1;
        }
    }

    /// Look up a burst of keys; `out[i]` receives the decision for `keys[i]`.
    /// Misses are resolved against the engine and cached subject to admission.
    /// (A copy of [`lookup_burst_refs`](Self::lookup_burst_refs)' results, for
    /// callers that keep them.)
    pub fn lookup_burst(
        &mut self,
        engine: &Engine,
        reader: &Reader,
        keys: &[FlowKey],
        out: &mut [Bundle],
    ) {
        debug_assert!(out.len() >= keys.len());
        let mut refs = [BundleRef::default(); MAX_BURST];
        for (kc, oc) in keys.chunks(MAX_BURST).zip(out.chunks_mut(MAX_BURST)) {
            self.lookup_burst_refs(engine, reader, kc, &mut refs[..kc.len()]);
            for (o, r) in oc.iter_mut().zip(&refs) {
                *o = *self.bundle(*r);
            }
        }
    }

    /// Look up at most [`MAX_BURST`] keys; `out[i]` names the decision for
    /// `keys[i]` (read it with [`bundle`](Self::bundle) until the next call
    /// that changes the shard). A hit copies nothing.
    pub fn lookup_burst_refs(
        &mut self,
        engine: &Engine,
        reader: &Reader,
        keys: &[FlowKey],
        out: &mut [BundleRef],
    ) {
        assert!(keys.len() <= MAX_BURST && out.len() >= keys.len());
        self.release_pending();
        if engine.strategy == Strategy::Off {
            for (i, (k, o)) in keys.iter().zip(out.iter_mut()).enumerate() {
                let b = self.resolve(engine, reader, k).0;
                *o = self.scratch(i, b);
            }
            self.stats.lookups += keys.len() as u64;
            self.stats.misses += keys.len() as u64;
            return;
        }
        self.lookup_chunk(engine, reader, keys, out);
    }

    fn lookup_chunk(
        &mut self,
        engine: &Engine,
        reader: &Reader,
        keys: &[FlowKey],
        out: &mut [BundleRef],
    ) {
        let n = keys.len();
        let mut place = [(0u32, 0u32, 0u16); MAX_BURST];
        let mut hashes = [0u64; MAX_BURST];
        // Stage 1: hash the burst, prefetch both buckets of every key.
        for (i, k) in keys.iter().enumerate() {
            let h = self.hasher.hash(k);
            hashes[i] = h;
            let (b1, b2, sig) = self.place(h);
            place[i] = (b1 as u32, b2 as u32, sig);
            super::mem::prefetch(&self.buckets[b1]);
            super::mem::prefetch(&self.buckets[b2]);
        }
        // Stage 2: with the buckets near, prefetch the first entry whose
        // signature matches and remember it as the probe's first candidate.
        let mut cand = [u32::MAX; MAX_BURST];
        for (i, &(b1, b2, sig)) in place[..n].iter().enumerate() {
            for b in [b1 as usize, b2 as usize] {
                let m = match_mask(&self.buckets[b].sigs, sig);
                if m != 0 {
                    let pos = b * WAYS + m.trailing_zeros() as usize;
                    super::mem::prefetch(&self.entries[pos]);
                    cand[i] = pos as u32;
                    break;
                }
            }
            if cand[i] == u32::MAX {
                // No signature matches: a miss; its admission reads the
                // doorkeeper.
                self.door_prefetch(hashes[i]);
            }
        }
        // Pass 2: probe, validate, resolve misses. Flows of a burst often
        // share a bundle: one that passed `get` in this burst and whose
        // validity does not depend on the key (no region stamp) is not
        // checked again; the burst's packets are decided as of one instant
        // in it, as they would be had they all been validated then.
        let mut valid_bid = u32::MAX;
        self.stats.lookups += n as u64;
        for i in 0..n {
            let (b1, b2, sig) = place[i];
            let (b1, b2) = (b1 as usize, b2 as usize);
            let key = &keys[i];
            let c = cand[i] as usize;
            // The candidate is re-checked: an earlier miss of this burst may
            // have deleted, moved or replaced it since stage 2 (a deleted
            // way keeps its stale key; only its signature says it is gone).
            let found = if c < self.entries.len()
                && self.buckets[c / WAYS].sig(c % WAYS) == sig
                && self.entries[c].key.same(key)
            {
                Some(c)
            } else {
                self.find(key, b1, b2, sig)
            };
            match found {
                Some(pos) => {
                    let bid = self.entries[pos].bid;
                    let bundle = self.bundles.get(bid);
                    if bid == valid_bid || engine.validate(bundle, key) {
                        if !bundle.uses_nopol {
                            valid_bid = bid;
                        }
                        out[i] = BundleRef(bid);
                        let (b, w) = (pos / WAYS, pos % WAYS);
                        // A hit proves the flow and makes it recent again: it
                        // goes idle only after RECENCY_MAX sweep passes without one.
                        if self.buckets[b].meta[w] != PROTECTED | RECENCY_MAX {
                            self.buckets[b].meta[w] = PROTECTED | RECENCY_MAX;
                        }
                        self.stats.hits += 1;
                    } else {
                        // `get` failed: release and resolve afresh in the same way.
                        self.stats.stale += 1;
                        self.stats.misses += 1;
                        let (b, cacheable) = self.resolve(engine, reader, key);
                        out[i] = self.scratch(i, b);
                        let (bi, w) = (pos / WAYS, pos % WAYS);
                        if !cacheable {
                            self.delete(pos);
                            self.stats.uncacheable += 1;
                        } else if let Some(nb) = self.bundles.intern(&b) {
                            let old = std::mem::replace(&mut self.entries[pos].bid, nb);
                            self.release_later(old);
                            // A refreshed flow keeps its standing.
                            self.buckets[bi].meta[w] |= PROTECTED;
                        } else {
                            // Every bundle slot holds another decision.
                            self.delete(pos);
                            self.stats.denied += 1;
                        }
                    }
                }
                None => {
                    self.stats.misses += 1;
                    let (b, cacheable) = self.resolve(engine, reader, key);
                    out[i] = self.scratch(i, b);
                    if cacheable {
                        self.admit(key, b, b1, b2, sig, hashes[i]);
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

    /// Index of flow hash `h`'s doorkeeper block (from bits 40.. of a remix
    /// of the hash; the bucket index uses its low bits).
    #[inline]
    fn door_block(&self, h: u64) -> usize {
        let x = h.rotate_left(23).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (((x >> 40) * self.door.len() as u64) >> 24) as usize
    }

    /// Prefetch flow hash `h`'s doorkeeper block: done for the keys a burst
    /// will probably miss (no signature match), so under a flood the line
    /// arrives while earlier misses resolve.
    #[inline]
    fn door_prefetch(&self, h: u64) {
        super::mem::prefetch(&self.door[self.door_block(h)]);
    }

    /// Doorkeeper: was this flow missed recently? Marks it as seen either way.
    #[inline]
    fn door_seen(&mut self, h: u64) -> bool {
        // The DOOR_HASHES bit positions (7 bits each) from bits 20.. of
        // another remix of the flow hash.
        let y = h.rotate_left(41).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let mut m = 0u128;
        for j in 0..DOOR_HASHES {
            m |= 1u128 << ((y >> (20 + 7 * j)) & 127);
        }
        let m = [m as u64, (m >> 64) as u64];
        let e = self.door_epoch;
        let bi = self.door_block(h);
        let blk = &mut self.door[bi];
        let mut live = [0u64; 2];
        let mut cur = None;
        let (mut oldest, mut oldest_age) = (0, 0u32);
        for s in 0..DOOR_SLOTS {
            let age = e.wrapping_sub(blk.tags[s]);
            if age < DOOR_SLOTS as u32 {
                live[0] |= blk.bits[s][0];
                live[1] |= blk.bits[s][1];
            }
            if age == 0 {
                cur = Some(s);
            } else if age >= oldest_age {
                (oldest, oldest_age) = (s, age);
            }
        }
        let seen = live[0] & m[0] == m[0] && live[1] & m[1] == m[1];
        match cur {
            Some(s) => {
                blk.bits[s][0] |= m[0];
                blk.bits[s][1] |= m[1];
            }
            // Live tags are distinct, so with none equal to `e` at most two
            // are live and the oldest slot is dead (age >= 3): reuse it.
            None => {
                blk.bits[oldest] = m;
                blk.tags[oldest] = e;
            }
        }
        // A mark is remembered while its epoch is among the last three:
        // at least two whole epochs (`2 * DOOR_EPOCH * capacity` misses), long
        // enough for an established flow to be seen twice while a flood
        // several times its rate passes by. (Tags wrap after 2^32 epochs; a
        // block untouched that long may look live again for three epochs,
        // which can only admit a flow early, never deny one.)
        self.door_tick += 1;
        if self.door_tick >= DOOR_EPOCH * self.door.len() {
            self.door_epoch = self.door_epoch.wrapping_add(1);
            self.door_tick = 0;
        }
        seen
    }

    /// Admission of a resolved miss (see the module doc). A first sighting
    /// only takes a free way; under a flood (no free way) it costs a doorkeeper
    /// mark and a look at two signature words, nothing more. A flow the
    /// doorkeeper has seen before may take an unproven way, make room by
    /// displacement, or replace a protected entry that has gone idle.
    fn admit(&mut self, key: &FlowKey, b: Bundle, b1: usize, b2: usize, sig: u16, h: u64) {
        let seen = self.door_seen(h);
        let free = [b1, b2].into_iter().find_map(|bi| {
            let m = match_mask(&self.buckets[bi].sigs, 0);
            (m != 0).then(|| bi * WAYS + m.trailing_zeros() as usize)
        });
        let (pos, meta) = if let Some(p) = free {
            (p, if seen { PROTECTED | 1 } else { 0 })
        } else if !seen {
            self.stats.denied += 1;
            return;
        } else {
            let mut unproven = None;
            let mut idle = None;
            for bi in [b1, b2] {
                let bk = &self.buckets[bi];
                for (w, &m) in bk.meta.iter().enumerate() {
                    if m & PROTECTED == 0 {
                        unproven = unproven.or(Some(bi * WAYS + w));
                    } else if m & RECENCY == 0 {
                        idle = idle.or(Some(bi * WAYS + w));
                    }
                }
            }
            match unproven.or_else(|| self.displace(b1, b2)).or(idle) {
                Some(p) => (p, PROTECTED | 1),
                None => {
                    self.stats.denied += 1;
                    return;
                }
            }
        };
        let Some(bid) = self.bundles.intern(&b) else {
            // Every bundle slot holds another decision.
            self.stats.denied += 1;
            return;
        };
        let (bi, w) = (pos / WAYS, pos % WAYS);
        if self.buckets[bi].sig(w) != 0 {
            self.stats.evictions += 1;
            self.release_later(self.entries[pos].bid);
        } else {
            self.len += 1;
        }
        self.buckets[bi].set_sig(w, sig);
        self.buckets[bi].meta[w] = meta;
        self.entries[pos] = Entry { key: *key, bid };
        self.stats.inserts += 1;
    }

    /// Advance the clock hand over `n` ways: entries whose `get` fails are
    /// deleted (so dead objects' entries go even if never hit again), and the
    /// recency of the others ages. Also refills the acquire budget; `now_ms` is
    /// any monotonic millisecond clock.
    pub fn sweep(&mut self, engine: &Engine, n: usize, now_ms: u64) {
        self.release_pending();
        if now_ms != self.acquire_ms {
            self.acquire_ms = now_ms;
            self.acquire_tokens = ACQUIRES_PER_MS;
        }
        let cap = self.entries.len();
        for _ in 0..n.min(cap) {
            let pos = self.hand;
            self.hand = (self.hand + 1) & (cap - 1);
            let (b, w) = (pos / WAYS, pos % WAYS);
            if self.buckets[b].sig(w) == 0 {
                continue;
            }
            let e = &self.entries[pos];
            if !engine.validate(self.bundles.get(e.bid), &e.key) {
                self.delete(pos);
                self.stats.swept += 1;
            } else {
                let m = self.buckets[b].meta[w];
                if m & RECENCY != 0 {
                    self.buckets[b].meta[w] = m - 1;
                }
            }
        }
        self.release_pending();
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
        self.npending = 0;
        for b in self.buckets.iter_mut() {
            *b = Bucket::default();
        }
        self.bundles.clear();
        self.len = 0;
    }

    /// The valid entries, for `flows` listings (not for the data path).
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Bundle, bool)> + '_ {
        self.buckets.iter().enumerate().flat_map(move |(bi, bk)| {
            (0..WAYS).filter(move |w| bk.sig(*w) != 0).map(move |w| {
                let e = &self.entries[bi * WAYS + w];
                (&e.key, self.bundles.get(e.bid), bk.meta[w] & PROTECTED != 0)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(sigs: &[u16; WAYS], sig: u16) -> u32 {
        (0..WAYS).fold(0, |m, w| m | ((sigs[w] == sig) as u32) << w)
    }

    fn bucket(sigs: &[u16; WAYS]) -> Bucket {
        let mut b = Bucket::default();
        for (w, s) in sigs.iter().enumerate() {
            b.set_sig(w, *s);
        }
        for (w, s) in sigs.iter().enumerate() {
            assert_eq!(b.sig(w), *s);
        }
        b
    }

    fn mix(i: u64) -> u64 {
        let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The doorkeeper remembers a mark for at least two epochs of other
    /// marks (four capacities' worth), forgets it after three, and lets few
    /// never-seen flows pass once it is saturated by a flood.
    #[test]
    fn doorkeeper_remembers_two_epochs_and_forgets_after_three() {
        let mut s = Shard::with_hasher(1024, FlowHasher::with_key([3, 5, 7, 9, 11, 13]));
        let epoch = DOOR_EPOCH * s.capacity();
        let mut flood = 1u64 << 40;
        let mut other = |s: &mut Shard, n: usize| {
            for _ in 0..n {
                flood += 1;
                s.door_seen(mix(flood));
            }
        };
        // Saturate first, so the checks below run against a full filter.
        other(&mut s, 4 * epoch);
        let targets: Vec<u64> = (0..200).map(|i| mix(i + 7)).collect();
        let fresh = targets.iter().filter(|&&h| s.door_seen(h)).count();
        assert!(fresh <= 2, "{fresh} of 200 never-seen flows passed");
        // Two whole epochs of other misses later, every target is remembered.
        other(&mut s, 2 * epoch);
        let kept = targets.iter().filter(|&&h| s.door_seen(h)).count();
        assert_eq!(kept, 200, "marks forgotten within two epochs");
        // Three epochs and a bit without them: forgotten (false positives aside).
        other(&mut s, 3 * epoch + 1);
        let stale = targets.iter().filter(|&&h| s.door_seen(h)).count();
        assert!(stale <= 2, "{stale} of 200 marks outlived three epochs");
        // False positives of a saturated filter: 0.02 % expected, 0.2 % allowed.
        let fp = (0..100_000u64)
            .filter(|&i| s.door_seen(mix(i + (1 << 50))))
            .count();
        assert!(fp <= 200, "{fp} of 100,000 never-seen flows passed");
    }

    /// References each bundle slot holds, counted from the valid entries.
    fn entry_refs(s: &Shard) -> std::collections::HashMap<u32, u32> {
        let mut m = std::collections::HashMap::new();
        for (bi, bk) in s.buckets.iter().enumerate() {
            for w in 0..WAYS {
                if bk.sig(w) != 0 {
                    *m.entry(s.entries[bi * WAYS + w].bid).or_insert(0) += 1;
                }
            }
        }
        m
    }

    /// A way deleted by an earlier packet of the same burst keeps its old key
    /// (only its signature says it is free): a repeat of that flow later in
    /// the burst must not take it for its entry. Here the shard's bundle
    /// table is full (16 entries, 16 distinct bundles), so a stale flow's
    /// refresh finds no slot and its entry is deleted; trusting the stage-2
    /// candidate would refresh the deleted way, releasing its bundle a second
    /// time and leaking the new one.
    #[test]
    fn deleted_way_is_not_probed_for_a_repeat_in_the_burst() {
        use crate::ip::{Dir, Family, Prefix};
        use crate::mgmt::{EngineConfig, Mgmt, Op};
        use crate::spd::{PolicySpec, Selector};
        let mut m = Mgmt::new(&EngineConfig::default());
        // Distinct selectors (a /32 destination for the better one).
        let add = |m: &mut Mgmt, src: u32, prio: u32| {
            let mut sel = Selector::any(Family::V4);
            sel.src = Prefix::new(Family::V4, src as u128, 32);
            if prio < 100 {
                sel.dst = Prefix::new(Family::V4, 0x0b00_0001, 32);
            }
            m.apply(Op::PolicyAdd(PolicySpec::bypass(sel, Dir::Out, prio)))
                .unwrap();
        };
        let src = |i: u32| 0x0a00_0000 + i;
        for i in 0..16 {
            add(&mut m, src(i), 100);
        }
        let engine = m.engine().clone();
        let mut reader = engine.domain.register(1);
        let mut s = Shard::with_hasher(16, FlowHasher::with_key([3, 5, 7, 9, 11, 13]));
        let keys: Vec<FlowKey> = (0..16)
            .map(|i| {
                FlowKey::new(
                    Family::V4,
                    Dir::Out,
                    src(i) as u128,
                    0x0b00_0001,
                    17,
                    1000,
                    53,
                    0,
                )
            })
            .collect();
        let mut out = vec![Bundle::default(); 16];
        reader.online();
        s.lookup_burst(&engine, &reader, &keys, &mut out);
        assert_eq!((s.len(), s.distinct_bundles()), (16, 16));
        reader.offline();
        // A better policy for flow 5 alone: its entry goes stale.
        add(&mut m, src(5), 50);
        reader.online();
        let burst = [keys[5], keys[5]];
        s.lookup_burst(&engine, &reader, &burst, &mut out);
        // The first refresh found no free bundle slot: the entry was deleted
        // (and the repeat, a miss, found none either: the slot is released
        // after the burst).
        assert_eq!((s.stats.stale, s.stats.denied), (1, 2), "{:?}", s.stats);
        for (k, b) in burst.iter().zip(&out) {
            assert!(b.same_decision(&engine.resolve(k, &reader, false)));
        }
        s.release_pending();
        // Every bundle is held exactly by the entries that name it.
        let refs = entry_refs(&s);
        assert_eq!(refs.len(), s.distinct_bundles(), "a bundle no entry names");
        for (&bid, &n) in &refs {
            assert_eq!(s.bundles.refs(bid), n, "bundle {bid}");
        }
        reader.offline();
    }

    #[test]
    fn match_mask_finds_every_way() {
        let sigs = [5u16, 7, 5, 0, 9, 5, 1, 7];
        let b = bucket(&sigs);
        assert_eq!(match_mask(&b.sigs, 5), 0b0010_0101);
        assert_eq!(match_mask(&b.sigs, 7), 0b1000_0010);
        assert_eq!(match_mask(&b.sigs, 0), 0b0000_1000);
        assert_eq!(match_mask(&b.sigs, 3), 0);
        // Lanes that differ only in the high bit or by a borrow-prone value.
        let tricky = [
            0x8000u16, 0x0000, 0xffff, 0x7fff, 0x0001, 0x8001, 0xfffe, 0x0100,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut sigs = [0u16; WAYS];
            for (w, s) in sigs.iter_mut().enumerate() {
                *s = tricky[((x >> (3 * w)) & 7) as usize] ^ ((x >> 40) as u16 & 0x0101);
            }
            let b = bucket(&sigs);
            for &sig in tricky.iter().chain([sigs[3], (x >> 24) as u16].iter()) {
                assert_eq!(
                    match_mask(&b.sigs, sig),
                    naive(&sigs, sig),
                    "{sigs:x?} {sig:x}"
                );
            }
        }
    }
}
