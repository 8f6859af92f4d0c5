//! The aggregated statistics report (schema in docs/stats.md).
//!
//! Built on the management core (the reader side) from the lcore snapshots,
//! the port counters, the SA counters and the engine's counters. Serialized
//! as-is for `stats --json` and `--stats-json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::hist::LatencyHist;

use super::counters::{
    new_latency_histogram, CacheCounters, DropReason, LcoreCounters, LcoreStatsSlot,
};

/// Version of the JSON schema documented in docs/stats.md. Bumped on any
/// incompatible change (a renamed or removed field, a changed unit).
pub const STATS_SCHEMA: u32 = 1;

/// Counters of one port, as its backend reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortCounters {
    /// Port id (order of `--vdev`/devices, as DPDK numbers them).
    pub port: u16,
    /// Device name (e.g. `net_pcap0`).
    pub name: String,
    /// Packets received.
    pub rx: u64,
    /// Packets transmitted.
    pub tx: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the device dropped because rx queues were full.
    pub imissed: u64,
    /// Erroneous packets the device received (DPDK `ierrors`; 0 for software ports).
    pub ierrors: u64,
    /// Receive failures for lack of buffers.
    pub rx_nombuf: u64,
    /// Transmit errors (including refused packets).
    pub oerrors: u64,
}

/// Counters of one SA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaCounters {
    /// SPI (host order).
    pub spi: u32,
    /// `in` or `out`.
    pub dir: String,
    /// Packets processed with this SA.
    pub packets: u64,
    /// Payload bytes processed with this SA.
    pub bytes: u64,
    /// Packets that failed on this SA (ICV, replay, malformed ESP, seq exhausted).
    pub errors: u64,
}

/// Object lifetime counters of the management core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReclaimCounters {
    /// Objects (policies, SAs, bundles) killed since start.
    pub kills: u64,
    /// Objects handed to the retire queue.
    pub retired: u64,
    /// Objects freed after their grace period.
    pub reclaimed: u64,
    /// Objects retired and not yet freed (gauge).
    pub awaiting: u64,
}

/// Percentiles of a latency histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `h` (all zero when empty).
    pub fn of(h: &LatencyHist) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Latency percentiles of bursts and misses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Processing time per non-empty burst.
    pub burst_ns: Percentiles,
    /// Resolution time per cache miss.
    pub miss_ns: Percentiles,
}

/// Packet totals over all lcores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub forwarded: u64,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub fragments: u64,
    /// Sum of `drops`.
    pub dropped: u64,
    /// Drops per reason, every reason present (zero included).
    pub drops: BTreeMap<&'static str, u64>,
}

/// The report of one lcore.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LcoreReport {
    pub lcore: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub forwarded: u64,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub fragments: u64,
    pub dropped: u64,
    pub drops: BTreeMap<&'static str, u64>,
    pub loops: u64,
    pub busy_loops: u64,
    pub cache: CacheCounters,
    pub latency: Latency,
}

/// Everything `stats --json` and `--stats-json` print.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsReport {
    /// Schema version ([`STATS_SCHEMA`]).
    pub schema: u32,
    /// Seconds since the gateway started.
    pub uptime_s: f64,
    pub totals: Totals,
    /// Flow-cache counters summed over lcores.
    pub cache: CacheCounters,
    /// hits / lookups (0 before the first lookup).
    pub cache_hit_ratio: f64,
    pub reclaim: ReclaimCounters,
    /// Percentiles of the lcores' merged histograms, since start.
    pub latency: Latency,
    pub ports: Vec<PortCounters>,
    pub lcores: Vec<LcoreReport>,
    pub sas: Vec<SaCounters>,
    /// Free-form counters of the management core / engine.
    pub engine: serde_json::Value,
    /// Latency percentiles since the previous [`StatsHub::live_report`]
    /// (None otherwise). Used by the live line; not part of the JSON schema.
    #[serde(skip)]
    pub latency_interval: Option<Latency>,
}

