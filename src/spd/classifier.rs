//! The policy classifier: finds the best policy for a flow key among up to
//! hundreds of thousands of selectors (the flow cache's miss path), and finds
//! the policies a new selector overlaps (selective invalidation on add).
//!
//! One [`Classifier`] holds the policies of one direction and one type; the
//! SPD keeps one per `(Dir, PolicyType)`. Lookups ignore `FlowKey::dir`.
//!
//! # Structure: tuple-space search
//!
//! Every selector belongs to a *tuple*: its family, source and destination
//! prefix lengths, whether its protocol is a wildcard, and whether each port
//! range is a single port. Inside a tuple, a selector is found by exact match
//! on its [`BucketKey`] (masked addresses, protocol, single ports), so a
//! lookup costs one hash probe per tuple. Entries that share a bucket key
//! (port ranges, ingress ports, duplicates) sit in the bucket sorted by
//! `(priority, id)`, so the first one that matches is the bucket's best.
//!
//! Tuples are kept sorted by the best priority they hold; a lookup stops as
//! soon as no remaining tuple can beat the match it has. A typical SPD (host
//! pairs, subnets with port ranges, a few wide rules) has a handful of tuples.
//! The worst case is one tuple per combination of prefix lengths, which an
//! operator has to build on purpose.
//!
//! For [`Classifier::overlapping`], each tuple also keeps its bucket keys in
//! two ordered sets, by `(src, dst, ..)` and by `(dst, src, ..)`; the range
//! of keys a selector can overlap is contiguous in one of them, so a new host
//! pair among 100,000 others touches only the buckets of its own addresses.
//!
//! Plain single-writer data: no interior mutability; two clones given the
//! same operations give the same results.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::ops::Bound;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use crate::flow::FlowKey;
use crate::ip::{Addr, Family, Prefix};
use crate::spd::spec::Selector;

/// Hash builder of all SPD/SAD/route tables: fixed seed, so clones and runs agree.
/// Keys are configured objects, not attacker-chosen, so a fixed seed is safe.
pub(crate) type TableHasher = FixedState;

/// The exact-match part of a selector within its tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct BucketKey {
    a: Addr,
    b: Addr,
    proto: u8,
    sport: u16,
    dport: u16,
}

impl std::hash::Hash for BucketKey {
    #[inline(always)]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Three writes instead of five: this hash is computed once per tuple per lookup.
        state.write_u128(self.a);
        state.write_u128(self.b);
        state.write_u64(self.proto as u64 | (self.sport as u64) << 8 | (self.dport as u64) << 24);
    }
}

/// Which fields of a selector are exact-matched (the "shape" of a tuple).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TupleShape {
    src_len: u8,
    dst_len: u8,
    /// Protocol is matched exactly (selector proto != 0).
    proto: bool,
    /// Source port range is a single port (matched exactly).
    sport: bool,
    /// Destination port range is a single port (matched exactly).
    dport: bool,
}

impl TupleShape {
    fn of(sel: &Selector) -> TupleShape {
        TupleShape {
            src_len: sel.src.len,
            dst_len: sel.dst.len,
            proto: sel.proto != 0,
            sport: sel.sport.lo == sel.sport.hi,
            dport: sel.dport.lo == sel.dport.hi,
        }
    }

    /// The bucket key a selector of this shape is stored under (src first).
    fn key_of(&self, sel: &Selector) -> BucketKey {
        BucketKey {
            a: sel.src.addr,
            b: sel.dst.addr,
            proto: if self.proto { sel.proto } else { 0 },
            sport: if self.sport { sel.sport.lo } else { 0 },
            dport: if self.dport { sel.dport.lo } else { 0 },
        }
    }
}

#[derive(Clone, Debug)]
struct Entry<V> {
    priority: u32,
    id: u64,
    sel: Selector,
    value: V,
}

impl<V> Entry<V> {
    fn rank(&self) -> (u32, u64) {
        (self.priority, self.id)
    }

    /// `sel.matches(k)` for a key whose bucket key equals this entry's: the
    /// family, masked addresses, protocol and single ports are equal already.
    #[inline(always)]
    fn residual_match(&self, k: &FlowKey) -> bool {
        let s = &self.sel;
        if s.ingress.is_some_and(|p| p != k.ingress) {
            return false;
        }
        if k.is_fragment() {
            return s.sport.is_any() && s.dport.is_any();
        }
        s.sport.contains(k.sport) && s.dport.contains(k.dport)
    }
}

