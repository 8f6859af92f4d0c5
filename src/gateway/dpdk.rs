//! The gateway on DPDK ports (feature `dpdk`): the same management core and
//! the same lcore loop as [`super::Gateway`], with [`Mbuf`] packets, ethdev
//! queues, and workers launched on EAL worker lcores
//! (`rte_eal_remote_launch`); the management core is the main lcore (the
//! calling thread and the management thread it spawns, which inherits the
//! main lcore's affinity).
//!
//! Call [`crate::port::dpdk::eal_init`] first (once per process).
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpdk_sys as sys;

use super::{GatewayError, GatewayOpts, WorkerSnapshot};
use crate::datapath::{default_peer_mac, Lcore, PortConf};
use crate::flow::Shard;
use crate::mgmt::{Mgmt, MgmtCounters, MgmtHandle, Op, Reply};
use crate::port::dpdk::{self as dp, DpdkPorts, DpdkPortsConfig, DpdkRx, DpdkTx, EthStats, Mbuf};
use crate::port::PortStats;
use crate::stats::{ticks, CycleClock, PortCounters, SaCounters, StatsReport};

type Worker = Lcore<Mbuf, DpdkRx, DpdkTx>;

use super::PUBLISH_MS;

/// Pause between the workers' last tx burst and closing the ports.
const TX_DRAIN_GRACE: Duration = Duration::from_millis(200);

impl From<dp::DpdkError> for GatewayError {
    fn from(e: dp::DpdkError) -> Self {
        GatewayError::Other(e.to_string())
    }
}

/// A started gateway on DPDK ports.
pub struct DpdkGateway {
    pub mgmt: MgmtHandle,
    mgmt_join: Option<std::thread::JoinHandle<Mgmt>>,
    /// EAL lcore of each worker, in worker order.
    pub lcores: Vec<u32>,
    results: Vec<Arc<Mutex<Option<WorkerSnapshot>>>>,
    pub snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
    stop: Arc<AtomicBool>,
    pub ports: DpdkPorts,
    pub port_confs: Arc<[PortConf]>,
    done: Arc<AtomicUsize>,
    launched: bool,
    pub started: Instant,
    /// Mbufs in use after the ports started, before any worker ran.
    pub mbufs_in_use_at_start: u64,
    pub engine: Arc<crate::mgmt::Engine>,
}

/// Final state of a DPDK run.
#[derive(Debug)]
pub struct DpdkFinal {
    pub workers: Vec<WorkerSnapshot>,
    pub mgmt: MgmtCounters,
    /// `rte_eth_stats` per port, read after the workers stopped.
    pub eth: Vec<EthStats>,
    /// The gateway's own per-port queue counters.
    pub queues: Vec<PortStats>,
    /// The ports' counters as the shared report has them ([`port_counters`]).
    pub ports: Vec<PortCounters>,
    /// Per-SA counters, read before the management core flushed the SAD.
    pub sas: Vec<SaCounters>,
    pub mbufs_in_use_at_start: u64,
    /// Mbufs in use after the workers stopped, before the ports closed.
    pub mbufs_in_use_at_end: u64,
}

impl DpdkFinal {
    /// The documented statistics report (docs/stats.md) of the run.
    pub fn report(&self, uptime: Duration) -> StatsReport {
        super::report_with_ports(
            &self.workers,
            &self.mgmt,
            uptime,
            self.ports.clone(),
            self.sas.clone(),
        )
    }

