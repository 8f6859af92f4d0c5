//! The lcore data path: one poll loop per worker, generic over the packet
//! buffer and the port queues (monomorphized for software ports and DPDK).
//!
//! Per rx burst: parse and build flow keys -> decapsulate inbound ESP (SAD
//! lookup, ICV, anti-replay; one lock per SA per burst) -> one flow-cache
//! lookup for the whole burst -> act on each verdict (encapsulate, route,
//! drop) -> stage per egress port. Per loop: tx bursts, a sweep step of the
//! shard, one quiescent state. Every packet ends in exactly one counter:
//! forwarded, or a drop reason.
//!
//! Owns: the worker loop and its counters. May not touch: tables (read-only
//! through the engine), other workers' state.

use crate::buf::PacketBuf;
use crate::esp::{encapsulate, frame, seal, EspError, Framed};
use crate::flow::{Bundle, BundleRef, FlowKey, Shard, Verdict};
use crate::ip::{Dir, Family};
use crate::mgmt::{Engine, WorkerEvent};
use crate::port::{Burst, RxQueue, TxQueue, MAX_BURST};
use crate::route::Mac;
use crate::sad::sa::{Sa, EXPIRE_HARD, EXPIRE_SOFT};
use crate::stats::{ticks, CycleClock, DropReason, LcoreCounters};
use crate::wire::{self, WireError};
use lcore::{Handle, Reader};
use std::sync::Arc;

/// EtherTypes.
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// What the data path knows of a port.
#[derive(Clone, Debug)]
pub struct PortConf {
    pub id: u16,
    /// Source MAC of frames sent from this port.
    pub mac: Mac,
    /// Protected (inside) port: arrivals are outbound traffic. Unprotected
    /// (`-u`) ports carry ESP: arrivals are inbound traffic.
    pub protected: bool,
    /// Destination MAC when the neighbor table has none for the next hop.
    pub default_peer: Mac,
}

/// The default peer MAC of a port without a `neigh` entry: locally
/// administered `02:00:00:00:00:PP`.
pub fn default_peer_mac(port: u16) -> Mac {
    let [hi, lo] = port.to_be_bytes();
    [0x02, 0, 0, 0, hi, lo]
}

/// Sweep steps per loop iteration (each validates one cache way).
pub const SWEEP_PER_LOOP: usize = 8;

/// What happens to one packet of a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Drop(DropReason),
    /// Waiting for its flow-cache result, at this index of the key list.
    Lookup(u16),
    /// Inbound ESP waiting for decapsulation.
    Esp,
    Tx(u16),
}

/// Distinct SAs of one burst with their packet/byte totals and the next
/// sequence number to hand out (outbound).
struct SaBurst {
    n: usize,
    /// The slot [`SaBurst::slot`] found last.
    last: usize,
    handle: [Handle; MAX_BURST],
    count: [u32; MAX_BURST],
    bytes: [u64; MAX_BURST],
    next_seq: [u64; MAX_BURST],
    exhausted: [bool; MAX_BURST],
}

impl SaBurst {
    fn new() -> SaBurst {
        SaBurst {
            n: 0,
            last: 0,
            handle: [Handle::default(); MAX_BURST],
            count: [0; MAX_BURST],
            bytes: [0; MAX_BURST],
            next_seq: [0; MAX_BURST],
            exhausted: [false; MAX_BURST],
        }
    }
    fn clear(&mut self) {
        self.n = 0;
        self.last = 0;
    }
    #[inline]
    fn slot(&mut self, h: Handle) -> usize {
        // Consecutive packets mostly share their SA: try the last slot first.
        if self.last < self.n && self.handle[self.last] == h {
            return self.last;
        }
        if let Some(i) = self.handle[..self.n].iter().position(|x| *x == h) {
            self.last = i;
            return i;
        }
        let i = self.n;
        self.last = i;
        self.n += 1;
        self.handle[i] = h;
        self.count[i] = 0;
        self.bytes[i] = 0;
        self.exhausted[i] = false;
        i
    }
}

