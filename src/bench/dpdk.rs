//! The DPDK backend of `xfgate bench` (feature `dpdk`): the same scenarios,
//! samples and report as the software run, on DPDK ports.
//!
//! - EAL starts once per process with the user's options, unchanged
//!   ([`DpdkBench::init`]). The bench brings its own ports, so EAL must
//!   probe none (`--no-pci`, no `-a`/`--vdev`): a probed port is refused.
//! - Traffic of a point: the software run's generator spec written as pcap
//!   files (one per worker, [`super::replay`]), written once per point and
//!   shared by its strategies, repetitions and references.
//! - Each sample hot-plugs `net_pcap0` (the files, `infinite_rx=1` for
//!   time-bounded samples, read once for finite ones) as protected port 0
//!   and `net_null1,no-rx=1` as unprotected port 1 (`rte_vdev_init`), starts
//!   a [`DpdkGateway`] on the first `workers` EAL worker lcores, measures it
//!   exactly as the software gateway ([`scenario::measure`]), shuts it down
//!   (ports closed, mbuf pools freed) and removes the devices. Every sample
//!   starts from fresh ports, pools and counters.
//! - Never-seen-flow packets are counted from the files: a worker's rx
//!   count says how far into its file (and how many times through it) it
//!   got, and the file knows which packets belong to never-seen flows.
//! - Memory: `infinite_rx` keeps one mbuf per packet of the files. The
//!   packets per file are chosen so the pool fits the memory EAL can still
//!   get (checked for every point before the first sample; see
//!   [`replay_sizes`]); a point that cannot fit stops the run with the
//!   number of 2 MiB hugepages it needs.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::replay::{gen_spec, Replay};
use super::scenario::{self, RunSpec, Sample, SampleGateway};
use crate::gateway::dpdk::DpdkGateway;
use crate::gateway::WorkerSnapshot;
use crate::mgmt::{MgmtCounters, MgmtHandle, Op};
use crate::port::dpdk as dp;

/// Fewest packets in a replayed file set (one period).
pub const REPLAY_MIN: u64 = 65_536;
/// A replay offers each established flow this many packets per period on
/// average (uniform draws: about 95 % of the flows appear in the files).
pub const REPLAY_COVER: u64 = 3;
/// With never-seen flows, a replay wants this many capacities of the flow
/// cache in new flows per period: more than the doorkeeper remembers (four
/// to six capacities of misses), so a never-seen flow of the file is not
/// remembered as "seen" when it comes round again.
pub const REPLAY_NEW_CAPACITIES: u64 = 6;
/// A finite input ends early if the workers' rx counters stop growing this long.
const FINITE_STALL: Duration = Duration::from_secs(10);

/// Packets of a time-bounded point's replay: (needed, wanted). Needed: at
/// least [`REPLAY_MIN`], and [`REPLAY_COVER`] packets per established flow.
/// Wanted, with never-seen flows: [`REPLAY_NEW_CAPACITIES`] flow-cache
/// capacities of them. `cache` is the flow-cache capacity per worker.
pub fn replay_sizes(flows: u64, new_flow_pct: f64, cache: u64) -> (u64, u64) {
    let p = (new_flow_pct / 100.0).clamp(0.0, 1.0);
    let cover = if p < 1.0 {
        (REPLAY_COVER as f64 * flows as f64 / (1.0 - p)).ceil() as u64
    } else {
        0
    };
    let needed = cover.max(REPLAY_MIN);
    let wanted = if p > 0.0 {
        needed.max((REPLAY_NEW_CAPACITIES as f64 * cache as f64 / p).ceil() as u64)
    } else {
        needed
    };
    (needed, wanted)
}

/// The traffic of the point being run.
struct Traffic {
    /// What it was made for: the generator string and the queues.
    key: (String, usize, u64),
    replay: Replay,
    /// Replayed forever (time-bounded samples) or read once (`--count`).
    infinite: bool,
    /// Flow-cache capacity per worker (never-seen flows of the files
    /// beyond it cannot all be remembered).
    cache: usize,
}

