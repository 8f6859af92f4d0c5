//! Packet I/O: the port interface the lcore loop is generic over, and the
//! software backends that implement it without DPDK.
//!
//! The interface maps 1:1 onto DPDK's `rte_eth_rx_burst` /
//! `rte_eth_tx_burst` on a `(port, queue)` pair:
//!
//! - a worker owns one [`RxQueue`] and one [`TxQueue`] handle per port (queue
//!   `i` of every port for worker `i`);
//! - [`RxQueue::rx_burst`] appends up to `max` packets to a fixed-capacity
//!   [`Burst`] (at most [`MAX_BURST`] = 32);
//! - [`TxQueue::tx_burst`] takes packets from the front of a burst and returns
//!   how many it accepted; the refused ones stay in the burst, in order, and
//!   the caller frees (drops) and counts them, as a DPDK application does with
//!   the mbufs `rte_eth_tx_burst` did not take.
//!
//! A DPDK backend (`port::dpdk`, the `dpdk` feature) can use a [`Burst`]'s
//! storage as the `struct rte_mbuf **` array directly: with an `Mbuf` type
//! that is `#[repr(transparent)]` over a mbuf pointer, `rx_burst` passes the
//! spare capacity of the burst's `Vec` to `rte_eth_rx_burst` and sets the
//! length; `tx_burst` passes the slice to `rte_eth_tx_burst` and removes the
//! first `n` without running their `Drop` (the PMD owns them now). The field
//! is private to this module tree for that purpose.
//!
//! Freeing a packet is dropping it. For the software ports the packet type is
//! [`PooledBuf`], a [`HeapBuf`] that goes back to its [`Pool`] on drop; the DPDK
//! mbuf wrapper will call `rte_pktmbuf_free` in its `Drop`. No buffer memory
//! is allocated after start-up.
//!
//! Backends: [`pcap`] files, [`null`] sinks, in-process [`ring`] pairs and the
//! traffic generator [`gen`]; [`vdev`] parses DPDK's `--vdev` spellings and
//! [`registry`] builds numbered ports from them and splits them into
//! per-worker queue handles. This module may not touch policy, SA or flow
//! state: it moves bytes and counts them.

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod gen;
pub mod null;
pub mod pcap;
pub mod registry;
pub mod ring;
pub mod vdev;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::buf::{HeapBuf, PacketBuf, DEFAULT_BUF_SIZE, DEFAULT_HEADROOM};
use crate::route::spec::Mac;

pub use registry::{Ports, PortsConfig, PortsHandle, SwRx, SwTx, WorkerQueues};
pub use vdev::{parse_vdev, VdevError, VdevSpec};

/// The largest burst a queue handles at once (DPDK's customary 32).
pub const MAX_BURST: usize = 32;

/// A burst of at most [`MAX_BURST`] packets.
///
/// Its storage is allocated once, when the burst is created; pushing into a
/// full burst is refused rather than growing it, so the data path never
/// allocates. Dropping packets out of a burst (`clear`, `truncate`) frees them.
#[derive(Debug)]
pub struct Burst<B> {
    pkts: Vec<B>,
}

impl<B> Default for Burst<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Burst<B> {
    /// An empty burst with room for [`MAX_BURST`] packets.
    pub fn new() -> Burst<B> {
        Burst {
            pkts: Vec::with_capacity(MAX_BURST),
        }
    }

