//! loom model checks of the QSBR protocol and the Slots retire path.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p lcore --test loom`
//!
//! The crate's atomics, fences and mutexes are loom's under `--cfg loom`
//! (lcore/src/sync.rs), so these models check the real code. Each protected
//! object carries a loom `UnsafeCell` that readers read and that `Drop`
//! writes: loom reports a causality violation if a drop is not ordered after
//! every read (a free under a reader), in addition to the explicit `freed`
//! flag assertions.
#![cfg(loom)]

use lcore::{Domain, QsbrConfig, Slots};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// A protected object: `data` is 42 while alive; `Drop` sets `freed` and
/// overwrites `data` (a non-atomic write loom checks against the reads).
struct Obj {
    data: UnsafeCell<u64>,
    freed: Arc<AtomicBool>,
}

// SAFETY: `data` is written only by `Drop` (with `&mut self`) and read through
// `&Obj` by readers; whether those are ordered is exactly what loom checks.
unsafe impl Sync for Obj {}

impl Obj {
    fn new(freed: &Arc<AtomicBool>) -> Obj {
        Obj {
            data: UnsafeCell::new(42),
            freed: freed.clone(),
        }
    }
    /// Reader side: the object must be intact while referenced.
    fn check(&self) {
        assert!(!self.freed.load(Ordering::Relaxed), "freed under a reader");
        self.data.with(|p| {
            // SAFETY: loom tracks this access; a racing drop is reported.
            assert_eq!(unsafe { *p }, 42, "freed under a reader")
        });
        assert!(!self.freed.load(Ordering::Relaxed), "freed under a reader");
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.data.with_mut(|p| {
            // SAFETY: loom tracks this access; a racing read is reported.
            unsafe { *p = 0xdead }
        });
        self.freed.store(true, Ordering::Release);
    }
}

/// The "kill" of an object kept alive by an `Arc` (so a protocol bug is
/// reported by loom instead of being a real use-after-free in the test): the
/// retired value; dropping it marks the object freed.
struct Kill(std::sync::Arc<std::sync::Mutex<Option<Obj>>>);

impl Drop for Kill {
    fn drop(&mut self) {
        // Run `Obj::drop` (the "free") without releasing memory readers may
        // still point at: move it out and drop it, leaving `None`.
        let obj = self.0.lock().unwrap().take();
        drop(obj);
    }
}

fn domain(readers: usize) -> std::sync::Arc<Domain> {
    Domain::new(QsbrConfig {
        max_readers: readers,
        max_pending: 16,
        stall_warning: Duration::from_secs(3600),
    })
}

/// Exhaustive by default (these models are small: all four take about 10 s);
/// `LOOM_MAX_PREEMPTIONS=N` bounds the search for a quicker run.
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// A published object: `linked` says whether readers can find it. The object
/// itself is an `Obj` read through a raw pointer captured at link time.
struct Published {
    linked: AtomicBool,
    cell: std::sync::Arc<std::sync::Mutex<Option<Obj>>>,
    /// Stable address of the `Obj` inside `cell` (never moved until taken).
    ptr: *const Obj,
}

// SAFETY: `ptr` points into `cell`, which is shared; access is what the test checks.
unsafe impl Send for Published {}
// SAFETY: as above.
unsafe impl Sync for Published {}

impl Published {
    fn new(freed: &Arc<AtomicBool>) -> Arc<Published> {
        let cell = std::sync::Arc::new(std::sync::Mutex::new(Some(Obj::new(freed))));
        let ptr = cell.lock().unwrap().as_ref().unwrap() as *const Obj;
        Arc::new(Published {
            linked: AtomicBool::new(true),
            cell,
            ptr,
        })
    }
    /// Reader: the object if still linked.
    fn find(&self) -> Option<&Obj> {
        if self.linked.load(Ordering::Acquire) {
            // SAFETY: the `Obj` lives inside `cell` until `Kill` takes it; the
            // `Option` payload is not moved before that. If the protocol let a
            // reader get here after the kill, `check` (loom cell + flag) fails
            // before the moved-out value matters.
            Some(unsafe { &*self.ptr })
        } else {
            None
        }
    }
    /// Writer: unlink; returns the kill to retire.
    fn unlink(&self) -> Kill {
        self.linked.store(false, Ordering::Release);
        Kill(self.cell.clone())
    }
}

/// (a) An object read by a reader between `online` and `quiescent` is never
/// freed early, whether the writer reclaims or synchronizes.
#[test]
fn loom_reader_between_online_and_quiescent_is_never_freed_under() {
    for sync in [false, true] {
        model(move || {
            let d = domain(1);
            let freed = Arc::new(AtomicBool::new(false));
            let obj = Published::new(&freed);
            let mut r = d.register(0);
            let o2 = obj.clone();
            let t = thread::spawn(move || {
                r.online();
                if let Some(o) = o2.find() {
                    o.check();
                }
                r.quiescent();
                if let Some(o) = o2.find() {
                    o.check();
                }
                r.offline();
            });
            d.retire(obj.unlink());
            if sync {
                d.synchronize();
                // After a grace period that began after the unlink, it is freed.
                assert!(freed.load(Ordering::Acquire));
            } else {
                d.reclaim();
            }
            t.join().unwrap();
            d.synchronize();
            assert!(freed.load(Ordering::Acquire));
        });
    }
}