/// One worker lcore: its queues, its flow-cache shard, its counters.
pub struct Lcore<B: PacketBuf, R: RxQueue<B>, T: TxQueue<B>> {
    pub id: usize,
    engine: Arc<Engine>,
    reader: Reader,
    pub shard: Shard,
    rx: Vec<(u16, R)>,
    tx: Vec<Option<T>>,
    staged: Vec<Burst<B>>,
    ports: Arc<[PortConf]>,
    pub counters: LcoreCounters,
    /// Converts tick differences of [`ticks`] to ns (busy-loop latency).
    clock: CycleClock,
    // Scratch, allocated once.
    burst: Burst<B>,
    /// The packets of one rx burst that are dropped, freed together.
    trash: Burst<B>,
    acts: [Act; MAX_BURST],
    l2len: [u16; MAX_BURST],
    esp_sa: [Handle; MAX_BURST],
    secpath: [Option<Handle>; MAX_BURST],
    keys: Vec<FlowKey>,
    /// Framed packets of the burst waiting for the cipher pass.
    sealing: Sealing,
    /// The burst's lookup results (read through the shard).
    brefs: [BundleRef; MAX_BURST],
    sab: SaBurst,
}

impl<B: PacketBuf, R: RxQueue<B>, T: TxQueue<B>> Lcore<B, R, T> {
    /// A worker polling `rx` (port id, queue) and sending on `tx[port]`.
    pub fn new(
        id: usize,
        engine: Arc<Engine>,
        shard: Shard,
        rx: Vec<(u16, R)>,
        tx: Vec<Option<T>>,
        ports: Arc<[PortConf]>,
    ) -> Self {
        let reader = engine.domain.register(id);
        let nports = ports.len().max(tx.len());
        Lcore {
            id,
            engine,
            reader,
            shard,
            rx,
            tx,
            staged: (0..nports).map(|_| Burst::new()).collect(),
            ports,
            counters: LcoreCounters::new(id as u32),
            clock: CycleClock::get(),
            burst: Burst::new(),
            trash: Burst::new(),
            acts: [Act::Drop(DropReason::Other); MAX_BURST],
            l2len: [0; MAX_BURST],
            esp_sa: [Handle::default(); MAX_BURST],
            secpath: [None; MAX_BURST],
            keys: Vec::with_capacity(MAX_BURST),
            sealing: Sealing::new(),
            brefs: [BundleRef::default(); MAX_BURST],
            sab: SaBurst::new(),
        }
    }

    /// Start reading shared state (before the loop).
    pub fn online(&mut self) {
        self.reader.online();
    }

    /// Stop reading shared state (idle, or stopping): mgmt no longer waits for us.
    pub fn offline(&mut self) {
        self.reader.offline();
    }

    /// Have all rx queues finished (pcap replayed to its end, generator count reached)?
    pub fn rx_done(&self) -> bool {
        self.rx.iter().all(|(_, q)| q.is_done())
    }

    /// One loop iteration: poll every rx queue once, send, sweep, report a
    /// quiescent state. Returns the packets received. A busy iteration (one
    /// that received packets) records its duration, rx to quiescent state,
    /// in `counters.burst_ns`: the latency a burst sees in the worker.
    #[inline(never)] // once per loop; keeps profiles readable
    pub fn poll_once(&mut self, now_ms: u64) -> usize {
        let t0 = ticks();
        let mut got = 0;
        for qi in 0..self.rx.len() {
            let port = self.rx[qi].0;
            // Swap in a placeholder that owns no memory: no allocation.
            let mut burst = std::mem::replace(&mut self.burst, Burst::placeholder());
            let n = self.rx[qi].1.rx_burst(&mut burst, MAX_BURST);
            if n > 0 {
                got += n;
                self.process(port, &mut burst);
            }
            self.burst = burst;
        }
        self.flush_tx();
        self.shard.sweep(&self.engine, SWEEP_PER_LOOP, now_ms);
        self.counters.loops += 1;
        if got > 0 {
            self.counters.busy_loops += 1;
            self.sync_cache_stats();
        }
        self.reader.quiescent();
        if got > 0 {
            let ns = self.clock.ns_between(t0, ticks());
            self.counters.record_burst_ns(ns);
        }
        got
    }