/// Entries sharing one bucket key, sorted by `(priority, id)`. The first entry
/// is stored inline: most buckets hold one policy and need no second pointer.
#[derive(Clone, Debug)]
struct Bucket<V> {
    first: Entry<V>,
    rest: Vec<Entry<V>>,
}

impl<V> Bucket<V> {
    fn iter(&self) -> impl Iterator<Item = &Entry<V>> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    fn insert(&mut self, e: Entry<V>) {
        if e.rank() < self.first.rank() {
            let old = std::mem::replace(&mut self.first, e);
            self.rest.insert(0, old);
        } else {
            let at = self.rest.partition_point(|x| x.rank() < e.rank());
            self.rest.insert(at, e);
        }
    }

    /// Remove entry `id`; `Err(entry)` = the bucket is now empty.
    fn remove(&mut self, id: u64) -> Option<Result<Entry<V>, ()>> {
        if self.first.id == id {
            if self.rest.is_empty() {
                return Some(Err(()));
            }
            let next = self.rest.remove(0);
            return Some(Ok(std::mem::replace(&mut self.first, next)));
        }
        let at = self.rest.iter().position(|e| e.id == id)?;
        Some(Ok(self.rest.remove(at)))
    }
}

#[derive(Clone, Debug)]
struct Tuple<V> {
    shape: TupleShape,
    /// Address masks of `shape`'s prefix lengths in this tuple's family.
    src_mask: Addr,
    dst_mask: Addr,
    buckets: HashMap<BucketKey, Bucket<V>, TableHasher>,
    /// Bucket keys ordered by (src, dst, ..).
    by_src: BTreeSet<BucketKey>,
    /// Bucket keys with `a`/`b` swapped: ordered by (dst, src, ..).
    by_dst: BTreeSet<BucketKey>,
    /// Priority -> number of entries with it; the first key is the tuple's best.
    priorities: std::collections::BTreeMap<u32, u32>,
    /// Cached first key of `priorities` (`u32::MAX` when empty).
    best: u32,
    len: usize,
    /// Bucket keys created during a bulk load, not yet in `by_src`/`by_dst`.
    pending: Vec<BucketKey>,
}

impl<V: Copy> Tuple<V> {
    fn new(family: Family, shape: TupleShape) -> Tuple<V> {
        Tuple {
            shape,
            src_mask: Prefix::mask_of(family, shape.src_len),
            dst_mask: Prefix::mask_of(family, shape.dst_len),
            buckets: HashMap::with_hasher(TableHasher::default()),
            by_src: BTreeSet::new(),
            by_dst: BTreeSet::new(),
            priorities: Default::default(),
            best: u32::MAX,
            len: 0,
            pending: Vec::new(),
        }
    }

    /// End of a bulk load: put the pending keys into the ordered sets. Many
    /// keys: rebuild both sets by merging (a stable sort, linear on the two
    /// sorted runs that configs in address order give) and a bulk build,
    /// instead of one tree insert per key; few: insert those still present.
    /// Keys removed during the load were removed from the sets already, and
    /// pending keys no longer in `buckets` are skipped, so the sets end up
    /// holding exactly the bucket keys either way.
    fn finish_bulk(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let buckets = &self.buckets;
        if self.pending.len() * 4 >= self.by_src.len() {
            let pending = &self.pending;
            let fresh = || pending.iter().filter(|k| buckets.contains_key(*k));
            let mut keys: Vec<BucketKey> = self.by_src.iter().chain(fresh()).copied().collect();
            keys.sort();
            let by_src = keys.into_iter().collect();
            let mut keys: Vec<BucketKey> = self
                .by_dst
                .iter()
                .copied()
                .chain(fresh().map(|k| swap(*k)))
                .collect();
            keys.sort();
            self.by_dst = keys.into_iter().collect();
            self.by_src = by_src;
        } else {
            for k in &self.pending {
                if buckets.contains_key(k) {
                    self.by_src.insert(*k);
                    self.by_dst.insert(swap(*k));
                }
            }
        }
        self.pending = Vec::new();
    }

    fn best_priority(&self) -> u32 {
        self.best
    }

    fn update_best(&mut self) -> bool {
        let best = self.priorities.keys().next().copied().unwrap_or(u32::MAX);
        let changed = best != self.best;
        self.best = best;
        changed
    }

