//! One measurement: a configuration, a generator, a gateway run, the counters.
//!
//! Address plan (shared by every scenario, so one configuration shape serves all):
//! - generated flow `j` is `10.0.0.0 + 1 + j -> 172.16.0.1`, UDP `1024 -> 9`
//!   (the generator's `src=10.0.0.0/8,dst=172.16.0.1/32`: one destination, so
//!   the source address alone tells flows apart);
//! - policy `i` of the `n - 1` specific ones covers the source block
//!   `10.0.0.0 + i * B` of `B = 2^b` addresses, `b` chosen so the blocks span
//!   the established flows; destination prefixes cycle through `/12../15`
//!   (four classifier tuples); policies 7, 57, 107, ... are `action block`;
//! - one catch-all `10.0.0.0/8 -> 0.0.0.0/0` (priority 1000) protects
//!   everything else, including the never-seen flows of the flood scenario;
//! - `sas` tunnel SAs `192.0.2.1 -> 198.51.100.K`; policies use them round-robin;
//! - churn adds and deletes host policies `192.168.X.Y/32 -> 172.16.0.0/12`,
//!   which overlap no traffic and no configured policy.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config;
use crate::esp::{AwsLcGcm, EspAead, ICV_LEN, NONCE_LEN};
use crate::flow::{FlowKey, ShardStats};
use crate::gateway::{command_op, Gateway, GatewayOpts, WorkerSnapshot};
use crate::ip::{Dir, Family};
use crate::mgmt::{EngineConfig, Mgmt, MgmtCounters, MgmtHandle, Op, Strategy};
use crate::sad::AeadAlg;
use crate::stats::{DropReason, LcoreCounters};

/// Tunnel SAs in every configuration.
pub const SAS: usize = 16;
/// Source of the generated flows: flow `j` is `FLOW_SRC_BASE + 1 + j`.
const FLOW_SRC_BASE: u32 = 0x0a00_0000;
/// Destination of every generated flow.
const FLOW_DST: u32 = 0xac10_0001;
/// The generator's default destination port.
const FLOW_DPORT: u16 = 9;
/// Every n-th specific policy blocks.
const BLOCK_EVERY: usize = 50;

/// The three cache strategies, in the order every point runs them.
pub const STRATEGIES: [Strategy; 3] = [Strategy::Selective, Strategy::FlushAll, Strategy::Off];

pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Selective => "selective",
        Strategy::FlushAll => "flush-all",
        Strategy::Off => "off",
    }
}

fn hexkey(seed: usize, len: usize) -> String {
    let mut s = String::from("0x");
    for i in 0..len {
        let _ = write!(s, "{:02x}", (seed * 131 + i * 29 + 7) & 0xff);
    }
    s
}

