//! Quiescent-state-based reclamation (QSBR).
//!
//! Owns the grace-period protocol between the one writer (the management core)
//! and the readers (worker lcores). It never touches what it protects: callers
//! unlink an object, then [`Domain::retire`] it; the domain drops it once every
//! reader that was online has passed a quiescent state.
//!
//! # Protocol
//!
//! - A global `token` (starts at 1) counts grace periods.
//! - Each reader owns one cache-padded slot: the last token it saw, `0` = offline.
//! - [`Reader::quiescent`]: `slot = token` (one Acquire load, one Release store).
//! - [`Reader::online`]: `slot = token`, then a SeqCst fence.
//! - [`Reader::offline`]: `slot = 0` (Release).
//! - [`Domain::retire`] (after the caller unlinked `obj`):
//!   `tag = token.fetch_add(1, SeqCst) + 1`, queue `(tag, obj)`.
//! - [`Domain::reclaim`]: SeqCst fence, `min` over the online slots (Acquire
//!   loads); drop every queued object whose `tag <= min` (all if none online).
//! - [`Domain::synchronize`]: `target = token.fetch_add(1, SeqCst) + 1`; wait
//!   until every slot is `0` or `>= target` (each scan after a SeqCst fence);
//!   drop everything queued (all tags `< target`).
//! - Stalls: a reader seen online and behind on the same value for longer than
//!   `stall_warning` by `reclaim`/`synchronize` gets one line on stderr per
//!   stall, counted in [`QsbrStats::stall_warnings`].
//!
//! # Why the orderings suffice
//!
//! *Quiescent.* Say the writer unlinked `obj`, then did the `fetch_add` that
//! produced `tag` (SeqCst, so also Release), and later reads `slot >= tag`
//! (Acquire). The reader stored that slot value after an Acquire load of the
//! token that read `tag` or a later value; every `fetch_add` is a release RMW,
//! so the load synchronizes with the `fetch_add` that produced `tag`. Two
//! consequences: (1) everything the reader does after that quiescent state
//! happens after the unlink, so it can no longer find `obj`; (2) everything it
//! did before (its last use of `obj`) is sequenced before its Release slot
//! store, which the writer's Acquire load read, so it happens before the drop.
//! No fence and no RMW is needed on the reader side.
//!
//! *Online.* Going online is a Dekker handshake: the reader stores its slot then
//! reads shared structures; the writer unlinks (a store) then reads the slots.
//! Release/Acquire alone allow both sides to miss the other's store (store
//! buffering), which would let the writer see `0` (offline) while the reader
//! reads the unlinked object. The SeqCst fence after the reader's store and
//! the SeqCst fence before the writer's scan forbid that: if the writer's fence
//! comes first in the single total order of SeqCst fences, the reader's later
//! loads see the unlink; otherwise the writer's scan sees the reader's slot.
//! Going online is rare (once per idle->busy transition), so the fence is off
//! the per-packet path. The token it stores was loaded before the fence and
//! may be older than a grace period the writer just started; that is safe (the
//! slot only claims less than the reader has seen) and costs at most a delay
//! until the reader's next quiescent state. It is why [`Domain::synchronize`]
//! drops by the tag it waited for instead of rescanning the slots.
//!
//! *Offline.* `slot = 0` (Release): the reader's earlier reads happen before
//! the writer's Acquire load that sees `0`, hence before any drop it allows.
//!
//! # Rules for users
//!
//! A thread must not call [`Domain::synchronize`] (or anything that may call
//! it: [`Domain::retire`] with a full queue, `LeftRight::write`) while its own
//! reader of the same domain is online: it would wait for itself forever.
use crate::sync::{backoff, fence, lock, AtomicU64, AtomicUsize, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Domain configuration.
#[derive(Clone, Debug)]
pub struct QsbrConfig {
    /// Maximum number of readers (worker lcores).
    pub max_readers: usize,
    /// Bound of the defer (retire) queue; `retire` reclaims, then synchronizes, when full.
    pub max_pending: usize,
    /// A reader online and not quiescent for longer than this is reported as stalled.
    pub stall_warning: Duration,
}

impl Default for QsbrConfig {
    fn default() -> Self {
        QsbrConfig {
            max_readers: 128,
            max_pending: 1 << 20,
            stall_warning: Duration::from_secs(1),
        }
    }
}

/// Counters of the domain, for statistics and leak checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QsbrStats {
    pub retired: u64,
    pub freed: u64,
    /// Retired and not yet freed.
    pub pending: usize,
    /// Current token (grace-period counter).
    pub token: u64,
    /// Lcore ids of online readers that have not yet passed the oldest pending token.
    pub holding_back: Vec<usize>,
    /// Times a stall warning was raised.
    pub stall_warnings: u64,
}