    /// Bring the shard's counters, miss timings and the generators' new-flow
    /// counts into the lcore counters.
    pub fn sync_cache_stats(&mut self) {
        self.counters.new_flow_packets = self.rx.iter().map(|(_, q)| q.new_flow_packets()).sum();
        let s = &self.shard.stats;
        let c = &mut self.counters.cache;
        c.lookups = s.lookups;
        c.hits = s.hits;
        c.misses = s.misses;
        c.stale = s.stale;
        c.inserts = s.inserts;
        c.evictions = s.evictions;
        c.denied = s.denied;
        c.swept = s.swept;
        c.displaced = s.displaced;
        c.uncacheable = s.uncacheable;
        let counters = &mut self.counters;
        self.shard
            .drain_miss_samples(|ns| counters.record_miss_ns(ns));
    }

    /// Send what is staged; what a port refuses is freed and counted.
    pub fn flush_tx(&mut self) {
        for p in 0..self.staged.len() {
            if self.staged[p].is_empty() {
                continue;
            }
            let Some(Some(q)) = self.tx.get_mut(p) else {
                // No tx queue for this port on this lcore: count, free.
                let n = self.staged[p].len() as u64;
                self.counters.drops[DropReason::TxFull as usize] += n;
                self.counters.forwarded -= n;
                self.staged[p].free();
                continue;
            };
            let bytes: u64 = self.staged[p].iter().map(|b| b.len() as u64).sum();
            let sent = q.tx_burst(&mut self.staged[p]);
            let left = self.staged[p].len() as u64;
            let left_bytes: u64 = if left == 0 {
                0
            } else {
                self.staged[p].iter().map(|b| b.len() as u64).sum()
            };
            self.counters.tx_packets += sent as u64;
            self.counters.tx_bytes += bytes - left_bytes;
            if left > 0 {
                self.counters.drops[DropReason::TxFull as usize] += left;
                self.counters.forwarded -= left;
                self.staged[p].free();
            }
        }
    }

    /// Flush the tx queues' own buffers (shutdown).
    pub fn flush_ports(&mut self) {
        self.flush_tx();
        for q in self.tx.iter_mut().flatten() {
            q.flush();
        }
    }