fn v4(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// The configuration text (ip-xfrm syntax) for `policies` outbound policies
/// (at least 1: the catch-all) spanning `flows` established flows, with
/// AES-GCM keys of `key_bits` (128 or 256). `bypass`: the allowing policies
/// have no template (plaintext forwarding: the lookup without the cipher).
pub fn config_text(policies: usize, flows: u64, key_bits: u32, bypass: bool) -> String {
    let key_len = if key_bits == 256 { 36 } else { 20 };
    let mut c = String::from("# xfgate bench configuration (generated)\n");
    for k in 0..SAS {
        let _ = writeln!(
            c,
            "state add src 192.0.2.1 dst 198.51.100.{} proto esp spi {} reqid {} mode tunnel aead 'rfc4106(gcm(aes))' {} 128",
            k + 1,
            0x1000 + k,
            1000 + k,
            hexkey(k, key_len)
        );
    }
    let specific = policies.saturating_sub(1);
    if specific > 0 {
        let per = flows.max(1).div_ceil(specific as u64).next_power_of_two();
        let bits = per.trailing_zeros().min(24);
        let block = 1u64 << bits;
        for i in 0..specific {
            let start = (FLOW_SRC_BASE as u64 + i as u64 * block) as u32;
            let src_len = 32 - bits;
            let dst_len = 12 + (i % 4);
            let k = i % SAS;
            if i % BLOCK_EVERY == 7 {
                let _ = writeln!(
                    c,
                    "policy add src {}/{src_len} dst 172.16.0.0/{dst_len} dir out action block priority 100",
                    v4(start)
                );
            } else if bypass {
                let _ = writeln!(
                    c,
                    "policy add src {}/{src_len} dst 172.16.0.0/{dst_len} dir out priority 100",
                    v4(start)
                );
            } else {
                let _ = writeln!(
                    c,
                    "policy add src {}/{src_len} dst 172.16.0.0/{dst_len} dir out priority 100 tmpl src 192.0.2.1 dst 198.51.100.{} proto esp reqid {} mode tunnel",
                    v4(start),
                    k + 1,
                    1000 + k
                );
            }
        }
    }
    c.push_str("policy add src 10.0.0.0/8 dst 0.0.0.0/0 dir out priority 1000");
    if !bypass {
        c.push_str(" tmpl src 192.0.2.1 dst 198.51.100.1 proto esp reqid 1000 mode tunnel");
    }
    c.push('\n');
    c.push_str("policy setdefault out block\npolicy setdefault in block\n");
    c.push_str("route add 198.51.100.0/24 port 1\nroute add 172.16.0.0/12 port 1\nneigh port 1 02:00:00:00:01:01\n");
    c
}

/// Parse a generated configuration into management operations.
pub fn config_ops(text: &str) -> Result<Vec<Op>, String> {
    let cmds = config::parse_file(text, "bench").map_err(|e| e.to_string())?;
    cmds.into_iter()
        .map(|(_, c)| command_op(c).ok_or_else(|| "control command in configuration".to_string()))
        .collect()
}

/// `pairs` (add, delete) operations for churn.
pub fn churn_ops(pairs: usize) -> Result<Vec<(Op, Op)>, String> {
    let mut text = String::new();
    for k in 0..pairs {
        let a = v4(0xc0a8_0000 | (k as u32 & 0xffff));
        let _ = writeln!(
            text,
            "policy add src {a}/32 dst 172.16.0.0/12 dir out priority 50 tmpl src 192.0.2.1 dst 198.51.100.2 proto esp reqid 1001 mode tunnel"
        );
        let _ = writeln!(text, "policy delete src {a}/32 dst 172.16.0.0/12 dir out");
    }
    let ops = config_ops(&text)?;
    Ok(ops
        .chunks(2)
        .filter_map(|p| match p {
            [a, d] => Some((a.clone(), d.clone())),
            _ => None,
        })
        .collect())
}

/// What one run measures.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub scenario: &'static str,
    /// Point label (`10k`, `imix/aes256`).
    pub label: String,
    /// Point value on the plot's x axis (its index is used for spacing).
    pub x: f64,
    pub strategy: Strategy,
    pub rep: usize,
    pub flows: u64,
    pub policies: usize,
    /// Generator `size=` value.
    pub size: String,
    pub key_bits: u32,
    pub new_flow_pct: f64,
    /// Policy changes (adds and deletes) per second.
    pub churn_rate: f64,
    pub workers: usize,
    /// Plaintext policies (no ESP).
    pub bypass: bool,
    /// Finite input (packets over all queues): run to the end, count everything.
    pub count: u64,
    /// Warm-up; a time-bounded run waits at least long enough to offer every
    /// established flow a few packets at 1 Mpps (capped at 6 s).
    pub warmup: Duration,
    pub measure: Duration,
}

/// Final counters of a run: what the data path decided.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Decisions {
    pub rx_packets: u64,
    pub forwarded: u64,
    pub encapsulated: u64,
    pub tx_packets: u64,
    /// Per drop reason (non-zero only), by name.
    pub drops: std::collections::BTreeMap<String, u64>,
}