/// The QSBR domain, shared (in an `Arc`) by the writer and all readers.
pub struct Domain {
    /// Grace-period counter; readers copy it into their slot.
    token: CachePadded<AtomicU64>,
    /// One slot per reader: last token seen, 0 = offline (or unused).
    slots: Box<[CachePadded<AtomicU64>]>,
    cfg: QsbrConfig,
    /// Lcore id of the reader registered in each slot (`None` = free).
    /// Lock order: `writer` before `registry`.
    registry: Mutex<Vec<Option<usize>>>,
    /// Writer side: the retire queue and stall watches.
    writer: Mutex<WriterState>,
    // Counters readable without the writer lock (a `synchronize` waiting on a
    // stalled reader must not block the statistics).
    retired: AtomicU64,
    freed: AtomicU64,
    pending: AtomicUsize,
    /// Tag of the oldest queued object, 0 if none.
    oldest_pending: AtomicU64,
    stall_warnings: AtomicU64,
}

/// Something retired: dropped in `reclaim`.
type Garbage = Box<dyn Send>;

struct WriterState {
    /// `(tag, object)`, tags increasing front to back.
    queue: VecDeque<(u64, Garbage)>,
    /// Per reader slot: how long it has been behind on the same value.
    watch: Vec<StallWatch>,
}

#[derive(Clone, Copy, Default)]
struct StallWatch {
    /// Slot value when first seen behind; 0 = not watching.
    seen: u64,
    since: Option<Instant>,
    warned: bool,
}

impl Domain {
    pub fn new(cfg: QsbrConfig) -> std::sync::Arc<Domain> {
        let n = cfg.max_readers;
        Arc::new(Domain {
            token: CachePadded::new(AtomicU64::new(1)),
            slots: (0..n)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            registry: Mutex::new(vec![None; n]),
            writer: Mutex::new(WriterState {
                queue: VecDeque::new(),
                watch: vec![StallWatch::default(); n],
            }),
            retired: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            oldest_pending: AtomicU64::new(0),
            stall_warnings: AtomicU64::new(0),
            cfg,
        })
    }

    /// Register a reader for `lcore_id`; it starts **offline**.
    /// Panics if more than `max_readers` are registered.
    pub fn register(self: &std::sync::Arc<Self>, lcore_id: usize) -> Reader {
        let mut reg = lock(&self.registry);
        let Some(index) = reg.iter().position(Option::is_none) else {
            panic!(
                "QSBR domain: cannot register lcore {lcore_id}: all {} reader slots in use",
                self.cfg.max_readers
            );
        };
        reg[index] = Some(lcore_id);
        drop(reg);
        debug_assert_eq!(self.slots[index].load(Ordering::Relaxed), 0);
        Reader {
            domain: Arc::clone(self),
            index,
            lcore_id,
            online: false,
            _not_sync: PhantomData,
        }
    }

    /// Writer side: hand `obj` over to be dropped after a grace period.
    /// Tags it with the current token and advances the token.
    /// If the queue is full, reclaims; if still full, synchronizes first.
    ///
    /// Precondition: `obj` is unlinked (no reader can newly find it).
    pub fn retire<T: Send + 'static>(&self, obj: T) {
        let mut garbage = Vec::new();
        {
            let mut st = lock(&self.writer);
            let max = self.cfg.max_pending.max(1);
            if st.queue.len() >= max {
                garbage = self.collect(&mut st);
                if st.queue.len() >= max {
                    let target = self.wait_grace(&mut st);
                    garbage.extend(self.take_upto(&mut st, target));
                }
            }
            // The caller's unlink is sequenced before this SeqCst RMW; a reader
            // whose token load reads `tag` or later sees the unlink.
            let tag = self.token.fetch_add(1, Ordering::SeqCst) + 1;
            if st.queue.is_empty() {
                self.oldest_pending.store(tag, Ordering::Relaxed);
            }
            st.queue.push_back((tag, Box::new(obj)));
            self.retired.fetch_add(1, Ordering::Relaxed);
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        self.dispose(garbage);
    }

    /// Free everything that every online reader has passed. Returns how many were freed.
    pub fn reclaim(&self) -> usize {
        let garbage = {
            let mut st = lock(&self.writer);
            self.collect(&mut st)
        };
        self.dispose(garbage)
    }

