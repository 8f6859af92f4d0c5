//! A table of QSBR-protected objects addressed by generational handles.
//!
//! Owns the objects stored in it and the slot index free list. Objects are
//! unlinked by `remove` and handed to the QSBR [`Domain`]; this module never
//! frees a removed object itself, and reuses its index only after the domain
//! dropped it (a grace period later).
//!
//! Stamp encoding: `generation << 32 | version`. The generation is odd while
//! the slot is free and even while it is live (insert and remove each bump
//! it); generation 0 is never used, so the stamp of `Handle::default()` never
//! matches. A 32-bit generation repeats after 2^31 reuses of one slot.
use crate::qsbr::{Domain, Reader};
use crate::sync::{lock, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use std::marker::PhantomData;
use std::sync::Arc;

/// A reference to an object in [`Slots`]: slot index + the slot's stamp when the
/// handle was made. A handle goes stale (never dangling) when the object is
/// removed or its stamp is bumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Handle {
    pub index: u32,
    /// `generation << 32 | version`: generation changes on remove, version on `bump`.
    pub stamp: u64,
}

impl Handle {
    pub fn generation(&self) -> u32 {
        generation(self.stamp)
    }
    pub fn version(&self) -> u32 {
        self.stamp as u32
    }
}

#[inline]
fn generation(stamp: u64) -> u32 {
    (stamp >> 32) as u32
}

#[inline]
fn is_live(stamp: u64) -> bool {
    let g = generation(stamp);
    g != 0 && g & 1 == 0
}

/// The generation after `g`, skipping 0 (free -> live -> free ...).
fn next_generation(g: u32) -> u32 {
    match g.wrapping_add(1) {
        0 => 2, // u32::MAX (free) wraps to a live generation; 0 is reserved
        n => n,
    }
}

fn stamp(generation: u32, version: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(version)
}

/// One slot: 16 bytes (4 per cache line), never moved.
struct Slot<T> {
    stamp: AtomicU64,
    /// The object (from `Box::into_raw`), null while free.
    ptr: AtomicPtr<T>,
}

type FreeList = Arc<Mutex<Vec<u32>>>;

/// Fixed-capacity table of objects. Slots never move (readers index them without
/// locks); a removed slot's index is reused only after a grace period.
///
/// Writer operations (`insert`, `remove`, `bump`) are for the single writer
/// (management core) and take an internal lock; reader operations are lock-free:
/// `is_current` is one Acquire load; `get` is two.
pub struct Slots<T> {
    slots: Box<[Slot<T>]>,
    /// Free indices; shared with retired objects, which push their index back
    /// when the domain drops them.
    free: FreeList,
    /// Serializes `insert`, `remove` and `bump`.
    writer: Mutex<()>,
    len: AtomicUsize,
    domain: Arc<Domain>,
    /// Owns `T`s: `Send`/`Sync` only if `T` is.
    _owns: PhantomData<T>,
}

/// A removed object on its way through the domain's retire queue. Dropping it
/// (in `Domain::reclaim`, after a grace period) frees the object, then returns
/// its slot index to the free list.
struct Retired<T> {
    ptr: *mut T,
    index: u32,
    free: FreeList,
}