    /// The best entry of this tuple that matches `k`.
    #[inline]
    fn lookup(&self, k: &FlowKey) -> Option<&Entry<V>> {
        let s = &self.shape;
        let key = BucketKey {
            a: k.src & self.src_mask,
            b: k.dst & self.dst_mask,
            proto: if s.proto { k.proto } else { 0 },
            sport: if s.sport { k.sport } else { 0 },
            dport: if s.dport { k.dport } else { 0 },
        };
        let found = self.buckets.get(&key)?.iter().find(|e| e.residual_match(k));
        debug_assert!(self
            .buckets
            .get(&key)?
            .iter()
            .all(|e| e.residual_match(k) == e.sel.matches(k)));
        found
    }
}

/// Where an entry lives, for removal by id.
#[derive(Clone, Copy, Debug)]
struct Loc {
    family: Family,
    shape: TupleShape,
    key: BucketKey,
}

/// The tuples of one family, sorted by their best priority.
#[derive(Clone, Debug)]
struct FamilyTuples<V> {
    tuples: Vec<Tuple<V>>,
}

impl<V: Copy> FamilyTuples<V> {
    fn position(&self, shape: &TupleShape) -> Option<usize> {
        self.tuples.iter().position(|t| t.shape == *shape)
    }

    /// Restore the order after a tuple changed its best priority.
    /// Ties by shape, so the order is a function of the contents alone.
    fn resort(&mut self) {
        self.tuples.sort_by_key(|t| (t.best, t.shape));
    }
}

/// A policy classifier for one direction and type. `V` is the caller's handle.
#[derive(Clone, Debug)]
pub struct Classifier<V> {
    v4: FamilyTuples<V>,
    v6: FamilyTuples<V>,
    ids: HashMap<u64, Loc, TableHasher>,
    /// Between [`Classifier::begin_bulk`] and [`Classifier::end_bulk`]: new
    /// bucket keys wait in their tuple's `pending` list.
    bulk: bool,
}

impl<V: Copy + Eq + Debug + Send + Sync> Default for Classifier<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy + Eq + Debug + Send + Sync> Classifier<V> {
    pub fn new() -> Classifier<V> {
        Classifier {
            v4: FamilyTuples { tuples: Vec::new() },
            v6: FamilyTuples { tuples: Vec::new() },
            ids: HashMap::with_hasher(TableHasher::default()),
            bulk: false,
        }
    }

    /// Start a bulk load: until [`Classifier::end_bulk`], inserts skip the
    /// ordered key sets that only [`Classifier::overlapping`] uses (which must
    /// not be called in between); lookups are unaffected. Also makes room for
    /// `n` more ids.
    pub fn begin_bulk(&mut self, n: usize) {
        self.ids.reserve(n);
        self.bulk = true;
    }

    /// End a bulk load: the ordered key sets are complete again.
    pub fn end_bulk(&mut self) {
        self.bulk = false;
        for t in self.v4.tuples.iter_mut().chain(self.v6.tuples.iter_mut()) {
            t.finish_bulk();
        }
    }