    /// Wait until every reader online now has passed a quiescent state (or gone offline), then reclaim.
    pub fn synchronize(&self) {
        let garbage = {
            let mut st = lock(&self.writer);
            let target = self.wait_grace(&mut st);
            self.take_upto(&mut st, target)
        };
        self.dispose(garbage);
    }

    /// Writer: start a grace period without waiting for it; returns its
    /// target for [`Domain::grace_passed`] / [`Domain::wait_grace_for`].
    /// Everything the caller unlinked or published before this call is out of
    /// reach of every reader once the grace period has passed.
    pub fn begin_grace(&self) -> u64 {
        self.token.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Writer: has the grace period `target` (from [`Domain::begin_grace`])
    /// passed, i.e. every online reader reported a quiescent state since? Does
    /// not wait. (A reader that went online afterwards with an older token may
    /// make this report `false` for a little longer; that only delays.)
    pub fn grace_passed(&self, target: u64) -> bool {
        let mut st = lock(&self.writer);
        self.scan(&mut st, target) >= target
    }

    /// Writer: wait until the grace period `target` has passed.
    pub fn wait_grace_for(&self, target: u64) {
        let mut st = lock(&self.writer);
        let mut round = 0;
        while self.scan(&mut st, target) < target {
            backoff(round);
            round = round.saturating_add(1);
        }
    }

    /// Objects retired and not yet freed.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> QsbrStats {
        let oldest = self.oldest_pending.load(Ordering::Relaxed);
        let mut holding_back = Vec::new();
        if oldest != 0 {
            let reg = lock(&self.registry);
            for (i, s) in self.slots.iter().enumerate() {
                let v = s.load(Ordering::Acquire);
                if v != 0 && v < oldest {
                    if let Some(id) = reg[i] {
                        holding_back.push(id);
                    }
                }
            }
        }
        QsbrStats {
            retired: self.retired.load(Ordering::Relaxed),
            freed: self.freed.load(Ordering::Relaxed),
            pending: self.pending(),
            token: self.token.load(Ordering::Acquire),
            holding_back,
            stall_warnings: self.stall_warnings.load(Ordering::Relaxed),
        }
    }

    /// Writer: start a grace period and wait until every online reader has
    /// passed it (slot >= target) or been seen offline. Returns `target`: every
    /// object tagged `<= target` may then be dropped.
    ///
    /// The caller must drop by tag, not rescan: a reader seen offline here may
    /// come online right after with a token it loaded before its fence (older
    /// than `target`). It cannot reach anything unlinked before our fence
    /// (module docs, *Online*), but a rescan would count it as holding back.
    fn wait_grace(&self, st: &mut WriterState) -> u64 {
        let target = self.token.fetch_add(1, Ordering::SeqCst) + 1;
        let mut round = 0;
        while self.scan(st, target) < target {
            backoff(round);
            round = round.saturating_add(1);
        }
        target
    }

    /// Writer: the minimum token over online readers (`u64::MAX` if none), after
    /// the SeqCst fence that pairs with [`Reader::online`]. Readers below `behind`
    /// are watched for stalls.
    fn scan(&self, st: &mut WriterState, behind: u64) -> u64 {
        fence(Ordering::SeqCst);
        let mut min = u64::MAX;
        for (i, s) in self.slots.iter().enumerate() {
            let v = s.load(Ordering::Acquire);
            if v == 0 || v >= behind {
                st.watch[i] = StallWatch::default();
            } else {
                self.watch(st, i, v);
            }
            if v != 0 {
                min = min.min(v);
            }
        }
        min
    }

    /// Writer: reader slot `i` is online and behind at value `v`.
    fn watch(&self, st: &mut WriterState, i: usize, v: u64) {
        let w = &mut st.watch[i];
        if w.seen != v || w.since.is_none() {
            *w = StallWatch {
                seen: v,
                since: Some(Instant::now()),
                warned: false,
            };
            return;
        }
        if w.warned {
            return;
        }
        let stalled = w.since.map_or(Duration::ZERO, |t| t.elapsed());
        if stalled > self.cfg.stall_warning {
            w.warned = true;
            self.stall_warnings.fetch_add(1, Ordering::Relaxed);
            let lcore = lock(&self.registry)[i];
            match lcore {
                Some(id) => eprintln!(
                    "lcore: QSBR reader on lcore {id} has not passed a quiescent state for {stalled:?}; reclamation is held back"
                ),
                None => eprintln!(
                    "lcore: QSBR reader slot {i} has not passed a quiescent state for {stalled:?}; reclamation is held back"
                ),
            }
        }
    }