// SAFETY: a `Retired<T>` owns the `T` behind `ptr` exclusively (it was unlinked
// from its slot before being wrapped), like a `Box<T>`; sending it sends a `T`.
unsafe impl<T: Send> Send for Retired<T> {}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::into_raw` in `insert`; `remove` swapped it
        // out of its slot exactly once (under the writer lock) and wrapped it
        // here, so this is its only owner. The domain drops a retired object only
        // after every reader online at the retire passed a quiescent state, so no
        // reader still holds a reference to it.
        drop(unsafe { Box::from_raw(self.ptr) });
        lock(&self.free).push(self.index);
    }
}

impl<T: Send + Sync + 'static> Slots<T> {
    /// A table of `capacity` slots (allocated up front) whose removed objects are
    /// retired to `domain`. Panics if `capacity` exceeds `u32::MAX`.
    pub fn new(capacity: usize, domain: Arc<Domain>) -> Slots<T> {
        let cap = u32::try_from(capacity).expect("Slots capacity exceeds u32::MAX");
        let slots = (0..cap)
            .map(|_| Slot {
                stamp: AtomicU64::new(stamp(1, 0)),
                ptr: AtomicPtr::new(std::ptr::null_mut()),
            })
            .collect();
        Slots {
            slots,
            // Reversed so that `pop` hands out index 0 first.
            free: Arc::new(Mutex::new((0..cap).rev().collect())),
            writer: Mutex::new(()),
            len: AtomicUsize::new(0),
            domain,
            _owns: PhantomData,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Live objects.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The domain removed objects are retired to.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Writer: store `obj`; `Err(obj)` if the table is full.
    pub fn insert(&self, obj: T) -> Result<Handle, T> {
        let _w = lock(&self.writer);
        let Some(index) = lock(&self.free).pop() else {
            return Err(obj);
        };
        let slot = &self.slots[index as usize];
        // Writer-owned: the writer lock (and the free-list lock for a reused
        // index) orders this after the stamp's last store.
        let old = slot.stamp.load(Ordering::Relaxed);
        debug_assert!(!is_live(old));
        let new = stamp(next_generation(generation(old)), 0);
        slot.ptr
            .store(Box::into_raw(Box::new(obj)), Ordering::Relaxed);
        // Publish: a reader whose Acquire stamp load sees `new` sees the pointer.
        slot.stamp.store(new, Ordering::Release);
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(Handle { index, stamp: new })
    }

    /// Writer: unlink the object `h` names (any version of its generation) and
    /// retire it. Returns `true` only for the call that removed it.
    pub fn remove(&self, h: Handle) -> bool {
        let w = lock(&self.writer);
        let Some(slot) = self.slots.get(h.index as usize) else {
            return false;
        };
        let old = slot.stamp.load(Ordering::Relaxed);
        if !is_live(old) || generation(old) != h.generation() {
            return false;
        }
        // Unlink: handles go stale first, then the pointer goes away.
        slot.stamp.store(
            stamp(next_generation(generation(old)), 0),
            Ordering::Release,
        );
        let ptr = slot.ptr.swap(std::ptr::null_mut(), Ordering::AcqRel);
        self.len.fetch_sub(1, Ordering::Relaxed);
        drop(w);
        debug_assert!(!ptr.is_null());
        // Retire after the unlink (the domain's tag is taken after it).
        self.domain.retire(Retired {
            ptr,
            index: h.index,
            free: Arc::clone(&self.free),
        });
        true
    }

    /// Writer: bump the version of a live object, so handles made before go stale.
    /// Returns the new handle, or `None` if `h`'s object is gone.
    pub fn bump(&self, h: Handle) -> Option<Handle> {
        let _w = lock(&self.writer);
        let slot = self.slots.get(h.index as usize)?;
        let old = slot.stamp.load(Ordering::Relaxed);
        if !is_live(old) || generation(old) != h.generation() {
            return None;
        }
        let new = stamp(generation(old), (old as u32).wrapping_add(1));
        slot.stamp.store(new, Ordering::Release);
        Some(Handle {
            index: h.index,
            stamp: new,
        })
    }

    /// The current handle of the object in `index`, if live.
    pub fn current(&self, index: u32) -> Option<Handle> {
        let s = self
            .slots
            .get(index as usize)?
            .stamp
            .load(Ordering::Acquire);
        is_live(s).then_some(Handle { index, stamp: s })
    }

    /// Writer: the object, without a reader (the writer is never racing a free).
    ///
    /// Contract (not checkable by the compiler): the returned reference must not
    /// be used after `h`'s object is removed *and* a reclaim could have run, i.e.
    /// do not hold it across `remove(h)` followed by `Domain::reclaim`,
    /// `synchronize` or `retire`. [`Slots::with_writer`] has no such caveat.
    pub fn get_writer(&self, h: Handle) -> Option<&T> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.stamp.load(Ordering::Acquire) != h.stamp || !is_live(h.stamp) {
            return None;
        }
        let ptr = slot.ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the object is live (the stamp matched and `ptr` is non-null);
        // it is freed only after a `remove` and a grace period, both of which are
        // the writer's own actions, which the contract above excludes while the
        // reference is in use.
        Some(unsafe { &*ptr })
    }

    /// Writer: run `f` on the object `h` names while holding the writer lock, so
    /// it cannot be removed meanwhile. `f` must not call this table's writer
    /// operations (it would deadlock).
    pub fn with_writer<R>(&self, h: Handle, f: impl FnOnce(&T) -> R) -> Option<R> {
        let _w = lock(&self.writer);
        let slot = self.slots.get(h.index as usize)?;
        if slot.stamp.load(Ordering::Relaxed) != h.stamp || !is_live(h.stamp) {
            return None;
        }
        let ptr = slot.ptr.load(Ordering::Relaxed);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `h` is live and only `remove` (which needs the writer lock we
        // hold) can unlink it; the reference does not escape `f`.
        Some(f(unsafe { &*ptr }))
    }

    /// Reader: is `h` still the current handle of its slot? One Acquire load.
    #[inline]
    pub fn is_current(&self, h: Handle) -> bool {
        match self.slots.get(h.index as usize) {
            Some(slot) => slot.stamp.load(Ordering::Acquire) == h.stamp && is_live(h.stamp),
            None => false,
        }
    }

    /// Reader: the object `h` names if `h` is current. The reference lives until
    /// the reader's next quiescent state. The reader must be online (and
    /// registered with this table's domain); otherwise this returns `None`.
    #[inline]
    pub fn get<'r>(&'r self, h: Handle, reader: &'r Reader) -> Option<&'r T> {
        debug_assert!(
            reader.protects(&self.domain),
            "Slots::get with an offline reader or one of another domain"
        );
        if !reader.protects(&self.domain) {
            return None;
        }
        let slot = self.slots.get(h.index as usize)?;
        if slot.stamp.load(Ordering::Acquire) != h.stamp {
            return None;
        }
        let ptr = slot.ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` was published by `insert` (Box::into_raw, then a Release
        // store that our Acquire load synchronizes with, so the object is fully
        // initialized). It is freed only after `remove` unlinked it (swapped the
        // slot to null) *and* every reader that was online at the retire passed a
        // quiescent state (see `qsbr` module docs). `reader` is online and of the
        // same domain (checked above), and it loaded `ptr` before that unlink, so
        // the domain waits for its next quiescent state. The returned reference
        // borrows `reader` for `'r`, and `Reader::quiescent`/`offline` (and drop)
        // need `&mut Reader`/ownership, so the reference is dead before the
        // reader can report the quiescent state that would allow the free. `T:
        // Sync` makes sharing `&T` across reader threads sound.
        Some(unsafe { &*ptr })
    }
}

