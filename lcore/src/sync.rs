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
pub(crate) use std::sync::{Arc, Mutex};

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
#[cfg(not(loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