    fn family(&self, f: Family) -> &FamilyTuples<V> {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn family_mut(&mut self, f: Family) -> &mut FamilyTuples<V> {
        match f {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of tuples (distinct selector shapes); a lookup probes at most this many.
    pub fn tuple_count(&self) -> usize {
        self.v4.tuples.len() + self.v6.tuples.len()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains_key(&id)
    }

    pub fn clear(&mut self) {
        self.v4.tuples.clear();
        self.v6.tuples.clear();
        self.ids.clear();
    }

    /// Add a policy. `id` is unique and grows with insertion order (ties in
    /// priority go to the lower id, as Linux breaks them by insertion order).
    /// A policy already under `id` is replaced and its value returned.
    ///
    /// The selector is stored canonical: its prefixes are taken as of
    /// `sel.family` with host bits cleared (`Prefix::new`), as config parsing
    /// makes them anyway.
    pub fn insert(&mut self, id: u64, sel: &Selector, priority: u32, value: V) -> Option<V> {
        let old = self.remove(id);
        let sel = &canonical(sel);
        let shape = TupleShape::of(sel);
        let key = shape.key_of(sel);
        let entry = Entry {
            priority,
            id,
            sel: *sel,
            value,
        };
        let bulk = self.bulk;
        let fam = self.family_mut(sel.family);
        let i = match fam.position(&shape) {
            Some(i) => i,
            None => {
                fam.tuples.push(Tuple::new(sel.family, shape));
                fam.tuples.len() - 1
            }
        };
        let t = &mut fam.tuples[i];
        match t.buckets.entry(key) {
            hashbrown::hash_map::Entry::Occupied(mut o) => o.get_mut().insert(entry),
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(Bucket {
                    first: entry,
                    rest: Vec::new(),
                });
                if bulk {
                    t.pending.push(key);
                } else {
                    t.by_src.insert(key);
                    t.by_dst.insert(swap(key));
                }
            }
        }
        *t.priorities.entry(priority).or_insert(0) += 1;
        t.len += 1;
        if t.update_best() {
            fam.resort();
        }
        self.ids.insert(
            id,
            Loc {
                family: sel.family,
                shape,
                key,
            },
        );
        old
    }

    /// Remove policy `id`, returning its value.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let loc = self.ids.remove(&id)?;
        let fam = self.family_mut(loc.family);
        let Some(i) = fam.position(&loc.shape) else {
            debug_assert!(false, "classifier: id {id} without its tuple");
            return None;
        };
        let t = &mut fam.tuples[i];
        let bucket = t.buckets.get_mut(&loc.key)?;
        let removed = match bucket.remove(id)? {
            Ok(e) => e,
            Err(()) => {
                let b = t.buckets.remove(&loc.key)?;
                t.by_src.remove(&loc.key);
                t.by_dst.remove(&swap(loc.key));
                b.first
            }
        };
        if let std::collections::btree_map::Entry::Occupied(mut o) =
            t.priorities.entry(removed.priority)
        {
            *o.get_mut() -= 1;
            if *o.get() == 0 {
                o.remove();
            }
        }
        t.len -= 1;
        if t.len == 0 {
            fam.tuples.remove(i);
        } else if t.update_best() {
            fam.resort();
        }
        Some(removed.value)
    }

    /// The value of policy `id`.
    pub fn get(&self, id: u64) -> Option<V> {
        let loc = self.ids.get(&id)?;
        let fam = self.family(loc.family);
        let t = &fam.tuples[fam.position(&loc.shape)?];
        t.buckets
            .get(&loc.key)?
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.value)
    }

    /// The policy for `key`: among the entries whose selector
    /// [matches](Selector::matches) the key, the one with the lowest priority
    /// number, ties by lowest id. No allocation.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(u64, V)> {
        let mut best: Option<&Entry<V>> = None;
        for t in &self.family(key.family).tuples {
            if let Some(b) = best {
                // Sorted by best priority: nothing further can beat `b`.
                if t.best_priority() > b.priority {
                    break;
                }
            }
            if (t.shape.sport || t.shape.dport) && key.is_fragment() {
                // A single-port range is never ANY; fragments cannot match.
                continue;
            }
            if let Some(e) = t.lookup(key) {
                if best.is_none_or(|b| e.rank() < b.rank()) {
                    best = Some(e);
                }
            }
        }
        best.map(|e| (e.id, e.value))
    }

    /// Append to `out` every policy whose selector [overlaps](Selector::overlaps)
    /// `sel`, as `(id, value, priority)`, sorted by id. Allocates only to grow `out`.
    pub fn overlapping(&self, sel: &Selector, out: &mut Vec<(u64, V, u32)>) {
        debug_assert!(!self.bulk, "overlapping() during a bulk load");
        let start = out.len();
        let sel = &canonical(sel);
        let fam = sel.family;
        for t in &self.family(fam).tuples {
            let s = &t.shape;
            let (src_lo, src_hi, src_free) = key_range(fam, &sel.src, s.src_len);
            let (dst_lo, dst_hi, dst_free) = key_range(fam, &sel.dst, s.dst_len);
            let mut visit = |k: &BucketKey| {
                if let Some(b) = t.buckets.get(k) {
                    for e in b.iter() {
                        if e.sel.overlaps(sel) {
                            out.push((e.id, e.value, e.priority));
                        }
                    }
                }
            };
            let lo = |a, b| BucketKey {
                a,
                b,
                proto: 0,
                sport: 0,
                dport: 0,
            };
            let hi = |a, b| BucketKey {
                a,
                b,
                proto: u8::MAX,
                sport: u16::MAX,
                dport: u16::MAX,
            };
            // In (a, b) order, keys with `a` in a range and `b` in a range are
            // contiguous when the `a` range is one value; otherwise we filter
            // by `b`. Walk the order whose first field varies least.
            if src_free <= dst_free {
                let range = (
                    Bound::Included(lo(src_lo, dst_lo)),
                    Bound::Included(hi(src_hi, dst_hi)),
                );
                for k in t.by_src.range(range) {
                    if (dst_lo..=dst_hi).contains(&k.b) {
                        visit(k);
                    }
                }
            } else {
                let range = (
                    Bound::Included(lo(dst_lo, src_lo)),
                    Bound::Included(hi(dst_hi, src_hi)),
                );
                for k in t.by_dst.range(range) {
                    if (src_lo..=src_hi).contains(&k.b) {
                        visit(&swap(*k));
                    }
                }
            }
        }
        out[start..].sort_unstable_by_key(|x| x.0);
    }

    /// Every policy as `(id, selector, priority, value)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Selector, u32, V)> + '_ {
        self.v4
            .tuples
            .iter()
            .chain(self.v6.tuples.iter())
            .flat_map(|t| t.buckets.values())
            .flat_map(|b| b.iter())
            .map(|e| (e.id, &e.sel, e.priority, e.value))
    }
}

