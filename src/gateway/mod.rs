//! The running gateway: ports, management core, worker lcores, statistics.
//!
//! [`Gateway::start`] builds everything and starts nothing until all of it
//! was built (a bad device string or config line leaves nothing half-started);
//! [`Gateway::run`] waits for the duration, a stop request or the end of
//! finite inputs; [`Gateway::shutdown`] stops rx, drains, joins the workers,
//! flushes the management core and returns the final statistics.

pub mod control;
pub mod demo;
#[cfg(feature = "dpdk")]
pub mod dpdk;

use crate::buf::PacketBuf;
use crate::config::{self, Command};
use crate::datapath::{default_peer_mac, Lcore, PortConf};
use crate::esp::EspSa;
use crate::flow::{Shard, ShardStats};
use crate::mgmt::{EngineConfig, Mgmt, MgmtCounters, MgmtError, MgmtHandle, Op, Reply, Strategy};
use crate::port::{PooledBuf, Ports, PortsConfig, PortsHandle, SwRx, SwTx};
use crate::sad::SaSpec;
use crate::stats::{ticks, CycleClock, LcoreCounters};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything the gateway needs to start.
#[derive(Clone, Debug)]
pub struct GatewayOpts {
    /// Device strings, in port order.
    pub vdevs: Vec<String>,
    /// Worker lcores as (lcore id, cpu).
    pub workers: Vec<(usize, usize)>,
    /// Ports whose arrivals are inbound (ESP side), as a bit mask.
    pub unprotected: u64,
    /// Ports to use (bit mask); `None` = all.
    pub portmask: Option<u64>,
    pub strategy: Strategy,
    /// Flow-cache capacity per lcore.
    pub flows: usize,
    /// Override every SA's replay window (`--replay-window`); 0 = off.
    pub replay_window: Option<u32>,
    /// Configuration text and its name (for error positions).
    pub config: Option<(String, String)>,
    /// Extra operations applied after the configuration (the demo's built-in one).
    pub extra_ops: Vec<Op>,
    pub pool_size: usize,
    /// Explicit rx queue assignment `(port, queue, lcore)` (`--config`); empty =
    /// worker i polls queue i of every port. Unmapped queues are not polled.
    pub queue_map: Vec<(u16, u16, usize)>,
    /// L3 MTU of every port (`--mtu`); `None` = 1500, the devices' default.
    pub mtu: Option<u16>,
    /// CPU of the management core (the main lcore): the management thread
    /// is pinned there, off the workers' CPUs. `None`: unpinned.
    pub mgmt_cpu: Option<usize>,
}

impl Default for GatewayOpts {
    fn default() -> Self {
        GatewayOpts {
            vdevs: Vec::new(),
            workers: vec![(1, 1)],
            unprotected: 0,
            portmask: None,
            strategy: Strategy::Selective,
            flows: 65536,
            replay_window: None,
            config: None,
            extra_ops: Vec::new(),
            pool_size: 8192,
            queue_map: Vec::new(),
            mtu: None,
            mgmt_cpu: None,
        }
    }
}

/// The MTU ports have when `--mtu` is not given.
pub const DEFAULT_MTU: u16 = 1500;

/// Bytes after the headroom a packet buffer needs for a received frame of
/// `mtu` L3 bytes (Ethernet header + one VLAN tag + the L3 packet) plus the
/// ESP trailer encapsulation appends (RFC 4303 2.4-2.8: up to 255 bytes of
/// padding, Pad Length, Next Header and the ICV; with the AEAD ciphers here
/// the padding only aligns to 4 bytes, but 255 is what the format allows).
/// The outer headers go into the headroom.
pub fn data_room_for_mtu(mtu: u16) -> usize {
    const L2_MAX: usize = 14 + 4;
    const ESP_TRAILER_MAX: usize = 255 + 2 + crate::esp::ICV_LEN;
    L2_MAX + mtu as usize + ESP_TRAILER_MAX
}

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("configuration: {line}: {err}")]
    Apply { line: String, err: MgmtError },
    #[error("{0}")]
    Ports(#[from] crate::port::registry::PortError),
    #[error("port mask 0x{0:x} selects no port")]
    NoPorts(u64),
    #[error("{0}")]
    Other(String),
}