    /// Writer: take out of the queue everything every online reader has passed.
    fn collect(&self, st: &mut WriterState) -> Vec<Garbage> {
        if st.queue.is_empty() {
            return Vec::new();
        }
        let token = self.token.load(Ordering::Relaxed);
        let min = self.scan(st, token);
        self.take_upto(st, min)
    }

    /// Writer: take out of the queue every object tagged `<= limit`.
    fn take_upto(&self, st: &mut WriterState, limit: u64) -> Vec<Garbage> {
        let mut out = Vec::new();
        while st.queue.front().is_some_and(|(tag, _)| *tag <= limit) {
            if let Some((_, g)) = st.queue.pop_front() {
                out.push(g);
            }
        }
        let oldest = st.queue.front().map_or(0, |(tag, _)| *tag);
        self.oldest_pending.store(oldest, Ordering::Relaxed);
        out
    }

    /// Drop reclaimed objects outside the writer lock (a destructor may retire
    /// something itself) and count them.
    fn dispose(&self, garbage: Vec<Garbage>) -> usize {
        let n = garbage.len();
        drop(garbage);
        if n > 0 {
            self.freed.fetch_add(n as u64, Ordering::Relaxed);
            self.pending.fetch_sub(n, Ordering::Relaxed);
        }
        n
    }
}

/// A reader (worker lcore) of a domain. Not `Sync`: each worker owns its own.
///
/// References obtained through a `&Reader` (from [`crate::Slots::get`] or
/// [`crate::LeftRight::read`]) cannot outlive the next [`Reader::quiescent`] or
/// [`Reader::offline`], because those take `&mut self`.
pub struct Reader {
    domain: Arc<Domain>,
    index: usize,
    lcore_id: usize,
    online: bool,
    /// `Send` but not `Sync`.
    _not_sync: PhantomData<Cell<()>>,
}

impl Reader {
    pub fn lcore_id(&self) -> usize {
        self.lcore_id
    }

    /// Start reading: the writer must now wait for this reader.
    pub fn online(&mut self) {
        let slot = &self.domain.slots[self.index];
        slot.store(self.domain.token.load(Ordering::Acquire), Ordering::Release);
        // Dekker with the writer's fence in `Domain::scan`: either the writer
        // sees this store, or our later loads see its unlink (module docs).
        fence(Ordering::SeqCst);
        self.online = true;
    }