impl<T> Drop for Slots<T> {
    /// Frees the live objects (removed ones belong to the domain).
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let ptr = slot.ptr.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !ptr.is_null() {
                // SAFETY: `&mut self`: no reader borrows the table (`get` ties its
                // result to `&'r self`). A non-null slot pointer is a live object
                // from `Box::into_raw` that was never unlinked, so it is owned by
                // the table alone.
                drop(unsafe { Box::from_raw(ptr) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::qsbr::QsbrConfig;
    use std::sync::atomic::{AtomicU32, AtomicUsize as StdUsize};

    struct Obj {
        val: u64,
        drops: Arc<StdUsize>,
    }
    impl Drop for Obj {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn table(cap: usize) -> (Arc<Domain>, Slots<Obj>, Arc<StdUsize>) {
        let d = Domain::new(QsbrConfig {
            max_readers: 4,
            max_pending: 1024,
            ..QsbrConfig::default()
        });
        (d.clone(), Slots::new(cap, d), Arc::new(StdUsize::new(0)))
    }

    fn obj(val: u64, drops: &Arc<StdUsize>) -> Obj {
        Obj {
            val,
            drops: drops.clone(),
        }
    }

    #[test]
    fn slot_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Slot<Obj>>(), 16);
    }

    #[test]
    fn default_handle_is_never_valid() {
        let (d, s, c) = table(2);
        let mut r = d.register(0);
        r.online();
        assert!(!s.is_current(Handle::default()));
        let h = s.insert(obj(1, &c)).ok().unwrap();
        assert_eq!(h.index, 0);
        assert!(!s.is_current(Handle::default()));
        assert!(s.get(Handle::default(), &r).is_none());
        assert!(!s.remove(Handle::default()));
        assert!(s.bump(Handle::default()).is_none());
        // A free slot has no current handle.
        assert_eq!(s.current(1), None);
        assert_eq!(s.current(0), Some(h));
        assert_eq!(s.current(9), None);
    }

    #[test]
    fn insert_get_remove_and_stale_handles() {
        let (d, s, c) = table(4);
        let mut r = d.register(0);
        r.online();
        let h = s.insert(obj(42, &c)).ok().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(h, &r).map(|o| o.val), Some(42));
        assert_eq!(s.get_writer(h).map(|o| o.val), Some(42));
        assert_eq!(s.with_writer(h, |o| o.val), Some(42));
        assert!(s.remove(h));
        assert!(!s.remove(h), "second remove must fail");
        assert!(!s.is_current(h));
        assert!(s.get(h, &r).is_none());
        assert!(s.get_writer(h).is_none());
        assert_eq!(s.len(), 0);
        // Reader online: not freed yet.
        assert_eq!(d.reclaim(), 0);
        assert_eq!(c.load(Ordering::SeqCst), 0);
        r.quiescent();
        assert_eq!(d.reclaim(), 1);
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn bump_makes_old_handles_stale_but_remove_accepts_any_version() {
        let (d, s, c) = table(4);
        let mut r = d.register(0);
        r.online();
        let h0 = s.insert(obj(5, &c)).ok().unwrap();
        let h1 = s.bump(h0).unwrap();
        assert_eq!(h1.generation(), h0.generation());
        assert_eq!(h1.version(), h0.version() + 1);
        assert!(!s.is_current(h0));
        assert!(s.is_current(h1));
        assert!(s.get(h0, &r).is_none());
        assert_eq!(s.get(h1, &r).map(|o| o.val), Some(5));
        // bump through a stale version of the same generation still works
        let h2 = s.bump(h0).unwrap();
        assert_eq!(h2.version(), 2);
        assert_eq!(s.current(h0.index), Some(h2));
        assert!(s.remove(h0));
        assert!(s.bump(h2).is_none());
        r.offline();
        d.synchronize();
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn full_table_returns_the_object() {
        let (_d, s, c) = table(1);
        let _h = s.insert(obj(1, &c)).ok().unwrap();
        let back = s.insert(obj(2, &c)).err().unwrap();
        assert_eq!(back.val, 2);
    }

    #[test]
    fn index_is_reused_only_after_grace_period() {
        let (d, s, c) = table(1);
        let mut r = d.register(0);
        r.online();
        let h = s.insert(obj(1, &c)).ok().unwrap();
        assert!(s.remove(h));
        // Not reusable while the retired object waits for the reader.
        assert!(s.insert(obj(2, &c)).is_err());
        assert_eq!(d.reclaim(), 0);
        assert!(s.insert(obj(3, &c)).is_err());
        r.quiescent();
        assert_eq!(d.reclaim(), 1);
        let h2 = s.insert(obj(4, &c)).ok().unwrap();
        assert_eq!(h2.index, h.index);
        assert_ne!(h2.generation(), h.generation());
        assert!(!s.is_current(h));
        assert!(s.get(h, &r).is_none());
        assert_eq!(s.get(h2, &r).map(|o| o.val), Some(4));
        // 2 and 3 were returned and dropped by the caller, 1 reclaimed.
        assert_eq!(c.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn drop_frees_live_objects_once() {
        let (d, s, c) = table(8);
        let hs: Vec<_> = (0..5).map(|i| s.insert(obj(i, &c)).ok().unwrap()).collect();
        assert!(s.remove(hs[1]));
        drop(s);
        assert_eq!(c.load(Ordering::SeqCst), 4);
        d.synchronize();
        assert_eq!(c.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn offline_reader_gets_nothing() {
        let (d, s, c) = table(2);
        let r = d.register(0);
        let h = s.insert(obj(1, &c)).ok().unwrap();
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.get(h, &r).is_some()));
        // Debug builds assert; release builds return None. Never Some.
        assert!(!matches!(got, Ok(true)));
    }

    #[test]
    fn racing_removers_remove_once() {
        let (d, s, c) = table(64);
        let s = Arc::new(s);
        let hs: Vec<_> = (0..64)
            .map(|i| s.insert(obj(i, &c)).ok().unwrap())
            .collect();
        let wins: Arc<Vec<AtomicU32>> = Arc::new((0..64).map(|_| AtomicU32::new(0)).collect());
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (s, hs, wins) = (s.clone(), hs.clone(), wins.clone());
                std::thread::spawn(move || {
                    for (i, h) in hs.iter().enumerate() {
                        if s.remove(*h) {
                            wins[i].fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(wins.iter().all(|w| w.load(Ordering::SeqCst) == 1));
        d.synchronize();
        assert_eq!(c.load(Ordering::SeqCst), 64);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn generation_skips_zero_on_wrap() {
        assert_eq!(next_generation(1), 2);
        assert_eq!(next_generation(u32::MAX), 2);
        assert!(!is_live(stamp(u32::MAX, 0)));
        assert!(is_live(stamp(2, 7)));
        assert!(!is_live(0));
    }
}
