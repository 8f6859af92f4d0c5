//! DPDK ports (feature `dpdk`): EAL start-up, ethdev configuration, the
//! `rte_mbuf` packet buffer and the rx/tx queue handles the lcore loop polls.
//!
//! - [`eal_init`] hands the EAL arguments (everything before `--`) to
//!   `rte_eal_init` unchanged; a failure carries DPDK's reason
//!   (`rte_strerror(rte_errno)`).
//! - [`DpdkPorts::setup`] configures every ethdev EAL probed (PCI via `-a`,
//!   virtual via `--vdev`): one rx and one tx queue per worker (as many as the
//!   device has), RSS over IP/UDP/TCP when it has more than one queue (masked
//!   by what the device can hash), no offloads, promiscuous mode where
//!   supported; mbuf pools per NUMA socket, sized from ports x queues x
//!   descriptors + per-lcore caches + the workers' staged bursts
//!   ([`pool_mbufs`]), freed when the ports close ([`DpdkPorts::stop`]), so
//!   ports can be set up again in the same process.
//! - [`Vdev`] adds and removes a virtual device after start-up
//!   (`rte_vdev_init`/`rte_vdev_uninit`: `xfgate bench` hot-plugs its ports
//!   per sample); [`MemoryBudget`] says what EAL can still allocate.
//! - [`Mbuf`] is `#[repr(transparent)]` over `*mut rte_mbuf`, so a
//!   [`Burst<Mbuf>`]'s storage is the `struct rte_mbuf **` array that
//!   `rte_eth_rx_burst` / `rte_eth_tx_burst` read and write: no copies.
//!   Dropping an `Mbuf` is `rte_pktmbuf_free`.
//!
//! This module owns the only `unsafe` of the DPDK backend besides the
//! launcher in `gateway::dpdk`; every block states why it is sound.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys as sys;

use super::{Burst, PortCounters, PortInfo, PortKind, QueueStats, RxQueue, TxQueue, MAX_BURST};
use crate::buf::PacketBuf;

/// Why DPDK could not start or a port could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("EAL initialisation failed: {reason} (rte_errno {errno}); EAL arguments: {args}")]
    EalInit {
        reason: String,
        errno: i32,
        args: String,
    },
    #[error("EAL argument contains a NUL byte: {0:?}")]
    BadArg(String),
    #[error("no ethdev ports: give devices with --vdev (e.g. --vdev net_null0) or -a PCI_ADDRESS")]
    NoPorts,
    #[error(
        "{given} device(s) given with --vdev but only {probed} port(s) came up: \
         a device failed to initialise (see the EAL/PMD messages above: a missing pcap file, a bad device argument?)"
    )]
    MissingDevice { given: usize, probed: usize },
    #[error("-l gives no worker lcore: the first lcore is the management core, give at least two (e.g. -l 0-1)")]
    NoWorkers,
    #[error("port {port} ({name}): {what} failed: {reason}")]
    Port {
        port: u16,
        name: String,
        what: &'static str,
        reason: String,
    },
    #[error(
        "cannot create the mbuf pool for socket {socket} ({mbufs} mbufs of {obj_size} bytes, {mib} MiB): {reason}; \
         hugepage memory is short: about {pages_needed} x 2 MiB hugepages are needed (free now: {free_pages}); \
         reserve more (scripts/setup-dpdk.sh, or echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) \
         or raise -m/--socket-mem/--socket-limit"
    )]
    PoolMemory {
        socket: i32,
        mbufs: u32,
        obj_size: u32,
        mib: u64,
        pages_needed: u64,
        free_pages: String,
        reason: String,
    },
    #[error("cannot create the mbuf pool for socket {socket}: {reason}")]
    Pool { socket: i32, reason: String },
    #[error(
        "--mtu {mtu} does not fit an mbuf: {need} bytes of data room are needed (headroom {headroom} + \
         Ethernet/VLAN header + {mtu} + ESP trailer), an mbuf holds at most 65535"
    )]
    MtuRoom {
        mtu: u16,
        need: usize,
        headroom: u16,
    },
    #[error(
        "the mbuf headroom of this DPDK build (RTE_PKTMBUF_HEADROOM = {headroom}) is smaller than \
         the {need} bytes the tunnel headers need"
    )]
    Headroom { headroom: u16, need: usize },
    #[error("port {port} ({name}): --mtu {mtu} is outside what the device supports ({min}-{max})")]
    MtuRange {
        port: u16,
        name: String,
        mtu: u16,
        min: u16,
        max: u16,
    },
    #[error("cannot launch worker on lcore {lcore}: {reason}")]
    Launch { lcore: u32, reason: String },
    #[error("cannot add virtual device {name},{args}: {reason}")]
    Vdev {
        name: String,
        args: String,
        reason: String,
    },
}