/// Cache counters over the measured interval.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CacheDelta {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub inserts: u64,
    pub evictions: u64,
    pub denied: u64,
    pub swept: u64,
    pub uncacheable: u64,
}

/// One measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub scenario: String,
    pub point: String,
    pub x: f64,
    pub strategy: String,
    pub rep: usize,
    pub flows: u64,
    pub policies: usize,
    pub size: String,
    pub key_bits: u32,
    pub new_flow_pct: f64,
    pub churn_rate: f64,
    pub workers: usize,
    /// Plaintext policies (no ESP).
    pub bypass: bool,
    /// Finite input (0 = time-bounded run).
    pub count: u64,
    pub startup_s: f64,
    pub seconds: f64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub mpps: f64,
    /// Received frame bytes (without FCS) per second, in Gbit/s.
    pub gbps: f64,
    pub cache: CacheDelta,
    /// hits / lookups over the interval.
    pub hit_ratio: f64,
    /// Packets of never-seen flows in the interval, as the generator counted
    /// them (each one a guaranteed miss).
    pub new_flow_packets: u64,
    /// Hit ratio of the established flows: hits / (lookups - new-flow
    /// packets), from counters (`None` for `off`, or without established
    /// lookups).
    pub hit_ratio_established: Option<f64>,
    pub loops: u64,
    pub busy_loops: u64,
    /// Mean time of one busy poll iteration (one rx burst processed), in µs:
    /// interval / busy loops.
    pub mean_burst_us: f64,
    /// Percentiles of the busy poll iteration time (rx burst, processing,
    /// tx, sweep) over the interval, from the workers' histograms, in µs.
    pub burst_p50_us: f64,
    pub burst_p99_us: f64,
    pub burst_p999_us: f64,
    pub burst_max_us: f64,
    pub pkts_per_burst: f64,
    /// Policy changes applied in the interval.
    pub churn_ops: u64,
    /// Management calls they took (batches when the core lagged), whole run.
    pub churn_calls: u64,
    pub churn_errors: u64,
    pub churn_rate_achieved: f64,
    pub policy_bumps: u64,
    pub global_bumps: u64,
    /// Final counters of the whole run (warm-up included).
    pub decisions: Decisions,
}

fn sum_snaps(s: &[WorkerSnapshot]) -> (LcoreCounters, ShardStats) {
    let mut c = LcoreCounters::default();
    let mut k = ShardStats::default();
    for w in s {
        c.rx_packets += w.counters.rx_packets;
        c.rx_bytes += w.counters.rx_bytes;
        c.tx_packets += w.counters.tx_packets;
        c.forwarded += w.counters.forwarded;
        c.encapsulated += w.counters.encapsulated;
        c.loops += w.counters.loops;
        c.busy_loops += w.counters.busy_loops;
        c.new_flow_packets += w.counters.new_flow_packets;
        c.burst_ns.add(&w.counters.burst_ns);
        for (a, b) in c.drops.iter_mut().zip(w.counters.drops.iter()) {
            *a += b;
        }
        k.lookups += w.cache.lookups;
        k.hits += w.cache.hits;
        k.misses += w.cache.misses;
        k.stale += w.cache.stale;
        k.inserts += w.cache.inserts;
        k.evictions += w.cache.evictions;
        k.denied += w.cache.denied;
        k.swept += w.cache.swept;
        k.uncacheable += w.cache.uncacheable;
    }
    (c, k)
}

fn decisions(c: &LcoreCounters) -> Decisions {
    let mut drops = std::collections::BTreeMap::new();
    for r in DropReason::ALL {
        let n = c.drops[r as usize];
        if n > 0 {
            drops.insert(format!("{r:?}"), n);
        }
    }
    Decisions {
        rx_packets: c.rx_packets,
        forwarded: c.forwarded,
        encapsulated: c.encapsulated,
        tx_packets: c.tx_packets,
        drops,
    }
}

