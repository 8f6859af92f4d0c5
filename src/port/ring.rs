//! `net_ring`: in-process rings between ports, moving packets without
//! copying them.
//!
//! - `net_ringN` alone is a loopback, as DPDK's: what the port sends comes
//!   back on its own rx.
//! - `net_ringN,name=R` on two ports cross-connects them: the first port that
//!   names `R` gets side A, the second side B; A's tx is B's rx and B's tx is
//!   A's rx. Names are process-wide, so two gateways in one process connect by
//!   naming the same ring (a third port naming `R` while the pair is alive is
//!   an error). The second side uses the first side's ring size.
//!
//! Each direction is one bounded MPMC ring shared by all queues of the port
//! (every tx queue pushes into it, every rx queue pops from it), so the two
//! sides may have different queue counts. A tx into a full ring is refused;
//! the caller frees and counts the refused packets. A packet keeps its pool:
//! when the receiving side frees it, it returns to the sender's pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crossbeam_queue::ArrayQueue;

use super::{Burst, PooledBuf, QueueStats, RxQueue, TxQueue};
use crate::buf::PacketBuf;

/// One direction of a ring.
pub struct RingDir {
    q: ArrayQueue<PooledBuf>,
    writers: AtomicUsize,
    /// Set when the last writer went away after at least one existed.
    closed: AtomicBool,
}

impl RingDir {
    pub fn new(size: usize) -> Arc<RingDir> {
        Arc::new(RingDir {
            q: ArrayQueue::new(size.max(1)),
            writers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }
}

/// Both directions of a named pair.
pub struct RingPair {
    a_to_b: Arc<RingDir>,
    b_to_a: Arc<RingDir>,
}

/// The end of a ring a port holds: where it receives from and sends to.
#[derive(Clone)]
pub struct RingEnd {
    pub rx: Arc<RingDir>,
    pub tx: Arc<RingDir>,
    /// Keeps the named pair alive (and findable by the second side).
    _pair: Option<Arc<RingPair>>,
}

/// Named pairs waiting for, or joined by, their second side.
static NAMED: Mutex<Vec<(String, Weak<RingPair>, bool)>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("ring '{0}' already connects two ports")]
    Taken(String),
}

impl RingEnd {
    /// A loopback ring of `size` slots.
    pub fn loopback(size: usize) -> RingEnd {
        let d = RingDir::new(size);
        RingEnd {
            rx: d.clone(),
            tx: d,
            _pair: None,
        }
    }

    /// Side A (first caller) or side B (second caller) of the pair named
    /// `name`. Start-up only (takes a process-wide lock).
    pub fn attach(name: &str, size: usize) -> Result<RingEnd, RingError> {
        let mut named = NAMED.lock().unwrap_or_else(|e| e.into_inner());
        named.retain(|(_, w, _)| w.strong_count() > 0);
        if let Some(slot) = named.iter_mut().find(|(n, _, _)| n == name) {
            if slot.2 {
                return Err(RingError::Taken(name.to_string()));
            }
            if let Some(pair) = slot.1.upgrade() {
                slot.2 = true;
                return Ok(RingEnd {
                    rx: pair.a_to_b.clone(),
                    tx: pair.b_to_a.clone(),
                    _pair: Some(pair),
                });
            }
        }
        let pair = Arc::new(RingPair {
            a_to_b: RingDir::new(size),
            b_to_a: RingDir::new(size),
        });
        named.push((name.to_string(), Arc::downgrade(&pair), false));
        Ok(RingEnd {
            rx: pair.b_to_a.clone(),
            tx: pair.a_to_b.clone(),
            _pair: Some(pair),
        })
    }
}

/// rx queue of a ring port.
pub struct RingRx {
    port: u16,
    ring: Arc<RingDir>,
    /// Keeps a named pair attachable while this port lives.
    _end: RingEnd,
    stats: Arc<QueueStats>,
}

impl RingRx {
    pub fn new(port: u16, end: &RingEnd, stats: Arc<QueueStats>) -> RingRx {
        RingRx {
            port,
            ring: end.rx.clone(),
            _end: end.clone(),
            stats,
        }
    }
}

impl RxQueue<PooledBuf> for RingRx {
    fn rx_burst(&mut self, out: &mut Burst<PooledBuf>, max: usize) -> usize {
        let want = max.min(out.room());
        let (mut got, mut bytes) = (0, 0u64);
        while got < want {
            let Some(mut b) = self.ring.q.pop() else {
                break;
            };
            b.set_port(self.port);
            bytes += b.len() as u64;
            let _ = out.push(b);
            got += 1;
        }
        self.stats.add_rx(got as u64, bytes);
        got
    }

    /// Done once every sender into this ring is gone and the ring is empty.
    fn is_done(&self) -> bool {
        self.ring.closed.load(Ordering::Acquire) && self.ring.q.is_empty()
    }
}

/// tx queue of a ring port.
pub struct RingTx {
    ring: Arc<RingDir>,
    _end: RingEnd,
    spare: Burst<PooledBuf>,
    stats: Arc<QueueStats>,
}

impl RingTx {
    pub fn new(end: &RingEnd, stats: Arc<QueueStats>) -> RingTx {
        end.tx.writers.fetch_add(1, Ordering::AcqRel);
        RingTx {
            ring: end.tx.clone(),
            _end: end.clone(),
            spare: Burst::new(),
            stats,
        }
    }
}

impl Drop for RingTx {
    fn drop(&mut self) {
        if self.ring.writers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.ring.closed.store(true, Ordering::Release);
        }
    }
}