/// DPDK's text for an errno value (`rte_strerror`).
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string, valid until the next call on this thread; it is
    // copied out at once.
    unsafe {
        let p = sys::rte_strerror(errno);
        if p.is_null() {
            return format!("error {errno}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The calling thread's `rte_errno`.
pub fn errno() -> i32 {
    // SAFETY: reads a thread-local int through the C helper.
    unsafe { sys::xfg_rte_errno() }
}

/// Initialise the EAL with `args` (the EAL options, without the program
/// name), unchanged. Returns how many arguments EAL consumed. Call once per
/// process, from the main thread, before anything else DPDK.
pub fn eal_init(args: &[String]) -> Result<usize, DpdkError> {
    let mut owned = Vec::with_capacity(args.len() + 1);
    owned.push(CString::new("xfgate").map_err(|_| DpdkError::BadArg("xfgate".into()))?);
    for a in args {
        owned.push(CString::new(a.as_str()).map_err(|_| DpdkError::BadArg(a.clone()))?);
    }
    // EAL may keep pointers to argv (e.g. for --vdev strings) for the life of
    // the process and permutes the array: leak both, this runs once.
    let owned: &'static [CString] = Box::leak(owned.into_boxed_slice());
    let argv: &'static mut [*mut c_char] = Box::leak(
        owned
            .iter()
            .map(|c| c.as_ptr() as *mut c_char)
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let argc = (argv.len() - 1) as i32;
    // SAFETY: argv holds argc valid NUL-terminated strings followed by NULL,
    // all leaked so they outlive EAL.
    let r = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    if r < 0 {
        let e = errno();
        return Err(DpdkError::EalInit {
            reason: strerror(e),
            errno: e,
            args: args.join(" "),
        });
    }
    Ok(r as usize)
}

/// Fail when a `--vdev` given in the EAL arguments did not become a port
/// (EAL logs a failed virtual-device probe but still starts).
pub fn check_vdevs(args: &[String]) -> Result<(), DpdkError> {
    let given = args
        .iter()
        .filter(|a| *a == "--vdev" || a.starts_with("--vdev="))
        .count();
    // SAFETY: plain query after rte_eal_init.
    let probed = unsafe { sys::rte_eth_dev_count_avail() } as usize;
    if probed < given {
        return Err(DpdkError::MissingDevice { given, probed });
    }
    Ok(())
}

/// Mbufs the `net_pcap` devices of `args` (the EAL arguments) keep for
/// themselves: with `infinite_rx=1` the driver copies every packet of its
/// `rx_pcap` files into mbufs of the rx pool at start and replays them from
/// there, so the pool needs one more mbuf per packet. Files that cannot be
/// read count 0 (the driver then fails and says why).
pub fn infinite_rx_mbufs(args: &[String]) -> u64 {
    let mut vdevs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--vdev" {
            vdevs.extend(it.next().map(String::as_str));
        } else if let Some(v) = a.strip_prefix("--vdev=") {
            vdevs.push(v);
        }
    }
    vdevs
        .iter()
        .filter(|v| v.starts_with("net_pcap") && v.split(',').any(|kv| kv == "infinite_rx=1"))
        .flat_map(|v| v.split(',').filter_map(|kv| kv.strip_prefix("rx_pcap=")))
        .map(|f| pcap_packets(std::path::Path::new(f)).unwrap_or(0))
        .sum()
}

/// Packets in a pcap file (record headers only; the data is skipped).
fn pcap_packets(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut hdr = [0u8; 24];
    r.read_exact(&mut hdr)?;
    let magic = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Err(std::io::Error::other("not a pcap file")),
    };
    let mut n = 0u64;
    let mut rec = [0u8; 16];
    loop {
        match r.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return Err(e),
        }
        let b = [rec[8], rec[9], rec[10], rec[11]];
        let caplen = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        };
        r.seek_relative(i64::from(caplen))?;
        n += 1;
    }
}

/// Release EAL resources (hugepages, lcore threads) at exit.
pub fn eal_cleanup() {
    // SAFETY: called once, after every worker returned and every port closed.
    unsafe {
        sys::rte_eal_cleanup();
    }
}

/// The worker lcores EAL runs (every enabled lcore but the main one), in order.
pub fn worker_lcores() -> Vec<u32> {
    let mut out = Vec::new();
    // SAFETY: plain queries of EAL's lcore table after rte_eal_init.
    unsafe {
        let max = sys::xfg_max_lcore();
        let mut i = sys::rte_get_next_lcore(u32::MAX, 1, 0);
        while i < max {
            out.push(i);
            i = sys::rte_get_next_lcore(i, 1, 0);
        }
    }
    out
}

/// The main (management) lcore.
pub fn main_lcore() -> u32 {
    // SAFETY: plain query after rte_eal_init.
    unsafe { sys::rte_get_main_lcore() }
}

// ---------------------------------------------------------------------------
// Mbuf

/// An owned `rte_mbuf`: the packet buffer of the DPDK ports.
///
/// Single-segment: the rx path linearises chained mbufs (or drops them when
/// that is impossible), so `data()` is the whole packet.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is the unique owner of its rte_mbuf (never cloned, freed
// once on drop); DPDK mempools accept frees from any thread (non-EAL threads
// bypass the per-lcore cache).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// A new empty mbuf from `pool`, or `None` if the pool is exhausted.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: pool.0 is a live mempool created by rte_pktmbuf_pool_create.
        let m = unsafe { sys::rte_pktmbuf_alloc(pool.0.as_ptr()) };
        NonNull::new(m).map(Mbuf)
    }

    /// A new mbuf holding a copy of `data` (tests, tools).
    pub fn from_slice(pool: &Mempool, data: &[u8]) -> Option<Mbuf> {
        let mut m = Mbuf::alloc(pool)?;
        m.append(data.len())?.copy_from_slice(data);
        Some(m)
    }

    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for our whole life.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn raw_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { self.0.as_mut() }
    }

    /// Number of segments (1 once received through [`DpdkRx`]).
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// The raw pointer (ownership stays with `self`).
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nobody uses it after this.
        unsafe { sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // data room (DPDK invariant: data_off + data_len <= buf_len).
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw_mut();
        // SAFETY: as in data(); &mut self makes the bytes exclusively ours
        // (refcnt is 1: mbufs are never shared here).
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline]
    fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    #[inline]
    fn tailroom(&self) -> usize {
        let m = self.raw();
        (m.buf_len as usize).saturating_sub(m.data_off as usize + m.data_len as usize)
    }

    // The length changes below are DPDK's rte_pktmbuf_prepend/adj/append/trim
    // for a single-segment mbuf (every mbuf the rx path hands out), done in
    // place on the fields instead of through the C wrappers: no FFI call per
    // packet. A chained mbuf (never seen here) takes DPDK's own functions.

    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let n = u16::try_from(n).ok()?;
        let m = self.raw_mut();
        if m.nb_segs != 1 {
            // SAFETY: rte_pktmbuf_prepend checks the headroom and returns
            // NULL (mbuf unchanged) when it is too small.
            let p = unsafe { sys::rte_pktmbuf_prepend(self.0.as_ptr(), n) };
            return (!p.is_null()).then(|| self.data_mut());
        }
        if n > m.data_off {
            return None;
        }
        // data_off + data_len stays the same, so the data stays inside buf_len.
        m.data_off -= n;
        m.data_len += n;
        m.pkt_len += u32::from(n);
        Some(self.data_mut())
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        let m = self.raw_mut();
        if m.nb_segs != 1 {
            // SAFETY: rte_pktmbuf_adj checks n against data_len and returns
            // NULL (mbuf unchanged) when the packet is shorter.
            return !unsafe { sys::rte_pktmbuf_adj(self.0.as_ptr(), n) }.is_null();
        }
        if n > m.data_len {
            return false;
        }
        m.data_off += n;
        m.data_len -= n;
        m.pkt_len -= u32::from(n);
        true
    }

    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n = u16::try_from(n).ok()?;
        let m = self.raw_mut();
        if m.nb_segs != 1 {
            // SAFETY: rte_pktmbuf_append checks the last segment's tailroom
            // and returns NULL (mbuf unchanged) when it is too small.
            let p = unsafe { sys::rte_pktmbuf_append(self.0.as_ptr(), n) };
            return (!p.is_null()).then(|| self.data_mut());
        }
        let tailroom = m
            .buf_len
            .saturating_sub(m.data_off.saturating_add(m.data_len));
        if n > tailroom {
            return None;
        }
        m.data_len += n;
        m.pkt_len += u32::from(n);
        Some(self.data_mut())
    }

    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        let m = self.raw_mut();
        if m.nb_segs != 1 {
            // SAFETY: rte_pktmbuf_trim checks n against the last segment's
            // data_len and returns -1 (mbuf unchanged) when it is shorter.
            return unsafe { sys::rte_pktmbuf_trim(self.0.as_ptr(), n) == 0 };
        }
        if n > m.data_len {
            return false;
        }
        m.data_len -= n;
        m.pkt_len -= u32::from(n);
        true
    }

    #[inline]
    fn port(&self) -> u16 {
        self.raw().port
    }

    #[inline]
    fn set_port(&mut self, port: u16) {
        self.raw_mut().port = port;
    }

    /// One `rte_pktmbuf_free_bulk` for the whole vector.
    #[inline]
    fn free_bulk(bufs: &mut Vec<Self>) {
        let n = bufs.len();
        if n == 0 {
            return;
        }
        // SAFETY: the Vec holds `n` owned mbuf pointers (Mbuf is
        // repr(transparent)); rte_pktmbuf_free_bulk frees each exactly once,
        // and the length is set to 0 right after so no Drop runs for them.
        unsafe {
            sys::rte_pktmbuf_free_bulk(bufs.as_mut_ptr() as *mut *mut sys::rte_mbuf, n as u32);
            bufs.set_len(0);
        }
    }
}