/// The generator's `payload=` in every run: `keep`, the headers only, as a
/// NIC's DMA would fill the buffer without the CPU. The generator runs on the
/// worker's core, so writing every payload byte (a memset per frame) would be
/// charged to the gateway; no decision reads the payload.
pub const GEN_PAYLOAD: &str = "keep";

/// The generator device string of a run.
pub fn gen_vdev(spec: &RunSpec) -> String {
    let mut s = format!(
        "gen0,flows={},size={},src=10.0.0.0/8,dst=172.16.0.1/32,dist=uniform,seed=7,payload={}",
        spec.flows.max(1),
        spec.size,
        GEN_PAYLOAD
    );
    if spec.new_flow_pct > 0.0 {
        let _ = write!(s, ",new_flow_pct={}", spec.new_flow_pct);
    }
    if spec.count > 0 {
        let _ = write!(s, ",count={}", spec.count);
        if spec.churn_rate > 0.0 {
            // Spread a finite input over about 0.3 s so the changes interleave with it.
            let _ = write!(s, ",rate={}", (spec.count * 10 / 3).max(1));
        }
    }
    s
}

/// Longest a finite-input run may take.
const FINITE_LIMIT: Duration = Duration::from_secs(120);

/// Churn policies kept live: change `2m` adds selector `m`, change `2m + 1`
/// deletes the one added `CHURN_LAG` pairs earlier, so one batch of at most
/// `CHURN_LAG` changes never adds and deletes the same selector.
pub const CHURN_LAG: usize = 128;
/// Selectors the churn cycles through (more than twice the lag).
pub const CHURN_POOL: usize = 512;

/// Apply policy changes at `rate` per second until `stop`. Changes that
/// fall due while the previous call is still in the management core go
/// together in one `Op::Batch` (one publication, one grace period), so the
/// rate holds even when a single change takes longer than its period.
fn churn_loop(
    mgmt: &MgmtHandle,
    rate: f64,
    ops: &[(Op, Op)],
    stop: &AtomicBool,
    done: &AtomicU64,
    calls: &AtomicU64,
    errors: &AtomicU64,
) {
    let p = ops.len();
    if p < 2 * CHURN_LAG || rate <= 0.0 {
        return;
    }
    // The live set starts as the `CHURN_LAG` selectors before 0 (mod pool).
    let pre: Vec<Op> = (p - CHURN_LAG..p).map(|k| ops[k].0.clone()).collect();
    if mgmt.call(Op::Batch(pre)).is_err() {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let op_of = |i: usize| {
        let m = i / 2;
        if i.is_multiple_of(2) {
            ops[m % p].0.clone()
        } else {
            ops[(m + p - CHURN_LAG) % p].1.clone()
        }
    };
    let t0 = Instant::now();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let due = (t0.elapsed().as_secs_f64() * rate) as usize;
        if due <= i {
            let next = t0 + Duration::from_secs_f64((i + 1) as f64 / rate);
            let now = Instant::now();
            if next > now {
                std::thread::sleep((next - now).min(Duration::from_millis(5)));
            }
            continue;
        }
        let n = (due - i).min(CHURN_LAG);
        let op = if n == 1 {
            op_of(i)
        } else {
            Op::Batch((i..i + n).map(op_of).collect())
        };
        match mgmt.call(op) {
            Ok(_) => done.fetch_add(n as u64, Ordering::Relaxed),
            Err(_) => errors.fetch_add(1, Ordering::Relaxed),
        };
        calls.fetch_add(1, Ordering::Relaxed);
        i += n;
    }
}