    fn process(&mut self, port: u16, burst: &mut Burst<B>) {
        let n = burst.len();
        let conf = self.ports.get(port as usize).cloned();
        let protected = conf.as_ref().is_some_and(|c| c.protected);
        self.counters.rx_packets += n as u64;
        self.keys.clear();
        let dir = if protected { Dir::Out } else { Dir::In };

        // 1. Parse and build keys; find inbound ESP SAs.
        for (i, pkt) in burst.iter().enumerate() {
            self.counters.rx_bytes += pkt.len() as u64;
            self.secpath[i] = None;
            self.acts[i] = match wire::flow_key(pkt.data(), dir, port) {
                Err(e) => Act::Drop(wire_drop(e)),
                Ok((k, p)) => {
                    self.l2len[i] = p.l2_len;
                    if p.is_fragment() {
                        self.counters.fragments += 1;
                    }
                    match (protected, p.esp) {
                        (false, Some(esp)) => {
                            match self.engine.sa_in(esp.spi, k.dst, k.family, &self.reader) {
                                Some((h, _)) => {
                                    self.esp_sa[i] = h;
                                    Act::Esp
                                }
                                None => Act::Drop(DropReason::NoSa),
                            }
                        }
                        _ => {
                            self.keys.push(k);
                            Act::Lookup(self.keys.len() as u16 - 1)
                        }
                    }
                }
            };
        }

        // 2. Decapsulate, one lock per SA per burst.
        if !protected {
            self.decap(port, burst);
        }

        // 3. One flow-cache lookup for the burst.
        let nk = self.keys.len();
        if nk > 0 {
            self.shard.lookup_burst_refs(
                &self.engine,
                &self.reader,
                &self.keys,
                &mut self.brefs[..nk],
            );
        }

        // 4. Act on verdicts. The SAs of the burst are resolved once (one
        // table read per SA per burst, not per packet), and the bundles are
        // read in place (a hit's in the shard's table).
        self.sab.clear();
        let engine: &Engine = &self.engine;
        let reader = &self.reader;
        let mut sa_of: [Option<&Sa>; MAX_BURST] = [None; MAX_BURST];
        if protected {
            reserve_seqs(
                engine,
                reader,
                &mut self.sab,
                &mut sa_of,
                &self.acts[..n],
                |ki| self.shard.bundle(self.brefs[ki as usize]),
            );
        }
        let mut out = Egress {
            ports: &self.ports,
            sab: &mut self.sab,
            sa_of: &sa_of,
            counters: &mut self.counters,
            sealing: &mut self.sealing,
        };
        for (i, pkt) in burst.iter_mut().enumerate() {
            let Act::Lookup(ki) = self.acts[i] else {
                continue;
            };
            let b = self.shard.bundle(self.brefs[ki as usize]);
            let l2 = self.l2len[i] as usize;
            self.acts[i] = match b.verdict {
                Verdict::Protect => out.protect(i, pkt, b, l2),
                Verdict::Bypass => out.forward(pkt, b, self.secpath[i].is_none(), l2),
                Verdict::NeedEsp => match self.secpath[i] {
                    None => Act::Drop(DropReason::NeedEsp),
                    Some(h) if engine.secpath_ok(b, &self.keys[ki as usize], &[h], reader) => {
                        if b.routed {
                            out.forward(pkt, b, false, 0)
                        } else {
                            Act::Drop(DropReason::NoRoute)
                        }
                    }
                    Some(_) => Act::Drop(DropReason::SecpathMismatch),
                },
                Verdict::PolicyBlock => Act::Drop(DropReason::PolicyBlock),
                Verdict::DefaultBlock => Act::Drop(DropReason::DefaultBlock),
                Verdict::Larval => Act::Drop(DropReason::Larval),
                Verdict::NoRoute => Act::Drop(DropReason::NoRoute),
            };
        }
        if out.sealing.n > 0 {
            out.seal_all(burst.as_mut_slice(), &mut self.acts[..n]);
        }
        if protected {
            self.account_out();
        }

        // 5. Stage or free; every packet ends in one counter. The common
        // case, the whole burst to one port, moves the burst as a block.
        let nstaged = self.staged.len();
        if let Some(p) = single_tx_port(&self.acts[..n]).filter(|&p| (p as usize) < nstaged) {
            let p = p as usize;
            if self.staged[p].len() + n > MAX_BURST {
                self.flush_tx();
            }
            if self.staged[p].take_all_from(burst) {
                self.counters.forwarded += n as u64;
                return;
            }
        }
        for (i, pkt) in burst.drain().enumerate() {
            match self.acts[i] {
                Act::Tx(p) if (p as usize) < nstaged => {
                    let p = p as usize;
                    if self.staged[p].is_full() {
                        self.flush_tx();
                    }
                    match self.staged[p].push(pkt) {
                        Ok(()) => self.counters.forwarded += 1,
                        Err(pkt) => {
                            let _ = self.trash.push(pkt);
                            self.counters.drops[DropReason::TxFull as usize] += 1;
                        }
                    }
                }
                Act::Tx(_) => {
                    self.counters.drops[DropReason::NoRoute as usize] += 1;
                    let _ = self.trash.push(pkt);
                }
                Act::Drop(r) => {
                    self.counters.drops[r as usize] += 1;
                    // At most one rx burst: never full.
                    let _ = self.trash.push(pkt);
                }
                Act::Lookup(_) | Act::Esp => {
                    self.counters.drops[DropReason::Other as usize] += 1;
                    let _ = self.trash.push(pkt);
                }
            }
        }
        self.trash.free();
    }