/// What a worker publishes for the statistics reader (copied every few
/// hundred loops with `try_lock`, so the data path never waits).
#[derive(Clone, Debug, Default)]
pub struct WorkerSnapshot {
    pub lcore: usize,
    pub counters: LcoreCounters,
    pub cache: ShardStats,
    pub cache_len: usize,
    pub done: bool,
}

type Worker = Lcore<PooledBuf, SwRx, SwTx>;

/// Parse and apply the configuration (and the built-in operations) to a new
/// management core, one operation at a time so an error names its line.
/// Returns the core and the SAs that were added (the ESP generator uses them).
pub(crate) fn load_mgmt(opts: &GatewayOpts) -> Result<(Mgmt, Vec<SaSpec>), GatewayError> {
    let mut ops = Vec::new();
    let mut sa_specs: Vec<SaSpec> = Vec::new();
    if let Some((name, text)) = &opts.config {
        for (loc, cmd) in config::parse_file(text, name)? {
            let at = format!("{name}:{}:{}", loc.line, loc.col);
            let Some(mut op) = command_op(cmd.clone()) else {
                return Err(GatewayError::Other(format!(
                    "{at}: '{cmd}' is a control command, not configuration"
                )));
            };
            if let (Op::SaAdd(s) | Op::SaUpdate(s), Some(w)) = (&mut op, opts.replay_window) {
                s.replay_window = w;
            }
            ops.push((at, op));
        }
    }
    for op in &opts.extra_ops {
        ops.push(("built-in configuration".to_string(), op.clone()));
    }
    let mut mgmt = Mgmt::new(&EngineConfig {
        strategy: opts.strategy,
        ..EngineConfig::default()
    });
    for (line, op) in ops {
        if let Op::SaAdd(s) = &op {
            sa_specs.push(s.clone());
        }
        mgmt.apply(op)
            .map_err(|err| GatewayError::Apply { line, err })?;
    }
    Ok((mgmt, sa_specs))
}

/// The management core's side of a run, shared by the software and DPDK
/// gateways: wait until `stop` is set, `duration` passed since `started`, or
/// `done()`; call `tick` every `interval`.
pub(crate) fn wait_loop(
    started: Instant,
    stop: &AtomicBool,
    duration: Option<Duration>,
    interval: Duration,
    done: impl Fn() -> bool,
    mut tick: impl FnMut(),
) {
    let mut next = Instant::now() + interval;
    loop {
        if stop.load(Ordering::Relaxed) || done() {
            break;
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5).min(interval));
        if Instant::now() >= next {
            tick();
            next += interval;
        }
    }
}

/// The rx queues each worker polls, as `(port, queue)` lists in worker
/// order; shared by the software and DPDK gateways so `--config` means the
/// same on both. `worker_ids[i]` is worker i's lcore, `rx_queues[p]` how many
/// rx queues port p has. Without a map, worker i polls queue i of every
/// enabled port that has one; with `--config (port,queue,lcore),...`, exactly
/// the mapped queues of enabled ports, each on its lcore (unmapped queues are
/// not polled). A triple naming a missing port or queue, or an lcore that is
/// not a worker, is refused with the triple named.
pub(crate) fn rx_assignment(
    queue_map: &[(u16, u16, usize)],
    worker_ids: &[usize],
    rx_queues: &[u16],
    enabled: impl Fn(u16) -> bool,
) -> Result<Vec<Vec<(u16, u16)>>, GatewayError> {
    let nports = rx_queues.len();
    for &(p, q, l) in queue_map {
        let Some(&n) = rx_queues.get(p as usize) else {
            return Err(GatewayError::Other(format!(
                "--config ({p},{q},{l}): there is no port {p}"
            )));
        };
        if q >= n {
            let why = if n as usize == worker_ids.len() {
                "one per worker"
            } else {
                "all the device has"
            };
            return Err(GatewayError::Other(format!(
                "--config ({p},{q},{l}): port {p} has {n} rx queue(s) ({why})"
            )));
        }
        if !worker_ids.contains(&l) {
            return Err(GatewayError::Other(format!(
                "--config ({p},{q},{l}): lcore {l} is not a worker"
            )));
        }
    }
    Ok(worker_ids
        .iter()
        .enumerate()
        .map(|(wi, &lcore)| {
            if queue_map.is_empty() {
                (0..nports as u16)
                    .filter(|&p| enabled(p) && (wi as u16) < rx_queues[p as usize])
                    .map(|p| (p, wi as u16))
                    .collect()
            } else {
                queue_map
                    .iter()
                    .filter(|&&(p, _, l)| l == lcore && enabled(p))
                    .map(|&(p, q, _)| (p, q))
                    .collect()
            }
        })
        .collect())
}