/// `sel` with prefixes of its family and host bits clear.
fn canonical(sel: &Selector) -> Selector {
    Selector {
        src: Prefix::new(sel.family, sel.src.addr, sel.src.len),
        dst: Prefix::new(sel.family, sel.dst.addr, sel.dst.len),
        ..*sel
    }
}

fn swap(k: BucketKey) -> BucketKey {
    BucketKey {
        a: k.b,
        b: k.a,
        ..k
    }
}

/// The range of masked addresses (keys of a tuple with prefix length
/// `tuple_len`) that overlap prefix `p`, and how many bits vary in it.
fn key_range(family: Family, p: &Prefix, tuple_len: u8) -> (Addr, Addr, u8) {
    if tuple_len <= p.len {
        let a = p.addr & Prefix::mask_of(family, tuple_len);
        (a, a, 0)
    } else {
        let free = Prefix::mask_of(family, tuple_len) & !Prefix::mask_of(family, p.len);
        (p.addr, p.addr | free, tuple_len - p.len)
    }
}

/// The obvious classifier: a list scanned in full. The reference the tests
/// check [`Classifier`] against. Stores selectors canonical, like [`Classifier`].
#[derive(Clone, Debug, Default)]
pub struct LinearClassifier<V> {
    entries: Vec<(u64, Selector, u32, V)>,
}

