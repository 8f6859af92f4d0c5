//! `net_null`: a sink that counts and frees what it is sent, and (unless
//! `no-rx=1`) a source of zero-filled packets of `size` bytes, as DPDK's
//! `net_null` behaves.

use std::sync::Arc;

use super::{Burst, Pool, PooledBuf, QueueStats, RxQueue, TxQueue};
use crate::buf::PacketBuf;

/// rx queue of a `net_null` port.
pub struct NullRx {
    port: u16,
    size: usize,
    no_rx: bool,
    pool: Pool,
    stats: Arc<QueueStats>,
}

impl NullRx {
    pub fn new(port: u16, size: usize, no_rx: bool, pool: Pool, stats: Arc<QueueStats>) -> NullRx {
        NullRx {
            port,
            size,
            no_rx,
            pool,
            stats,
        }
    }
}

impl RxQueue<PooledBuf> for NullRx {
    fn rx_burst(&mut self, out: &mut Burst<PooledBuf>, max: usize) -> usize {
        if self.no_rx {
            return 0;
        }
        let want = max.min(out.room());
        let mut got = 0;
        while got < want {
            let Some(mut b) = self.pool.alloc() else {
                self.stats.add_rx_nombuf(1);
                break;
            };
            match b.append(self.size) {
                // Pool buffers are reused: clear the previous packet's bytes.
                Some(d) => d.fill(0),
                None => {
                    // The registry checks `size` against the pool; never here.
                    self.stats.add_imissed(1);
                    break;
                }
            }
            b.set_port(self.port);
            let _ = out.push(b);
            got += 1;
        }
        self.stats.add_rx(got as u64, (got * self.size) as u64);
        got
    }

    /// A `no-rx` port will never receive; a generating one never ends.
    fn is_done(&self) -> bool {
        self.no_rx
    }
}

/// tx queue of a `net_null` port: accepts everything.
pub struct NullTx {
    stats: Arc<QueueStats>,
}

impl NullTx {
    pub fn new(stats: Arc<QueueStats>) -> NullTx {
        NullTx { stats }
    }
}

impl TxQueue<PooledBuf> for NullTx {
    fn tx_burst(&mut self, pkts: &mut Burst<PooledBuf>) -> usize {
        let n = pkts.len();
        let bytes: u64 = pkts.iter().map(|p| p.len() as u64).sum();
        pkts.free_all();
        self.stats.add_tx(n as u64, bytes);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_rx_zero_filled_and_sink() {
        let pool = Pool::new(64, 256, 32);
        // Dirty a buffer so reuse must clear it.
        drop(pool.alloc_from(&[0xff; 100]).unwrap());
        let st = Arc::new(QueueStats::default());
        let mut rx = NullRx::new(7, 100, false, pool.clone(), st.clone());
        let mut tx = NullTx::new(st.clone());
        let mut b = Burst::new();
        assert_eq!(rx.rx_burst(&mut b, 10), 10);
        assert!(b
            .iter()
            .all(|p| p.len() == 100 && p.port() == 7 && p.data().iter().all(|&x| x == 0)));
        assert_eq!(rx.rx_burst(&mut b, 64), 22, "bounded by the burst");
        assert_eq!(pool.in_use(), 32);
        assert_eq!(tx.tx_burst(&mut b), 32);
        assert!(b.is_empty());
        assert_eq!(pool.in_use(), 0);
        let s = st.snapshot();
        assert_eq!(
            (s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes),
            (32, 3200, 32, 3200)
        );
        assert!(!rx.is_done());

        let mut quiet = NullRx::new(0, 64, true, pool.clone(), st);
        assert_eq!(quiet.rx_burst(&mut b, 32), 0);
        assert!(quiet.is_done());
    }

    #[test]
    fn null_rx_counts_empty_pool() {
        let pool = Pool::new(4, 256, 32);
        let st = Arc::new(QueueStats::default());
        let mut rx = NullRx::new(0, 64, false, pool.clone(), st.clone());
        let mut b = Burst::new();
        assert_eq!(rx.rx_burst(&mut b, 32), 4);
        assert_eq!(st.snapshot().rx_nombuf, 1);
    }
}