/// A started gateway.
pub struct Gateway {
    pub mgmt: MgmtHandle,
    mgmt_join: Option<std::thread::JoinHandle<Mgmt>>,
    workers: Option<lcore::Workers<WorkerSnapshot>>,
    pub snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
    pub ports: PortsHandle,
    pub port_confs: Arc<[PortConf]>,
    done: Arc<AtomicUsize>,
    nworkers: usize,
    pub started: Instant,
    pub engine: Arc<crate::mgmt::Engine>,
    /// The management core's CPU ([`GatewayOpts::mgmt_cpu`]).
    pub mgmt_cpu: Option<usize>,
}

/// How often a worker copies its counters out for the statistics reader
/// (software and DPDK ports alike); the final copy at exit is exact.
pub const PUBLISH_MS: u64 = 50;

/// Convert a parsed command into a management operation (changes only).
pub fn command_op(cmd: Command) -> Option<Op> {
    Some(match cmd {
        Command::PolicyAdd(p) => Op::PolicyAdd(p),
        Command::PolicyUpdate(p) => Op::PolicyUpdate(p),
        Command::PolicyDelete(id) => Op::PolicyDelete(id),
        Command::PolicyFlush { dir, ptype } => Op::PolicyFlush { dir, ptype },
        Command::PolicySetDefault(d, a) => Op::SetDefault(d, a),
        Command::SaAdd(s) => Op::SaAdd(s),
        Command::SaUpdate(s) => Op::SaUpdate(s),
        Command::SaDelete { spi, dst, family } => Op::SaDelete { spi, dst, family },
        Command::SaFlush => Op::SaFlush,
        Command::RouteAdd(r) => Op::RouteAdd(r),
        Command::RouteDel(p) => Op::RouteDel(p),
        Command::NeighAdd(n) => Op::NeighAdd(n),
        Command::NeighDel { port, addr } => Op::NeighDel { port, addr },
        Command::PolicyGet(id) => Op::PolicyGet(id),
        Command::PolicyCount => Op::PolicyCount,
        Command::PolicyList { .. } => Op::PolicyList,
        Command::SaGet { spi, dst, family } => Op::SaGet { spi, dst, family },
        Command::SaCount => Op::SaCount,
        Command::SaList => Op::SaList,
        Command::RouteList => Op::RouteList,
        _ => return None,
    })
}

impl Gateway {
    /// What the control socket's handler reads ([`control::handler`]).
    pub fn control_state(&self) -> control::ControlState {
        let (ports, nports) = (self.ports.clone(), self.port_confs.len());
        control::ControlState {
            mgmt: self.mgmt.clone(),
            snapshots: self.snapshots.clone(),
            port_counters: Arc::new(move || software_port_counters(&ports, nports)),
            started: self.started,
        }
    }