fn drop_map(drops: &[u64; DropReason::COUNT]) -> BTreeMap<&'static str, u64> {
    DropReason::ALL
        .iter()
        .map(|r| (r.name(), drops[*r as usize]))
        .collect()
}

/// The lcores' burst and miss histograms, merged.
fn merge_histograms(lcores: &[LcoreCounters]) -> (LatencyHist, LatencyHist) {
    let mut burst = new_latency_histogram();
    let mut miss = new_latency_histogram();
    for c in lcores {
        burst.add(&c.burst_ns);
        miss.add(&c.miss_ns);
    }
    (burst, miss)
}

impl LcoreReport {
    /// Report of one lcore snapshot.
    pub fn of(c: &LcoreCounters) -> Self {
        LcoreReport {
            lcore: c.lcore,
            rx_packets: c.rx_packets,
            rx_bytes: c.rx_bytes,
            tx_packets: c.tx_packets,
            tx_bytes: c.tx_bytes,
            forwarded: c.forwarded,
            encapsulated: c.encapsulated,
            decapsulated: c.decapsulated,
            fragments: c.fragments,
            dropped: c.dropped(),
            drops: drop_map(&c.drops),
            loops: c.loops,
            busy_loops: c.busy_loops,
            cache: c.cache,
            latency: Latency {
                burst_ns: Percentiles::of(&c.burst_ns),
                miss_ns: Percentiles::of(&c.miss_ns),
            },
        }
    }
}

/// The inputs of a report that do not come from the lcores.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    pub uptime: Duration,
    pub ports: Vec<PortCounters>,
    pub sas: Vec<SaCounters>,
    pub reclaim: ReclaimCounters,
    pub engine: serde_json::Value,
}

impl StatsReport {
    /// Aggregate lcore snapshots (e.g. `LcoreStatsSlot::read()` of each
    /// worker) with the other inputs. Histograms are merged here.
    pub fn build(lcores: &[LcoreCounters], inputs: ReportInputs) -> StatsReport {
        let mut drops = [0u64; DropReason::COUNT];
        let mut t = Totals::default();
        let mut cache = CacheCounters::default();
        let (burst, miss) = merge_histograms(lcores);
        for c in lcores {
            t.rx_packets += c.rx_packets;
            t.rx_bytes += c.rx_bytes;
            t.tx_packets += c.tx_packets;
            t.tx_bytes += c.tx_bytes;
            t.forwarded += c.forwarded;
            t.encapsulated += c.encapsulated;
            t.decapsulated += c.decapsulated;
            t.fragments += c.fragments;
            for (d, s) in drops.iter_mut().zip(c.drops.iter()) {
                *d += s;
            }
            cache.add(&c.cache);
        }
        t.dropped = drops.iter().sum();
        t.drops = drop_map(&drops);
        let mut lcore_reports: Vec<LcoreReport> = lcores.iter().map(LcoreReport::of).collect();
        lcore_reports.sort_by_key(|l| l.lcore);
        let mut ports = inputs.ports;
        ports.sort_by_key(|p| p.port);
        StatsReport {
            schema: STATS_SCHEMA,
            uptime_s: inputs.uptime.as_secs_f64(),
            totals: t,
            cache,
            cache_hit_ratio: cache.hit_ratio().unwrap_or(0.0),
            reclaim: inputs.reclaim,
            latency: Latency {
                burst_ns: Percentiles::of(&burst),
                miss_ns: Percentiles::of(&miss),
            },
            ports,
            lcores: lcore_reports,
            sas: inputs.sas,
            engine: inputs.engine,
            latency_interval: None,
        }
    }

