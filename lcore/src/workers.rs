//! Pinned worker threads.
//!
//! STUB: signatures fixed; bodies to be implemented (issue 2).
#![allow(unused)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What a worker sees: its lcore id, the CPU it is pinned to, and the stop flag.
pub struct WorkerCtx {
    pub lcore_id: usize,
    /// CPU the thread was pinned to, if pinning succeeded.
    pub cpu: Option<usize>,
    stop: Arc<AtomicBool>,
}

impl WorkerCtx {
    /// Has the launcher asked the worker to stop? (One Relaxed load.)
    #[inline]
    pub fn should_stop(&self) -> bool {
        todo!()
    }
}

/// Handle on running workers: stop and join them.
pub struct Workers<R> {
    _r: std::marker::PhantomData<R>,
}

impl<R: Send + 'static> Workers<R> {
    /// Ask all workers to stop (they see `should_stop()`).
    pub fn stop(&self) {
        todo!()
    }
    /// Stop and join; results in lcore order. A panicked worker gives `Err` with its message.
    pub fn join(self) -> Vec<Result<R, String>> {
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Launch one thread per `(lcore_id, cpu)`; each is pinned to `cpu` (when the
/// CPU exists; otherwise it runs unpinned and `ctx.cpu` is `None`), named
/// `lcore-<id>`, and runs `f(ctx)`.
pub fn launch<R, F>(lcores: &[(usize, usize)], f: F) -> std::io::Result<Workers<R>>
where
    R: Send + 'static,
    F: Fn(WorkerCtx) -> R + Send + Sync + 'static,
{
    todo!()
}