    fn decap(&mut self, port: u16, burst: &mut Burst<B>) {
        let n = burst.len();
        let pkts = burst.as_mut_slice();
        for i in 0..n {
            if self.acts[i] != Act::Esp {
                continue;
            }
            let h = self.esp_sa[i];
            let Some(sa) = self.engine.sas.get(h, &self.reader) else {
                // Killed since the lookup a moment ago.
                for j in i..n {
                    if self.acts[j] == Act::Esp && self.esp_sa[j] == h {
                        self.acts[j] = Act::Drop(DropReason::NoSa);
                    }
                }
                continue;
            };
            let (mut pk, mut bytes, mut errors) = (0u64, 0u64, 0u64);
            {
                // Serialized per SA per burst (RSS normally keeps an SA on one lcore).
                let mut st = match sa.inbound.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                for (j, pkt) in pkts.iter_mut().enumerate().take(n).skip(i) {
                    if self.acts[j] != Act::Esp || self.esp_sa[j] != h {
                        continue;
                    }
                    pkt.adj(self.l2len[j] as usize);
                    self.acts[j] = match st.decapsulate(&sa.esp, pkt) {
                        Ok(d) => {
                            pk += 1;
                            bytes += d.len as u64;
                            self.counters.decapsulated += 1;
                            match wire::flow_key_l3(pkt.data(), Dir::In, port) {
                                Ok((k, _)) => {
                                    self.secpath[j] = Some(h);
                                    self.l2len[j] = 0;
                                    self.keys.push(k);
                                    Act::Lookup(self.keys.len() as u16 - 1)
                                }
                                Err(_) => Act::Drop(DropReason::Malformed),
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            Act::Drop(esp_drop(e))
                        }
                    };
                }
            }
            if errors > 0 {
                sa.counters
                    .errors
                    .fetch_add(errors, std::sync::atomic::Ordering::Relaxed);
            }
            if pk > 0 {
                self.report_expiry(
                    h,
                    sa.account(
                        pk,
                        bytes,
                        self.engine
                            .clock_secs
                            .load(std::sync::atomic::Ordering::Relaxed),
                    ),
                );
            }
        }
    }

    fn account_out(&mut self) {
        for s in 0..self.sab.n {
            if self.sab.count[s] == 0 {
                continue;
            }
            let h = self.sab.handle[s];
            if let Some(sa) = self.engine.sas.get(h, &self.reader) {
                let now = self
                    .engine
                    .clock_secs
                    .load(std::sync::atomic::Ordering::Relaxed);
                let e = sa.account(self.sab.count[s] as u64, self.sab.bytes[s], now);
                self.report_expiry(h, e);
            }
        }
    }

    fn report_expiry(&self, h: Handle, e: u8) {
        if e & EXPIRE_HARD != 0 {
            self.engine
                .report(WorkerEvent::SaExpire { sa: h, hard: true });
        } else if e & EXPIRE_SOFT != 0 {
            self.engine
                .report(WorkerEvent::SaExpire { sa: h, hard: false });
        }
    }
}

/// Reserve outbound sequence numbers: one atomic add per SA per burst. Also
/// resolves each SA of the burst once: `sa_of[s]` is the SA of slot `s`
/// (`None` if it is gone; the slot is then marked exhausted).
fn reserve_seqs<'r>(
    engine: &'r Engine,
    reader: &'r Reader,
    sab: &mut SaBurst,
    sa_of: &mut [Option<&'r Sa>; MAX_BURST],
    acts: &[Act],
    bundle: impl Fn(u16) -> &'r Bundle,
) {
    for act in acts {
        let Act::Lookup(ki) = *act else {
            continue;
        };
        let b = bundle(ki);
        if b.verdict != Verdict::Protect {
            continue;
        }
        for h in b.sas() {
            let s = sab.slot(*h);
            sab.count[s] += 1;
        }
    }
    for (s, sa_slot) in sa_of.iter_mut().enumerate().take(sab.n) {
        let h = sab.handle[s];
        let sa = engine.sas.get(h, reader);
        *sa_slot = sa;
        match sa.map(|sa| sa.seq.reserve(sab.count[s])) {
            Some(Ok(first)) => sab.next_seq[s] = first,
            Some(Err(_)) => {
                sab.exhausted[s] = true;
                engine.report(WorkerEvent::SaExpire { sa: h, hard: true });
            }
            None => sab.exhausted[s] = true,
        }
        sab.count[s] = 0;
    }
}

/// What the egress steps of one burst write: the per-SA totals and the
/// lcore counters, with the port table and the burst's resolved SAs.
struct Egress<'a, 'r> {
    ports: &'a [PortConf],
    sab: &'a mut SaBurst,
    sa_of: &'a [Option<&'r Sa>; MAX_BURST],
    counters: &'a mut LcoreCounters,
    /// Packets framed for their last SA and waiting for the burst's cipher pass.
    sealing: &'a mut Sealing,
}