    /// Check `rx = forwarded + sum(drops)` for the totals and every lcore,
    /// and that `dropped` equals the sum of the per-reason drops.
    pub fn check_accounting(&self) -> Result<(), String> {
        let check = |who: &str,
                     rx: u64,
                     fwd: u64,
                     dropped: u64,
                     drops: &BTreeMap<&'static str, u64>|
         -> Result<(), String> {
            let sum: u64 = drops.values().sum();
            if sum != dropped {
                return Err(format!(
                    "{who}: dropped = {dropped} but the drop reasons sum to {sum}"
                ));
            }
            if rx != fwd + sum {
                return Err(format!(
                    "{who}: rx {rx} != forwarded {fwd} + drops {sum} (difference {})",
                    rx as i128 - (fwd as i128 + sum as i128)
                ));
            }
            Ok(())
        };
        let t = &self.totals;
        check("totals", t.rx_packets, t.forwarded, t.dropped, &t.drops)?;
        for l in &self.lcores {
            check(
                &format!("lcore {}", l.lcore),
                l.rx_packets,
                l.forwarded,
                l.dropped,
                &l.drops,
            )?;
        }
        Ok(())
    }

    /// Drops of one reason in the totals.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.totals.drops.get(reason.name()).copied().unwrap_or(0)
    }

    /// Pretty-printed JSON (the `--stats-json` file content).
    pub fn to_json(&self) -> String {
        // Serializing plain structs, maps with string keys and a Value
        // cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Write [`StatsReport::to_json`] (plus a newline) to `path` (`--stats-json`).
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.to_json();
        s.push('\n');
        std::fs::write(path, s)
    }

    /// The report as a JSON value (to embed in a larger reply).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The reader side of the per-lcore slots: the management core keeps one
/// and hands each worker its slot (`Arc<LcoreStatsSlot>`) at start-up.
#[derive(Debug)]
pub struct StatsHub {
    slots: Vec<Arc<LcoreStatsSlot>>,
    started: Instant,
    /// Merged histograms at the previous live report.
    prev: Mutex<Option<(LatencyHist, LatencyHist)>>,
}

impl StatsHub {
    /// One slot per worker lcore; uptime counts from now.
    pub fn new(worker_lcores: &[u32]) -> StatsHub {
        StatsHub {
            slots: worker_lcores
                .iter()
                .map(|&l| Arc::new(LcoreStatsSlot::new(l)))
                .collect(),
            started: Instant::now(),
            prev: Mutex::new(None),
        }
    }

    /// The slot of `lcore`, to move into that worker.
    pub fn slot(&self, lcore: u32) -> Option<Arc<LcoreStatsSlot>> {
        self.slots.iter().find(|s| s.lcore() == lcore).cloned()
    }

    /// Time since [`StatsHub::new`].
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The latest snapshot of every lcore.
    pub fn snapshots(&self) -> Vec<LcoreCounters> {
        self.slots.iter().map(|s| s.read()).collect()
    }

    /// A report from the latest snapshots; `inputs.uptime` is replaced by
    /// [`StatsHub::uptime`].
    pub fn report(&self, inputs: ReportInputs) -> StatsReport {
        StatsReport::build(
            &self.snapshots(),
            ReportInputs {
                uptime: self.uptime(),
                ..inputs
            },
        )
    }

