//! Per-lcore counters and their lock-free-on-the-data-path publication.
//!
//! A worker owns its [`LcoreCounters`] outright and increments plain `u64`
//! fields (no atomics, no shared cache lines). Every
//! [`PUBLISH_EVERY_LOOPS`] loop iterations, at the end of an iteration (so a
//! published snapshot always accounts for whole bursts), it copies the counters
//! into its [`LcoreStatsSlot`] with `Mutex::try_lock`: if the management core
//! happens to be reading that slot, the worker skips this publication and
//! tries again at the next period. The worker therefore never blocks, and the
//! copy does not allocate (histograms of identical bounds are added in place).
//! Counters are cumulative, so a skipped publication loses nothing; the reader
//! sees values at most one period old. At exit the worker calls
//! [`LcoreCounters::publish_final`] (a blocking lock, off the data path) so the
//! final report is exact.

use std::sync::Mutex;

use serde::Serialize;

use super::hist::LatencyHist;

/// Why a packet was dropped. Every received packet ends either in
/// `forwarded` or in exactly one of these counters.
///
/// The discriminants index `LcoreCounters::drops`; the names are part of the
/// stable statistics schema (docs/stats.md) and never change. One byte, so
/// the data path's per-packet action (`Act`) is four bytes, not sixteen.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Truncated or inconsistent headers (bad IHL, length, version).
    Malformed = 0,
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    Unsupported,
    /// No route for the (outer) destination.
    NoRoute,
    /// A policy with action block/discard matched.
    PolicyBlock,
    /// No policy matched and the direction's default action is block.
    DefaultBlock,
    /// Inbound ESP whose (spi, dst) is not in the SAD.
    NoSa,
    /// An outbound policy needs an SA that does not exist yet (acquire sent).
    Larval,
    /// A plain inbound packet matched a policy that requires ESP.
    NeedEsp,
    /// The SAs that decapsulated the packet do not match the policy's templates.
    SecpathMismatch,
    /// ESP integrity check (AEAD tag) failed.
    IcvFail,
    /// ESP sequence number outside or already seen in the anti-replay window.
    Replay,
    /// ESP structurally bad after decryption (padding, next header, length).
    EspMalformed,
    /// Outbound sequence number would wrap (RFC 4303 3.3.3): SA must be rekeyed.
    SeqExhausted,
    /// Not enough headroom/tailroom in the buffer to encapsulate.
    NoHeadroom,
    /// TTL or hop limit reached zero on forwarding.
    TtlExpired,
    /// The egress port's tx queue refused the packet.
    TxFull,
    /// Egress port down or disabled by the port mask.
    PortDown,
    /// Anything else (should stay zero; a non-zero value is a bug report).
    Other,
}

impl DropReason {
    /// Number of reasons (length of the per-lcore drop array).
    pub const COUNT: usize = 18;

    /// All reasons, in discriminant order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Malformed,
        DropReason::Unsupported,
        DropReason::NoRoute,
        DropReason::PolicyBlock,
        DropReason::DefaultBlock,
        DropReason::NoSa,
        DropReason::Larval,
        DropReason::NeedEsp,
        DropReason::SecpathMismatch,
        DropReason::IcvFail,
        DropReason::Replay,
        DropReason::EspMalformed,
        DropReason::SeqExhausted,
        DropReason::NoHeadroom,
        DropReason::TtlExpired,
        DropReason::TxFull,
        DropReason::PortDown,
        DropReason::Other,
    ];

    /// Stable snake_case name used in JSON and in the live line.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Unsupported => "unsupported",
            DropReason::NoRoute => "no_route",
            DropReason::PolicyBlock => "policy_block",
            DropReason::DefaultBlock => "default_block",
            DropReason::NoSa => "no_sa",
            DropReason::Larval => "larval",
            DropReason::NeedEsp => "need_esp",
            DropReason::SecpathMismatch => "secpath_mismatch",
            DropReason::IcvFail => "icv_fail",
            DropReason::Replay => "replay",
            DropReason::EspMalformed => "esp_malformed",
            DropReason::SeqExhausted => "seq_exhausted",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::TxFull => "tx_full",
            DropReason::PortDown => "port_down",
            DropReason::Other => "other",
        }
    }

    /// The reason with this name, if any.
    pub fn from_name(name: &str) -> Option<DropReason> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }
}

/// Flow-cache counters of one lcore (or their sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounters {
    /// Lookups (one per packet that reached the cache).
    pub lookups: u64,
    /// Lookups answered by a valid entry.
    pub hits: u64,
    /// Lookups that found no entry and resolved afresh.
    pub misses: u64,
    /// Lookups that found a stale entry (dead object or old genid) and refreshed it.
    pub stale: u64,
    /// Entries inserted.
    pub inserts: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Inserts refused (shard full of pinned entries, or cache off).
    pub denied: u64,
    /// Entries released by the background sweep.
    pub swept: u64,
    /// Entries displaced by a colliding insert.
    pub displaced: u64,
    /// Decisions that must not be cached (resolved on every packet).
    pub uncacheable: u64,
}

