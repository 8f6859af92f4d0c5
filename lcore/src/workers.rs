//! Pinned worker threads.
//!
//! Owns the worker threads' lifecycle (spawn, pin, stop flag, join). What a
//! worker does is the caller's closure; nothing here runs per packet except
//! [`WorkerCtx::should_stop`].
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

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
        self.stop.load(Ordering::Relaxed)
    }
}

/// Handle on running workers: stop and join them. Dropping it stops and joins
/// them too (results discarded).
pub struct Workers<R> {
    /// `(lcore_id, thread)`, sorted by lcore id.
    threads: Vec<(usize, JoinHandle<R>)>,
    stop: Arc<AtomicBool>,
}

impl<R: Send + 'static> Workers<R> {
    /// Ask all workers to stop (they see `should_stop()`).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stop and join; results in lcore order (ascending lcore id). A panicked
    /// worker gives `Err` with its message.
    pub fn join(mut self) -> Vec<Result<R, String>> {
        self.stop();
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|(id, t)| {
                t.join()
                    .map_err(|e| format!("lcore {id} panicked: {}", panic_message(&*e)))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lcore ids of the workers, ascending.
    pub fn lcore_ids(&self) -> Vec<usize> {
        self.threads.iter().map(|(id, _)| *id).collect()
    }
}

impl<R> Drop for Workers<R> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (_, t) in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Pin the calling thread to CPU `cpu`; `false` (and unpinned) when the CPU
/// does not exist or the system refuses. For the threads of the management
/// core, which DPDK runs on the main lcore's CPU.
pub fn pin_current(cpu: usize) -> bool {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.id == cpu)
        .is_some_and(core_affinity::set_for_current)
}

/// Launch one thread per `(lcore_id, cpu)`; each is pinned to `cpu` (when the
/// CPU exists; otherwise it runs unpinned and `ctx.cpu` is `None`), named
/// `lcore-<id>`, and runs `f(ctx)`.
///
/// If a thread cannot be spawned, the ones already started are stopped and
/// joined, and the error is returned.
pub fn launch<R, F>(lcores: &[(usize, usize)], f: F) -> std::io::Result<Workers<R>>
where
    R: Send + 'static,
    F: Fn(WorkerCtx) -> R + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let stop = Arc::new(AtomicBool::new(false));
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let mut sorted = lcores.to_vec();
    sorted.sort_by_key(|&(id, _)| id);
    let mut workers = Workers {
        threads: Vec::with_capacity(sorted.len()),
        stop: stop.clone(),
    };
    for (lcore_id, cpu) in sorted {
        let core = cpus.iter().copied().find(|c| c.id == cpu);
        let (f, stop) = (f.clone(), stop.clone());
        let t = std::thread::Builder::new()
            .name(format!("lcore-{lcore_id}"))
            .spawn(move || {
                let pinned = core.filter(|c| core_affinity::set_for_current(*c));
                f(WorkerCtx {
                    lcore_id,
                    cpu: pinned.map(|c| c.id),
                    stop,
                })
            })?; // on error, `workers` drops: stop + join the started ones
        workers.threads.push((lcore_id, t));
    }
    Ok(workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_named_pinned_and_stop() {
        let ncpu = core_affinity::get_core_ids().map_or(0, |v| v.len());
        let w = launch(&[(3, 0), (1, 100_000)], |ctx| {
            let name = std::thread::current().name().map(str::to_string);
            let mut spins = 0u64;
            while !ctx.should_stop() {
                spins += 1;
                std::thread::yield_now();
            }
            (ctx.lcore_id, ctx.cpu, name, spins)
        })
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.lcore_ids(), vec![1, 3]);
        std::thread::sleep(std::time::Duration::from_millis(10));
        w.stop();
        let res: Vec<_> = w.join().into_iter().map(Result::unwrap).collect();
        assert_eq!(res[0].0, 1);
        assert_eq!(res[0].1, None, "CPU 100000 does not exist");
        assert_eq!(res[0].2.as_deref(), Some("lcore-1"));
        assert_eq!(res[1].0, 3);
        assert_eq!(res[1].1, (ncpu > 0).then_some(0));
        assert_eq!(res[1].2.as_deref(), Some("lcore-3"));
    }

    #[test]
    fn panicking_worker_is_an_error_not_a_panic() {
        let w = launch(&[(0, 0), (1, 0)], |ctx| {
            if ctx.lcore_id == 1 {
                panic!("boom on {}", ctx.lcore_id);
            }
            7
        })
        .unwrap();
        let res = w.join();
        assert_eq!(res[0], Ok(7));
        let err = res[1].as_ref().unwrap_err();
        assert!(err.contains("boom on 1"), "{err}");
    }

    #[test]
    fn drop_stops_and_joins() {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let w = launch(&[(0, 0)], move |ctx| {
            while !ctx.should_stop() {
                std::thread::yield_now();
            }
            d.store(true, Ordering::SeqCst);
        })
        .unwrap();
        drop(w);
        assert!(done.load(Ordering::SeqCst));
    }
}