/// The DPDK backend: EAL is up, the worker lcores are known, the point's
/// files are in a temporary directory.
pub struct DpdkBench {
    eal: Vec<String>,
    /// EAL worker lcores (every enabled lcore but the main one).
    workers: Vec<u32>,
    dir: PathBuf,
    /// Mbufs a pool may hold, from the memory free when EAL started.
    max_mbufs: u64,
    mbuf_bytes: u64,
    budget: dp::MemoryBudget,
    /// `--replay-packets` (0: chosen per point).
    replay_packets: u64,
    traffic: Option<Traffic>,
    /// Print the ports' facts at the next set-up.
    log_ports: bool,
    /// Mbufs that were not back in the pool at the end of a sample.
    pub leaked_mbufs: u64,
}

/// Bytes kept free of mbufs for EAL's own allocations (rings, ethdev data).
const MEMORY_MARGIN: u64 = 16 << 20;

impl DpdkBench {
    /// Start EAL with `eal` (the options before `--`, unchanged) and check
    /// that it probed no port and gives at least one worker lcore.
    pub fn init(eal: &[String], replay_packets: u64) -> Result<DpdkBench, String> {
        dp::eal_init(eal).map_err(|e| e.to_string())?;
        let probed = dp::ports_available();
        if !probed.is_empty() {
            let names: Vec<String> = probed.iter().map(|(i, n)| format!("{i} {n}")).collect();
            return Err(format!(
                "EAL probed {} port(s) ({}): xfgate bench brings its own (net_pcap0 -> net_null1); \
                 give --no-pci and no -a/--vdev",
                probed.len(),
                names.join(", ")
            ));
        }
        let workers = dp::worker_lcores();
        if workers.is_empty() {
            return Err(dp::DpdkError::NoWorkers.to_string());
        }
        let budget = dp::MemoryBudget::now();
        let room = dp::mbuf_data_room(None).map_err(|e| e.to_string())?;
        // An mbuf, its slot in the pool's ring and in net_pcap's ring (both
        // rounded up to a power of two).
        let mbuf_bytes = u64::from(dp::mbuf_obj_size(room)) + 32;
        let usable = budget
            .bytes()
            .saturating_sub(MEMORY_MARGIN + budget.bytes() / 100);
        let dir = std::env::temp_dir().join(format!("xfgate-bench-dpdk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(DpdkBench {
            eal: eal.to_vec(),
            workers,
            dir,
            max_mbufs: usable / mbuf_bytes,
            mbuf_bytes,
            budget,
            replay_packets,
            traffic: None,
            log_ports: true,
            leaked_mbufs: 0,
        })
    }

    /// EAL worker lcores.
    pub fn worker_lcores(&self) -> &[u32] {
        &self.workers
    }

    /// One line for the terminal.
    pub fn describe(&self) -> String {
        format!(
            "DPDK {} (EAL {}), workers on lcores {:?}, net_pcap0 replay -> net_null1; \
             {} MiB for mbufs ({} free hugepages)",
            dpdk_sys::DPDK_VERSION,
            self.eal.join(" "),
            self.workers,
            (self.max_mbufs * self.mbuf_bytes) >> 20,
            self.budget.free_hugepages
        )
    }

    /// The CPU of the first worker (the bare-cipher reference runs there).
    pub fn first_worker_cpu(&self) -> usize {
        dp::lcore_cpu(self.workers[0]).unwrap_or(self.workers[0] as usize)
    }

    /// Mbufs of the pool besides the replay's, for `workers` workers.
    fn base_mbufs(workers: usize) -> u64 {
        let w = workers.max(1) as u16;
        // net_pcap0 and net_null1: one rx and one tx queue per worker each.
        let nb_lcores = w as u32 + 1;
        dp::pool_mbufs(
            &[(w, w), (w, w)],
            w,
            nb_lcores,
            &dp::DpdkPortsConfig::default(),
        )
    }

    /// Packets of the replay for `spec`, or why it cannot fit.
    fn replay_len(&self, spec: &RunSpec) -> Result<u64, String> {
        if spec.count > 0 {
            return Ok(spec.count);
        }
        let cache = scenario::gateway_opts(spec, &[]).flows as u64;
        let (needed, wanted) = if self.replay_packets > 0 {
            (self.replay_packets, self.replay_packets)
        } else {
            replay_sizes(spec.flows, spec.new_flow_pct, cache)
        };
        let room = self
            .max_mbufs
            .saturating_sub(Self::base_mbufs(spec.workers));
        if needed > room {
            let bytes = (needed + Self::base_mbufs(spec.workers)) * self.mbuf_bytes + MEMORY_MARGIN;
            return Err(format!(
                "{} {}: the replay needs {needed} packets (net_pcap's infinite_rx keeps one mbuf \
                 of {} bytes per packet): about {} x 2 MiB hugepages, but only {} MiB are free \
                 ({} free hugepages)",
                spec.scenario,
                spec.label,
                self.mbuf_bytes,
                bytes.div_ceil(2 << 20),
                self.budget.bytes() >> 20,
                self.budget.free_hugepages,
            ));
        }
        // What is only wanted takes at most 80 % of what is left (the
        // machine may have other DPDK users).
        Ok(needed.max(wanted.min(room * 4 / 5)))
    }