    /// A burst without storage, to hold a place while the real one is
    /// borrowed elsewhere (`mem::replace`); it allocates nothing and must
    /// not be pushed to (a push would allocate).
    pub fn placeholder() -> Burst<B> {
        Burst { pkts: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.pkts.len() >= MAX_BURST
    }

    /// Free slots.
    pub fn room(&self) -> usize {
        MAX_BURST - self.pkts.len()
    }

    /// Append a packet; a full burst gives it back.
    #[inline]
    pub fn push(&mut self, b: B) -> Result<(), B> {
        if self.is_full() {
            return Err(b);
        }
        self.pkts.push(b);
        Ok(())
    }

    pub fn pop(&mut self) -> Option<B> {
        self.pkts.pop()
    }

    /// Move every packet of `other` behind this burst's, in order, if they
    /// fit (else `false`, both unchanged). No packet is moved one by one: an
    /// empty burst trades its (empty) array for `other`'s, otherwise the
    /// packets are copied as one block.
    #[inline]
    pub fn take_all_from(&mut self, other: &mut Burst<B>) -> bool {
        if self.pkts.len() + other.pkts.len() > MAX_BURST {
            return false;
        }
        if self.pkts.is_empty() && other.pkts.capacity() >= MAX_BURST {
            std::mem::swap(&mut self.pkts, &mut other.pkts);
        } else {
            self.pkts.append(&mut other.pkts);
        }
        true
    }

    /// Drop (free) every packet.
    pub fn clear(&mut self) {
        self.pkts.clear();
    }

    /// Keep the first `n` packets, drop (free) the rest.
    pub fn truncate(&mut self, n: usize) {
        self.pkts.truncate(n);
    }

    /// Remove and yield the first `n` packets (all if fewer); the rest move to
    /// the front. Allocates nothing.
    pub fn drain_front(&mut self, n: usize) -> std::vec::Drain<'_, B> {
        let n = n.min(self.pkts.len());
        self.pkts.drain(..n)
    }

    /// Remove and yield every packet.
    pub fn drain(&mut self) -> std::vec::Drain<'_, B> {
        self.pkts.drain(..)
    }

    /// Keep the packets for which `f` is true; the others are dropped (freed).
    pub fn retain_mut(&mut self, f: impl FnMut(&mut B) -> bool) {
        self.pkts.retain_mut(f);
    }

    pub fn as_slice(&self) -> &[B] {
        &self.pkts
    }

    pub fn as_mut_slice(&mut self) -> &mut [B] {
        &mut self.pkts
    }

    pub fn iter(&self) -> std::slice::Iter<'_, B> {
        self.pkts.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, B> {
        self.pkts.iter_mut()
    }
}

impl<B: crate::buf::PacketBuf> Burst<B> {
    /// Free every packet at once ([`PacketBuf::free_bulk`]: one
    /// `rte_pktmbuf_free_bulk` for DPDK mbufs).
    #[inline]
    pub fn free(&mut self) {
        if !self.pkts.is_empty() {
            B::free_bulk(&mut self.pkts);
        }
    }
}

/// One receive queue of one port, owned by one worker (`rte_eth_rx_burst`).
pub trait RxQueue<B> {
    /// Append up to `max` received packets (and never more than
    /// `out.room()`) to `out`; return how many were appended. Each packet's
    /// [`PacketBuf::port`] is set to this port's id.
    fn rx_burst(&mut self, out: &mut Burst<B>, max: usize) -> usize;

    /// True once this queue will never receive again (a pcap file replayed to
    /// its end, a generator that sent its `count`), so the gateway can finish.
    /// Live ports never finish.
    fn is_done(&self) -> bool {
        false
    }

    /// Packets of never-seen flows this queue has produced (traffic
    /// generators; 0 for every other port).
    fn new_flow_packets(&self) -> u64 {
        0
    }
}

/// One transmit queue of one port, owned by one worker (`rte_eth_tx_burst`).
pub trait TxQueue<B> {
    /// Send packets from the front of `pkts`; return how many were accepted.
    /// Accepted packets leave the burst; refused ones stay, in order, for the
    /// caller to free and count.
    fn tx_burst(&mut self, pkts: &mut Burst<B>) -> usize;

    /// Push out anything the queue buffers (a pcap writer's bytes). Called at
    /// shutdown; dropping the queue flushes as well.
    fn flush(&mut self) {}
}

/// What kind of backend a port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortKind {
    Pcap,
    Null,
    Ring,
    Gen,
    /// A DPDK ethdev (the `dpdk` feature).
    Dpdk,
}