impl CacheCounters {
    /// Field-wise sum.
    pub fn add(&mut self, o: &CacheCounters) {
        self.lookups += o.lookups;
        self.hits += o.hits;
        self.misses += o.misses;
        self.stale += o.stale;
        self.inserts += o.inserts;
        self.evictions += o.evictions;
        self.denied += o.denied;
        self.swept += o.swept;
        self.displaced += o.displaced;
        self.uncacheable += o.uncacheable;
    }

    /// Field-wise saturating difference `self - o` (for rates).
    pub fn delta(&self, o: &CacheCounters) -> CacheCounters {
        CacheCounters {
            lookups: self.lookups.saturating_sub(o.lookups),
            hits: self.hits.saturating_sub(o.hits),
            misses: self.misses.saturating_sub(o.misses),
            stale: self.stale.saturating_sub(o.stale),
            inserts: self.inserts.saturating_sub(o.inserts),
            evictions: self.evictions.saturating_sub(o.evictions),
            denied: self.denied.saturating_sub(o.denied),
            swept: self.swept.saturating_sub(o.swept),
            displaced: self.displaced.saturating_sub(o.displaced),
            uncacheable: self.uncacheable.saturating_sub(o.uncacheable),
        }
    }

    /// hits / lookups, or `None` before the first lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.lookups > 0).then(|| self.hits as f64 / self.lookups as f64)
    }
}

/// A latency histogram with the crate-wide bucket layout (see [`LatencyHist`]).
pub fn new_latency_histogram() -> LatencyHist {
    LatencyHist::new()
}

/// Publish a snapshot every this many loop iterations (a power of two).
/// At ~1 µs per idle loop this is about every 4 ms; at 32-packet bursts of
/// 100 ns packets, about every 13 ms.
pub const PUBLISH_EVERY_LOOPS: u64 = 4096;

/// Counters of one worker lcore. Written only by the owning worker.
#[derive(Debug, Clone)]
pub struct LcoreCounters {
    /// The lcore id these counters belong to.
    pub lcore: u32,
    /// Packets received from all polled rx queues.
    pub rx_packets: u64,
    /// Bytes received (Ethernet frame, without FCS).
    pub rx_bytes: u64,
    /// Packets accepted by a tx burst.
    pub tx_packets: u64,
    /// Bytes accepted by a tx burst.
    pub tx_bytes: u64,
    /// Packets handed to a tx queue that accepted them (the non-drop end state).
    pub forwarded: u64,
    /// Packets ESP-encapsulated (outbound protect).
    pub encapsulated: u64,
    /// Packets ESP-decapsulated successfully (inbound).
    pub decapsulated: u64,
    /// IP fragments seen (processed normally, counted apart).
    pub fragments: u64,
    /// Drops, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
    /// Poll-loop iterations.
    pub loops: u64,
    /// Iterations that received at least one packet.
    pub busy_loops: u64,
    /// Packets of never-seen flows among `rx_packets`, as the traffic
    /// generators that produced them count them (0 without a generator):
    /// each is a guaranteed flow-cache miss, so the established flows' hit
    /// ratio is `hits / (lookups - new_flow_packets)`, from counters alone.
    pub new_flow_packets: u64,
    /// Flow-cache counters.
    pub cache: CacheCounters,
    /// Duration of each busy poll iteration (rx burst, processing, tx, sweep;
    /// ns): the latency a burst sees inside the worker.
    pub burst_ns: LatencyHist,
    /// Time to resolve one cache miss (ns).
    pub miss_ns: LatencyHist,
}

impl LcoreCounters {
    /// Zeroed counters for `lcore` (allocates the histograms: call at start-up).
    pub fn new(lcore: u32) -> Self {
        LcoreCounters {
            lcore,
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            forwarded: 0,
            encapsulated: 0,
            decapsulated: 0,
            fragments: 0,
            drops: [0; DropReason::COUNT],
            loops: 0,
            busy_loops: 0,
            new_flow_packets: 0,
            cache: CacheCounters::default(),
            burst_ns: new_latency_histogram(),
            miss_ns: new_latency_histogram(),
        }
    }