    /// Build ports, load the configuration, start the management core and the workers.
    pub fn start(opts: GatewayOpts) -> Result<Gateway, GatewayError> {
        let nworkers = opts.workers.len().max(1);
        // 1. Configuration first: a bad line aborts before anything runs.
        let (mgmt, sa_specs) = load_mgmt(&opts)?;

        // 2. Ports, with generated ESP for `gen...,esp=SPI` from the configured SA.
        let specs = Arc::new(sa_specs);
        let pcfg = PortsConfig {
            nb_queues: nworkers,
            pool_size: opts.pool_size,
            gen_transform: Some(esp_gen_factory(specs)),
            ..PortsConfig::default()
        };
        // `--mtu`: buffers large enough for such a frame and the tunnel trailer.
        let pcfg = PortsConfig {
            buf_size: pcfg
                .buf_size
                .max(pcfg.headroom + data_room_for_mtu(opts.mtu.unwrap_or(DEFAULT_MTU))),
            ..pcfg
        };
        let ports = Ports::from_strs(&opts.vdevs, &pcfg)?;
        let mut confs = Vec::new();
        for info in ports.info() {
            confs.push(PortConf {
                id: info.id,
                mac: info.mac,
                protected: opts.unprotected & (1 << info.id) == 0,
                default_peer: default_peer_mac(info.id),
            });
        }
        let port_confs: Arc<[PortConf]> = confs.into();
        let enabled = |p: usize| opts.portmask.is_none_or(|m| m & (1 << p) != 0);
        if (0..port_confs.len()).all(|p| !enabled(p)) {
            return Err(GatewayError::NoPorts(opts.portmask.unwrap_or(0)));
        }
        let (queues, handle) = ports.split();

        // 3. Workers. Rx queues: queue i of every enabled port goes to worker i,
        // unless `--config` maps (port, queue) to lcores explicitly.
        let engine = mgmt.engine().clone();
        let mut lcores: Vec<Option<Worker>> = Vec::new();
        let nports = port_confs.len();
        let worker_ids: Vec<usize> = (0..nworkers)
            .map(|i| opts.workers.get(i).map(|w| w.0).unwrap_or(i + 1))
            .collect();
        let assignment = rx_assignment(
            &opts.queue_map,
            &worker_ids,
            &vec![nworkers as u16; nports],
            |p| enabled(p as usize),
        )?;
        let mut all_rx: Vec<Vec<Option<SwRx>>> = Vec::new();
        let mut all_tx: Vec<Vec<SwTx>> = Vec::new();
        for wq in queues {
            all_rx.push(wq.rx.into_iter().map(Some).collect());
            all_tx.push(wq.tx);
        }
        for (wi, tx) in all_tx.into_iter().enumerate() {
            let lcore_id = worker_ids[wi];
            let rx: Vec<(u16, SwRx)> = assignment[wi]
                .iter()
                .filter_map(|&(p, q)| all_rx[q as usize][p as usize].take().map(|r| (p, r)))
                .collect();
            let tx: Vec<Option<SwTx>> = tx
                .into_iter()
                .enumerate()
                .map(|(p, q)| enabled(p).then_some(q))
                .collect();
            let shard = Shard::new(opts.flows);
            lcores.push(Some(Lcore::new(
                lcore_id,
                engine.clone(),
                shard,
                rx,
                tx,
                port_confs.clone(),
            )));
        }
        let (mh, mjoin) = MgmtHandle::spawn_on(mgmt, 256, opts.mgmt_cpu);
        let snapshots: Vec<_> = (0..lcores.len())
            .map(|_| Arc::new(Mutex::new(WorkerSnapshot::default())))
            .collect();
        let done = Arc::new(AtomicUsize::new(0));
        let slots = Arc::new(Mutex::new(lcores));
        let lcore_list: Vec<(usize, usize)> = (0..nworkers)
            .map(|i| opts.workers.get(i).copied().unwrap_or((i + 1, i + 1)))
            .collect();
        let index_of: Vec<usize> = lcore_list.iter().map(|l| l.0).collect();
        let snaps = snapshots.clone();
        let done2 = done.clone();
        let workers = lcore::launch(&lcore_list, move |ctx| {
            let wi = index_of
                .iter()
                .position(|&l| l == ctx.lcore_id)
                .unwrap_or(0);
            let lc = slots.lock().map(|mut v| v[wi].take()).ok().flatten();
            let Some(mut lc) = lc else {
                return WorkerSnapshot::default();
            };
            worker_loop(&mut lc, &ctx, &snaps[wi], &done2)
        })
        .map_err(|e| GatewayError::Other(format!("cannot start worker lcores: {e}")))?;
        Ok(Gateway {
            mgmt: mh,
            mgmt_join: Some(mjoin),
            workers: Some(workers),
            snapshots,
            ports: handle,
            port_confs,
            done,
            nworkers,
            started: Instant::now(),
            engine,
            mgmt_cpu: opts.mgmt_cpu,
        })
    }