/// What a sample needs from a running gateway, so one measurement serves
/// both backends: the software gateway ([`Gateway`]) and the DPDK one
/// (`bench::dpdk`).
pub trait SampleGateway {
    /// The management core (policy churn goes through it).
    fn mgmt(&self) -> &MgmtHandle;
    /// The management core's CPU, when its threads must be pinned there (the
    /// churn client runs beside it, off the workers' CPUs); `None` when the
    /// backend already keeps them there (DPDK: threads inherit the main
    /// lcore's affinity) or there is no CPU to spare.
    fn mgmt_cpu(&self) -> Option<usize> {
        None
    }
    /// The workers' counters now, in worker order.
    fn snapshots(&self) -> Vec<WorkerSnapshot>;
    fn mgmt_counters(&self) -> Option<MgmtCounters>;
    /// Has a finite input been received completely?
    fn input_done(&self) -> bool;
    /// Stop everything; the workers' final counters, in worker order.
    fn finish(self) -> Vec<WorkerSnapshot>;
}

impl SampleGateway for Gateway {
    fn mgmt(&self) -> &MgmtHandle {
        &self.mgmt
    }
    fn mgmt_cpu(&self) -> Option<usize> {
        self.mgmt_cpu
    }
    fn snapshots(&self) -> Vec<WorkerSnapshot> {
        self.worker_snapshots()
    }
    fn mgmt_counters(&self) -> Option<MgmtCounters> {
        Gateway::mgmt_counters(self)
    }
    fn input_done(&self) -> bool {
        self.inputs_done()
    }
    fn finish(self) -> Vec<WorkerSnapshot> {
        self.shutdown().0
    }
}

/// The software gateway's options for `spec`: the generator on port 0, a
/// sink on port 1.
fn software_opts(spec: &RunSpec, ops: &[Op]) -> GatewayOpts {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = spec.workers.max(1);
    GatewayOpts {
        vdevs: vec![gen_vdev(spec), "net_null1,no-rx=1".to_string()],
        workers: (0..workers).map(|i| (i + 1, (i + 1) % ncpu)).collect(),
        // The management core on CPU 0, as `-l 0-N`; with one CPU, unpinned.
        mgmt_cpu: (ncpu > 1).then_some(0),
        ..gateway_opts(spec, ops)
    }
}

/// What every backend's gateway gets for `spec`: ports 0 protected, 1
/// unprotected, the strategy, a flow cache of twice the flows (4096 to 4M
/// per worker), the configuration.
pub fn gateway_opts(spec: &RunSpec, ops: &[Op]) -> GatewayOpts {
    let cap = ((spec.flows as usize).saturating_mul(2))
        .next_power_of_two()
        .clamp(4096, 1 << 22);
    GatewayOpts {
        unprotected: 0b10,
        strategy: spec.strategy,
        flows: cap,
        extra_ops: ops.to_vec(),
        pool_size: 8192 * spec.workers.max(1),
        ..GatewayOpts::default()
    }
}

/// Run the software gateway once as `spec` says.
pub fn run_sample(spec: &RunSpec, ops: &[Op], churn: &[(Op, Op)]) -> Result<Sample, String> {
    let t_start = Instant::now();
    let gw = Gateway::start(software_opts(spec, ops)).map_err(|e| e.to_string())?;
    Ok(measure(gw, spec, churn, t_start))
}