    /// Check every point before the first sample: enough worker lcores,
    /// replays that fit.
    pub fn check(&self, specs: &[&RunSpec]) -> Result<(), String> {
        let mut errs = Vec::new();
        for s in specs {
            if s.workers > self.workers.len() {
                errs.push(format!(
                    "{} {}: needs {} worker lcores, EAL has {} (-l gives the management lcore and the workers)",
                    s.scenario,
                    s.label,
                    s.workers,
                    self.workers.len()
                ));
            }
            if let Err(e) = self.replay_len(s) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the DPDK run cannot start:\n  {}\nreserve more hugepages (HUGEPAGES=N scripts/setup-dpdk.sh), \
             choose other points (--flows, --flood, --lcores ...), or give --replay-packets N \
             (fewer packets per file: the files then cover fewer of the established flows; the \
             report says how many)",
            errs.join("\n  ")
        ))
    }

    /// Make (or keep) the files of `spec`'s point.
    fn traffic(&mut self, spec: &RunSpec) -> Result<&Traffic, String> {
        let workers = spec.workers.max(1);
        let key = (scenario::gen_vdev(spec), workers, spec.count);
        if self.traffic.as_ref().is_none_or(|t| t.key != key) {
            if let Some(t) = self.traffic.take() {
                t.replay.remove();
            }
            let packets = self.replay_len(spec)?;
            let g = gen_spec(&key.0)?;
            let replay = Replay::write(&self.dir, "point", &g, workers, packets)?;
            self.traffic = Some(Traffic {
                key,
                replay,
                infinite: spec.count == 0,
                cache: scenario::gateway_opts(spec, &[]).flows,
            });
        }
        Ok(self.traffic.as_ref().expect("made above"))
    }

    /// Facts of the current point's replay, for the report.
    pub fn point_extra(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if let Some(t) = &self.traffic {
            m.insert("replay_packets".into(), t.replay.packets() as f64);
            m.insert(
                "replay_new_flows".into(),
                t.replay.new_flow_packets_per_pass() as f64,
            );
            m.insert("replay_flows_covered".into(), t.replay.flows_covered as f64);
            m.insert("replay_infinite".into(), f64::from(u8::from(t.infinite)));
            m.insert("replay_cache_capacity".into(), t.cache as f64);
        }
        m
    }

    /// One sample on DPDK ports.
    pub fn run_sample(
        &mut self,
        spec: &RunSpec,
        ops: &[Op],
        churn: &[(Op, Op)],
    ) -> Result<Sample, String> {
        let lcores: Vec<u32> = self
            .workers
            .iter()
            .copied()
            .take(spec.workers.max(1))
            .collect();
        let log_ports = std::mem::take(&mut self.log_ports);
        let t = self.traffic(spec)?;
        let mut args: Vec<String> = t
            .replay
            .files
            .iter()
            .map(|f| format!("rx_pcap={}", f.path.display()))
            .collect();
        if t.infinite {
            args.push("infinite_rx=1".into());
        }
        let extra_mbufs = if t.infinite { t.replay.packets() } else { 0 };
        let t_start = Instant::now();
        let pcap = dp::Vdev::create("net_pcap0", &args.join(",")).map_err(|e| e.to_string())?;
        let null = dp::Vdev::create("net_null1", "no-rx=1").map_err(|e| e.to_string())?;
        for (name, want) in [("net_pcap0", 0u16), ("net_null1", 1)] {
            if dp::port_by_name(name) != Some(want) {
                return Err(format!(
                    "{name} came up as port {:?}, the configuration needs port {want}",
                    dp::port_by_name(name)
                ));
            }
        }
        let opts = scenario::gateway_opts(spec, ops);
        let ports_cfg = dp::DpdkPortsConfig {
            extra_mbufs,
            // Once: every sample sets up the same two ports.
            log_ports,
            ..dp::DpdkPortsConfig::default()
        };
        let gw = DpdkGateway::start_on(&opts, ports_cfg, &lcores).map_err(|e| e.to_string())?;
        let leaked = Cell::new(0u64);
        let replayed_new_flows = t.infinite && t.replay.new_flow_packets_per_pass() > 0;
        let mut sample = scenario::measure(
            DpdkSample {
                gw,
                replay: &t.replay,
                count: spec.count,
                progress: Cell::new((0, Instant::now())),
                leaked: &leaked,
            },
            spec,
            churn,
            t_start,
        );
        // The ports are closed: remove the devices.
        drop(null);
        drop(pcap);
        if replayed_new_flows {
            // Never-seen flows of the file come round again every period,
            // and those that found a free cache way hit then: hits can no
            // longer be told apart from the established flows' (docs/PERFORMANCE.md).
            sample.hit_ratio_established = None;
        }
        let leaked = leaked.get();
        if leaked > 0 {
            eprintln!(
                "\nxfgate bench: {} {} {}: {leaked} mbufs were not back in the pool at the end",
                spec.scenario, spec.label, sample.strategy
            );
            self.leaked_mbufs += leaked;
        }
        Ok(sample)
    }
}