impl TxQueue<PooledBuf> for RingTx {
    fn tx_burst(&mut self, pkts: &mut Burst<PooledBuf>) -> usize {
        // Move the burst aside (no allocation: both bursts are preallocated),
        // push from the front, and put back whatever the ring refused, in
        // order. The first refusal ends the burst.
        std::mem::swap(pkts, &mut self.spare);
        let (mut sent, mut bytes, mut full) = (0usize, 0u64, false);
        for p in self.spare.drain() {
            if !full {
                let len = p.len() as u64;
                match self.ring.q.push(p) {
                    Ok(()) => {
                        sent += 1;
                        bytes += len;
                        continue;
                    }
                    Err(p) => {
                        full = true;
                        let _ = pkts.push(p);
                    }
                }
            } else {
                let _ = pkts.push(p);
            }
        }
        self.stats.add_tx(sent as u64, bytes);
        self.stats.add_tx_full(pkts.len() as u64);
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Pool;

    fn fill(pool: &Pool, b: &mut Burst<PooledBuf>, tag: u8, n: usize) {
        for i in 0..n {
            b.push(pool.alloc_from(&[tag, i as u8]).unwrap()).unwrap();
        }
    }

    #[test]
    fn pair_both_ways_and_full() {
        let pool = Pool::new(64, 128, 16);
        let a = RingEnd::attach("test-pair-both-ways", 8).unwrap();
        let b = RingEnd::attach("test-pair-both-ways", 999).unwrap();
        assert_eq!(b.rx.capacity(), 8, "B uses A's size");
        assert_eq!(
            RingEnd::attach("test-pair-both-ways", 8).err(),
            Some(RingError::Taken("test-pair-both-ways".into()))
        );
        let (sa, sb) = (
            Arc::new(QueueStats::default()),
            Arc::new(QueueStats::default()),
        );
        let mut a_tx = RingTx::new(&a, sa.clone());
        let mut a_rx = RingRx::new(0, &a, sa.clone());
        let mut b_tx = RingTx::new(&b, sb.clone());
        let mut b_rx = RingRx::new(1, &b, sb.clone());

        let mut burst = Burst::new();
        fill(&pool, &mut burst, 0xa, 5);
        assert_eq!(a_tx.tx_burst(&mut burst), 5);
        fill(&pool, &mut burst, 0xb, 3);
        assert_eq!(b_tx.tx_burst(&mut burst), 3);
        assert_eq!(b_rx.rx_burst(&mut burst, 32), 5);
        assert!(burst
            .iter()
            .enumerate()
            .all(|(i, p)| p.data() == [0xa, i as u8] && p.port() == 1));
        burst.clear();
        assert_eq!(a_rx.rx_burst(&mut burst, 32), 3);
        assert!(burst
            .iter()
            .enumerate()
            .all(|(i, p)| p.data() == [0xb, i as u8] && p.port() == 0));
        burst.clear();
        assert_eq!(pool.in_use(), 0);

        // 12 into a ring of 8: the first 8 go, the last 4 stay in order.
        fill(&pool, &mut burst, 0xa, 12);
        assert_eq!(a_tx.tx_burst(&mut burst), 8);
        let left: Vec<u8> = burst.iter().map(|p| p.data()[1]).collect();
        assert_eq!(left, vec![8, 9, 10, 11]);
        assert_eq!(a_tx.tx_burst(&mut burst), 0, "still full");
        assert_eq!(burst.len(), 4);
        let s = sa.snapshot();
        assert_eq!((s.tx_packets, s.tx_full), (13, 8));
        burst.clear(); // caller frees what was refused
        assert_eq!(pool.in_use(), 8);
        assert_eq!(b_rx.rx_burst(&mut burst, 3), 3);
        assert_eq!(b_rx.rx_burst(&mut burst, 32), 5);
        burst.clear();
        assert_eq!(pool.in_use(), 0);

        // B sees the end once A's senders are gone and the ring drained.
        fill(&pool, &mut burst, 0xa, 1);
        a_tx.tx_burst(&mut burst);
        assert!(!b_rx.is_done());
        drop(a_tx);
        assert!(!b_rx.is_done(), "one packet still queued");
        b_rx.rx_burst(&mut burst, 32);
        assert!(b_rx.is_done());
        burst.clear();
        assert!(!a_rx.is_done());
        drop((b_tx, a_rx, b_rx));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn loopback_and_freed_with_ring() {
        let pool = Pool::new(8, 128, 16);
        let end = RingEnd::loopback(4);
        let st = Arc::new(QueueStats::default());
        let mut tx = RingTx::new(&end, st.clone());
        let mut rx = RingRx::new(2, &end, st.clone());
        let mut burst = Burst::new();
        fill(&pool, &mut burst, 1, 2);
        assert_eq!(tx.tx_burst(&mut burst), 2);
        assert_eq!(rx.rx_burst(&mut burst, 32), 2);
        assert_eq!(burst.as_slice()[1].data(), &[1, 1]);
        burst.clear();
        // Packets left in a ring go back to their pool when the ring goes.
        fill(&pool, &mut burst, 1, 3);
        tx.tx_burst(&mut burst);
        assert_eq!(pool.in_use(), 3);
        drop((tx, rx, end));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn names_are_reusable_after_the_pair_is_gone() {
        let a = RingEnd::attach("test-reuse", 4).unwrap();
        let b = RingEnd::attach("test-reuse", 4).unwrap();
        drop((a, b));
        let c = RingEnd::attach("test-reuse", 16).unwrap();
        assert_eq!(c.tx.capacity(), 16);
    }
}