/// Measure a gateway started at `t_start` (configuration applied, traffic
/// flowing) as `spec` says, then shut it down.
pub fn measure<G: SampleGateway>(
    gw: G,
    spec: &RunSpec,
    churn: &[(Op, Op)],
    t_start: Instant,
) -> Sample {
    let workers = spec.workers.max(1);
    let startup_s = t_start.elapsed().as_secs_f64();
    let stop = AtomicBool::new(false);
    let churn_done = AtomicU64::new(0);
    let churn_err = AtomicU64::new(0);
    let churn_calls = AtomicU64::new(0);
    let (s0, s1, m0, m1, c0, c1, seconds) = std::thread::scope(|sc| {
        if spec.churn_rate > 0.0 {
            let mgmt = gw.mgmt().clone();
            let cpu = gw.mgmt_cpu();
            let (stop, d, c, e) = (&stop, &churn_done, &churn_calls, &churn_err);
            sc.spawn(move || {
                // The control-plane client beside the management core: an
                // unpinned thread would also run on (and steal from) workers.
                if let Some(cpu) = cpu {
                    lcore::pin_current(cpu);
                }
                churn_loop(&mgmt, spec.churn_rate, churn, stop, d, c, e)
            });
        }
        let r = if spec.count > 0 {
            // Finite input: everything from the start to the end is measured,
            // the start-up included (the workers start polling inside `start`).
            let t0 = t_start;
            let m0 = gw.mgmt_counters().unwrap_or_default();
            let c0 = churn_done.load(Ordering::Relaxed);
            // With churn, the run also waits for the first change (an input
            // read faster than the first change falls due would otherwise
            // end without one).
            let churned = || {
                spec.churn_rate <= 0.0
                    || churn_done.load(Ordering::Relaxed) > c0
                    || churn_err.load(Ordering::Relaxed) > 0
            };
            while t0.elapsed() < FINITE_LIMIT && !(gw.input_done() && churned()) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let secs = t0.elapsed().as_secs_f64();
            let m1 = gw.mgmt_counters().unwrap_or_default();
            let c1 = churn_done.load(Ordering::Relaxed);
            (Vec::new(), gw.snapshots(), m0, m1, c0, c1, secs)
        } else {
            let fill = Duration::from_secs_f64((spec.flows as f64 * 4.0 / 1e6).min(6.0));
            std::thread::sleep(spec.warmup.max(fill));
            let s0 = gw.snapshots();
            let m0 = gw.mgmt_counters().unwrap_or_default();
            let c0 = churn_done.load(Ordering::Relaxed);
            let t0 = Instant::now();
            std::thread::sleep(spec.measure);
            let s1 = gw.snapshots();
            let secs = t0.elapsed().as_secs_f64();
            let c1 = churn_done.load(Ordering::Relaxed);
            let m1 = gw.mgmt_counters().unwrap_or_default();
            (s0, s1, m0, m1, c0, c1, secs)
        };
        stop.store(true, Ordering::Relaxed);
        r
    });
    let finals = gw.finish();
    let (fc, fk) = sum_snaps(&finals);
    let (a, ak) = sum_snaps(&s0);
    // Finite input: the final counters are the interval's.
    let (b, bk) = if spec.count > 0 {
        (fc.clone(), fk)
    } else {
        sum_snaps(&s1)
    };
    let rx = b.rx_packets.saturating_sub(a.rx_packets);
    let rx_bytes = b.rx_bytes.saturating_sub(a.rx_bytes);
    let cache = CacheDelta {
        lookups: bk.lookups.saturating_sub(ak.lookups),
        hits: bk.hits.saturating_sub(ak.hits),
        misses: bk.misses.saturating_sub(ak.misses),
        stale: bk.stale.saturating_sub(ak.stale),
        inserts: bk.inserts.saturating_sub(ak.inserts),
        evictions: bk.evictions.saturating_sub(ak.evictions),
        denied: bk.denied.saturating_sub(ak.denied),
        swept: bk.swept.saturating_sub(ak.swept),
        uncacheable: bk.uncacheable.saturating_sub(ak.uncacheable),
    };
    let hit_ratio = ratio(cache.hits, cache.lookups);
    // Every hit is an established flow's (a never-seen flow cannot hit); the
    // established flows' lookups are all lookups but the new-flow packets,
    // which the generator counted (same snapshot as the cache counters).
    let new_flow_packets = b.new_flow_packets.saturating_sub(a.new_flow_packets);
    let established = cache.lookups.saturating_sub(new_flow_packets);
    let hit_ratio_established = (spec.strategy != Strategy::Off && established > 0)
        .then(|| (cache.hits as f64 / established as f64).min(1.0));
    let bursts = b.burst_ns.since(&a.burst_ns).unwrap_or_default();
    let us = |q: f64| bursts.value_at_quantile(q) as f64 / 1e3;
    let loops = b.loops.saturating_sub(a.loops);
    let busy = b.busy_loops.saturating_sub(a.busy_loops);
    let secs = seconds.max(1e-9);
    Sample {
        scenario: spec.scenario.to_string(),
        point: spec.label.clone(),
        x: spec.x,
        strategy: strategy_name(spec.strategy).to_string(),
        rep: spec.rep,
        flows: spec.flows,
        policies: spec.policies,
        size: spec.size.clone(),
        key_bits: spec.key_bits,
        new_flow_pct: spec.new_flow_pct,
        churn_rate: spec.churn_rate,
        workers,
        bypass: spec.bypass,
        count: spec.count,
        startup_s,
        seconds,
        rx_packets: rx,
        rx_bytes,
        mpps: rx as f64 / secs / 1e6,
        gbps: rx_bytes as f64 * 8.0 / secs / 1e9,
        cache,
        hit_ratio,
        new_flow_packets,
        hit_ratio_established,
        loops,
        busy_loops: busy,
        mean_burst_us: if busy > 0 {
            secs * 1e6 * workers as f64 / busy as f64
        } else {
            0.0
        },
        burst_p50_us: us(0.5),
        burst_p99_us: us(0.99),
        burst_p999_us: us(0.999),
        burst_max_us: bursts.max() as f64 / 1e3,
        pkts_per_burst: ratio(rx, busy),
        churn_ops: c1.saturating_sub(c0),
        churn_calls: churn_calls.load(Ordering::Relaxed),
        churn_errors: churn_err.load(Ordering::Relaxed),
        churn_rate_achieved: c1.saturating_sub(c0) as f64 / secs,
        policy_bumps: m1.policy_bumps.saturating_sub(m0.policy_bumps),
        global_bumps: m1.global_bumps.saturating_sub(m0.global_bumps),
        decisions: decisions(&fc),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Miss-path latency: mean time of one `Engine::resolve` of a generated flow's
/// key against the tables built from `ops` (no cache, no data path), in ns.
pub fn miss_latency_ns(ops: &[Op], flows: u64, iters: usize) -> Result<f64, String> {
    let cfg = EngineConfig {
        strategy: Strategy::Off,
        ..EngineConfig::default()
    };
    let mut mgmt = Mgmt::new(&cfg);
    for op in ops {
        mgmt.apply(op.clone()).map_err(|e| e.to_string())?;
    }
    let engine = mgmt.engine().clone();
    let mut reader = engine.domain.register(4000);
    reader.online();
    let n = flows.max(1);
    let keys: Vec<FlowKey> = (0..iters.min(4096) as u64)
        .map(|i| {
            // Spread the probes over the established flows.
            let j = (i.wrapping_mul(0x9e37_79b9)) % n;
            FlowKey::new(
                Family::V4,
                Dir::Out,
                (FLOW_SRC_BASE as u128) + 1 + j as u128,
                FLOW_DST as u128,
                17,
                1024,
                FLOW_DPORT,
                0,
            )
        })
        .collect();
    let mut sink = 0u64;
    // Warm the tables once.
    for k in &keys {
        sink ^= std::hint::black_box(engine.resolve(k, &reader, false))
            .policies()
            .len() as u64;
    }
    let t0 = Instant::now();
    let mut done = 0usize;
    while done < iters {
        for k in &keys {
            sink ^= std::hint::black_box(engine.resolve(k, &reader, false))
                .policies()
                .len() as u64;
        }
        done += keys.len();
        reader.quiescent();
    }
    let ns = t0.elapsed().as_nanos() as f64 / done.max(1) as f64;
    std::hint::black_box(sink);
    reader.offline();
    drop(reader);
    mgmt.shutdown();
    Ok(ns)
}

/// The CPU the first worker of [`run_sample`] is pinned to.
pub fn first_worker_cpu() -> usize {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    1 % ncpu
}

/// [`cipher_gbps`] on a thread pinned to `cpu` (the worker's core, so the
/// reference and the gateway run on the same core), if it can be pinned.
pub fn cipher_gbps_on(
    cpu: usize,
    size: &str,
    key_bits: u32,
    budget: Duration,
) -> Result<f64, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(c) = core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.id == cpu)
            {
                core_affinity::set_for_current(c);
            }
            cipher_gbps(size, key_bits, budget)
        })
        .join()
        .unwrap_or_else(|_| Err("cipher thread panicked".into()))
    })
}