impl Drop for DpdkBench {
    fn drop(&mut self) {
        if let Some(t) = self.traffic.take() {
            t.replay.remove();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running DPDK sample: the gateway and the files it replays.
struct DpdkSample<'a> {
    gw: DpdkGateway,
    replay: &'a Replay,
    count: u64,
    /// (rx packets, when they last grew), for a finite input that stalls.
    progress: Cell<(u64, Instant)>,
    /// Set by `finish`: mbufs in use at the end beyond those at the start.
    leaked: &'a Cell<u64>,
}

/// Worker `w` polls rx queue `w` of port 0, i.e. file `w`: its rx count says
/// which of the file's packets it got, hence how many were never-seen flows'.
fn count_new_flows(replay: &Replay, snaps: &mut [WorkerSnapshot]) {
    for (w, s) in snaps.iter_mut().enumerate() {
        s.counters.new_flow_packets = replay
            .files
            .get(w)
            .map_or(0, |f| f.new_flow_packets(s.counters.rx_packets));
    }
}

impl SampleGateway for DpdkSample<'_> {
    fn mgmt(&self) -> &MgmtHandle {
        &self.gw.mgmt
    }

    fn snapshots(&self) -> Vec<WorkerSnapshot> {
        let mut s = self.gw.worker_snapshots();
        count_new_flows(self.replay, &mut s);
        s
    }

    fn mgmt_counters(&self) -> Option<MgmtCounters> {
        self.gw.mgmt_counters()
    }

    /// Every packet of the file received, or no progress for
    /// [`FINITE_STALL`] (the sample then shows what is missing).
    fn input_done(&self) -> bool {
        let rx: u64 = self
            .gw
            .worker_snapshots()
            .iter()
            .map(|s| s.counters.rx_packets)
            .sum();
        if rx >= self.count {
            return true;
        }
        let (last, at) = self.progress.get();
        if rx != last {
            self.progress.set((rx, Instant::now()));
            return false;
        }
        at.elapsed() >= FINITE_STALL
    }

    fn finish(self) -> Vec<WorkerSnapshot> {
        let fin = self.gw.shutdown();
        self.leaked.set(
            fin.mbufs_in_use_at_end
                .saturating_sub(fin.mbufs_in_use_at_start),
        );
        let mut w = fin.workers;
        count_new_flows(self.replay, &mut w);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_sizes_cover_the_flows_and_want_many_new_ones() {
        // No new flows: three packets per flow, at least REPLAY_MIN.
        assert_eq!(replay_sizes(1_000, 0.0, 4096), (REPLAY_MIN, REPLAY_MIN));
        assert_eq!(replay_sizes(100_000, 0.0, 262_144), (300_000, 300_000));
        // Half new: the established half still covers each flow three times;
        // six cache capacities of new flows are wanted.
        assert_eq!(replay_sizes(100_000, 50.0, 262_144).0, 600_000);
        assert_eq!(replay_sizes(10_000, 50.0, 32_768), (65_536, 393_216));
        // All new: nothing to cover.
        assert_eq!(replay_sizes(10_000, 100.0, 32_768), (65_536, 196_608));
    }
}