    /// [`StatsHub::report`] plus `latency_interval`: the percentiles of the
    /// samples recorded since the previous call (all samples on the first
    /// call). Call it from one place only (the live-line timer).
    pub fn live_report(&self, inputs: ReportInputs) -> StatsReport {
        let snaps = self.snapshots();
        let mut r = StatsReport::build(
            &snaps,
            ReportInputs {
                uptime: self.uptime(),
                ..inputs
            },
        );
        let (burst, miss) = merge_histograms(&snaps);
        let mut prev = self.prev.lock().unwrap_or_else(|p| p.into_inner());
        let delta = |cur: &LatencyHist, old: Option<&LatencyHist>| match old {
            // Counts are cumulative, so this only fails if a worker's
            // counters went backwards; then show everything.
            Some(o) => cur
                .since(o)
                .map_or_else(|| Percentiles::of(cur), |d| Percentiles::of(&d)),
            None => Percentiles::of(cur),
        };
        r.latency_interval = Some(Latency {
            burst_ns: delta(&burst, prev.as_ref().map(|p| &p.0)),
            miss_ns: delta(&miss, prev.as_ref().map(|p| &p.1)),
        });
        *prev = Some((burst, miss));
        r
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Two lcores with distinct, known numbers.
    pub(crate) fn two_lcores() -> Vec<LcoreCounters> {
        let mut a = LcoreCounters::new(1);
        a.rx_packets = 1000;
        a.rx_bytes = 64_000;
        a.forwarded = 990;
        a.tx_packets = 990;
        a.tx_bytes = 99_000;
        a.encapsulated = 990;
        a.drop_packets(DropReason::NoRoute, 4);
        a.drop_packets(DropReason::Replay, 6);
        a.cache.lookups = 1000;
        a.cache.hits = 900;
        a.cache.misses = 100;
        for v in [100, 200, 300, 400] {
            a.record_burst_ns(v);
        }
        a.record_miss_ns(5000);
        let mut b = LcoreCounters::new(2);
        b.rx_packets = 500;
        b.rx_bytes = 50_000;
        b.forwarded = 480;
        b.tx_packets = 480;
        b.tx_bytes = 40_000;
        b.decapsulated = 480;
        b.fragments = 2;
        b.drop_packets(DropReason::IcvFail, 15);
        b.drop_packets(DropReason::Replay, 5);
        b.cache.lookups = 500;
        b.cache.hits = 400;
        b.cache.misses = 90;
        b.cache.stale = 10;
        for v in [1000, 2000] {
            b.record_burst_ns(v);
        }
        b.record_miss_ns(7000);
        vec![b, a]
    }

    pub(crate) fn inputs() -> ReportInputs {
        ReportInputs {
            uptime: Duration::from_millis(2500),
            ports: vec![
                PortCounters {
                    port: 1,
                    name: "net_null0".into(),
                    tx: 1470,
                    ..Default::default()
                },
                PortCounters {
                    port: 0,
                    name: "gen0".into(),
                    rx: 1500,
                    rx_bytes: 114_000,
                    ..Default::default()
                },
            ],
            sas: vec![SaCounters {
                spi: 0x1000,
                dir: "out".into(),
                packets: 990,
                bytes: 50_000,
                errors: 0,
            }],
            reclaim: ReclaimCounters {
                kills: 3,
                retired: 3,
                reclaimed: 1,
                awaiting: 2,
            },
            engine: serde_json::json!({"policies": 12}),
        }
    }

    #[test]
    fn aggregation_of_two_lcores() {
        let r = StatsReport::build(&two_lcores(), inputs());
        assert_eq!(r.schema, 1);
        assert_eq!(r.uptime_s, 2.5);
        assert_eq!(r.totals.rx_packets, 1500);
        assert_eq!(r.totals.rx_bytes, 114_000);
        assert_eq!(r.totals.tx_bytes, 139_000);
        assert_eq!(r.totals.forwarded, 1470);
        assert_eq!(r.totals.encapsulated, 990);
        assert_eq!(r.totals.decapsulated, 480);
        assert_eq!(r.totals.fragments, 2);
        assert_eq!(r.totals.dropped, 30);
        assert_eq!(r.drops_of(DropReason::Replay), 11);
        assert_eq!(r.drops_of(DropReason::IcvFail), 15);
        assert_eq!(r.drops_of(DropReason::NoRoute), 4);
        assert_eq!(r.drops_of(DropReason::TxFull), 0);
        assert_eq!(r.totals.drops.len(), DropReason::COUNT);
        assert_eq!(r.cache.lookups, 1500);
        assert_eq!(r.cache.hits, 1300);
        assert_eq!(r.cache.stale, 10);
        assert!((r.cache_hit_ratio - 1300.0 / 1500.0).abs() < 1e-12);
        // Lcores and ports come out sorted by id.
        assert_eq!(r.lcores.iter().map(|l| l.lcore).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(r.ports.iter().map(|p| p.port).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(r.lcores[1].dropped, 20);
        // Merged histograms: 6 bursts, median among {100..400,1000,2000},
        // reported as the top of its bucket (at most 1/64 wider).
        assert_eq!(r.latency.burst_ns.count, 6);
        assert!(
            (300..=300 + 300 / 64).contains(&r.latency.burst_ns.p50),
            "{:?}",
            r.latency
        );
        assert_eq!(r.latency.burst_ns.max, 2000);
        assert_eq!(r.latency.miss_ns.count, 2);
        assert_eq!(r.latency.miss_ns.max, 7000);
        assert_eq!(r.lcores[0].latency.burst_ns.count, 4);
        r.check_accounting().unwrap();
    }

    #[test]
    fn accounting_check_catches_mismatch() {
        let mut l = two_lcores();
        l[1].forwarded -= 1; // lcore 1 lost a packet
        let r = StatsReport::build(&l, inputs());
        let e = r.check_accounting().unwrap_err();
        assert!(
            e.contains("totals: rx 1500 != forwarded 1469 + drops 30"),
            "{e}"
        );
        let mut r = StatsReport::build(&two_lcores(), inputs());
        r.check_accounting().unwrap();
        r.lcores[0].drops.insert("replay", 7);
        let e = r.check_accounting().unwrap_err();
        assert!(e.starts_with("lcore 1: dropped = 10"), "{e}");
        r.lcores[0].drops.insert("replay", 6);
        r.totals.dropped += 1;
        assert!(r.check_accounting().is_err());
    }

    /// JSON paths of `v`: objects by key, arrays as `[]`. `engine` is free-form.
    fn paths(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if p == "engine" {
                        out.insert(p);
                        continue;
                    }
                    paths(v, &p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for v in a {
                    paths(v, &format!("{prefix}[]"), out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    /// Field paths of the tables in docs/stats.md: first cell in backquotes.
    /// A row `drops.<reason>` stands for every drop reason name.
    pub(crate) fn documented_fields() -> BTreeSet<String> {
        let doc = include_str!("../../docs/stats.md");
        let mut out = BTreeSet::new();
        for line in doc.lines() {
            let Some(rest) = line.strip_prefix("| `") else {
                continue;
            };
            let Some(end) = rest.find('`') else { continue };
            let f = &rest[..end];
            if let Some(pre) = f.strip_suffix("drops.<reason>") {
                for r in DropReason::ALL {
                    out.insert(format!("{pre}drops.{}", r.name()));
                }
            } else {
                out.insert(f.to_string());
            }
        }
        out
    }

    #[test]
    fn json_fields_match_docs_exactly() {
        let r = StatsReport::build(&two_lcores(), inputs());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let mut got = BTreeSet::new();
        paths(&v, "", &mut got);
        let doc = documented_fields();
        let undocumented: Vec<_> = got.difference(&doc).collect();
        let missing: Vec<_> = doc.difference(&got).collect();
        assert!(
            undocumented.is_empty(),
            "fields not in docs/stats.md: {undocumented:?}"
        );
        assert!(
            missing.is_empty(),
            "documented fields not in JSON: {missing:?}"
        );
        assert_eq!(v["schema"], STATS_SCHEMA);
        assert_eq!(v["totals"]["drops"]["icv_fail"], 15);
        assert_eq!(v["sas"][0]["spi"], 0x1000);
        assert_eq!(v["engine"]["policies"], 12);
        assert!(doc.contains("lcores[].drops.tx_full"));
        // The doc states the schema version it describes.
        assert!(include_str!("../../docs/stats.md")
            .contains(&format!("Schema version: {STATS_SCHEMA}")));
    }

    #[test]
    fn hub_collects_from_worker_threads() {
        let hub = StatsHub::new(&[1, 2]);
        assert!(hub.slot(3).is_none());
        let workers: Vec<_> = [1u32, 2]
            .into_iter()
            .map(|l| {
                let slot = hub.slot(l).unwrap();
                std::thread::spawn(move || {
                    let mut c = LcoreCounters::new(l);
                    for i in 0..3 * crate::stats::PUBLISH_EVERY_LOOPS {
                        c.rx_packets += 2;
                        c.forwarded += 1;
                        c.drop_packet(if i % 2 == 0 {
                            DropReason::NoRoute
                        } else {
                            DropReason::TxFull
                        });
                        c.end_loop(true, &slot);
                    }
                    c.publish_final(&slot);
                })
            })
            .collect();
        // Concurrent reads while workers publish: each snapshot is whole loops.
        for _ in 0..50 {
            hub.report(ReportInputs::default())
                .check_accounting()
                .unwrap();
        }
        for w in workers {
            w.join().unwrap();
        }
        let r = hub.report(ReportInputs::default());
        let n = 3 * crate::stats::PUBLISH_EVERY_LOOPS;
        assert_eq!(r.totals.rx_packets, 4 * n);
        assert_eq!(r.drops_of(DropReason::NoRoute), n);
        assert_eq!(r.drops_of(DropReason::TxFull), n);
        r.check_accounting().unwrap();
        assert!(r.uptime_s > 0.0);
        let dir = std::env::temp_dir().join(format!("xfgate-stats-{}.json", std::process::id()));
        r.write_json(&dir).unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&dir).unwrap()).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back["totals"]["rx_packets"], 4 * n);
    }

    #[test]
    fn live_report_latency_is_per_interval() {
        let hub = StatsHub::new(&[1]);
        let slot = hub.slot(1).unwrap();
        let mut c = LcoreCounters::new(1);
        for _ in 0..100 {
            c.record_burst_ns(1000);
        }
        c.publish_final(&slot);
        let r1 = hub.live_report(ReportInputs::default());
        let i1 = r1.latency_interval.unwrap();
        assert_eq!(i1.burst_ns.count, 100);
        assert_eq!(i1.burst_ns.p99, 1000, "capped at the maximum");
        for _ in 0..10 {
            c.record_burst_ns(50_000);
        }
        c.publish_final(&slot);
        let r2 = hub.live_report(ReportInputs::default());
        let i2 = r2.latency_interval.unwrap();
        // Only the 10 new samples in the interval; cumulative still sees 110.
        assert_eq!(i2.burst_ns.count, 10);
        assert!(
            (50_000..=50_000 + 50_000 / 64).contains(&i2.burst_ns.p50),
            "{i2:?}"
        );
        assert_eq!(r2.latency.burst_ns.count, 110);
        assert!((1000..=1000 + 1000 / 64).contains(&r2.latency.burst_ns.p50));
        // Nothing new: an empty interval.
        let i3 = hub
            .live_report(ReportInputs::default())
            .latency_interval
            .unwrap();
        assert_eq!(i3.burst_ns, Percentiles::default());
        assert_eq!(hub.report(ReportInputs::default()).latency_interval, None);
        let line = crate::stats::live_line(&r1, &r2, Duration::from_secs(1));
        assert!(
            line.contains("burst p50/p99/p99.9 50.0us/50.0us/50.0us"),
            "{line}"
        );
    }

    #[test]
    fn empty_report_is_consistent() {
        let r = StatsReport::build(&[], ReportInputs::default());
        r.check_accounting().unwrap();
        assert_eq!(r.cache_hit_ratio, 0.0);
        assert_eq!(r.latency.burst_ns, Percentiles::default());
        assert!(r.to_json().contains("\"schema\": 1"));
    }
}
