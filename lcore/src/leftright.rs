//! A double-buffered structure read without locks.
//!
//! Owns two copies of a `T`; readers read the active one, the writer mutates
//! the other. It relies on the QSBR [`Domain`] for the one thing it cannot see:
//! when the last reader of the old copy has moved on.
//!
//! # Version and active copy
//!
//! There is a single atomic, `version`; the active copy is `version & 1`. So a
//! reader that sees version `v` necessarily reads copy `v & 1`, the one
//! published as version `v`: there is no window in which a reader sees a new
//! version with the old copy or the other way round. The writer mutates the
//! standby copy, then stores `version + 1` (Release); a reader's Acquire load
//! of `version` makes the mutation visible. `read_versioned` returns the data
//! and its version from that one load; the seqlock-style pattern (`version()`,
//! `read()`, `version()`) also works: if both version reads agree, the data is
//! exactly that version.
//!
//! # Rules for users
//!
//! - The writer thread must not be an online reader of the same domain while it
//!   calls [`LeftRight::write`]: `write` waits for a grace period, which would
//!   wait for the writer itself (deadlock).
//! - Changes must be deterministic: `f` is applied to both copies.
//! - `f` must not panic: a panic between the two applications leaves the copies
//!   different, so the structure is poisoned (later `write`s panic).
use crate::qsbr::{Domain, Reader};
use crate::sync::{lock_unpoisoned, AtomicU64, Mutex, Ordering};
use std::cell::UnsafeCell;
use std::sync::Arc;

/// Two copies of a `T`. Readers read the active copy (one Acquire load).
/// The writer applies a change to the standby copy, publishes it (Release
/// swap), waits for a grace period, then applies the same change to the other
/// copy. So changes must be deterministic: `f(a) == f(b)` when `a == b`.
pub struct LeftRight<T> {
    copies: [Box<UnsafeCell<T>>; 2],
    /// Publications so far; the active copy is `version & 1`.
    version: AtomicU64,
    /// Serializes writers; holds what the standby copy still lacks.
    writer: Mutex<Deferred<T>>,
    domain: Arc<Domain>,
}

/// A change published with [`LeftRight::write_deferred`], still to be applied
/// to the other copy.
type Change<T> = Box<dyn Fn(&mut T) + Send>;

/// Changes the standby copy lacks (applied to the active copy already) and
/// the grace period after which readers have left the standby copy.
struct Deferred<T> {
    log: Vec<Change<T>>,
    grace: u64,
}

// SAFETY: sending a LeftRight sends its two `T`s.
unsafe impl<T: Send> Send for LeftRight<T> {}
// SAFETY: readers on several threads share `&T` to the active copy (needs
// `T: Sync`); the writer mutates the standby copy from whichever thread calls
// `write` (needs `T: Send`). Readers and the writer never touch the same copy at
// the same time: see `write`.
unsafe impl<T: Send + Sync> Sync for LeftRight<T> {}

impl<T: Send + Sync> LeftRight<T> {
    /// Both copies start as clones of `init`.
    pub fn new(init: T, domain: Arc<Domain>) -> LeftRight<T>
    where
        T: Clone,
    {
        LeftRight {
            copies: [
                Box::new(UnsafeCell::new(init.clone())),
                Box::new(UnsafeCell::new(init)),
            ],
            version: AtomicU64::new(0),
            writer: Mutex::new(Deferred {
                log: Vec::new(),
                grace: 0,
            }),
            domain,
        }
    }

    /// Reader: the active copy, until the reader's next quiescent state.
    /// Panics if `reader` is offline or registered with another domain (the
    /// copy would not be protected).
    #[inline]
    pub fn read<'r>(&'r self, reader: &'r Reader) -> &'r T {
        self.read_versioned(reader).1
    }