/// Static facts about a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// Port number, in the order the devices were given (as DPDK numbers them).
    pub id: u16,
    /// Device name as given, e.g. `net_pcap0`.
    pub name: String,
    pub mac: Mac,
    pub kind: PortKind,
}

/// The MAC address of software port `id`: locally administered
/// `02:78:66:67:HH:LL` ("xfg" + port number), stable across runs.
pub fn sw_port_mac(id: u16) -> Mac {
    let [hi, lo] = id.to_be_bytes();
    [0x02, 0x78, 0x66, 0x67, hi, lo]
}

/// Counters of one queue. Written by the one worker that owns the queue
/// (plain load + store, once per burst, no read-modify-write), read by anyone.
#[derive(Debug, Default)]
pub struct QueueStats {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Packets the device had but could not deliver (DPDK `imissed`).
    pub imissed: AtomicU64,
    /// Receives that found the buffer pool empty (DPDK `rx_nombuf`).
    pub rx_nombuf: AtomicU64,
    /// Packets refused by `tx_burst` (queue or ring full).
    pub tx_full: AtomicU64,
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    if n != 0 {
        // Single writer: a load and a store, not an atomic add.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

impl QueueStats {
    #[inline]
    pub fn add_rx(&self, pkts: u64, bytes: u64) {
        bump(&self.rx_packets, pkts);
        bump(&self.rx_bytes, bytes);
    }
    #[inline]
    pub fn add_tx(&self, pkts: u64, bytes: u64) {
        bump(&self.tx_packets, pkts);
        bump(&self.tx_bytes, bytes);
    }
    #[inline]
    pub fn add_imissed(&self, n: u64) {
        bump(&self.imissed, n);
    }
    #[inline]
    pub fn add_rx_nombuf(&self, n: u64) {
        bump(&self.rx_nombuf, n);
    }
    #[inline]
    pub fn add_tx_full(&self, n: u64) {
        bump(&self.tx_full, n);
    }

    pub fn snapshot(&self) -> PortStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PortStats {
            rx_packets: l(&self.rx_packets),
            rx_bytes: l(&self.rx_bytes),
            tx_packets: l(&self.tx_packets),
            tx_bytes: l(&self.tx_bytes),
            imissed: l(&self.imissed),
            rx_nombuf: l(&self.rx_nombuf),
            tx_full: l(&self.tx_full),
        }
    }
}

/// A snapshot of a port's (or queue's) counters, as `rte_eth_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub imissed: u64,
    pub rx_nombuf: u64,
    pub tx_full: u64,
}

impl std::ops::AddAssign for PortStats {
    fn add_assign(&mut self, o: PortStats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.imissed += o.imissed;
        self.rx_nombuf += o.rx_nombuf;
        self.tx_full += o.tx_full;
    }
}

/// The counters of every queue of one port, shared between the workers that
/// own the queues (one [`QueueStats`] each) and the management core.
#[derive(Debug)]
pub struct PortCounters {
    queues: Box<[Arc<QueueStats>]>,
}

impl PortCounters {
    pub fn new(nb_queues: usize) -> PortCounters {
        PortCounters {
            queues: (0..nb_queues.max(1))
                .map(|_| Arc::new(QueueStats::default()))
                .collect(),
        }
    }

    pub fn queue(&self, q: usize) -> Arc<QueueStats> {
        self.queues[q].clone()
    }

    pub fn nb_queues(&self) -> usize {
        self.queues.len()
    }

    /// The sum over all queues.
    pub fn total(&self) -> PortStats {
        let mut t = PortStats::default();
        for q in self.queues.iter() {
            t += q.snapshot();
        }
        t
    }
}

// ---------------------------------------------------------------------------
// Buffer pool

/// Buffers the owner thread of a pool keeps for itself (LIFO, no atomics).
pub const LOCAL_CACHE: usize = 512;