    /// Have all workers' inputs ended (finite pcap files, generator counts)?
    pub fn inputs_done(&self) -> bool {
        self.done.load(Ordering::Acquire) >= self.nworkers
    }

    /// Current worker snapshots (never blocks a worker).
    pub fn worker_snapshots(&self) -> Vec<WorkerSnapshot> {
        self.snapshots
            .iter()
            .map(|s| s.lock().map(|g| g.clone()).unwrap_or_default())
            .collect()
    }

    pub fn mgmt_counters(&self) -> Option<MgmtCounters> {
        match self.mgmt.call(Op::Counters) {
            Ok(Reply::Counters(c)) => Some(c),
            _ => None,
        }
    }

    /// Wait until `stop` is set, `duration` passed, or the inputs ended; call
    /// `tick` every `interval`.
    pub fn run(
        &self,
        stop: &AtomicBool,
        duration: Option<Duration>,
        interval: Duration,
        mut tick: impl FnMut(&Gateway),
    ) {
        wait_loop(
            self.started,
            stop,
            duration,
            interval,
            || self.inputs_done(),
            || tick(self),
        );
    }

    /// Stop the workers (they drain and flush), then the management core;
    /// everything is freed. Returns the workers' final snapshots and the
    /// management counters after the final reclamation.
    pub fn shutdown(mut self) -> (Vec<WorkerSnapshot>, MgmtCounters) {
        let mut finals = Vec::new();
        if let Some(w) = self.workers.take() {
            for r in w.join() {
                match r {
                    Ok(s) => finals.push(s),
                    Err(msg) => eprintln!("xfgate: {msg}"),
                }
            }
        }
        let mgmt = self.mgmt.clone();
        drop(mgmt);
        let counters = {
            // Dropping every handle ends the management thread.
            let Gateway {
                mgmt, mgmt_join, ..
            } = self;
            drop(mgmt);
            match mgmt_join.and_then(|j| j.join().ok()) {
                Some(mut m) => {
                    m.shutdown();
                    m.counters()
                }
                None => MgmtCounters::default(),
            }
        };
        finals.sort_by_key(|s| s.lcore);
        (finals, counters)
    }
}

fn worker_loop(
    lc: &mut Worker,
    ctx: &lcore::WorkerCtx,
    snap: &Mutex<WorkerSnapshot>,
    done: &AtomicUsize,
) -> WorkerSnapshot {
    lc.online();
    // The loop's clock is the TSC (`stats::ticks`, calibrated once), not a
    // `clock_gettime` call per loop.
    let clock = CycleClock::get();
    let t0 = ticks();
    let mut published_ms = 0u64;
    let mut reported_done = false;
    while !ctx.should_stop() {
        let now_ms = clock.ns_between(t0, ticks()) / 1_000_000;
        let n = lc.poll_once(now_ms);
        // By time, not by loops (as on DPDK ports): a copy of the counters
        // (histograms included) is a few hundred thousand instructions.
        if now_ms >= published_ms + PUBLISH_MS {
            published_ms = now_ms;
            publish(lc, snap, false);
        }
        if n == 0 {
            if !reported_done && lc.rx_done() {
                reported_done = true;
                publish(lc, snap, true);
                done.fetch_add(1, Ordering::AcqRel);
            }
            std::hint::spin_loop();
        }
    }
    lc.flush_ports();
    lc.offline();
    lc.sync_cache_stats();
    publish(lc, snap, true);
    WorkerSnapshot {
        lcore: lc.id,
        counters: lc.counters.clone(),
        cache: lc.shard.stats,
        cache_len: lc.shard.len(),
        done: true,
    }
}

fn publish(lc: &Worker, snap: &Mutex<WorkerSnapshot>, done: bool) {
    if let Ok(mut s) = snap.try_lock() {
        s.lcore = lc.id;
        // No allocation: the histograms share bounds.
        lc.counters.copy_into(&mut s.counters);
        s.cache = lc.shard.stats;
        s.cache_len = lc.shard.len();
        s.done |= done;
    }
}