impl<V: Copy + Eq + Debug + Send + Sync> LinearClassifier<V> {
    pub fn new() -> LinearClassifier<V> {
        LinearClassifier {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn insert(&mut self, id: u64, sel: &Selector, priority: u32, value: V) -> Option<V> {
        let old = self.remove(id);
        self.entries.push((id, canonical(sel), priority, value));
        old
    }

    pub fn remove(&mut self, id: u64) -> Option<V> {
        let i = self.entries.iter().position(|e| e.0 == id)?;
        Some(self.entries.remove(i).3)
    }

    pub fn lookup(&self, key: &FlowKey) -> Option<(u64, V)> {
        self.entries
            .iter()
            .filter(|e| e.1.matches(key))
            .min_by_key(|e| (e.2, e.0))
            .map(|e| (e.0, e.3))
    }

    pub fn overlapping(&self, sel: &Selector, out: &mut Vec<(u64, V, u32)>) {
        let start = out.len();
        let sel = &canonical(sel);
        out.extend(
            self.entries
                .iter()
                .filter(|e| e.1.overlaps(sel))
                .map(|e| (e.0, e.3, e.2)),
        );
        out[start..].sort_unstable_by_key(|x| x.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::FLOW_FRAGMENT;
    use crate::ip::Dir;
    use crate::spd::spec::PortRange;
    use proptest::prelude::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn a(s: &str) -> Addr {
        crate::ip::addr_from_ip(s.parse().unwrap()).1
    }

    fn sel(src: &str, dst: &str, proto: u8, sport: PortRange, dport: PortRange) -> Selector {
        let src = p(src);
        Selector {
            family: src.family,
            src,
            dst: p(dst),
            proto,
            sport,
            dport,
            ingress: None,
        }
    }

    fn key(src: &str, dst: &str, proto: u8, sport: u16, dport: u16) -> FlowKey {
        let (family, s) = crate::ip::addr_from_ip(src.parse().unwrap());
        FlowKey::new(family, Dir::Out, s, a(dst), proto, sport, dport, 0)
    }

    const ANY: PortRange = PortRange::ANY;

    #[test]
    fn priority_then_insertion_order() {
        let mut c = Classifier::new();
        c.insert(1, &sel("10.0.0.0/8", "0.0.0.0/0", 0, ANY, ANY), 10, 'a');
        c.insert(2, &sel("10.1.0.0/16", "0.0.0.0/0", 0, ANY, ANY), 10, 'b');
        c.insert(3, &sel("10.1.2.3/32", "0.0.0.0/0", 6, ANY, ANY), 20, 'c');
        let k = key("10.1.2.3", "192.0.2.1", 6, 1000, 80);
        // Equal priority: the earlier insertion wins, even though /16 is more specific.
        assert_eq!(c.lookup(&k), Some((1, 'a')));
        assert_eq!(c.remove(1), Some('a'));
        assert_eq!(c.lookup(&k), Some((2, 'b')));
        c.insert(4, &sel("10.1.2.0/24", "0.0.0.0/0", 6, ANY, ANY), 5, 'd');
        assert_eq!(c.lookup(&k), Some((4, 'd')));
        assert_eq!(c.lookup(&key("11.0.0.1", "192.0.2.1", 6, 1, 2)), None);
        assert_eq!(c.len(), 3);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.lookup(&k), None);
    }

    #[test]
    fn ports_fragments_ingress() {
        let mut c = Classifier::new();
        let web = sel("0.0.0.0/0", "192.0.2.0/24", 6, ANY, PortRange::single(443));
        let range = sel(
            "0.0.0.0/0",
            "192.0.2.0/24",
            17,
            ANY,
            PortRange { lo: 500, hi: 4500 },
        );
        let mut wide = sel("0.0.0.0/0", "0.0.0.0/0", 0, ANY, ANY);
        wide.ingress = Some(3);
        c.insert(1, &web, 1, 1u32);
        c.insert(2, &range, 1, 2);
        c.insert(3, &wide, 9, 3);
        assert_eq!(
            c.lookup(&key("1.2.3.4", "192.0.2.7", 6, 999, 443)),
            Some((1, 1))
        );
        assert_eq!(
            c.lookup(&key("1.2.3.4", "192.0.2.7", 17, 999, 4500)),
            Some((2, 2))
        );
        assert_eq!(c.lookup(&key("1.2.3.4", "192.0.2.7", 17, 999, 4501)), None);
        let mut frag = key("1.2.3.4", "192.0.2.7", 6, 0, 0);
        frag.flags |= FLOW_FRAGMENT;
        assert_eq!(c.lookup(&frag), None, "fragments skip port selectors");
        frag.ingress = 3;
        assert_eq!(c.lookup(&frag), Some((3, 3)));
        let mut k = key("1.2.3.4", "192.0.2.7", 17, 999, 4501);
        k.ingress = 3;
        assert_eq!(c.lookup(&k), Some((3, 3)));
    }

    #[test]
    fn host_bits_are_cleared_on_insert() {
        let mut c = Classifier::new();
        let mut s = sel("10.1.0.0/16", "0.0.0.0/0", 0, ANY, ANY);
        s.src.addr = a("10.1.2.3");
        c.insert(1, &s, 1, ());
        assert_eq!(
            c.lookup(&key("10.1.9.9", "1.1.1.1", 6, 1, 2)),
            Some((1, ()))
        );
        let mut out = Vec::new();
        c.overlapping(&s, &mut out);
        assert_eq!(out, vec![(1, (), 1)]);
        assert_eq!(c.iter().next().map(|e| e.1.src), Some(p("10.1.0.0/16")));
    }

    #[test]
    fn ipv6_and_families_apart() {
        let mut c = Classifier::new();
        c.insert(1, &sel("::/0", "::/0", 0, ANY, ANY), 100, 6u8);
        c.insert(2, &sel("0.0.0.0/0", "0.0.0.0/0", 0, ANY, ANY), 100, 4u8);
        c.insert(
            3,
            &sel("2001:db8::/32", "2001:db8:1::/48", 58, ANY, ANY),
            1,
            7u8,
        );
        assert_eq!(
            c.lookup(&key("10.0.0.1", "10.0.0.2", 1, 8, 0)),
            Some((2, 4))
        );
        assert_eq!(
            c.lookup(&key("2001:db8::1", "2001:db8:1::2", 58, 128, 0)),
            Some((3, 7))
        );
        assert_eq!(
            c.lookup(&key("2001:db8::1", "2001:db8:2::2", 58, 128, 0)),
            Some((1, 6))
        );
        assert_eq!(c.get(3), Some(7));
        assert_eq!(
            c.insert(3, &sel("::1/128", "::/0", 0, ANY, ANY), 1, 8u8),
            Some(7)
        );
        assert_eq!(c.get(3), Some(8));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn overlapping_host_pairs_touch_few() {
        let mut c = Classifier::new();
        for i in 0..2000u32 {
            let s = Selector {
                src: Prefix::host(Family::V4, 0x0a00_0000 | i as Addr),
                dst: Prefix::host(Family::V4, 0xc0a8_0000 | i as Addr),
                ..Selector::any(Family::V4)
            };
            c.insert(i as u64, &s, 10, i);
        }
        let sub = sel("10.0.0.0/24", "192.168.0.0/16", 0, ANY, ANY);
        c.insert(5000, &sub, 5, 5000);
        let mut out = Vec::new();
        let new = Selector {
            src: Prefix::host(Family::V4, 0x0a00_0007),
            dst: Prefix::host(Family::V4, 0xc0a8_0007),
            ..Selector::any(Family::V4)
        };
        c.overlapping(&new, &mut out);
        assert_eq!(out, vec![(7, 7, 10), (5000, 5000, 5)]);
        out.clear();
        c.overlapping(&sub, &mut out);
        assert_eq!(out.len(), 257);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    // ---- property test against the linear reference ----

    const V4_BASES: [Addr; 4] = [0x0a00_0000, 0x0a01_0200, 0xc0a8_0100, 0xc0a8_01f0];
    const V6_BASES: [Addr; 3] = [
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        0x2001_0db8_0000_0001_0000_0000_0000_0000,
        0xfe80_0000_0000_0000_0000_0000_0000_0001,
    ];
    const PORTS: [u16; 6] = [0, 22, 53, 80, 443, 65535];
    const PROTOS: [u8; 5] = [0, 1, 6, 17, 58];

    fn addr_strategy(v6: bool) -> impl Strategy<Value = Addr> {
        (0usize..4, any::<u16>(), 0u32..17).prop_map(move |(b, noise, bits)| {
            // Noise of a random width in the low bits, so keys fall inside
            // and outside prefixes of every length.
            let noise = noise as Addr & ((1 << bits) - 1);
            if v6 {
                V6_BASES[b % 3] ^ noise
            } else {
                V4_BASES[b] ^ noise
            }
        })
    }

    fn prefix_strategy(v6: bool) -> impl Strategy<Value = Prefix> {
        let fam = if v6 { Family::V6 } else { Family::V4 };
        let max = fam.bits();
        (
            addr_strategy(v6),
            prop_oneof![0..=max, Just(max), (max - 20)..=max],
        )
            .prop_map(move |(a, len)| Prefix::new(fam, a, len))
    }

    fn range_strategy() -> impl Strategy<Value = PortRange> {
        prop_oneof![
            2 => Just(PortRange::ANY),
            2 => (0usize..6).prop_map(|i| PortRange::single(PORTS[i])),
            1 => (0usize..6, 0usize..6).prop_map(|(i, j)| {
                let (lo, hi) = (PORTS[i.min(j)], PORTS[i.max(j)]);
                PortRange { lo, hi }
            }),
        ]
    }

    fn selector_strategy() -> impl Strategy<Value = Selector> {
        any::<bool>().prop_flat_map(|v6| {
            (
                prefix_strategy(v6),
                prefix_strategy(v6),
                0usize..5,
                range_strategy(),
                range_strategy(),
                prop_oneof![3 => Just(None), 1 => (0u16..3).prop_map(Some)],
            )
                .prop_map(move |(src, dst, pr, sport, dport, ingress)| Selector {
                    family: src.family,
                    src,
                    dst,
                    proto: PROTOS[pr],
                    sport,
                    dport,
                    ingress,
                })
        })
    }

    fn key_strategy() -> impl Strategy<Value = FlowKey> {
        any::<bool>().prop_flat_map(|v6| {
            (
                addr_strategy(v6),
                addr_strategy(v6),
                1usize..5,
                0usize..6,
                0usize..6,
                0u16..3,
                prop_oneof![4 => Just(false), 1 => Just(true)],
                any::<u16>(),
            )
                .prop_map(move |(src, dst, pr, sp, dp, ingress, frag, other)| {
                    let fam = if v6 { Family::V6 } else { Family::V4 };
                    // Mostly pool ports, sometimes neighbours or anything.
                    let port = |i: usize| match other % 3 {
                        0 => PORTS[i],
                        1 => PORTS[i].wrapping_add(1),
                        _ => other,
                    };
                    let mut k = FlowKey::new(
                        fam,
                        Dir::Out,
                        src,
                        dst,
                        PROTOS[pr],
                        port(sp),
                        port(dp),
                        ingress,
                    );
                    if frag {
                        k.sport = 0;
                        k.dport = 0;
                        k.flags |= FLOW_FRAGMENT;
                    }
                    k
                })
        })
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Selector, u32),
        Remove(usize),
        Replace(usize, Selector, u32),
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (selector_strategy(), 0u32..6).prop_map(|(s, p)| Op::Insert(s, p)),
            1 => any::<usize>().prop_map(Op::Remove),
            1 => (any::<usize>(), selector_strategy(), 0u32..6)
                .prop_map(|(i, s, p)| Op::Replace(i, s, p)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn matches_linear_reference(
            ops in prop::collection::vec(op_strategy(), 1..120),
            keys in prop::collection::vec(key_strategy(), 100),
            probes in prop::collection::vec(selector_strategy(), 20),
            bulk_from in 0usize..120,
            bulk_len in 0usize..120,
        ) {
            let mut fast = Classifier::new();
            let mut slow = LinearClassifier::new();
            let mut ids: Vec<u64> = Vec::new();
            // A bulk load (deferred ordered sets) over part of the sequence.
            let mut in_bulk = false;
            for (n, op) in ops.into_iter().enumerate() {
                if n == bulk_from {
                    fast.begin_bulk(4);
                    in_bulk = true;
                }
                if in_bulk && n == bulk_from + bulk_len {
                    fast.end_bulk();
                    in_bulk = false;
                }
                let n = n as u64;
                match op {
                    Op::Insert(s, pr) => {
                        prop_assert_eq!(fast.insert(n, &s, pr, n), None);
                        slow.insert(n, &s, pr, n);
                        ids.push(n);
                    }
                    Op::Remove(i) if !ids.is_empty() => {
                        let id = ids.swap_remove(i % ids.len());
                        prop_assert_eq!(fast.remove(id), slow.remove(id));
                        prop_assert_eq!(fast.remove(id), None);
                    }
                    Op::Replace(i, s, pr) if !ids.is_empty() => {
                        let id = ids[i % ids.len()];
                        prop_assert_eq!(fast.insert(id, &s, pr, n), slow.insert(id, &s, pr, n));
                    }
                    _ => {}
                }
                prop_assert_eq!(fast.len(), slow.len());
            }
            if in_bulk {
                fast.end_bulk();
            }
            // Clones agree with the original.
            let copy = fast.clone();
            for k in &keys {
                let want = slow.lookup(k);
                prop_assert_eq!(fast.lookup(k), want, "key {:?}", k);
                prop_assert_eq!(copy.lookup(k), want);
            }
            // Keys made from the stored selectors' own addresses hit often.
            for (_, s, _, _) in slow.entries.iter().take(30) {
                let mut k = keys[0];
                k.family = s.family;
                k.src = s.src.addr;
                k.dst = s.dst.addr;
                k.proto = if s.proto == 0 { 6 } else { s.proto };
                k.sport = s.sport.lo;
                k.dport = s.dport.hi;
                k.ingress = s.ingress.unwrap_or(0);
                prop_assert_eq!(fast.lookup(&k), slow.lookup(&k), "key {:?}", k);
            }
            for s in probes.iter().chain(slow.entries.iter().map(|e| &e.1).take(10)) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                fast.overlapping(s, &mut a);
                slow.overlapping(s, &mut b);
                prop_assert_eq!(a, b, "selector {:?}", s);
            }
            for &id in &ids {
                prop_assert_eq!(fast.get(id), slow.entries.iter().find(|e| e.0 == id).map(|e| e.3));
            }
        }
    }
}