struct PoolShared {
    /// The shared free list: start-up stock, refills, frees from other threads.
    free: ArrayQueue<HeapBuf>,
    capacity: usize,
    buf_size: usize,
    headroom: usize,
    /// A thread has bound its local cache to this pool (at most one may).
    claimed: AtomicBool,
    /// Buffers in the owner thread's local cache. Written by the owner only
    /// (a plain store, no read-modify-write); read by anyone for `in_use`.
    cached: AtomicUsize,
}

/// The calling thread's cache of free buffers of the one pool it owns.
/// Entries are whole (free) packets that keep their pool reference, so
/// taking one out or putting one back changes no reference count, and a
/// burst moves in or out with one copy of the array.
struct LocalCache {
    pool: Option<Arc<PoolShared>>,
    bufs: Vec<PooledBuf>,
}

impl LocalCache {
    const EMPTY: LocalCache = LocalCache {
        pool: None,
        bufs: Vec::new(),
    };

    #[inline]
    fn is_bound_to(&self, p: &Arc<PoolShared>) -> bool {
        self.pool.as_ref().is_some_and(|q| Arc::ptr_eq(q, p))
    }

    /// Bind to `p` unless bound to a pool that is still in use (a live
    /// [`Pool`] handle or a buffer out) or `p` is another thread's.
    fn try_bind(&mut self, p: &Arc<PoolShared>) -> bool {
        if let Some(cur) = &self.pool {
            // References: the binding and one per cached buffer. Anything
            // more is a live handle or a buffer in flight: stay.
            if Arc::strong_count(cur) > 1 + self.bufs.len() {
                return false;
            }
            self.release();
        }
        if p.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        if self.bufs.capacity() < LOCAL_CACHE {
            // Once per thread: the cache's storage.
            self.bufs.reserve_exact(LOCAL_CACHE);
        }
        self.pool = Some(p.clone());
        true
    }

    /// Give every cached buffer back to the shared list and unbind.
    fn release(&mut self) {
        if let Some(p) = self.pool.take() {
            for mut b in self.bufs.drain(..) {
                if b.pool.take().is_some() {
                    // Cannot overflow: the list has room for every buffer.
                    let _ = p
                        .free
                        .push(std::mem::replace(&mut b.buf, HeapBuf::new(0, 0)));
                }
            }
            p.cached.store(0, Ordering::Relaxed);
            p.claimed.store(false, Ordering::Release);
        }
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        self.release();
    }
}

thread_local! {
    static LOCAL: std::cell::RefCell<LocalCache> =
        const { std::cell::RefCell::new(LocalCache::EMPTY) };
}