/// Generated ESP: a `gen` port with `esp=SPI` encapsulates every packet with
/// the configured SA of that SPI (its own sequence numbers per queue).
fn esp_gen_factory(specs: Arc<Vec<SaSpec>>) -> crate::port::registry::GenTransformFactory {
    Arc::new(move |_port, queue, spec| {
        let spi = spec.esp?;
        let sa = specs.iter().find(|s| s.spi == spi)?;
        let esp = EspSa::new(sa).ok()?;
        // Queues split the sequence space so two generator queues never collide.
        let mut seq: u64 = 1 + ((queue as u64) << 28);
        Some(Box::new(move |b: &mut crate::buf::HeapBuf| {
            let l2 = match crate::wire::l2_header_len(b.data()) {
                Ok(l) => l,
                Err(_) => return false,
            };
            let mut mac = [0u8; 12];
            mac.copy_from_slice(&b.data()[..12]);
            if !b.adj(l2) {
                return false;
            }
            if crate::esp::encapsulate(&esp, b, seq).is_err() {
                return false;
            }
            seq += 1;
            let ty: u16 = if b.data()[0] >> 4 == 6 {
                0x86dd
            } else {
                0x0800
            };
            match b.prepend(14) {
                Some(d) => {
                    d[..12].copy_from_slice(&mac);
                    d[12..14].copy_from_slice(&ty.to_be_bytes());
                    true
                }
                None => false,
            }
        }))
    })
}

/// Per-SA counters, read before shutdown flushes the SAD.
pub fn sa_counters(gw: &Gateway) -> Vec<crate::stats::SaCounters> {
    sa_counters_of(&gw.mgmt)
}

/// [`sa_counters`] through a management handle.
pub fn sa_counters_of(mgmt: &MgmtHandle) -> Vec<crate::stats::SaCounters> {
    match mgmt.call(crate::mgmt::Op::SaList) {
        Ok(crate::mgmt::Reply::Sas(v)) => v
            .iter()
            .map(|s| crate::stats::SaCounters {
                spi: s.spi,
                // SAs have no direction of their own (keyed by spi, dst): one that
                // has sent is outbound, one that has only received is inbound.
                dir: if s.seq > 0 {
                    "out".into()
                } else if s.packets > 0 {
                    "in".into()
                } else {
                    "idle".into()
                },
                packets: s.packets,
                bytes: s.bytes,
                errors: s.errors,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The documented statistics report (docs/stats.md) from worker snapshots.
pub fn stats_report(
    snaps: &[WorkerSnapshot],
    m: &MgmtCounters,
    uptime: Duration,
    ports: &crate::port::PortsHandle,
    nports: usize,
    sas: Vec<crate::stats::SaCounters>,
) -> crate::stats::StatsReport {
    report_with_ports(snaps, m, uptime, software_port_counters(ports, nports), sas)
}

/// The software ports' counters for the shared report.
pub fn software_port_counters(
    ports: &crate::port::PortsHandle,
    nports: usize,
) -> Vec<crate::stats::PortCounters> {
    (0..nports)
        .map(|p| {
            let s = ports.stats(p as u16);
            crate::stats::PortCounters {
                port: p as u16,
                name: format!("port{p}"),
                rx: s.rx_packets,
                tx: s.tx_packets,
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                imissed: s.imissed,
                rx_nombuf: s.rx_nombuf,
                oerrors: s.tx_full,
                ..Default::default()
            }
        })
        .collect()
}

/// [`stats_report`] with the ports' counters given (the DPDK gateway passes
/// `rte_eth_stats`).
pub fn report_with_ports(
    snaps: &[WorkerSnapshot],
    m: &MgmtCounters,
    uptime: Duration,
    ports: Vec<crate::stats::PortCounters>,
    sas: Vec<crate::stats::SaCounters>,
) -> crate::stats::StatsReport {
    let lcores: Vec<crate::stats::LcoreCounters> =
        snaps.iter().map(|s| s.counters.clone()).collect();
    crate::stats::StatsReport::build(
        &lcores,
        crate::stats::ReportInputs {
            uptime,
            ports,
            sas,
            reclaim: crate::stats::ReclaimCounters {
                kills: m.policies_killed + m.sas_killed,
                retired: m.retired,
                reclaimed: m.freed,
                awaiting: m.pending,
            },
            engine: serde_json::to_value(m).unwrap_or_default(),
        },
    )
}