    /// Count one dropped packet.
    #[inline]
    pub fn drop_packet(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Count `n` dropped packets.
    #[inline]
    pub fn drop_packets(&mut self, reason: DropReason, n: u64) {
        self.drops[reason as usize] += n;
    }

    /// Drops for one reason.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Sum of all drops.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Record the duration of one busy poll iteration (saturates).
    #[inline]
    pub fn record_burst_ns(&mut self, ns: u64) {
        self.burst_ns.record(ns);
    }

    /// Record the resolution time of one miss (saturates).
    #[inline]
    pub fn record_miss_ns(&mut self, ns: u64) {
        self.miss_ns.record(ns);
    }

    /// End of a loop iteration: count it, and every [`PUBLISH_EVERY_LOOPS`]
    /// iterations try to publish into `slot` (never blocks). Returns whether a
    /// snapshot was published.
    #[inline]
    pub fn end_loop(&mut self, busy: bool, slot: &LcoreStatsSlot) -> bool {
        self.loops += 1;
        self.busy_loops += u64::from(busy);
        if self.loops & (PUBLISH_EVERY_LOOPS - 1) == 0 {
            self.try_publish(slot)
        } else {
            false
        }
    }

    /// Copy into `slot` unless its reader holds it right now. Never blocks;
    /// does not allocate.
    pub fn try_publish(&self, slot: &LcoreStatsSlot) -> bool {
        match slot.snap.try_lock() {
            Ok(mut snap) => {
                self.copy_into(&mut snap);
                true
            }
            // Poisoned: a reader panicked while holding it; the data are
            // plain counters, overwrite them anyway.
            Err(std::sync::TryLockError::Poisoned(p)) => {
                self.copy_into(&mut p.into_inner());
                true
            }
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Blocking publication for the end of the run (off the data path).
    pub fn publish_final(&self, slot: &LcoreStatsSlot) {
        let mut snap = slot.snap.lock().unwrap_or_else(|p| p.into_inner());
        self.copy_into(&mut snap);
    }

    /// Copy every field into `dst` without allocating (one `memcpy` per histogram).
    pub fn copy_into(&self, dst: &mut LcoreCounters) {
        dst.lcore = self.lcore;
        dst.rx_packets = self.rx_packets;
        dst.rx_bytes = self.rx_bytes;
        dst.tx_packets = self.tx_packets;
        dst.tx_bytes = self.tx_bytes;
        dst.forwarded = self.forwarded;
        dst.encapsulated = self.encapsulated;
        dst.decapsulated = self.decapsulated;
        dst.fragments = self.fragments;
        dst.drops = self.drops;
        dst.loops = self.loops;
        dst.busy_loops = self.busy_loops;
        dst.new_flow_packets = self.new_flow_packets;
        dst.cache = self.cache;
        dst.burst_ns.copy_from(&self.burst_ns);
        dst.miss_ns.copy_from(&self.miss_ns);
    }
}

/// Where one worker publishes its snapshot and the management core reads it.
#[derive(Debug)]
pub struct LcoreStatsSlot {
    lcore: u32,
    snap: Mutex<LcoreCounters>,
}

impl LcoreStatsSlot {
    /// An empty slot for `lcore`.
    pub fn new(lcore: u32) -> Self {
        LcoreStatsSlot {
            lcore,
            snap: Mutex::new(LcoreCounters::new(lcore)),
        }
    }

    /// The lcore this slot belongs to.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Copy of the latest published snapshot (reader side; may allocate).
    pub fn read(&self) -> LcoreCounters {
        self.snap.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Default for LcoreCounters {
    fn default() -> Self {
        LcoreCounters::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in discriminant order");
            assert!(seen.insert(r.name()));
            assert!(r.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        assert_eq!(DropReason::from_name("nope"), None);
        assert_eq!(DropReason::Other as usize + 1, DropReason::COUNT);
    }

    #[test]
    fn publish_every_period_and_skip_when_reader_holds_slot() {
        let slot = LcoreStatsSlot::new(3);
        let mut c = LcoreCounters::new(3);
        c.rx_packets = 10;
        c.forwarded = 7;
        c.drop_packets(DropReason::Replay, 3);
        c.record_burst_ns(1500);
        let mut published = 0;
        for _ in 0..PUBLISH_EVERY_LOOPS - 1 {
            if c.end_loop(true, &slot) {
                published += 1;
            }
        }
        assert_eq!(published, 0);
        assert_eq!(slot.read().rx_packets, 0);
        assert!(c.end_loop(false, &slot));
        let s = slot.read();
        assert_eq!(s.lcore, 3);
        assert_eq!(s.rx_packets, 10);
        assert_eq!(s.drops_of(DropReason::Replay), 3);
        assert_eq!(s.loops, PUBLISH_EVERY_LOOPS);
        assert_eq!(s.busy_loops, PUBLISH_EVERY_LOOPS - 1);
        assert_eq!(s.burst_ns.len(), 1);

        // A reader holding the slot makes the worker skip, not wait.
        c.rx_packets = 20;
        let guard = slot.snap.lock().unwrap();
        assert!(!c.try_publish(&slot));
        drop(guard);
        assert_eq!(slot.read().rx_packets, 10);
        c.publish_final(&slot);
        assert_eq!(slot.read().rx_packets, 20);
        // Histograms are replaced, not accumulated, by repeated publication.
        c.publish_final(&slot);
        assert_eq!(slot.read().burst_ns.len(), 1);
    }

    #[test]
    fn huge_latency_saturates_instead_of_failing() {
        let mut c = LcoreCounters::new(0);
        c.record_miss_ns(u64::MAX);
        c.record_miss_ns(0);
        assert_eq!(c.miss_ns.len(), 2);
        assert_eq!(c.miss_ns.max(), u64::MAX);
        assert_eq!(c.miss_ns.min(), 0);
    }
}