/// The framed packets of a burst, in order: packet index, SA slot, framing
/// (separate arrays: each is written and read whole, with no store-to-load
/// forwarding of a struct assembled from narrower stores).
struct Sealing {
    n: usize,
    pkt: [u8; MAX_BURST],
    slot: [u8; MAX_BURST],
    seq: [u64; MAX_BURST],
    esp_to_end: [u32; MAX_BURST],
}

impl Sealing {
    fn new() -> Sealing {
        Sealing {
            n: 0,
            pkt: [0; MAX_BURST],
            slot: [0; MAX_BURST],
            seq: [0; MAX_BURST],
            esp_to_end: [0; MAX_BURST],
        }
    }

    #[inline]
    fn push(&mut self, i: usize, s: usize, f: Framed) {
        // At most one per packet of a burst.
        if self.n < MAX_BURST {
            let n = self.n;
            self.pkt[n] = i as u8;
            self.slot[n] = s as u8;
            self.seq[n] = f.seq;
            self.esp_to_end[n] = f.esp_to_end;
            self.n += 1;
        }
    }
}

impl Egress<'_, '_> {
    /// Outbound protect: strip L2, decrement TTL, apply the SA chain, route.
    /// The last SA of the chain only frames the packet (`i` of the burst);
    /// [`Egress::seal_all`] encrypts the framed packets of the burst together.
    #[inline]
    fn protect<B: PacketBuf>(&mut self, i: usize, pkt: &mut B, b: &Bundle, l2: usize) -> Act {
        if !pkt.adj(l2) {
            return Act::Drop(DropReason::Malformed);
        }
        if let Err(e) = decrement_ttl(pkt.data_mut()) {
            return Act::Drop(wire_drop(e));
        }
        let sas = b.sas();
        for (k, h) in sas.iter().enumerate() {
            let s = self.sab.slot(*h);
            if self.sab.exhausted[s] {
                return Act::Drop(DropReason::SeqExhausted);
            }
            let Some(sa) = self.sa_of[s] else {
                return Act::Drop(DropReason::NoSa);
            };
            let seq = self.sab.next_seq[s];
            self.sab.next_seq[s] += 1;
            if k + 1 < sas.len() {
                // An inner SA of a chain: the next one encrypts its output.
                if let Err(e) = encapsulate(&sa.esp, pkt, seq) {
                    return Act::Drop(esp_drop(e));
                }
            } else {
                match frame(&sa.esp, pkt, seq) {
                    Ok(f) => self.sealing.push(i, s, f),
                    Err(e) => return Act::Drop(esp_drop(e)),
                }
            }
            self.sab.count[s] += 1;
            self.sab.bytes[s] += pkt.len() as u64;
        }
        self.counters.encapsulated += 1;
        let act = self.push_l2(pkt, b);
        if !matches!(act, Act::Tx(_)) {
            // Not sent: it need not be sealed.
            let q = &mut *self.sealing;
            if q.n > 0 && q.pkt[q.n - 1] as usize == i {
                q.n -= 1;
            }
        }
        act
    }

