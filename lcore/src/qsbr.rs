//! Quiescent-state-based reclamation.
//!
//! STUB: signatures fixed; bodies to be implemented (issue 2).
#![allow(unused)]

use std::time::Duration;

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
pub struct Domain {}

impl Domain {
    pub fn new(cfg: QsbrConfig) -> std::sync::Arc<Domain> {
        todo!()
    }
    /// Register a reader for `lcore_id`; it starts **offline**.
    /// Panics if more than `max_readers` are registered.
    pub fn register(self: &std::sync::Arc<Self>, lcore_id: usize) -> Reader {
        todo!()
    }
    /// Writer side: hand `obj` over to be dropped after a grace period.
    /// Tags it with the current token and advances the token.
    /// If the queue is full, reclaims; if still full, synchronizes first.
    pub fn retire<T: Send + 'static>(&self, obj: T) {
        todo!()
    }
    /// Free everything that every online reader has passed. Returns how many were freed.
    pub fn reclaim(&self) -> usize {
        todo!()
    }
    /// Wait until every reader online now has passed a quiescent state (or gone offline), then reclaim.
    pub fn synchronize(&self) {
        todo!()
    }
    /// Objects retired and not yet freed.
    pub fn pending(&self) -> usize {
        todo!()
    }
    pub fn stats(&self) -> QsbrStats {
        todo!()
    }
}

/// A reader (worker lcore) of a domain. Not `Sync`: each worker owns its own.
///
/// References obtained through a `&Reader` (from [`crate::Slots::get`] or
/// [`crate::LeftRight::read`]) cannot outlive the next [`Reader::quiescent`] or
/// [`Reader::offline`], because those take `&mut self`.
pub struct Reader {}

impl Reader {
    pub fn lcore_id(&self) -> usize {
        todo!()
    }
    /// Start reading: the writer must now wait for this reader.
    pub fn online(&mut self) {
        todo!()
    }
    /// Stop reading (idle, or stopping): the writer no longer waits for this reader.
    pub fn offline(&mut self) {
        todo!()
    }
    pub fn is_online(&self) -> bool {
        todo!()
    }
    /// Report a quiescent state: one Acquire load of the domain token and one
    /// Release store to this reader's own cache-padded slot.
    #[inline]
    pub fn quiescent(&mut self) {
        todo!()
    }
}