// ---------------------------------------------------------------------------
// Mempool

/// An mbuf pool (`rte_pktmbuf_pool_create`), one per NUMA socket. The pools
/// of [`DpdkPorts`] are freed when the ports close ([`DpdkPorts::stop`]);
/// one made with [`Mempool::create`] lives until the process exits.
#[derive(Clone, Copy, Debug)]
pub struct Mempool(NonNull<sys::rte_mempool>);

// SAFETY: rte_mempool is designed for concurrent use from all lcores; the
// queries used here (counts) are thread-safe reads.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// A pool of `n` default-sized mbufs (2048-byte data room after the
    /// build's headroom) on `socket`; `None` with `rte_errno` set on failure.
    pub fn create(name: &str, n: u32, cache: u32, socket: i32) -> Option<Mempool> {
        let name = CString::new(name).ok()?;
        // SAFETY: constant from the build configuration.
        let data_room = unsafe { sys::xfg_mbuf_default_buf_size() };
        // SAFETY: valid NUL-terminated name; DPDK validates the sizes.
        let mp =
            unsafe { sys::rte_pktmbuf_pool_create(name.as_ptr(), n, cache, 0, data_room, socket) };
        NonNull::new(mp).map(Mempool)
    }

    /// Mbufs currently allocated (not in the pool or its lcore caches).
    pub fn in_use(&self) -> u32 {
        // SAFETY: live mempool.
        unsafe { sys::rte_mempool_in_use_count(self.0.as_ptr()) }
    }

    /// Mbufs available.
    pub fn avail(&self) -> u32 {
        // SAFETY: live mempool.
        unsafe { sys::rte_mempool_avail_count(self.0.as_ptr()) }
    }

    /// Total mbufs.
    pub fn size(&self) -> u32 {
        // SAFETY: live mempool; `size` is set at creation and never changes.
        unsafe { (*self.0.as_ptr()).size }
    }
}

// ---------------------------------------------------------------------------
// Queues

/// Receive queue `queue` of ethdev `port`, owned by one worker.
#[derive(Debug)]
pub struct DpdkRx {
    port: u16,
    queue: u16,
    stats: Arc<QueueStats>,
}

/// Transmit queue `queue` of ethdev `port`, owned by one worker.
#[derive(Debug)]
pub struct DpdkTx {
    port: u16,
    queue: u16,
    stats: Arc<QueueStats>,
}

impl RxQueue<Mbuf> for DpdkRx {
    #[inline]
    fn rx_burst(&mut self, out: &mut Burst<Mbuf>, max: usize) -> usize {
        let room = max.min(out.room()).min(MAX_BURST);
        if room == 0 {
            return 0;
        }
        let len = out.pkts.len();
        debug_assert!(out.pkts.capacity() >= len + room);
        // SAFETY: the Vec has capacity for `len + room` elements (a Burst is
        // created with MAX_BURST capacity and room <= MAX_BURST - len);
        // Mbuf is repr(transparent) over a non-null *mut rte_mbuf, and
        // rte_eth_rx_burst writes `n <= room` valid, owned, non-null mbuf
        // pointers there, so setting the length to len + n is sound.
        let n = unsafe {
            let dst = out.pkts.as_mut_ptr().add(len) as *mut *mut sys::rte_mbuf;
            let n = sys::rte_eth_rx_burst(self.port, self.queue, dst, room as u16) as usize;
            out.pkts.set_len(len + n);
            n
        };
        if n == 0 {
            return 0;
        }
        let mut bytes = 0u64;
        let mut kept = n;
        let mut i = len;
        while i < out.pkts.len() {
            let m = &mut out.pkts[i];
            if m.nb_segs() > 1 {
                // SAFETY: we own the mbuf chain; linearize either copies it
                // into the first segment or fails leaving it unchanged.
                if unsafe { sys::rte_pktmbuf_linearize(m.as_ptr()) } != 0 {
                    // Too big for one buffer: free it (counted as rx_nombuf:
                    // no buffer could hold it).
                    out.pkts.remove(i);
                    self.stats.add_rx_nombuf(1);
                    kept -= 1;
                    continue;
                }
            }
            m.set_port(self.port);
            bytes += m.len() as u64;
            i += 1;
        }
        self.stats.add_rx(kept as u64, bytes);
        kept
    }
}