/// A bounded pool of [`HeapBuf`]s for the software ports (the software
/// `rte_mempool`).
///
/// Every buffer is allocated when the pool is created; [`Pool::alloc`] takes
/// one and dropping the [`PooledBuf`] gives it back, from whichever thread
/// drops it, without allocating.
///
/// Per-lcore cache, as DPDK's mempool has: the first thread that allocates
/// from a pool becomes its owner (the [`registry`] gives each worker its own
/// pool, and the worker's rx queues allocate from it). The owner keeps up to
/// [`LOCAL_CACHE`] free buffers in a thread-local stack: a packet received,
/// processed and sent or dropped on its worker costs no atomic operation and
/// no reference count change, and the most recently freed (cache-hot)
/// buffer is the next one handed out. Other threads (a packet that crossed a
/// ring to another worker) return buffers to the shared lock-free list,
/// from which the owner refills. The in-use count is exact when the owner
/// is not running: `capacity - shared free - owner's cache`.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<PoolShared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("capacity", &self.shared.capacity)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl Pool {
    /// A pool of `n` buffers of `buf_size` bytes, each with `headroom` bytes
    /// reserved in front of received data.
    pub fn new(n: usize, buf_size: usize, headroom: usize) -> Pool {
        let n = n.max(1);
        let headroom = headroom.min(buf_size);
        let free = ArrayQueue::new(n);
        for _ in 0..n {
            // Cannot fail: the queue has room for exactly n.
            let _ = free.push(HeapBuf::new(buf_size, headroom));
        }
        Pool {
            shared: Arc::new(PoolShared {
                free,
                capacity: n,
                buf_size,
                headroom,
                claimed: AtomicBool::new(false),
                cached: AtomicUsize::new(0),
            }),
        }
    }

    /// A pool of `n` default-sized buffers (2048 data bytes + 128 headroom).
    pub fn with_defaults(n: usize) -> Pool {
        Pool::new(n, DEFAULT_BUF_SIZE, DEFAULT_HEADROOM)
    }

    /// An empty packet with the default headroom, or `None` if the pool is
    /// exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<PooledBuf> {
        let local = LOCAL
            .try_with(|l| {
                let mut l = l.try_borrow_mut().ok()?;
                if !l.is_bound_to(&self.shared) && !l.try_bind(&self.shared) {
                    return None;
                }
                let b = l.bufs.pop()?;
                self.shared.cached.store(l.bufs.len(), Ordering::Relaxed);
                Some(b)
            })
            .ok()
            .flatten();
        let mut b = match local {
            Some(b) => b,
            None => PooledBuf {
                buf: self.shared.free.pop()?,
                pool: Some(self.shared.clone()),
            },
        };
        b.buf.reset(self.shared.headroom);
        Some(b)
    }

    /// Append up to `n` empty packets (and never more than `out.room()`) to
    /// `out`; return how many. One visit to the owner's cache for all of
    /// them (DPDK's `rte_pktmbuf_alloc_bulk`); fewer than asked means the
    /// pool ran dry.
    pub fn alloc_bulk(&self, out: &mut Burst<PooledBuf>, n: usize) -> usize {
        let want = n.min(out.room());
        let start = out.len();
        let _ = LOCAL.try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return;
            };
            if !l.is_bound_to(&self.shared) && !l.try_bind(&self.shared) {
                return;
            }
            let from = l.bufs.len() - want.min(l.bufs.len());
            let headroom = self.shared.headroom;
            out.pkts.extend(l.bufs.drain(from..).map(|mut b| {
                b.buf.reset(headroom);
                b
            }));
            self.shared.cached.store(l.bufs.len(), Ordering::Relaxed);
        });
        while out.len() - start < want {
            let Some(b) = self.alloc() else {
                break;
            };
            out.pkts.push(b);
        }
        out.len() - start
    }

    /// A packet holding a copy of `data` (which must fit the data room), or
    /// `None` if the pool is exhausted or `data` is too long.
    #[inline]
    pub fn alloc_from(&self, data: &[u8]) -> Option<PooledBuf> {
        if data.len() > self.shared.buf_size - self.shared.headroom {
            return None;
        }
        let mut b = self.alloc()?;
        b.append(data.len())?.copy_from_slice(data);
        Some(b)
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Buffers handed out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.shared.capacity - self.available().min(self.shared.capacity)
    }

    /// Buffers available (shared list and the owner's cache).
    pub fn available(&self) -> usize {
        self.shared.free.len() + self.shared.cached.load(Ordering::Relaxed)
    }

    /// Size of each buffer, headroom included.
    pub fn buf_size(&self) -> usize {
        self.shared.buf_size
    }

    pub fn headroom(&self) -> usize {
        self.shared.headroom
    }

    /// Does `b` belong to this pool?
    pub fn owns(&self, b: &PooledBuf) -> bool {
        b.pool
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &self.shared))
    }
}

impl Burst<PooledBuf> {
    /// Free every packet (as [`Burst::clear`]), visiting the owner's cache
    /// once for the whole burst rather than once per packet.
    pub fn free_all(&mut self) {
        let pkts = &mut self.pkts;
        let _ = LOCAL.try_with(|l| {
            let Ok(mut guard) = l.try_borrow_mut() else {
                return;
            };
            let l = &mut *guard;
            let Some(bound) = l.pool.as_ref() else {
                return;
            };
            // The common case: the whole burst is ours and fits: one move.
            if pkts.len() <= LOCAL_CACHE - l.bufs.len()
                && pkts
                    .iter()
                    .all(|p| p.pool.as_ref().is_some_and(|q| Arc::ptr_eq(q, bound)))
            {
                l.bufs.append(pkts);
                bound.cached.store(l.bufs.len(), Ordering::Relaxed);
            }
        });
        // Anything else frees one by one.
        pkts.clear();
    }
}

