//! Pinned poll-mode worker threads ("lcores") and quiescent-state-based
//! reclamation (QSBR). Nothing packet-specific lives here.
//!
//! API (implemented in the submodules):
//! - [`launch`]: start pinned workers, each with an lcore id; [`Workers`] stops and joins them.
//! - [`Domain`]: the QSBR domain. Readers ([`Reader`], one per worker thread)
//!   register, go online/offline and call [`Reader::quiescent`] once per loop
//!   iteration. The writer retires objects ([`Domain::retire`]) and frees them in
//!   [`Domain::reclaim`] once every online reader has passed a quiescent state;
//!   [`Domain::synchronize`] waits for a grace period.
//! - [`Slots`]: a table of QSBR-protected objects addressed by generational
//!   [`Handle`]s, so that cached references go stale instead of dangling.
//! - [`LeftRight`]: a double-buffered structure: readers read the active copy
//!   with one Acquire load, the writer updates both copies around a grace period.
//!
//! Rules: one writer at a time (the writer operations lock internally); a
//! thread that waits for a grace period (`Domain::synchronize`,
//! `LeftRight::write`, `Domain::retire` on a full queue) must not itself be an
//! online reader of that domain. Reader references are tied to `&Reader`, so
//! they cannot be held across `Reader::quiescent`/`offline`.
//!
//! Tests: unit tests in each module, `tests/stress.rs` (threads),
//! `tests/loom.rs` (`RUSTFLAGS="--cfg loom" cargo test --release -p lcore`),
//! and `scripts/sanitize.sh` (AddressSanitizer, ThreadSanitizer).

pub mod leftright;
pub mod qsbr;
pub mod slots;
mod sync;
pub mod workers;

pub use leftright::LeftRight;
pub use qsbr::{Domain, QsbrConfig, QsbrStats, Reader};
pub use slots::{Handle, Slots};
pub use workers::{launch, pin_current, WorkerCtx, Workers};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        send_sync::<Domain>();
        send_sync::<Slots<Vec<u8>>>();
        send_sync::<LeftRight<Vec<u8>>>();
        // A reader moves to its worker thread but is not shared.
        send::<Reader>();
    }
}