impl TxQueue<Mbuf> for DpdkTx {
    #[inline]
    fn tx_burst(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        let len = pkts.pkts.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: the slice holds `len` owned mbuf pointers (repr(transparent));
        // the PMD takes ownership of the first `n` it returns.
        let n = unsafe {
            sys::rte_eth_tx_burst(
                self.port,
                self.queue,
                pkts.pkts.as_mut_ptr() as *mut *mut sys::rte_mbuf,
                len as u16,
            ) as usize
        };
        let n = n.min(len);
        // SAFETY: the first n elements now belong to the PMD: forget them
        // without running Drop by moving the tail over them and shortening
        // the Vec; the remaining len - n stay owned, in order.
        unsafe {
            let p = pkts.pkts.as_mut_ptr();
            std::ptr::copy(p.add(n), p, len - n);
            pkts.pkts.set_len(len - n);
        }
        // Packets only: the bytes are DPDK's (`rte_eth_stats.obytes`) and the
        // lcore's (`tx_bytes`); no second pass over the burst here.
        self.stats.add_tx(n as u64, 0);
        if n < len {
            self.stats.add_tx_full((len - n) as u64);
        }
        n
    }
}

// ---------------------------------------------------------------------------
// Ports

/// How to set the ports up.
#[derive(Clone, Debug)]
pub struct DpdkPortsConfig {
    /// Workers, i.e. wanted rx and tx queues per port.
    pub nb_workers: u16,
    pub nb_rxd: u16,
    pub nb_txd: u16,
    /// Per-lcore mempool cache.
    pub cache: u32,
    /// MTU to set on every port (None: leave the device's).
    pub mtu: Option<u16>,
    /// Mbufs devices keep for themselves, added to every pool (net_pcap
    /// with `infinite_rx=1` holds one per packet of its file:
    /// [`infinite_rx_mbufs`]).
    pub extra_mbufs: u64,
    /// Print each port's facts (queues, MAC, link, RSS) when it starts.
    pub log_ports: bool,
}

impl Default for DpdkPortsConfig {
    fn default() -> Self {
        DpdkPortsConfig {
            nb_workers: 1,
            nb_rxd: 1024,
            nb_txd: 1024,
            cache: 256,
            mtu: None,
            extra_mbufs: 0,
            log_ports: true,
        }
    }
}

/// One configured ethdev.
#[derive(Debug)]
pub struct DpdkPort {
    pub info: PortInfo,
    pub socket: i32,
    /// The device's MTU after set-up (`rte_eth_dev_get_mtu`).
    pub mtu: u16,
    pub nb_rxq: u16,
    pub nb_txq: u16,
    pub rss_hf: u64,
    pub counters: Arc<PortCounters>,
}

/// `rte_eth_stats` of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EthStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// Every started ethdev and the mbuf pools.
#[derive(Debug)]
pub struct DpdkPorts {
    pub ports: Vec<DpdkPort>,
    /// (socket, pool); freed by [`DpdkPorts::stop`].
    pub pools: Vec<(i32, Mempool)>,
    /// Ports configured by [`DpdkPorts::setup`] (started or not): closed by `stop`.
    opened: Vec<u16>,
    stopped: bool,
}

fn port_err(port: u16, name: &str, what: &'static str, rc: i32) -> DpdkError {
    DpdkError::Port {
        port,
        name: name.to_string(),
        what,
        reason: format!("{} ({rc})", strerror(-rc)),
    }
}

fn port_name(port: u16) -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: buf is RTE_ETH_NAME_MAX_LEN (64) bytes as the API requires.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{port}");
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The MTU of `port` (`rte_eth_dev_get_mtu`; 1500 if it cannot say).
fn port_mtu(port: u16) -> u16 {
    let mut mtu = 0u16;
    // SAFETY: valid port id, out-parameter.
    if unsafe { sys::rte_eth_dev_get_mtu(port, &mut mtu) } != 0 {
        return crate::gateway::DEFAULT_MTU;
    }
    mtu
}

/// Outer headers tunnel mode puts in front of a packet whose Ethernet header
/// was stripped: Ethernet + outer IPv6 + ESP header + IV (RFC 4303 2, RFC
/// 4106 3.1: 8-byte IV).
pub const TUNNEL_HEADROOM: usize = 14 + 40 + crate::esp::ESP_HDR_LEN + crate::esp::IV_LEN;

/// The mbuf data room (`rte_pktmbuf_pool_create`'s `data_room_size`, the
/// headroom included) for `mtu`: DPDK's default (2048 + headroom), or more
/// when a frame of `mtu` bytes plus the ESP trailer needs it. Fails when the
/// build's headroom cannot take the tunnel headers or the room exceeds what
/// an mbuf can describe (16-bit lengths).
pub fn mbuf_data_room(mtu: Option<u16>) -> Result<u16, DpdkError> {
    // SAFETY: constants from the build configuration.
    let (default, headroom) = unsafe {
        (
            sys::xfg_mbuf_default_buf_size(),
            sys::xfg_pktmbuf_headroom(),
        )
    };
    if (headroom as usize) < TUNNEL_HEADROOM {
        return Err(DpdkError::Headroom {
            headroom,
            need: TUNNEL_HEADROOM,
        });
    }
    let Some(mtu) = mtu else {
        return Ok(default);
    };
    let room = crate::gateway::data_room_for_mtu(mtu);
    let need = headroom as usize + room;
    u16::try_from(need)
        .map(|n| n.max(default))
        .map_err(|_| DpdkError::MtuRoom {
            mtu,
            need,
            headroom,
        })
}

fn free_hugepages() -> String {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Mbufs [`DpdkPorts::setup`] puts in the pool of one socket whose ports
/// have `queues` (rx, tx) queues each: every descriptor of every queue, two
/// bursts per worker and port (one staged, one received), the lcores'
/// caches, 1024 spare, and what the devices keep (`cfg.extra_mbufs`).
pub fn pool_mbufs(
    queues: &[(u16, u16)],
    nb_workers: u16,
    nb_lcores: u32,
    cfg: &DpdkPortsConfig,
) -> u64 {
    let mut n: u64 = 0;
    for &(rxq, txq) in queues {
        n += u64::from(rxq) * u64::from(cfg.nb_rxd);
        n += u64::from(txq) * u64::from(cfg.nb_txd);
        n += u64::from(nb_workers.max(1)) * 2 * MAX_BURST as u64;
    }
    n + u64::from(nb_lcores) * u64::from(cfg.cache) + 1024 + cfg.extra_mbufs
}

/// Bytes one mbuf of `data_room` takes in a pool (mempool header, struct
/// rte_mbuf, data room, trailer: `rte_mempool_calc_obj_size`).
pub fn mbuf_obj_size(data_room: u16) -> u32 {
    let elt = std::mem::size_of::<sys::rte_mbuf>() as u32 + u32::from(data_room);
    let mut sz = sys::rte_mempool_objsz::default();
    // SAFETY: sz is a valid out-parameter; the call only computes sizes.
    unsafe { sys::rte_mempool_calc_obj_size(elt, 0, &mut sz) }
}

/// Memory EAL can still hand out for mbuf pools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Free bytes of EAL's heaps (all sockets).
    pub heap_free: u64,
    /// Free 2 MiB hugepages of the system, which EAL can add to its heap
    /// (dynamic memory mode); 0 when EAL runs without hugepages.
    pub free_hugepages: u64,
}