/// The software ports' packet type: a [`HeapBuf`] that returns to its
/// [`Pool`] when dropped. It dereferences to the `HeapBuf`, so code written for
/// `HeapBuf` (the generator's transform hook, tests) works on it.
pub struct PooledBuf {
    buf: HeapBuf,
    /// `None`: a free-standing buffer, deallocated on drop (tests, tools).
    pool: Option<Arc<PoolShared>>,
}

impl std::fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.buf.len())
            .field("port", &self.buf.port())
            .field("pooled", &self.pool.is_some())
            .finish()
    }
}

impl PooledBuf {
    /// A buffer that belongs to no pool (allocated now, freed on drop). For
    /// tests and tools, not the data path.
    pub fn unpooled(buf: HeapBuf) -> PooledBuf {
        PooledBuf { buf, pool: None }
    }

    /// Does the buffer return to a pool on drop?
    pub fn is_pooled(&self) -> bool {
        self.pool.is_some()
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        // An empty boxed slice does not allocate.
        let buf = std::mem::replace(&mut self.buf, HeapBuf::new(0, 0));
        let mut item = Some((buf, pool));
        // The owner thread keeps it (no atomics); `try_with` fails only while
        // this thread's locals are being destroyed, `try_borrow_mut` only
        // when the cache itself is dropping a packet.
        let _ = LOCAL.try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return;
            };
            let Some((_, pool)) = item.as_ref() else {
                return;
            };
            if l.is_bound_to(pool) && l.bufs.len() < LOCAL_CACHE {
                if let Some((buf, pool)) = item.take() {
                    pool.cached.store(l.bufs.len() + 1, Ordering::Relaxed);
                    l.bufs.push(PooledBuf {
                        buf,
                        pool: Some(pool),
                    });
                }
            }
        });
        if let Some((buf, pool)) = item {
            // The queue holds exactly `capacity` slots and only this pool's
            // buffers come back, so the push cannot find it full.
            let r = pool.free.push(buf);
            debug_assert!(r.is_ok(), "pool free list overflow");
        }
    }
}

impl Deref for PooledBuf {
    type Target = HeapBuf;
    #[inline]
    fn deref(&self) -> &HeapBuf {
        &self.buf
    }
}

impl DerefMut for PooledBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut HeapBuf {
        &mut self.buf
    }
}