    /// Stop reading (idle, or stopping): the writer no longer waits for this reader.
    pub fn offline(&mut self) {
        self.domain.slots[self.index].store(0, Ordering::Release);
        self.online = false;
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Report a quiescent state: one Acquire load of the domain token and one
    /// Release store to this reader's own cache-padded slot. A no-op while
    /// offline (it must not bring the reader online without the fence).
    #[inline]
    pub fn quiescent(&mut self) {
        if self.online {
            let t = self.domain.token.load(Ordering::Acquire);
            self.domain.slots[self.index].store(t, Ordering::Release);
        }
    }

    /// Does this reader, as it stands, protect objects retired to `domain`?
    /// (Online, and registered with that very domain.)
    #[inline]
    pub(crate) fn protects(&self, domain: &Domain) -> bool {
        self.online && std::ptr::eq(Arc::as_ptr(&self.domain), domain)
    }

    /// The domain this reader is registered with.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
}

impl Drop for Reader {
    /// Unregister: go offline and free the slot for reuse.
    fn drop(&mut self) {
        self.offline();
        lock(&self.domain.registry)[self.index] = None;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Counts its drops.
    struct Tracked(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn cfg() -> QsbrConfig {
        QsbrConfig {
            max_readers: 4,
            max_pending: 8,
            stall_warning: Duration::from_secs(60),
        }
    }

    fn counter() -> Arc<std::sync::atomic::AtomicUsize> {
        Arc::new(std::sync::atomic::AtomicUsize::new(0))
    }

    #[test]
    fn no_readers_frees_everything() {
        let d = Domain::new(cfg());
        let c = counter();
        d.retire(Tracked(c.clone()));
        d.retire(Tracked(c.clone()));
        assert_eq!(d.pending(), 2);
        assert_eq!(d.reclaim(), 2);
        assert_eq!(c.load(Ordering::SeqCst), 2);
        let s = d.stats();
        assert_eq!((s.retired, s.freed, s.pending), (2, 2, 0));
    }

    #[test]
    fn online_reader_holds_back_until_quiescent() {
        let d = Domain::new(cfg());
        let mut r = d.register(7);
        r.online();
        let c = counter();
        d.retire(Tracked(c.clone()));
        assert_eq!(d.reclaim(), 0);
        assert_eq!(c.load(Ordering::SeqCst), 0);
        assert_eq!(d.stats().holding_back, vec![7]);
        r.quiescent();
        assert_eq!(d.stats().holding_back, Vec::<usize>::new());
        assert_eq!(d.reclaim(), 1);
        assert_eq!(c.load(Ordering::SeqCst), 1);
        // Freed once only.
        assert_eq!(d.reclaim(), 0);
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn offline_reader_does_not_hold_back() {
        let d = Domain::new(cfg());
        let mut r = d.register(1);
        r.online();
        r.offline();
        assert!(!r.is_online());
        let c = counter();
        d.retire(Tracked(c.clone()));
        // quiescent while offline must not bring it back online
        r.quiescent();
        d.retire(Tracked(c.clone()));
        assert_eq!(d.reclaim(), 2);
        d.synchronize();
        assert_eq!(c.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn reader_that_came_online_after_retire_does_not_hold_back() {
        let d = Domain::new(cfg());
        let c = counter();
        d.retire(Tracked(c.clone()));
        let mut r = d.register(1);
        r.online();
        assert_eq!(d.reclaim(), 1);
        drop(r);
    }

    #[test]
    fn bounded_queue_reclaims_when_full() {
        let d = Domain::new(cfg());
        let c = counter();
        for _ in 0..20 {
            d.retire(Tracked(c.clone()));
            assert!(d.pending() <= 8);
        }
        assert_eq!(c.load(Ordering::SeqCst) + d.pending(), 20);
    }

    #[test]
    fn full_queue_synchronizes_with_a_live_reader() {
        let d = Domain::new(cfg());
        let c = counter();
        let stop = Arc::new(AtomicBool::new(false));
        let mut r = d.register(3);
        let st = stop.clone();
        let t = std::thread::spawn(move || {
            r.online();
            while !st.load(Ordering::Relaxed) {
                r.quiescent();
                std::thread::yield_now();
            }
        });
        for _ in 0..50 {
            d.retire(Tracked(c.clone()));
            assert!(d.pending() <= 8);
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        d.synchronize();
        assert_eq!(c.load(Ordering::SeqCst), 50);
        assert_eq!(d.stats().freed, 50);
    }

    #[test]
    fn register_reuses_slots_and_panics_when_full() {
        let d = Domain::new(QsbrConfig {
            max_readers: 2,
            ..cfg()
        });
        let a = d.register(0);
        let b = d.register(1);
        assert_eq!((a.lcore_id(), b.lcore_id()), (0, 1));
        drop(a);
        let c = d.register(2);
        assert_eq!(c.index, 0);
        let d2 = d.clone();
        let r = std::panic::catch_unwind(move || {
            let _x = d2.register(3);
        });
        assert!(r.is_err());
    }

    #[test]
    fn stall_warning_is_counted_once_per_stall() {
        let d = Domain::new(QsbrConfig {
            stall_warning: Duration::from_millis(5),
            ..cfg()
        });
        let mut r = d.register(9);
        r.online();
        let c = counter();
        d.retire(Tracked(c.clone()));
        for _ in 0..5 {
            assert_eq!(d.reclaim(), 0);
            std::thread::sleep(Duration::from_millis(4));
        }
        assert_eq!(d.stats().stall_warnings, 1);
        assert_eq!(d.stats().holding_back, vec![9]);
        r.quiescent();
        assert_eq!(d.reclaim(), 1);
        // A new stall is a new warning.
        d.retire(Tracked(c.clone()));
        for _ in 0..5 {
            d.reclaim();
            std::thread::sleep(Duration::from_millis(4));
        }
        assert_eq!(d.stats().stall_warnings, 2);
        r.offline();
        assert_eq!(d.reclaim(), 1);
    }

    #[test]
    fn synchronize_returns_while_reader_keeps_quiescing() {
        let d = Domain::new(cfg());
        let stop = Arc::new(AtomicBool::new(false));
        let mut r = d.register(0);
        let st = stop.clone();
        let t = std::thread::spawn(move || {
            r.online();
            while !st.load(Ordering::Relaxed) {
                r.quiescent();
                std::hint::spin_loop();
            }
            r.offline();
        });
        for _ in 0..20 {
            d.synchronize();
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        assert!(d.stats().token >= 21);
    }
}