impl MemoryBudget {
    /// What is free now. Call after [`eal_init`].
    pub fn now() -> MemoryBudget {
        let mut heap_free = 0u64;
        // SAFETY: plain query after rte_eal_init.
        let sockets = unsafe { sys::rte_socket_count() };
        for i in 0..sockets {
            // SAFETY: i < rte_socket_count().
            let socket = unsafe { sys::rte_socket_id_by_idx(i) };
            let mut st = sys::rte_malloc_socket_stats::default();
            // SAFETY: valid socket id and out-parameter.
            if unsafe { sys::rte_malloc_get_socket_stats(socket, &mut st) } == 0 {
                heap_free += st.heap_freesz_bytes as u64;
            }
        }
        // SAFETY: plain query after rte_eal_init.
        let huge = unsafe { sys::rte_eal_has_hugepages() } != 0;
        MemoryBudget {
            heap_free,
            free_hugepages: if huge {
                free_hugepages().parse().unwrap_or(0)
            } else {
                0
            },
        }
    }

    /// Bytes available in total.
    pub fn bytes(&self) -> u64 {
        self.heap_free + self.free_hugepages * (2 << 20)
    }
}

/// The ethdev ports that exist now, as (port id, name).
pub fn ports_available() -> Vec<(u16, String)> {
    let mut out = Vec::new();
    // SAFETY: iterating EAL's port table after rte_eal_init.
    unsafe {
        let max = sys::xfg_max_ethports() as u16;
        let mut p = sys::rte_eth_find_next_owned_by(0, 0) as u16;
        while p < max {
            out.push((p, port_name(p)));
            p = sys::rte_eth_find_next_owned_by(p + 1, 0) as u16;
        }
    }
    out
}

/// The port id of the ethdev named `name`, if there is one.
pub fn port_by_name(name: &str) -> Option<u16> {
    let c = CString::new(name).ok()?;
    let mut id = 0u16;
    // SAFETY: valid NUL-terminated name and out-parameter.
    (unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0).then_some(id)
}

/// The CPU EAL runs `lcore` on (`rte_lcore_to_cpu_id`), if it is enabled.
pub fn lcore_cpu(lcore: u32) -> Option<usize> {
    // SAFETY: plain query after rte_eal_init; out-of-range ids return -1.
    let cpu = unsafe { sys::rte_lcore_to_cpu_id(lcore as i32) };
    usize::try_from(cpu).ok()
}

/// A virtual device added after EAL start-up (`rte_vdev_init`, hot-plug):
/// the same `name,key=value,...` as `--vdev`. Dropping it removes the
/// device (`rte_vdev_uninit`); close its ethdev first ([`DpdkPorts::stop`]).
#[derive(Debug)]
pub struct Vdev {
    name: CString,
}

impl Vdev {
    /// Probe `name` with `args` (the part after the first comma of a
    /// `--vdev` string). Fails with DPDK's reason, e.g. a missing pcap file.
    pub fn create(name: &str, args: &str) -> Result<Vdev, DpdkError> {
        let bad = |s: &str| DpdkError::BadArg(s.to_string());
        let cname = CString::new(name).map_err(|_| bad(name))?;
        let cargs = CString::new(args).map_err(|_| bad(args))?;
        // SAFETY: valid NUL-terminated strings, copied by the vdev bus.
        let rc = unsafe { sys::rte_vdev_init(cname.as_ptr(), cargs.as_ptr()) };
        if rc != 0 {
            return Err(DpdkError::Vdev {
                name: name.to_string(),
                args: args.to_string(),
                reason: strerror(-rc),
            });
        }
        Ok(Vdev { name: cname })
    }

    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }
}

impl Drop for Vdev {
    fn drop(&mut self) {
        // SAFETY: the device was probed by `create`; its driver's remove
        // closes an ethdev that is still open (none, after DpdkPorts::stop).
        let rc = unsafe { sys::rte_vdev_uninit(self.name.as_ptr()) };
        if rc != 0 {
            eprintln!(
                "xfgate: cannot remove virtual device {}: {}",
                self.name(),
                strerror(-rc)
            );
        }
    }
}