impl PacketBuf for PooledBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        self.buf.data()
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        self.buf.data_mut()
    }
    #[inline]
    fn len(&self) -> usize {
        PacketBuf::len(&self.buf)
    }
    #[inline]
    fn is_empty(&self) -> bool {
        PacketBuf::is_empty(&self.buf)
    }
    #[inline]
    fn headroom(&self) -> usize {
        self.buf.headroom()
    }
    #[inline]
    fn tailroom(&self) -> usize {
        self.buf.tailroom()
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        self.buf.prepend(n)
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        self.buf.adj(n)
    }
    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        self.buf.append(n)
    }
    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        self.buf.trim(n)
    }
    #[inline]
    fn port(&self) -> u16 {
        self.buf.port()
    }
    #[inline]
    fn set_port(&mut self, port: u16) {
        self.buf.set_port(port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_alloc_free_counts() {
        let pool = Pool::new(4, 256, 64);
        assert_eq!(pool.in_use(), 0);
        let a = pool.alloc_from(&[1, 2, 3]).unwrap();
        assert_eq!(a.data(), &[1, 2, 3]);
        assert_eq!(a.headroom(), 64);
        assert!(pool.owns(&a));
        let b = pool.alloc().unwrap();
        let c = pool.alloc().unwrap();
        let d = pool.alloc().unwrap();
        assert_eq!(pool.in_use(), 4);
        assert!(pool.alloc().is_none(), "bounded");
        drop(a);
        assert_eq!(pool.in_use(), 3);
        // The returned buffer comes back empty with the pool's headroom.
        let e = pool.alloc().unwrap();
        assert!(e.is_empty());
        assert_eq!(e.headroom(), 64);
        drop((b, c, d, e));
        assert_eq!(pool.in_use(), 0);
        assert!(
            pool.alloc_from(&[0u8; 193]).is_none(),
            "longer than data room"
        );
        assert!(pool.alloc_from(&[0u8; 192]).is_some());
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn pool_free_from_other_thread() {
        let pool = Pool::new(8, 128, 32);
        let mut burst = Burst::new();
        for i in 0..8u8 {
            burst.push(pool.alloc_from(&[i]).unwrap()).unwrap();
        }
        assert_eq!(pool.in_use(), 8);
        std::thread::spawn(move || drop(burst)).join().unwrap();
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn owner_cache_is_lifo_and_counted() {
        // A fresh thread: its local cache is unbound.
        std::thread::spawn(|| {
            let pool = Pool::new(64, 256, 32);
            let a = pool.alloc_from(&[1]).unwrap();
            let addr = a.data().as_ptr();
            drop(a);
            // Owner thread: the buffer went to the local cache...
            assert_eq!(pool.in_use(), 0);
            assert_eq!(pool.shared.cached.load(Ordering::Relaxed), 1);
            // ...and is the next one handed out (cache-hot), emptied.
            let b = pool.alloc().unwrap();
            assert_eq!(b.data().as_ptr(), addr);
            assert!(b.is_empty());
            assert_eq!(b.headroom(), 32);
            assert_eq!(pool.in_use(), 1);
            // A second pool on the same thread works through the shared list.
            let other = Pool::new(4, 128, 16);
            let c = other.alloc().unwrap();
            assert_eq!(other.in_use(), 1);
            drop(c);
            assert_eq!(other.in_use(), 0);
            assert_eq!(other.shared.cached.load(Ordering::Relaxed), 0);
            // Frees from another thread go to the shared list.
            let mut burst = Burst::new();
            for i in 0..40u8 {
                burst.push(pool.alloc_from(&[i]).unwrap()).unwrap_or(());
            }
            let held = burst.len();
            assert_eq!(pool.in_use(), held + 1);
            std::thread::spawn(move || drop(burst)).join().unwrap();
            assert_eq!(pool.in_use(), 1);
            drop(b);
            assert_eq!(pool.in_use(), 0);
            // Once the first pool is gone, the thread can cache the second.
            drop(pool);
            let d = other.alloc().unwrap();
            drop(d);
            assert_eq!(other.shared.cached.load(Ordering::Relaxed), 1);
            assert_eq!(other.in_use(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn bulk_alloc_and_free() {
        std::thread::spawn(|| {
            let pool = Pool::new(40, 256, 32);
            let other = Pool::new(4, 128, 16);
            let mut burst = Burst::new();
            burst.push(other.alloc_from(&[7]).unwrap()).unwrap();
            // Bounded by the burst's room.
            assert_eq!(pool.alloc_bulk(&mut burst, 100), MAX_BURST - 1);
            assert!(burst.is_full());
            assert!(burst.iter().skip(1).all(|b| pool.owns(b) && b.is_empty()));
            assert_eq!(burst.as_slice()[0].data(), &[7]);
            assert_eq!(pool.in_use(), MAX_BURST - 1);
            // Free a mixed burst: each packet back to its own pool.
            burst.free_all();
            assert!(burst.is_empty());
            assert_eq!((pool.in_use(), other.in_use()), (0, 0));
            // Bounded by the pool: 40 buffers, two bursts' worth asked.
            let mut a = Burst::new();
            let mut b = Burst::new();
            assert_eq!(pool.alloc_bulk(&mut a, MAX_BURST), MAX_BURST);
            assert_eq!(pool.alloc_bulk(&mut b, MAX_BURST), 40 - MAX_BURST);
            assert_eq!(pool.alloc_bulk(&mut b, 1), 0, "dry");
            assert_eq!(pool.in_use(), 40);
            a.free_all();
            b.free_all();
            assert_eq!(pool.in_use(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn owner_exit_returns_its_cache() {
        let pool = Pool::new(16, 128, 16);
        let p = pool.clone();
        std::thread::spawn(move || {
            let v: Vec<_> = (0..10).map(|_| p.alloc().unwrap()).collect();
            drop(v);
            assert_eq!(p.shared.cached.load(Ordering::Relaxed), 10);
        })
        .join()
        .unwrap();
        // The owner's locals were destroyed at exit: all back, unclaimed.
        assert_eq!(pool.shared.cached.load(Ordering::Relaxed), 0);
        assert_eq!(pool.shared.free.len(), 16);
        assert!(!pool.shared.claimed.load(Ordering::Relaxed));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn take_all_from_moves_in_order_and_keeps_capacity() {
        let pool = Pool::new(3 * MAX_BURST, 128, 32);
        let fill = |b: &mut Burst<PooledBuf>, from: u8, n: u8| {
            for i in from..from + n {
                b.push(pool.alloc_from(&[i]).unwrap()).unwrap();
            }
        };
        let first = |b: &Burst<PooledBuf>| b.iter().map(|p| p.data()[0]).collect::<Vec<_>>();
        let (mut a, mut b) = (Burst::new(), Burst::new());
        // Into an empty burst: the arrays trade places.
        fill(&mut b, 0, 5);
        assert!(a.take_all_from(&mut b));
        assert_eq!((first(&a), b.len()), ((0..5).collect(), 0));
        // Behind packets already there: appended in order.
        fill(&mut b, 5, 3);
        assert!(a.take_all_from(&mut b));
        assert_eq!(first(&a), (0..8).collect::<Vec<_>>());
        // No room: refused, nothing moves, nothing is freed.
        fill(&mut b, 8, (MAX_BURST - 7) as u8);
        assert!(!a.take_all_from(&mut b));
        assert_eq!(
            (a.len(), b.len(), pool.in_use()),
            (8, MAX_BURST - 7, MAX_BURST + 1)
        );
        // Both keep a whole burst's capacity: no push allocates.
        assert!(a.pkts.capacity() >= MAX_BURST && b.pkts.capacity() >= MAX_BURST);
        a.clear();
        b.clear();
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn burst_is_bounded_and_frees() {
        let pool = Pool::new(40, 128, 32);
        let mut burst = Burst::new();
        for i in 0..MAX_BURST {
            burst.push(pool.alloc_from(&[i as u8]).unwrap()).unwrap();
        }
        assert!(burst.is_full());
        let extra = pool.alloc().unwrap();
        assert!(burst.push(extra).is_err(), "a full burst refuses");
        assert_eq!(pool.in_use(), MAX_BURST);
        let first: Vec<u8> = burst.drain_front(3).map(|b| b.data()[0]).collect();
        assert_eq!(first, vec![0, 1, 2]);
        assert_eq!(burst.as_slice()[0].data(), &[3]);
        assert_eq!(pool.in_use(), MAX_BURST - 3);
        burst.retain_mut(|b| b.data()[0] % 2 == 0);
        assert!(burst.iter().all(|b| b.data()[0] % 2 == 0));
        burst.truncate(2);
        assert_eq!(pool.in_use(), 2);
        burst.clear();
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn queue_stats_sum() {
        let c = PortCounters::new(2);
        c.queue(0).add_rx(3, 300);
        c.queue(1).add_rx(2, 100);
        c.queue(1).add_tx_full(5);
        let t = c.total();
        assert_eq!((t.rx_packets, t.rx_bytes, t.tx_full), (5, 400, 5));
    }
}
