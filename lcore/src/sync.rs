//! Atomics behind a cfg(loom) shim, so the loom suite model-checks the real code.
//!
//! Everything that the QSBR protocol, `Slots` and `LeftRight` synchronize with
//! comes from here. Under `--cfg loom` these are loom's model-checked versions.
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{Arc, Mutex};
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::Arc;

/// Back off in a wait loop. Under loom this must be loom's `yield_now` so the
/// model checker schedules the thread being waited for.
#[cfg(loom)]
pub(crate) fn backoff(_round: u32) {
    loom::thread::yield_now();
}

/// Back off in a wait loop: yield for a while, then sleep briefly (a stalled
/// reader must not cost the management core a whole CPU).
#[cfg(not(loom))]
pub(crate) fn backoff(round: u32) {
    if round < 64 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// Lock a mutex; a poisoned lock is still usable (every critical section in
/// this crate leaves its data consistent before anything that can panic).
#[cfg(loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lock a mutex; `None` if a holder panicked (the caller decides).
#[cfg(loom)]
pub(crate) fn lock_unpoisoned<T>(m: &Mutex<T>) -> Option<loom::sync::MutexGuard<'_, T>> {
    m.lock().ok()
}

#[cfg(not(loom))]
pub(crate) use self::mutex::{lock, lock_unpoisoned, Mutex};

/// `std::sync::Mutex`, made visible to ThreadSanitizer.
///
/// std is not instrumented on the stable toolchain: a lock taken through the
/// contended path (inside std) is invisible to TSan, which then reports the
/// protected data as racing. Under `--cfg lcore_tsan` (set by
/// scripts/sanitize.sh) every critical section also does an Acquire load on
/// entry and a Release RMW on exit of an instrumented atomic, which restates
/// the mutex's real happens-before edges for TSan. Without the cfg the wrapper
/// is a plain `std::sync::Mutex`.
#[cfg(not(loom))]
mod mutex {
    use std::ops::{Deref, DerefMut};

    pub(crate) struct Mutex<T> {
        inner: std::sync::Mutex<T>,
        #[cfg(lcore_tsan)]
        hb: std::sync::atomic::AtomicUsize,
    }

    pub(crate) struct Guard<'a, T> {
        inner: std::sync::MutexGuard<'a, T>,
        #[cfg(lcore_tsan)]
        hb: &'a std::sync::atomic::AtomicUsize,
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Mutex<T> {
            Mutex {
                inner: std::sync::Mutex::new(v),
                #[cfg(lcore_tsan)]
                hb: std::sync::atomic::AtomicUsize::new(0),
            }
        }

        fn guard<'a>(&'a self, inner: std::sync::MutexGuard<'a, T>) -> Guard<'a, T> {
            #[cfg(lcore_tsan)]
            self.hb.load(std::sync::atomic::Ordering::Acquire);
            Guard {
                inner,
                #[cfg(lcore_tsan)]
                hb: &self.hb,
            }
        }
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }

    #[cfg(lcore_tsan)]
    impl<T> Drop for Guard<'_, T> {
        fn drop(&mut self) {
            self.hb.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// Lock a mutex; a poisoned lock is still usable (every critical section
    /// in this crate leaves its data consistent before anything that can panic).
    pub(crate) fn lock<T>(m: &Mutex<T>) -> Guard<'_, T> {
        m.guard(m.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lock a mutex; `None` if a holder panicked (the caller decides).
    pub(crate) fn lock_unpoisoned<T>(m: &Mutex<T>) -> Option<Guard<'_, T>> {
        m.inner.lock().ok().map(|g| m.guard(g))
    }
}