impl DpdkPorts {
    /// Configure and start every ethdev EAL probed.
    pub fn setup(cfg: &DpdkPortsConfig) -> Result<DpdkPorts, DpdkError> {
        let nb_workers = cfg.nb_workers.max(1);
        let mut ids = Vec::new();
        // SAFETY: iterating EAL's port table after rte_eal_init.
        unsafe {
            let mut p = sys::rte_eth_find_next_owned_by(0, 0) as u16;
            let max = sys::xfg_max_ethports() as u16;
            while p < max {
                ids.push(p);
                p = sys::rte_eth_find_next_owned_by(p + 1, 0) as u16;
            }
        }
        if ids.is_empty() {
            return Err(DpdkError::NoPorts);
        }

        // 1. Device facts, queue counts, sockets.
        struct Plan {
            id: u16,
            name: String,
            socket: i32,
            nb_rxq: u16,
            nb_txq: u16,
            info: sys::rte_eth_dev_info,
        }
        let mut plans = Vec::new();
        for &id in &ids {
            let name = port_name(id);
            let mut info = sys::rte_eth_dev_info::default();
            // SAFETY: valid port id, info is a properly sized out-parameter.
            let rc = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
            if rc != 0 {
                return Err(port_err(id, &name, "rte_eth_dev_info_get", rc));
            }
            // SAFETY: valid port id.
            let mut socket = unsafe { sys::rte_eth_dev_socket_id(id) };
            if socket < 0 {
                // Virtual devices have no socket: use the main lcore's.
                // SAFETY: plain query.
                socket = unsafe { sys::rte_socket_id() } as i32;
            }
            let nb_rxq = nb_workers.min(info.max_rx_queues.max(1));
            let nb_txq = nb_workers.min(info.max_tx_queues.max(1));
            if nb_rxq < nb_workers || nb_txq < nb_workers {
                eprintln!(
                    "xfgate: port {id} ({name}) has {} rx / {} tx queues for {nb_workers} workers: \
                     workers beyond them do not use this port",
                    info.max_rx_queues, info.max_tx_queues
                );
            }
            plans.push(Plan {
                id,
                name,
                socket,
                nb_rxq,
                nb_txq,
                info,
            });
        }

        // 2. One mbuf pool per socket, with a data room for the MTU. From
        // here on `out` owns what was made: on an error its drop closes the
        // ports configured so far, then frees the pools.
        let data_room = mbuf_data_room(cfg.mtu)?;
        let mut out = DpdkPorts {
            ports: Vec::new(),
            pools: Vec::new(),
            opened: Vec::new(),
            stopped: false,
        };
        let mut sockets: Vec<i32> = plans.iter().map(|p| p.socket).collect();
        sockets.sort_unstable();
        sockets.dedup();
        // SAFETY: plain query.
        let nb_lcores = unsafe { sys::rte_lcore_count() };
        // Pools are freed when the ports close, but a process may set ports
        // up several times (`xfgate bench`): every set-up names its pools
        // afresh, so a name never clashes with a pool not yet freed.
        static POOL_GENERATION: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let generation = POOL_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for socket in sockets {
            let queues: Vec<(u16, u16)> = plans
                .iter()
                .filter(|p| p.socket == socket)
                .map(|p| (p.nb_rxq, p.nb_txq))
                .collect();
            let n = pool_mbufs(&queues, nb_workers, nb_lcores, cfg);
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let pname = if generation == 0 {
                format!("xfg_mbuf_s{socket}")
            } else {
                format!("xfg_mbuf_s{socket}_{generation}")
            };
            let pname = CString::new(pname).expect("no NUL");
            // SAFETY: valid name; sizes within DPDK's limits.
            let mp = unsafe {
                sys::rte_pktmbuf_pool_create(pname.as_ptr(), n, cfg.cache, 0, data_room, socket)
            };
            match NonNull::new(mp) {
                Some(mp) => out.pools.push((socket, Mempool(mp))),
                None => {
                    let e = errno();
                    let obj = mbuf_obj_size(data_room);
                    let bytes = u64::from(n) * u64::from(obj);
                    if e == libc::ENOMEM {
                        // Pool + rings + EAL's own few MiB.
                        let pages = bytes.div_ceil(2 << 20) + 8;
                        return Err(DpdkError::PoolMemory {
                            socket,
                            mbufs: n,
                            obj_size: obj,
                            mib: bytes >> 20,
                            pages_needed: pages,
                            free_pages: free_hugepages(),
                            reason: strerror(e),
                        });
                    }
                    return Err(DpdkError::Pool {
                        socket,
                        reason: strerror(e),
                    });
                }
            }
        }

        // 3. Configure, set up queues, start.
        for p in plans {
            let pool = out
                .pools
                .iter()
                .find(|(s, _)| *s == p.socket)
                .map(|(_, m)| *m)
                .expect("a pool per socket");
            let mut conf = sys::rte_eth_conf::default();
            let mut rss_hf = 0;
            if p.nb_rxq > 1 {
                // SAFETY: constant.
                rss_hf = unsafe { sys::xfg_rss_ip_udp_tcp() } & p.info.flow_type_rss_offloads;
                if rss_hf != 0 {
                    conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
                    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
                } else if cfg.log_ports {
                    eprintln!(
                        "xfgate: port {} ({}) cannot hash IP/UDP/TCP: its {} rx queues get no RSS",
                        p.id, p.name, p.nb_rxq
                    );
                }
            }
            // No offloads: virtual devices have none and the data path
            // computes its own checksums.
            // From now on the port may hold mbufs of the pool (net_pcap's
            // infinite_rx loads its file at rx queue set-up): it is closed
            // before the pool is freed.
            out.opened.push(p.id);
            // SAFETY: valid port id and conf.
            let rc = unsafe { sys::rte_eth_dev_configure(p.id, p.nb_rxq, p.nb_txq, &conf) };
            if rc != 0 {
                return Err(port_err(p.id, &p.name, "rte_eth_dev_configure", rc));
            }
            let (mut nb_rxd, mut nb_txd) = (cfg.nb_rxd, cfg.nb_txd);
            // SAFETY: valid port id and out-parameters.
            let rc =
                unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(p.id, &mut nb_rxd, &mut nb_txd) };
            if rc != 0 {
                return Err(port_err(
                    p.id,
                    &p.name,
                    "rte_eth_dev_adjust_nb_rx_tx_desc",
                    rc,
                ));
            }
            if let Some(mtu) = cfg.mtu {
                if mtu < p.info.min_mtu || mtu > p.info.max_mtu {
                    return Err(DpdkError::MtuRange {
                        port: p.id,
                        name: p.name.clone(),
                        mtu,
                        min: p.info.min_mtu,
                        max: p.info.max_mtu,
                    });
                }
                // SAFETY: valid, configured, stopped port.
                let rc = unsafe { sys::rte_eth_dev_set_mtu(p.id, mtu) };
                if rc == -libc::ENOTSUP {
                    eprintln!(
                        "xfgate: port {} ({}) cannot change its MTU (rte_eth_dev_set_mtu: not supported \
                         by the driver): it keeps MTU {}; the buffers hold --mtu {mtu} frames anyway",
                        p.id,
                        p.name,
                        port_mtu(p.id)
                    );
                } else if rc != 0 {
                    return Err(port_err(p.id, &p.name, "rte_eth_dev_set_mtu", rc));
                }
            }
            let sock = p.socket as u32;
            for q in 0..p.nb_rxq {
                // SAFETY: valid port/queue; NULL conf = device defaults; live pool.
                let rc = unsafe {
                    sys::rte_eth_rx_queue_setup(
                        p.id,
                        q,
                        nb_rxd,
                        sock,
                        std::ptr::null(),
                        pool.0.as_ptr(),
                    )
                };
                if rc != 0 {
                    return Err(port_err(p.id, &p.name, "rte_eth_rx_queue_setup", rc));
                }
            }
            for q in 0..p.nb_txq {
                // SAFETY: valid port/queue; NULL conf = device defaults.
                let rc =
                    unsafe { sys::rte_eth_tx_queue_setup(p.id, q, nb_txd, sock, std::ptr::null()) };
                if rc != 0 {
                    return Err(port_err(p.id, &p.name, "rte_eth_tx_queue_setup", rc));
                }
            }
            // SAFETY: configured port.
            let rc = unsafe { sys::rte_eth_dev_start(p.id) };
            if rc != 0 {
                return Err(port_err(p.id, &p.name, "rte_eth_dev_start", rc));
            }
            // SAFETY: started port; not every PMD supports it (ignored then).
            let prc = unsafe { sys::rte_eth_promiscuous_enable(p.id) };
            let mut mac = sys::rte_ether_addr::default();
            // SAFETY: valid port, out-parameter.
            unsafe { sys::rte_eth_macaddr_get(p.id, &mut mac) };
            let mut link = sys::rte_eth_link::default();
            // SAFETY: valid port, out-parameter.
            unsafe { sys::rte_eth_link_get_nowait(p.id, &mut link) };
            let m = mac.addr_bytes;
            let mtu = port_mtu(p.id);
            if cfg.log_ports {
                eprintln!(
                "xfgate: port {} {} socket {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} mtu {} rxq {} txq {} rxd {} txd {} rss 0x{:x} promisc {} link {} {} Mbps",
                p.id, p.name, p.socket, m[0], m[1], m[2], m[3], m[4], m[5], mtu, p.nb_rxq, p.nb_txq,
                nb_rxd, nb_txd, rss_hf,
                if prc == 0 { "on" } else { "unsupported" },
                if link.link_status() != 0 { "up" } else { "down" },
                link.link_speed
                );
            }
            out.ports.push(DpdkPort {
                info: PortInfo {
                    id: p.id,
                    name: p.name,
                    mac: m,
                    kind: PortKind::Dpdk,
                },
                socket: p.socket,
                mtu,
                nb_rxq: p.nb_rxq,
                nb_txq: p.nb_txq,
                rss_hf,
                counters: Arc::new(PortCounters::new(nb_workers as usize)),
            });
        }
        Ok(out)
    }

    /// The queues of worker `w` (0-based): `(port, rx)` for every port that
    /// has an rx queue `w`, and `tx[port]` if it has a tx queue `w`.
    pub fn worker_queues(&self, w: u16) -> (Vec<(u16, DpdkRx)>, Vec<Option<DpdkTx>>) {
        let rx = self
            .ports
            .iter()
            .filter(|p| w < p.nb_rxq)
            .filter_map(|p| self.rx_queue(p.info.id, w, w))
            .collect();
        (rx, self.tx_queues(w))
    }

    /// Rx queue `queue` of port `port`, polled by worker `w` (whose counter
    /// slot it updates); `None` if the port has no such queue.
    pub fn rx_queue(&self, port: u16, queue: u16, w: u16) -> Option<(u16, DpdkRx)> {
        let p = self.ports.iter().find(|p| p.info.id == port)?;
        (queue < p.nb_rxq).then(|| {
            (
                port,
                DpdkRx {
                    port,
                    queue,
                    stats: p.counters.queue(w as usize % p.counters.nb_queues()),
                },
            )
        })
    }

    /// Worker `w`'s tx queue on every port (`tx[port]`; `None` where the
    /// port has fewer tx queues than workers).
    pub fn tx_queues(&self, w: u16) -> Vec<Option<DpdkTx>> {
        self.ports
            .iter()
            .map(|p| {
                (w < p.nb_txq).then(|| DpdkTx {
                    port: p.info.id,
                    queue: w,
                    stats: p.counters.queue(w as usize % p.counters.nb_queues()),
                })
            })
            .collect()
    }

    /// `rte_eth_stats_get` for port `id`.
    pub fn eth_stats(&self, id: u16) -> EthStats {
        eth_stats(id)
    }

    /// Mbufs in use, summed over the pools.
    pub fn mbufs_in_use(&self) -> u64 {
        self.pools.iter().map(|(_, p)| u64::from(p.in_use())).sum()
    }

    /// Stop and close every port (pcap writers flush here; closing
    /// releases the ethdev), then free the mbuf pools. Call after the
    /// workers returned and every [`Mbuf`] of the pools was freed.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for &id in &self.opened {
            // SAFETY: no worker polls the port any more.
            unsafe {
                sys::rte_eth_dev_stop(id);
                sys::rte_eth_dev_close(id);
            }
        }
        for (_, p) in self.pools.drain(..) {
            // SAFETY: every port that took mbufs from the pool is closed
            // (closing returns what the driver held) and the workers, the
            // only other holders, have returned; nothing uses the pool again.
            unsafe { sys::rte_mempool_free(p.0.as_ptr()) };
        }
    }
}