    /// The burst's cipher pass: seal every framed packet, back to back, so
    /// the cipher's key schedule and tables stay hot and the per-packet
    /// steps before it ran with their own state in cache. A packet the
    /// cipher refuses is dropped.
    fn seal_all<B: PacketBuf>(&mut self, pkts: &mut [B], acts: &mut [Act]) {
        let q = &mut *self.sealing;
        for k in 0..q.n {
            let (i, s) = (q.pkt[k] as usize, q.slot[k] as usize);
            let f = Framed {
                seq: q.seq[k],
                esp_to_end: q.esp_to_end[k],
            };
            let Some(sa) = self.sa_of[s] else {
                acts[i] = Act::Drop(DropReason::NoSa);
                continue;
            };
            if let Err(e) = seal(&sa.esp, &mut pkts[i], &f) {
                // Counted as sent to the SA (lifetimes err on the early side).
                acts[i] = Act::Drop(esp_drop(e));
                self.counters.encapsulated -= 1;
            }
        }
        q.n = 0;
    }

    /// Route a packet as is (bypass, or decapsulated and accepted).
    #[inline]
    fn forward<B: PacketBuf>(&mut self, pkt: &mut B, b: &Bundle, strip: bool, l2: usize) -> Act {
        if !b.routed {
            return Act::Drop(DropReason::NoRoute);
        }
        if strip && !pkt.adj(l2) {
            return Act::Drop(DropReason::Malformed);
        }
        if let Err(e) = decrement_ttl(pkt.data_mut()) {
            return Act::Drop(wire_drop(e));
        }
        self.push_l2(pkt, b)
    }

    #[inline]
    fn push_l2<B: PacketBuf>(&mut self, pkt: &mut B, b: &Bundle) -> Act {
        let ty = match pkt.data().first().map(|v| v >> 4) {
            Some(4) => ETH_P_IPV4,
            Some(6) => ETH_P_IPV6,
            _ => return Act::Drop(DropReason::Malformed),
        };
        let (src, peer) = match self.ports.get(b.port as usize) {
            Some(c) => (c.mac, c.default_peer),
            None => return Act::Drop(DropReason::NoRoute),
        };
        let dst = b.dst_mac.unwrap_or(peer);
        match wire::ethernet::push_l2(pkt, src, dst, ty) {
            Some(()) => {
                pkt.set_port(b.port);
                Act::Tx(b.port)
            }
            None => Act::Drop(DropReason::NoHeadroom),
        }
    }
}

/// The port every packet of a burst goes to, if they all go to one.
#[inline]
fn single_tx_port(acts: &[Act]) -> Option<u16> {
    let Some(&Act::Tx(p)) = acts.first() else {
        return None;
    };
    acts.iter().all(|a| *a == Act::Tx(p)).then_some(p)
}

fn decrement_ttl(l3: &mut [u8]) -> Result<u8, WireError> {
    match l3.first().map(|v| v >> 4) {
        Some(4) => wire::ipv4_decrement_ttl(l3),
        Some(6) => wire::ipv6_decrement_hop_limit(l3),
        _ => Err(WireError::BadVersion),
    }
}

fn wire_drop(e: WireError) -> DropReason {
    match e {
        WireError::UnsupportedEthertype => DropReason::Unsupported,
        WireError::TtlExceeded => DropReason::TtlExpired,
        _ => DropReason::Malformed,
    }
}

fn esp_drop(e: EspError) -> DropReason {
    match e {
        EspError::IcvFail => DropReason::IcvFail,
        EspError::Replay(_) => DropReason::Replay,
        EspError::NoHeadroom => DropReason::NoHeadroom,
        _ => DropReason::EspMalformed,
    }
}

/// Family of an IP packet from its version nibble.
pub fn ip_family(l3: &[u8]) -> Option<Family> {
    match l3.first().map(|v| v >> 4) {
        Some(4) => Some(Family::V4),
        Some(6) => Some(Family::V6),
        _ => None,
    }
}
