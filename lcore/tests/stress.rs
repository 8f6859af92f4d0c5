//! Multi-thread stress tests of QSBR + Slots + LeftRight (a second or two each).
//! Run under the sanitizers by scripts/sanitize.sh.
#![cfg(not(loom))]

use lcore::{launch, Domain, Handle, LeftRight, QsbrConfig, Slots};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N_OBJ: usize = 32768;

/// Per object id: drop count, and whether it has been dropped.
struct Ledger {
    drops: Vec<AtomicU8>,
}

impl Ledger {
    fn new() -> Arc<Ledger> {
        Arc::new(Ledger {
            drops: (0..N_OBJ).map(|_| AtomicU8::new(0)).collect(),
        })
    }
    fn freed(&self, id: usize) -> bool {
        self.drops[id].load(Ordering::SeqCst) != 0
    }
}

struct Obj {
    id: usize,
    /// Derived from id, checked by readers (garbage would show).
    check: u64,
    ledger: Arc<Ledger>,
}

impl Obj {
    fn new(id: usize, ledger: &Arc<Ledger>) -> Obj {
        Obj {
            id,
            check: (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.check = 0;
        self.ledger.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

fn domain(readers: usize) -> Arc<Domain> {
    Domain::new(QsbrConfig {
        max_readers: readers,
        max_pending: 256,
        stall_warning: Duration::from_secs(30),
    })
}

/// Readers `get` random live handles and check, while they hold the
/// reference, that the object has not been dropped; the writer inserts,
/// bumps, removes and reclaims. At the end: every object dropped exactly once.
#[test]
fn slots_readers_never_see_freed_objects_and_everything_is_freed_once() {
    let d = domain(2);
    let ledger = Ledger::new();
    let slots: Arc<Slots<Obj>> = Arc::new(Slots::new(64, d.clone()));
    // The writer publishes each slot's latest stamp (Relaxed: `Slots` itself
    // must make a stale or racing handle harmless); readers build handles.
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..64).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let gets = Arc::new(AtomicU64::new(0));

    let readers = {
        let (d, slots, published, stop, gets, ledger) = (
            d.clone(),
            slots.clone(),
            published.clone(),
            stop.clone(),
            gets.clone(),
            ledger.clone(),
        );
        launch(&[(0, 0), (1, 1)], move |ctx| {
            let mut r = d.register(ctx.lcore_id);
            let mut n = 0u64;
            let mut i = ctx.lcore_id;
            r.online();
            while !stop.load(Ordering::Relaxed) {
                for index in ((i % 3) as u32..64).step_by(3) {
                    let h = Handle {
                        index,
                        stamp: published[index as usize].load(Ordering::Relaxed),
                    };
                    if let Some(o) = slots.get(h, &r) {
                        assert!(!ledger.freed(o.id), "object {} freed under a reader", o.id);
                        std::hint::spin_loop();
                        assert_eq!(o.check, (o.id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                        assert!(!ledger.freed(o.id), "object {} freed under a reader", o.id);
                        n += 1;
                    }
                }
                i += 1;
                r.quiescent();
                if i % 16 == 0 {
                    // Sometimes idle: offline readers must not block the writer.
                    r.offline();
                    std::thread::yield_now();
                    r.online();
                }
            }
            r.offline();
            gets.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap()
    };

    let deadline = Instant::now() + Duration::from_millis(700);
    let mut live: Vec<Handle> = Vec::new();
    let mut next_id = 0usize;
    let mut removed = 0usize;
    let mut step = 0u64;
    while Instant::now() < deadline && next_id < N_OBJ {
        step += 1;
        if live.len() < 48 {
            match slots.insert(Obj::new(next_id, &ledger)) {
                Ok(h) => {
                    live.push(h);
                    next_id += 1;
                }
                Err(_) => {
                    // index reuse waits for a grace period; the rejected object
                    // is dropped here, so count it as removed.
                    removed += 1;
                    next_id += 1;
                    d.reclaim();
                }
            }
        } else {
            let k = (step as usize * 7) % live.len();
            let h = live.swap_remove(k);
            if step % 5 == 0 {
                // bump then remove through the stale handle (same generation)
                let h2 = slots.bump(h).unwrap();
                published[h.index as usize].store(h2.stamp, Ordering::Relaxed);
                assert!(!slots.is_current(h));
                assert!(slots.is_current(h2));
            }
            assert!(slots.remove(h));
            assert!(!slots.remove(h));
            removed += 1;
        }
        for h in &live {
            published[h.index as usize].store(h.stamp, Ordering::Relaxed);
        }
        if step % 32 == 0 {
            d.reclaim();
        }
        if step % 256 == 0 {
            d.synchronize();
            // everything removed before the grace period is gone
            assert_eq!(d.pending(), 0);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers.join() {
        r.unwrap();
    }
    assert!(gets.load(Ordering::Relaxed) > 0, "readers never read");
    d.synchronize();
    let dropped: usize = (0..next_id).filter(|&i| ledger.freed(i)).count();
    assert_eq!(dropped, removed);
    assert_eq!(slots.len(), live.len());
    drop(slots);
    for id in 0..next_id {
        assert_eq!(ledger.drops[id].load(Ordering::SeqCst), 1, "object {id}");
    }
    let s = d.stats();
    assert_eq!(s.retired, s.freed);
    assert_eq!(s.pending, 0);
}

/// Racing removers on several threads: each handle is removed exactly once,
/// while a reader keeps reading.
#[test]
fn racing_removers_with_a_reader() {
    let d = domain(1);
    let ledger = Ledger::new();
    let slots: Arc<Slots<Obj>> = Arc::new(Slots::new(512, d.clone()));
    let hs: Vec<Handle> = (0..512)
        .map(|i| slots.insert(Obj::new(i, &ledger)).ok().unwrap())
        .collect();
    let wins: Arc<Vec<AtomicU8>> = Arc::new((0..512).map(|_| AtomicU8::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut r = d.register(0);
    let reader = {
        let (slots, hs, stop, ledger) = (slots.clone(), hs.clone(), stop.clone(), ledger.clone());
        std::thread::spawn(move || {
            r.online();
            while !stop.load(Ordering::Relaxed) {
                for h in &hs {
                    if let Some(o) = slots.get(*h, &r) {
                        assert!(!ledger.freed(o.id));
                    }
                }
                r.quiescent();
            }
        })
    };
    let removers: Vec<_> = (0..3)
        .map(|t| {
            let (slots, hs, wins) = (slots.clone(), hs.clone(), wins.clone());
            std::thread::spawn(move || {
                for (i, h) in hs.iter().enumerate().rev().skip(t) {
                    if slots.remove(*h) {
                        wins[i].fetch_add(1, Ordering::SeqCst);
                    }
                }
                for (i, h) in hs.iter().enumerate() {
                    if slots.remove(*h) {
                        wins[i].fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in removers {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(wins.iter().all(|w| w.load(Ordering::SeqCst) == 1));
    d.synchronize();
    assert!((0..512).all(|i| ledger.drops[i].load(Ordering::SeqCst) == 1));
}

/// A LeftRight map-like vector updated while readers read: the copies stay
/// equal and readers always see a consistent version.
#[test]
fn leftright_copies_stay_equal_under_readers() {
    let d = domain(2);
    let lr = Arc::new(LeftRight::new(Vec::<u64>::new(), d.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers = {
        let (d, lr, stop) = (d.clone(), lr.clone(), stop.clone());
        launch(&[(0, 0), (1, 1)], move |ctx| {
            let mut r = d.register(ctx.lcore_id);
            let mut reads = 0u64;
            r.online();
            loop {
                let (v, data) = lr.read_versioned(&r);
                // version v has exactly v elements 0..v
                assert_eq!(data.len() as u64, v);
                assert!(data.iter().enumerate().all(|(i, x)| *x == i as u64));
                reads += 1;
                r.quiescent();
                std::thread::yield_now();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            r.offline();
            reads
        })
        .unwrap()
    };
    for i in 0..300u64 {
        let len = lr.write(|v| {
            v.push(i);
            v.len()
        });
        assert_eq!(len as u64, i + 1);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers.join() {
        assert!(r.unwrap() > 0);
    }
    assert_eq!(lr.version(), 300);
    assert_eq!(*lr.read_writer(), (0..300).collect::<Vec<u64>>());
}