/// (b) Freed as soon as every online reader has passed a quiescent state,
/// while the reader stays online.
#[test]
fn loom_freed_after_all_online_readers_passed() {
    model(|| {
        let d = domain(1);
        let freed = Arc::new(AtomicBool::new(false));
        let obj = Published::new(&freed);
        let retired = Arc::new(AtomicBool::new(false));
        let passed = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let mut r = d.register(0);
        r.online();
        let (o2, retired2, passed2, done2) =
            (obj.clone(), retired.clone(), passed.clone(), done.clone());
        let t = thread::spawn(move || {
            if let Some(o) = o2.find() {
                o.check();
            }
            while !retired2.load(Ordering::Acquire) {
                thread::yield_now();
            }
            r.quiescent();
            passed2.store(true, Ordering::Release);
            while !done2.load(Ordering::Acquire) {
                thread::yield_now();
            }
            drop(r);
        });
        d.retire(obj.unlink());
        retired.store(true, Ordering::Release);
        while !passed.load(Ordering::Acquire) {
            thread::yield_now();
        }
        // The reader is still online, but has passed.
        assert_eq!(d.reclaim(), 1);
        assert!(freed.load(Ordering::Acquire));
        done.store(true, Ordering::Release);
        t.join().unwrap();
    });
}

/// (c) A reader that goes offline (without any quiescent state) does not
/// block `synchronize`; one that was never online does not block `reclaim`.
#[test]
fn loom_offline_reader_does_not_block_reclamation() {
    model(|| {
        let d = domain(2);
        let freed = Arc::new(AtomicBool::new(false));
        let obj = Published::new(&freed);
        let done = Arc::new(AtomicBool::new(false));
        let _idle = d.register(1); // registered, never online
        let mut r = d.register(0);
        let (o2, done2) = (obj.clone(), done.clone());
        let t = thread::spawn(move || {
            r.online();
            if let Some(o) = o2.find() {
                o.check();
            }
            r.offline();
            // Stays registered (offline) until the writer is done.
            while !done2.load(Ordering::Acquire) {
                thread::yield_now();
            }
            drop(r);
        });
        d.retire(obj.unlink());
        d.synchronize(); // must return although `r` never passes a quiescent state
        assert!(freed.load(Ordering::Acquire), "{:?}", d.stats());
        done.store(true, Ordering::Release);
        t.join().unwrap();
    });
}

/// (d) Slots: a reader's `get` racing the writer's `remove` + `reclaim` never
/// sees the object freed, the object is freed once, and its index is reused
/// only after the grace period.
#[test]
fn loom_slots_get_remove_reclaim_never_frees_under_reader() {
    model(|| {
        let d = domain(1);
        let freed = Arc::new(AtomicBool::new(false));
        let slots = std::sync::Arc::new(Slots::new(1, d.clone()));
        let h = slots.insert(Obj::new(&freed)).ok().unwrap();
        let mut r = d.register(0);
        let s2 = slots.clone();
        let t = thread::spawn(move || {
            r.online();
            if let Some(o) = s2.get(h, &r) {
                o.check();
            }
            r.quiescent();
            // After a quiescent state that may follow the remove, the handle
            // is either still live or stale; never dangling.
            if let Some(o) = s2.get(h, &r) {
                o.check();
            }
            r.offline();
        });
        assert!(slots.remove(h));
        assert!(!slots.remove(h));
        let n = d.reclaim();
        // Index reuse only after the object was freed.
        let again = Obj::new(&Arc::new(AtomicBool::new(false)));
        match slots.insert(again) {
            Ok(h2) => {
                assert_eq!(n, 1);
                assert!(freed.load(Ordering::Acquire));
                assert_ne!(h2, h);
            }
            Err(_) => assert_eq!(n, 0),
        }
        t.join().unwrap();
        d.synchronize();
        assert!(freed.load(Ordering::Acquire));
        assert_eq!(d.stats().freed, 1);
    });
}

/// (a) with two readers: each one's reference is protected until its own
/// quiescent state, whatever the other does. Bounded search (the state space
/// of three threads is large); `LOOM_MAX_PREEMPTIONS` overrides.
#[test]
fn loom_two_readers_each_protected_until_own_quiescent() {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(|| {
        let d = domain(2);
        let freed = Arc::new(AtomicBool::new(false));
        let obj = Published::new(&freed);
        let threads: Vec<_> = (0..2)
            .map(|id| {
                let mut r = d.register(id);
                let o2 = obj.clone();
                thread::spawn(move || {
                    r.online();
                    if let Some(o) = o2.find() {
                        o.check();
                    }
                    r.quiescent();
                    r.offline();
                })
            })
            .collect();
        d.retire(obj.unlink());
        d.reclaim();
        for t in threads {
            t.join().unwrap();
        }
        // Both readers are offline now: whatever was left is freed, once.
        d.reclaim();
        assert!(freed.load(Ordering::Acquire));
        assert_eq!(d.stats().freed, 1);
    });
}