/// Bare AES-GCM throughput on this thread, expressed in frame bytes: per
/// frame of the generator's size sequence, the same call the gateway makes
/// for it ([`EspAead::seal_in_place`] of [`AwsLcGcm`]: aws-lc-rs
/// `seal_in_place_scatter`, the tag written into the ICV; key of `key_bits`, 8
/// bytes of AAD, a fresh nonce) over the same ESP tunnel payload (inner IP
/// packet + pad + pad length + next header), in Gbit/s of frames.
pub fn cipher_gbps(size: &str, key_bits: u32, budget: Duration) -> Result<f64, String> {
    let alg = if key_bits == 256 {
        AeadAlg::Aes256Gcm
    } else {
        AeadAlg::Aes128Gcm
    };
    let key = vec![0x5au8; alg.key_len()];
    let gcm = AwsLcGcm::new(alg, &key).map_err(|e| e.to_string())?;
    let frames: Vec<usize> = match size {
        "imix" => vec![64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594, 64],
        s => vec![s.parse::<usize>().map_err(|_| format!("bad size '{s}'"))?],
    };
    // Frame (FCS excluded) -> inner IP packet -> ESP plaintext (padded to 4 with the 2-byte trailer).
    let payloads: Vec<usize> = frames
        .iter()
        .map(|f| (f.saturating_sub(4 + 14).max(28) + 2).div_ceil(4) * 4)
        .collect();
    let frame_bytes: Vec<usize> = frames.iter().map(|f| f.saturating_sub(4).max(60)).collect();
    let mut bufs: Vec<Vec<u8>> = payloads.iter().map(|&p| vec![0u8; p]).collect();
    let mut nonce = [0u8; NONCE_LEN];
    let aad = [0u8; 8];
    let mut icv = [0u8; ICV_LEN];
    let mut bytes = 0u64;
    let mut seq = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < budget {
        for _ in 0..64 {
            for (b, fb) in bufs.iter_mut().zip(&frame_bytes) {
                seq += 1;
                nonce[4..].copy_from_slice(&seq.to_be_bytes());
                gcm.seal_in_place(&nonce, &aad, b, &mut icv)
                    .map_err(|e| e.to_string())?;
                bytes += *fb as u64;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    std::hint::black_box(&icv);
    Ok(bytes as f64 * 8.0 / secs / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_counts_policies() {
        for (p, f) in [(1usize, 1000u64), (10, 1000), (1000, 1_000_000)] {
            let ops = config_ops(&config_text(p, f, 128, false)).unwrap();
            let pols = ops.iter().filter(|o| matches!(o, Op::PolicyAdd(_))).count();
            let sas = ops.iter().filter(|o| matches!(o, Op::SaAdd(_))).count();
            assert_eq!(pols, p);
            assert_eq!(sas, SAS);
        }
        let by = config_ops(&config_text(100, 1000, 256, true)).unwrap();
        assert!(by.iter().all(|o| match o {
            Op::PolicyAdd(p) => p.templates.is_empty(),
            _ => true,
        }));
        let churn = churn_ops(3).unwrap();
        assert_eq!(churn.len(), 3);
        assert!(matches!(churn[0], (Op::PolicyAdd(_), Op::PolicyDelete(_))));
    }

    #[test]
    fn bare_cipher_runs() {
        let g = cipher_gbps("imix", 256, Duration::from_millis(5)).unwrap();
        assert!(g > 0.0);
        assert!(cipher_gbps("x", 128, Duration::from_millis(1)).is_err());
    }
}