    /// Reader: the active copy and the version it was published as.
    #[inline]
    pub fn read_versioned<'r>(&'r self, reader: &'r Reader) -> (u64, &'r T) {
        if !reader.protects(&self.domain) {
            unprotected();
        }
        let v = self.version.load(Ordering::Acquire);
        // SAFETY: copy `v & 1` is active. The writer mutates a copy only while
        // it is standby and only after a grace period that began after it
        // stopped being active (`write`). `reader` is online in our domain, so
        // that grace period waits for its next quiescent state, which it cannot
        // report while the returned `&'r T` (borrowing `reader`) is alive. The
        // Acquire load synchronizes with the Release store that published `v`,
        // so the writer's mutations of this copy are visible.
        (v, unsafe { &*self.copies[(v & 1) as usize].get() })
    }

    /// Writer: the active copy (writer-only; no reader needed).
    ///
    /// Contract: call it from the writer thread only, and do not hold the
    /// reference across a `write` (which mutates this copy after its grace
    /// period).
    pub fn read_writer(&self) -> &T {
        let v = self.version.load(Ordering::Acquire);
        // SAFETY: the active copy is mutated only by `write`, on the writer's
        // thread, which the contract above keeps from overlapping this borrow.
        unsafe { &*self.copies[(v & 1) as usize].get() }
    }

    /// Writer: apply `f` to both copies as described above; returns what the
    /// first application returned. Serialized by an internal lock.
    pub fn write<R>(&self, mut f: impl FnMut(&mut T) -> R) -> R {
        let Some(mut w) = lock_unpoisoned(&self.writer) else {
            panic!("LeftRight poisoned: a previous write panicked between its two applications");
        };
        self.catch_up(&mut w, true);
        let v = self.version.load(Ordering::Relaxed);
        let active = (v & 1) as usize;
        let standby = active ^ 1;
        // SAFETY: no reader holds a reference into the standby copy: it has been
        // standby since the previous `write` switched away from it, and that
        // `write` waited for a grace period before returning, so every reader has
        // since passed a quiescent state (dropping its references) and can only
        // take new ones to the active copy. Writers are serialized by the lock.
        let first = f(unsafe { &mut *self.copies[standby].get() });
        // Publish: readers' Acquire load of the new version sees the mutation.
        self.version.store(v + 1, Ordering::Release);
        // Wait until no reader can still hold a reference into the old copy.
        self.domain.synchronize();
        // SAFETY: the old copy is standby now, and the grace period above ensures
        // that every reader that loaded it has passed a quiescent state since
        // (offline readers hold no references).
        let _ = f(unsafe { &mut *self.copies[active].get() });
        first
    }

    /// Writer: apply `f` to the standby copy only, publish it, wait for a grace
    /// period, then make the other copy a clone of the published one
    /// (`clone_from`). Same effect as [`LeftRight::write`] for a deterministic
    /// `f`; cheaper when `f` is a large change (a bulk load: thousands of
    /// inserts cost more than one clone), dearer for a small change to a large
    /// `T`. Serialized with `write` by the same lock.
    pub fn write_cloned<R>(&self, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Clone,
    {
        let Some(mut w) = lock_unpoisoned(&self.writer) else {
            panic!("LeftRight poisoned: a previous write panicked between its two applications");
        };
        // (Catching up is wasted work here, but keeps one invariant: a write
        // starts with both copies equal.)
        self.catch_up(&mut w, true);
        let v = self.version.load(Ordering::Relaxed);
        let active = (v & 1) as usize;
        let standby = active ^ 1;
        // SAFETY: as in `write`: nobody reads the standby copy, writers are
        // serialized by the lock.
        let first = f(unsafe { &mut *self.copies[standby].get() });
        self.version.store(v + 1, Ordering::Release);
        self.domain.synchronize();
        // SAFETY: `standby` is now the active copy: readers may read it, but
        // nobody mutates it (only this writer would, and it holds the lock), so a
        // shared reference is sound. `active` is now standby and, after the grace
        // period above, unreferenced by readers (as in `write`); the two copies
        // are distinct boxes, so the `&mut` and the `&` do not alias.
        let (published, old) = unsafe {
            (
                &*self.copies[standby].get(),
                &mut *self.copies[active].get(),
            )
        };
        old.clone_from(published);
        first
    }

    /// Writer: apply `f` to the standby copy and publish it, without waiting
    /// for a grace period: the other copy gets `f` at the start of the next
    /// write (or [`LeftRight::try_catch_up`]), after the grace period begun
    /// here, which has usually passed by then. So a small change is visible
    /// to readers, and the call returns, after one application of `f` and no
    /// wait. `f` must be deterministic, as for `write`.
    pub fn write_deferred(&self, f: impl Fn(&mut T) + Send + 'static) {
        let Some(mut w) = lock_unpoisoned(&self.writer) else {
            panic!("LeftRight poisoned: a previous write panicked between its two applications");
        };
        self.catch_up(&mut w, true);
        let v = self.version.load(Ordering::Relaxed);
        let standby = ((v & 1) ^ 1) as usize;
        // SAFETY: as in `write`: nobody reads the standby copy (the catch-up
        // above waited for the grace period of the previous publication),
        // writers are serialized by the lock.
        f(unsafe { &mut *self.copies[standby].get() });
        self.version.store(v + 1, Ordering::Release);
        w.grace = self.domain.begin_grace();
        w.log.push(Box::new(f));
    }

    /// Writer: if a deferred change is pending and its grace period has
    /// passed, apply it to the standby copy now (no wait). Returns whether
    /// both copies are equal afterwards.
    pub fn try_catch_up(&self) -> bool {
        let Some(mut w) = lock_unpoisoned(&self.writer) else {
            return false;
        };
        self.catch_up(&mut w, false)
    }

    /// Apply the deferred changes to the standby copy once readers have left
    /// it (waiting for that if `wait`). Returns whether nothing is pending.
    fn catch_up(&self, w: &mut Deferred<T>, wait: bool) -> bool {
        if w.log.is_empty() {
            return true;
        }
        if wait {
            self.domain.wait_grace_for(w.grace);
        } else if !self.domain.grace_passed(w.grace) {
            return false;
        }
        let standby = ((self.version.load(Ordering::Relaxed) & 1) ^ 1) as usize;
        for f in w.log.drain(..) {
            // SAFETY: the standby copy was active until the publication that
            // began grace period `w.grace`, which has passed: every reader
            // that loaded it has since reported a quiescent state, and new
            // readers only find the active copy. Writers hold the lock.
            f(unsafe { &mut *self.copies[standby].get() });
        }
        true
    }

    /// Number of publications so far (readers can use it as a version).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cold]
#[inline(never)]
fn unprotected() -> ! {
    panic!("LeftRight::read with an offline reader or one of another domain")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::qsbr::QsbrConfig;
    use std::sync::atomic::AtomicBool;

    fn domain() -> Arc<Domain> {
        Domain::new(QsbrConfig {
            max_readers: 4,
            ..QsbrConfig::default()
        })
    }

    #[test]
    fn write_updates_both_copies_and_returns_first_result() {
        let d = domain();
        let lr = LeftRight::new(vec![1u32, 2], d.clone());
        let mut calls = 0;
        let r = lr.write(|v| {
            calls += 1;
            v.push(3);
            calls
        });
        assert_eq!(r, 1);
        assert_eq!(calls, 2);
        assert_eq!(lr.version(), 1);
        assert_eq!(lr.read_writer(), &vec![1, 2, 3]);
        lr.write(|v| v.retain(|x| *x != 1));
        assert_eq!(lr.read_writer(), &vec![2, 3]);
        // both copies equal
        // SAFETY: (test) no reader or writer is active.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_eq!(a, b);
    }

    #[test]
    fn write_cloned_applies_once_and_copies_agree() {
        let d = domain();
        let lr = LeftRight::new(vec![1u32, 2], d.clone());
        let mut calls = 0;
        let r = lr.write_cloned(|v| {
            calls += 1;
            v.push(3);
            v.len()
        });
        assert_eq!((r, calls), (3, 1));
        assert_eq!(lr.version(), 1);
        // A plain write afterwards applies to both copies, which must agree.
        lr.write(|v| v.push(4));
        assert_eq!(lr.read_writer(), &vec![1, 2, 3, 4]);
        // SAFETY: (test) no reader or writer is active.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_eq!(a, b);
    }

    #[test]
    fn write_deferred_publishes_now_and_catches_up_later() {
        let d = domain();
        let lr = LeftRight::new(vec![1u32], d.clone());
        let mut r = d.register(0);
        r.online();
        lr.write_deferred(|v| v.push(2));
        // Visible at once; the other copy still lacks it.
        assert_eq!(lr.read(&r), &vec![1, 2]);
        // SAFETY: (test) no writer is active; we only compare.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_ne!(a, b);
        // The reader has not passed a quiescent state: no catch-up yet.
        assert!(!lr.try_catch_up());
        r.quiescent();
        assert!(lr.try_catch_up());
        // SAFETY: (test) as above.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_eq!(a, b);
        // Deferred, then plain writes: the plain write catches up first.
        lr.write_deferred(|v| v.push(3));
        r.quiescent();
        lr.write_deferred(|v| v.push(4));
        r.offline();
        lr.write(|v| v.push(5));
        lr.write_cloned(|v| v.push(6));
        assert_eq!(lr.read_writer(), &vec![1, 2, 3, 4, 5, 6]);
        // SAFETY: (test) as above.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_eq!(a, b);
    }

    #[test]
    fn reader_sees_version_and_matching_copy() {
        let d = domain();
        let lr = LeftRight::new(0u64, d.clone());
        let mut r = d.register(0);
        r.online();
        assert_eq!(lr.read_versioned(&r), (0, &0));
        r.offline(); // the writer's grace period must not wait for us
        lr.write(|x| *x += 10);
        r.online();
        assert_eq!(lr.read_versioned(&r), (1, &10));
        assert_eq!(*lr.read(&r), 10);
    }

    #[test]
    #[should_panic(expected = "offline reader")]
    fn read_with_offline_reader_panics() {
        let d = domain();
        let lr = LeftRight::new(0u64, d.clone());
        let r = d.register(0);
        let _ = lr.read(&r);
    }

    /// Readers check that the two halves of the pair are always equal (a
    /// torn or concurrently mutated copy would show different halves) and that
    /// the value matches its version.
    #[test]
    fn concurrent_readers_never_see_a_copy_being_written() {
        let d = domain();
        let lr = Arc::new(LeftRight::new((0u64, 0u64), d.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(std::sync::Barrier::new(3));
        let readers: Vec<_> = (0..2)
            .map(|id| {
                let (lr, stop, started) = (lr.clone(), stop.clone(), started.clone());
                let mut r = d.register(id);
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    r.online();
                    started.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let v1 = lr.version();
                        let (v, pair) = lr.read_versioned(&r);
                        let a = pair.0;
                        std::hint::spin_loop();
                        assert_eq!(a, pair.1, "copy mutated under a reader");
                        assert!(v >= v1);
                        assert_eq!(a, v, "copy does not match its version");
                        reads += 1;
                        r.quiescent();
                        // 2-core machine: let the writer run.
                        std::thread::yield_now();
                    }
                    r.offline();
                    reads
                })
            })
            .collect();
        started.wait();
        for i in 0..200 {
            let f = |p: &mut (u64, u64)| {
                p.0 += 1;
                p.1 += 1;
            };
            match i % 3 {
                0 => lr.write(f),
                1 => lr.write_deferred(f),
                _ => lr.write_cloned(f),
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in readers {
            assert!(t.join().unwrap() > 0);
        }
        // Readers are gone: a deferred change left pending catches up now.
        assert!(lr.try_catch_up());
        assert_eq!(lr.read_writer(), &(200, 200));
        // SAFETY: (test) all readers joined, no writer.
        let (a, b) = unsafe { (&*lr.copies[0].get(), &*lr.copies[1].get()) };
        assert_eq!(a, b);
    }
}