impl Drop for DpdkPorts {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `rte_eth_stats` of port `id` (zeros if the call fails); callable from any
/// thread.
pub fn eth_stats(id: u16) -> EthStats {
    let mut s = sys::rte_eth_stats::default();
    // SAFETY: valid port id, out-parameter.
    if unsafe { sys::rte_eth_stats_get(id, &mut s) } != 0 {
        return EthStats::default();
    }
    EthStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

#[cfg(test)]
mod tests {
    //! `Mbuf` against `HeapBuf`, the reference `PacketBuf`: the same
    //! operations on the same bytes give the same results. EAL starts once in
    //! this test binary (`--no-huge`: no hugepages needed for correctness).
    use super::*;
    use crate::buf::HeapBuf;

    fn eal() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let args: Vec<String> = [
                "-l",
                "0",
                "--no-huge",
                "-m",
                "64",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                "--log-level=error",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            eal_init(&args).expect("EAL starts with --no-huge");
        });
    }

    fn same(m: &Mbuf, h: &HeapBuf) {
        assert_eq!(m.data(), h.data());
        assert_eq!(m.headroom(), h.headroom());
        assert_eq!(m.tailroom(), h.tailroom());
        assert_eq!(m.len(), h.len());
    }

    #[test]
    fn infinite_rx_pcaps_count_their_packets() {
        let dir = std::env::temp_dir().join(format!("xfg-infrx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        for (path, n) in [(&a, 5u32), (&b, 7)] {
            let mut w = crate::port::pcap::PcapWriter::create(path).unwrap();
            for i in 0..n {
                w.write(1, i, &vec![0xab; 60 + i as usize]).unwrap();
            }
            w.finish().unwrap();
        }
        let args = |v: &[String]| -> Vec<String> {
            v.iter()
                .flat_map(|d| ["--vdev".to_string(), d.clone()])
                .collect()
        };
        let (a, b) = (a.display(), b.display());
        assert_eq!(
            infinite_rx_mbufs(&args(&[
                format!("net_pcap0,rx_pcap={a},rx_pcap={b},infinite_rx=1"),
                "net_null1,no-rx=1".into(),
            ])),
            12
        );
        // Without infinite_rx the driver reads the file as it goes.
        assert_eq!(
            infinite_rx_mbufs(&args(&[format!("net_pcap0,rx_pcap={a}")])),
            0
        );
        assert_eq!(
            infinite_rx_mbufs(&[format!("--vdev=net_pcap0,rx_pcap={b},infinite_rx=1")]),
            7
        );
        assert_eq!(
            infinite_rx_mbufs(&args(&[
                "net_pcap0,rx_pcap=/nonexistent.pcap,infinite_rx=1".into()
            ])),
            0
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn mbuf_data_room_follows_the_mtu() {
        // SAFETY: constants.
        let (default, headroom) = unsafe {
            (
                sys::xfg_mbuf_default_buf_size(),
                sys::xfg_pktmbuf_headroom(),
            )
        };
        assert_eq!(mbuf_data_room(None).unwrap(), default);
        // 1500 fits DPDK's default room (2048 + headroom).
        assert_eq!(mbuf_data_room(Some(1500)).unwrap(), default);
        // 9000: headroom + Ethernet/VLAN + 9000 + the largest ESP trailer.
        let want = headroom as usize + 18 + 9000 + 255 + 2 + 16;
        assert_eq!(mbuf_data_room(Some(9000)).unwrap() as usize, want);
        assert!(matches!(
            mbuf_data_room(Some(65_400)),
            Err(DpdkError::MtuRoom { mtu: 65_400, .. })
        ));
    }

    #[test]
    fn mbuf_matches_heapbuf_and_frees_on_drop() {
        eal();
        let pool = Mempool::create("xfg_test_pool", 64, 0, 0).expect("pool");
        assert_eq!(pool.in_use(), 0);
        let frame: Vec<u8> = (0..60u8).collect();
        let mut m = Mbuf::from_slice(&pool, &frame).expect("an mbuf");
        assert_eq!(pool.in_use(), 1);
        // SAFETY: constant.
        let headroom = unsafe { sys::xfg_pktmbuf_headroom() } as usize;
        let buf_len = m.headroom() + m.len() + m.tailroom();
        let mut h = HeapBuf::new(buf_len, headroom);
        h.append(frame.len()).unwrap().copy_from_slice(&frame);
        same(&m, &h);

        // Strip the 14-byte L2 header, add a 20 + 16 byte outer header, pad
        // and ICV at the back, then undo: exactly what ESP tunnel mode does.
        assert!(m.adj(14) && h.adj(14));
        same(&m, &h);
        let (pm, ph) = (m.prepend(36).unwrap(), h.prepend(36).unwrap());
        pm[..36].fill(0xab);
        ph[..36].fill(0xab);
        same(&m, &h);
        let (am, ah) = (m.append(18).unwrap(), h.append(18).unwrap());
        let n = am.len();
        am[n - 18..].fill(0xcd);
        ah[n - 18..].fill(0xcd);
        same(&m, &h);
        assert!(m.trim(18) && h.trim(18));
        assert!(m.adj(36) && h.adj(36));
        same(&m, &h);
        assert_eq!(m.data(), &frame[14..]);

        // Refusals leave the packet unchanged.
        let len = m.len();
        assert!(m.prepend(m.headroom() + 1).is_none());
        assert!(m.append(m.tailroom() + 1).is_none());
        assert!(!m.adj(len + 1));
        assert!(!m.trim(len + 1));
        assert!(m.prepend(70_000).is_none());
        assert!(!m.adj(70_000));
        same(&m, &h);

        // The in-place length changes keep DPDK's pkt_len (what the PMDs
        // send) equal to the single segment's data_len.
        assert_eq!(m.raw().pkt_len, u32::from(m.raw().data_len));
        assert!(m.prepend(20).is_some() && m.append(7).is_some());
        assert_eq!(m.raw().pkt_len, u32::from(m.raw().data_len));
        assert!(m.adj(20) && m.trim(7));
        assert_eq!(m.raw().pkt_len as usize, m.len());
        same(&m, &h);

        // A chained mbuf takes DPDK's own functions: its length is the chain's.
        let mut head = Mbuf::from_slice(&pool, &frame).unwrap();
        let tail = Mbuf::from_slice(&pool, &frame).unwrap();
        // SAFETY: two single-segment mbufs of the same pool; on success the
        // head owns the tail.
        let rc = unsafe { sys::rte_pktmbuf_chain(head.as_ptr(), tail.as_ptr()) };
        assert_eq!(rc, 0);
        std::mem::forget(tail);
        assert_eq!(head.nb_segs(), 2);
        assert!(head.adj(14));
        assert!(head.trim(10));
        assert!(head.prepend(8).is_some());
        assert_eq!(head.raw().pkt_len as usize, 2 * frame.len() - 14 - 10 + 8);
        assert_eq!(
            head.len(),
            frame.len() - 14 + 8,
            "data() is the first segment"
        );
        drop(head);

        m.set_port(7);
        assert_eq!(m.port(), 7);
        assert_eq!(m.nb_segs(), 1);
        drop(m);
        assert_eq!(pool.in_use(), 0, "drop frees the mbuf");

        // Bulk free: one rte_pktmbuf_free_bulk for a burst.
        let mut b: Burst<Mbuf> = Burst::new();
        for _ in 0..MAX_BURST {
            assert!(b.push(Mbuf::alloc(&pool).unwrap()).is_ok());
        }
        assert_eq!(pool.in_use(), MAX_BURST as u32);
        b.free();
        assert!(b.is_empty());
        assert_eq!(pool.in_use(), 0, "free() returned every mbuf");
        b.free();
        assert_eq!(pool.in_use(), 0, "an empty burst frees nothing");

        // A burst of mbufs is freed with the burst.
        for _ in 0..MAX_BURST {
            assert!(b.push(Mbuf::alloc(&pool).unwrap()).is_ok());
        }
        assert_eq!(pool.in_use(), MAX_BURST as u32);
        b.truncate(4);
        assert_eq!(pool.in_use(), 4);
        b.clear();
        assert_eq!(pool.in_use(), 0);
    }
}