    /// [`DpdkFinal::report`] as JSON with the DPDK extras: `backend` and the
    /// mempool in-use counts at start and end (equal when no mbuf leaked).
    pub fn report_json(&self, uptime: Duration) -> String {
        let mut v = self.report(uptime).to_value();
        if let Some(o) = v.as_object_mut() {
            o.insert("backend".into(), "dpdk".into());
            o.insert(
                "mbufs_in_use_at_start".into(),
                self.mbufs_in_use_at_start.into(),
            );
            o.insert(
                "mbufs_in_use_at_end".into(),
                self.mbufs_in_use_at_end.into(),
            );
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

/// The ports' counters for the shared report: DPDK's `rte_eth_stats`, with
/// the packets the gateway's rx had to refuse (a chained mbuf that does not
/// fit one buffer) added to `rx_nombuf`.
pub fn port_counters(
    ports: &DpdkPorts,
    eth: &[EthStats],
    queues: &[PortStats],
) -> Vec<PortCounters> {
    ports
        .ports
        .iter()
        .zip(eth.iter().zip(queues))
        .map(|(p, (e, q))| one_port(p.info.id, &p.info.name, e, q))
        .collect()
}

fn one_port(id: u16, name: &str, e: &EthStats, q: &PortStats) -> PortCounters {
    PortCounters {
        port: id,
        name: name.to_string(),
        rx: e.ipackets,
        tx: e.opackets,
        rx_bytes: e.ibytes,
        tx_bytes: e.obytes,
        imissed: e.imissed,
        ierrors: e.ierrors,
        rx_nombuf: e.rx_nombuf + q.rx_nombuf,
        oerrors: e.oerrors,
    }
}

struct Launch {
    run: Box<dyn FnOnce() + Send>,
}

extern "C" fn lcore_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Launch> leaked by `launch` for exactly this
    // call; ownership comes back here once.
    let l = unsafe { Box::from_raw(arg as *mut Launch) };
    // Never unwind across the C frame.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(l.run)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

fn launch(lcore: u32, f: Box<dyn FnOnce() + Send>) -> Result<(), dp::DpdkError> {
    let arg = Box::into_raw(Box::new(Launch { run: f })) as *mut c_void;
    // SAFETY: lcore_main has the lcore_function_t signature and takes
    // ownership of `arg`; `lcore` is an idle EAL worker lcore.
    let rc = unsafe { sys::rte_eal_remote_launch(Some(lcore_main), arg, lcore) };
    if rc != 0 {
        // SAFETY: the launch failed, so lcore_main never runs: reclaim `arg`.
        drop(unsafe { Box::from_raw(arg as *mut Launch) });
        return Err(dp::DpdkError::Launch {
            lcore,
            reason: dp::strerror(-rc),
        });
    }
    Ok(())
}

impl DpdkGateway {
    /// Load the configuration, set the ports up, start the management core
    /// and launch one worker per EAL worker lcore. `opts.vdevs` and
    /// `opts.workers` are ignored: EAL's `--vdev`/`-a` and `-l` decide.
    pub fn start(
        opts: &GatewayOpts,
        ports_cfg: DpdkPortsConfig,
    ) -> Result<DpdkGateway, GatewayError> {
        Self::start_on(opts, ports_cfg, &dp::worker_lcores())
    }

    /// [`DpdkGateway::start`] with workers on `lcores` only (idle EAL worker
    /// lcores, e.g. the first N of them: `xfgate bench`'s lcores scenario).
    pub fn start_on(
        opts: &GatewayOpts,
        ports_cfg: DpdkPortsConfig,
        lcores: &[u32],
    ) -> Result<DpdkGateway, GatewayError> {
        let (mgmt, _) = super::load_mgmt(opts)?;
        let lcores = lcores.to_vec();
        if lcores.is_empty() {
            return Err(dp::DpdkError::NoWorkers.into());
        }
        let nworkers = lcores.len();
        let ports = DpdkPorts::setup(&DpdkPortsConfig {
            nb_workers: nworkers as u16,
            mtu: opts.mtu.or(ports_cfg.mtu),
            ..ports_cfg
        })?;
        let port_confs: Arc<[PortConf]> = ports
            .ports
            .iter()
            .map(|p| PortConf {
                id: p.info.id,
                mac: p.info.mac,
                protected: opts.unprotected & (1 << p.info.id) == 0,
                default_peer: default_peer_mac(p.info.id),
            })
            .collect::<Vec<_>>()
            .into();
        let enabled = |p: u16| opts.portmask.is_none_or(|m| m & (1 << p) != 0);
        if ports.ports.iter().all(|p| !enabled(p.info.id)) {
            return Err(GatewayError::NoPorts(opts.portmask.unwrap_or(0)));
        }

        // Rx queues per worker: queue i of every port, or `--config`, with
        // the software gateway's rules (port ids are 0..n, as probed).
        let worker_ids: Vec<usize> = lcores.iter().map(|&l| l as usize).collect();
        let rx_queues: Vec<u16> = ports.ports.iter().map(|p| p.nb_rxq).collect();
        let assignment = super::rx_assignment(&opts.queue_map, &worker_ids, &rx_queues, enabled)?;
        let engine = mgmt.engine().clone();
        let mut workers = Vec::new();
        for (wi, &lc) in lcores.iter().enumerate() {
            let rx = assignment[wi]
                .iter()
                .filter_map(|&(p, q)| ports.rx_queue(p, q, wi as u16))
                .collect();
            let tx = ports
                .tx_queues(wi as u16)
                .into_iter()
                .enumerate()
                .map(|(p, q)| q.filter(|_| enabled(p as u16)))
                .collect();
            workers.push(Lcore::new(
                lc as usize,
                engine.clone(),
                Shard::new(opts.flows),
                rx,
                tx,
                port_confs.clone(),
            ));
        }
        let mbufs_in_use_at_start = ports.mbufs_in_use();
        let (mh, mjoin) = MgmtHandle::spawn(mgmt, 256);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let snapshots: Vec<_> = (0..nworkers)
            .map(|_| Arc::new(Mutex::new(WorkerSnapshot::default())))
            .collect();
        let results: Vec<_> = (0..nworkers).map(|_| Arc::new(Mutex::new(None))).collect();
        register_telemetry(&snapshots);
        let mut gw = DpdkGateway {
            mgmt: mh,
            mgmt_join: Some(mjoin),
            lcores: lcores.clone(),
            results: results.clone(),
            snapshots: snapshots.clone(),
            stop: stop.clone(),
            ports,
            port_confs,
            done: done.clone(),
            launched: false,
            started: Instant::now(),
            mbufs_in_use_at_start,
            engine,
        };
        for (wi, mut lc) in workers.into_iter().enumerate() {
            let (snap, res, wstop, wdone) = (
                snapshots[wi].clone(),
                results[wi].clone(),
                stop.clone(),
                done.clone(),
            );
            let run = Box::new(move || {
                let fin = worker_loop(&mut lc, &wstop, &snap, &wdone);
                if let Ok(mut r) = res.lock() {
                    *r = Some(fin);
                }
            });
            if let Err(e) = launch(lcores[wi], run) {
                // Stop what runs already; shutdown waits for every lcore.
                gw.launched = true;
                let _ = gw.join_workers();
                return Err(e.into());
            }
        }
        gw.launched = true;
        gw.started = Instant::now();
        Ok(gw)
    }

    /// Have all workers' inputs ended? (Live DPDK ports never end.)
    pub fn inputs_done(&self) -> bool {
        self.done.load(Ordering::Acquire) >= self.lcores.len()
    }

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

    /// The gateway's own counters of every port (sums over its queues).
    pub fn queue_stats(&self) -> Vec<PortStats> {
        self.ports
            .ports
            .iter()
            .map(|p| p.counters.total())
            .collect()
    }

    /// What the control socket's handler reads: the same commands as with
    /// software ports, the ports' counters from `rte_eth_stats`.
    pub fn control_state(&self) -> super::control::ControlState {
        let ports: Vec<(u16, String, Arc<crate::port::PortCounters>)> = self
            .ports
            .ports
            .iter()
            .map(|p| (p.info.id, p.info.name.clone(), p.counters.clone()))
            .collect();
        super::control::ControlState {
            mgmt: self.mgmt.clone(),
            snapshots: self.snapshots.clone(),
            port_counters: Arc::new(move || {
                ports
                    .iter()
                    .map(|(id, name, q)| one_port(*id, name, &dp::eth_stats(*id), &q.total()))
                    .collect()
            }),
            started: self.started,
        }
    }

    /// The current statistics report (docs/stats.md).
    pub fn report(&self, m: &MgmtCounters) -> StatsReport {
        let ports = port_counters(&self.ports, &self.eth_stats(), &self.queue_stats());
        super::report_with_ports(
            &self.worker_snapshots(),
            m,
            self.started.elapsed(),
            ports,
            Vec::new(),
        )
    }

    /// `rte_eth_stats` of every port.
    pub fn eth_stats(&self) -> Vec<EthStats> {
        self.ports
            .ports
            .iter()
            .map(|p| self.ports.eth_stats(p.info.id))
            .collect()
    }

    /// Wait until `stop` is set or `duration` passed; call `tick` every `interval`.
    pub fn run(
        &self,
        stop: &AtomicBool,
        duration: Option<Duration>,
        interval: Duration,
        mut tick: impl FnMut(&DpdkGateway),
    ) {
        super::wait_loop(
            self.started,
            stop,
            duration,
            interval,
            || self.inputs_done(),
            || tick(self),
        );
    }

    fn join_workers(&mut self) -> Vec<WorkerSnapshot> {
        self.stop.store(true, Ordering::Release);
        if self.launched {
            for &lc in &self.lcores {
                // SAFETY: waits for the function launched on `lc` (returns at
                // once if none was).
                let rc = unsafe { sys::rte_eal_wait_lcore(lc) };
                if rc != 0 {
                    eprintln!("xfgate: worker on lcore {lc} failed (returned {rc})");
                }
            }
            self.launched = false;
        }
        self.results
            .iter()
            .filter_map(|r| r.lock().ok().and_then(|mut g| g.take()))
            .collect()
    }

    /// Stop the workers (they flush their staged bursts), read the final
    /// counters, stop and close the ports (pcap writers flush), stop the
    /// management core.
    pub fn shutdown(mut self) -> DpdkFinal {
        let mut workers = self.join_workers();
        // After the workers' last bursts, before the management core flushes.
        let sas = super::sa_counters_of(&self.mgmt);
        workers.sort_by_key(|s| s.lcore);
        let eth = self.eth_stats();
        let queues = self.queue_stats();
        let ports = port_counters(&self.ports, &eth, &queues);
        let mbufs_in_use_at_end = self.ports.mbufs_in_use();
        if let Ok(mut g) = TELEMETRY.lock() {
            *g = None;
        }
        // Give the devices a moment to send what their tx queues accepted
        // (a memif peer still has to read its ring) before they close.
        std::thread::sleep(TX_DRAIN_GRACE);
        self.ports.stop();
        let DpdkGateway {
            mgmt,
            mgmt_join,
            mbufs_in_use_at_start,
            ..
        } = self;
        drop(mgmt);
        let mgmt = match mgmt_join.and_then(|j| j.join().ok()) {
            Some(mut m) => {
                m.shutdown();
                m.counters()
            }
            None => MgmtCounters::default(),
        };
        DpdkFinal {
            workers,
            mgmt,
            eth,
            queues,
            ports,
            sas,
            mbufs_in_use_at_start,
            mbufs_in_use_at_end,
        }
    }
}

// ---------------------------------------------------------------------------
// DPDK telemetry: `/xfgate/stats` (dpdk-telemetry.py, or the v2 socket).

/// The snapshots the telemetry callback reads (the running gateway's).
static TELEMETRY: Mutex<Option<Vec<Arc<Mutex<WorkerSnapshot>>>>> = Mutex::new(None);

/// The telemetry command name.
pub const TELEMETRY_CMD: &str = "/xfgate/stats";

/// `/xfgate/stats`: the gateway's totals over all workers as one dict
/// (`rx_packets`, `rx_bytes`, `tx_packets`, `tx_bytes`, `forwarded`,
/// `encapsulated`, `decapsulated`, `dropped`, `drop_<reason>` for every
/// reason, `cache_lookups`, `cache_hits`, `cache_misses`, `workers`). Runs on
/// DPDK's telemetry thread; reads the snapshots the workers publish.
extern "C" fn telemetry_stats(
    _cmd: *const std::os::raw::c_char,
    _params: *const std::os::raw::c_char,
    d: *mut sys::rte_tel_data,
) -> c_int {
    let fill = || -> Option<Vec<(String, u64)>> {
        let g = TELEMETRY.lock().ok()?;
        let snaps = g.as_ref()?;
        let mut t = crate::stats::LcoreCounters::default();
        let (mut look, mut hits, mut misses) = (0, 0, 0);
        for s in snaps {
            let s = s.lock().ok()?;
            let c = &s.counters;
            t.rx_packets += c.rx_packets;
            t.rx_bytes += c.rx_bytes;
            t.tx_packets += c.tx_packets;
            t.tx_bytes += c.tx_bytes;
            t.forwarded += c.forwarded;
            t.encapsulated += c.encapsulated;
            t.decapsulated += c.decapsulated;
            for (a, b) in t.drops.iter_mut().zip(c.drops.iter()) {
                *a += b;
            }
            look += s.cache.lookups;
            hits += s.cache.hits;
            misses += s.cache.misses;
        }
        let mut v = vec![
            ("rx_packets".to_string(), t.rx_packets),
            ("rx_bytes".to_string(), t.rx_bytes),
            ("tx_packets".to_string(), t.tx_packets),
            ("tx_bytes".to_string(), t.tx_bytes),
            ("forwarded".to_string(), t.forwarded),
            ("encapsulated".to_string(), t.encapsulated),
            ("decapsulated".to_string(), t.decapsulated),
            ("dropped".to_string(), t.drops.iter().sum()),
        ];
        for r in crate::stats::DropReason::ALL {
            v.push((format!("drop_{}", r.name()), t.drops[r as usize]));
        }
        v.push(("cache_lookups".to_string(), look));
        v.push(("cache_hits".to_string(), hits));
        v.push(("cache_misses".to_string(), misses));
        v.push(("workers".to_string(), snaps.len() as u64));
        Some(v)
    };
    // Never unwind into DPDK's thread.
    let Ok(Some(v)) = std::panic::catch_unwind(fill) else {
        return -1;
    };
    // SAFETY: `d` is the reply container DPDK hands the callback; the keys
    // are NUL-terminated and copied by rte_tel_data_add_dict_u64.
    unsafe {
        if sys::rte_tel_data_start_dict(d) != 0 {
            return -1;
        }
        for (k, x) in v {
            if let Ok(k) = std::ffi::CString::new(k) {
                sys::rte_tel_data_add_dict_u64(d, k.as_ptr(), x);
            }
        }
    }
    0
}

/// Serve `snaps` under [`TELEMETRY_CMD`] (registered once per process;
/// without EAL telemetry, `--no-telemetry`, nobody asks).
fn register_telemetry(snaps: &[Arc<Mutex<WorkerSnapshot>>]) {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    if let Ok(mut g) = TELEMETRY.lock() {
        *g = Some(snaps.to_vec());
    }
    REGISTERED.call_once(|| {
        // SAFETY: static NUL-terminated strings; the callback has the
        // telemetry_cb signature and lives for the whole process.
        let rc = unsafe {
            sys::rte_telemetry_register_cmd(
                c"/xfgate/stats".as_ptr(),
                Some(telemetry_stats),
                c"xfgate gateway totals over all workers. Takes no parameters".as_ptr(),
            )
        };
        if rc != 0 {
            eprintln!(
                "xfgate: telemetry: cannot register {TELEMETRY_CMD}: {}",
                dp::strerror(-rc)
            );
        }
    });
}

fn worker_loop(
    lc: &mut Worker,
    stop: &AtomicBool,
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
    while !stop.load(Ordering::Acquire) {
        let now_ms = clock.ns_between(t0, ticks()) / 1_000_000;
        let n = lc.poll_once(now_ms);
        // By time, not by loops: a copy of the counters (histograms
        // included) costs a few hundred thousand instructions, which every
        // 256 busy loops was ~100 instructions per packet at 64 bytes.
        if now_ms >= published_ms + PUBLISH_MS {
            published_ms = now_ms;
            publish(lc, snap, false);
        }
        if n == 0 && !reported_done && lc.rx_done() {
            reported_done = true;
            publish(lc, snap, true);
            done.fetch_add(1, Ordering::AcqRel);
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
