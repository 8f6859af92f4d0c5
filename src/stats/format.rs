//! Human-readable presentation: the live line and the final summary.

use std::fmt::Write as _;
use std::time::Duration;

use super::counters::DropReason;
use super::report::{Percentiles, StatsReport};

fn rate(delta: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        delta as f64 / secs
    } else {
        0.0
    }
}

/// `1.23M`, `45.6k`, `789` for a per-second rate.
fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A duration in ns as `850ns`, `12.3us`, `4.56ms`, `1.20s`.
pub fn fmt_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

/// `Mpps` and `Gbps` of packet and byte deltas over `secs`. Bytes are frame
/// bytes without FCS, preamble and inter-frame gap.
fn pps_bps(pkts: u64, bytes: u64, secs: f64) -> String {
    format!(
        "{:.3} Mpps {:.3} Gbps",
        rate(pkts, secs) / 1e6,
        rate(bytes, secs) * 8.0 / 1e9
    )
}

/// One line of live statistics for the interval `prev -> cur` of length `dt`.
///
/// Rates (Mpps, Gbps, misses/s, evictions/s, stale/s) are over the interval;
/// `drops` lists the non-zero per-reason drops of the interval as
/// `reason=N`; `kills` counts kills in the interval; `reclaim` is the number
/// of objects awaiting reclamation now; latency percentiles are those of the
/// interval when `cur` comes from [`super::StatsHub::live_report`], else
/// since start.
pub fn live_line(prev: &StatsReport, cur: &StatsReport, dt: Duration) -> String {
    let s = dt.as_secs_f64();
    let (p, c) = (&prev.totals, &cur.totals);
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "[{:>8.1}s] rx {} | tx {}",
        cur.uptime_s,
        pps_bps(
            c.rx_packets.saturating_sub(p.rx_packets),
            c.rx_bytes.saturating_sub(p.rx_bytes),
            s
        ),
        pps_bps(
            c.tx_packets.saturating_sub(p.tx_packets),
            c.tx_bytes.saturating_sub(p.tx_bytes),
            s
        ),
    );
    if cur.ports.len() > 1 {
        for port in &cur.ports {
            let before = prev.ports.iter().find(|q| q.port == port.port);
            let (rx0, tx0, rxb0, txb0) =
                before.map_or((0, 0, 0, 0), |q| (q.rx, q.tx, q.rx_bytes, q.tx_bytes));
            let _ = write!(
                out,
                " | p{} rx {:.3}/{:.3} tx {:.3}/{:.3}",
                port.port,
                rate(port.rx.saturating_sub(rx0), s) / 1e6,
                rate(port.rx_bytes.saturating_sub(rxb0), s) * 8.0 / 1e9,
                rate(port.tx.saturating_sub(tx0), s) / 1e6,
                rate(port.tx_bytes.saturating_sub(txb0), s) * 8.0 / 1e9,
            );
        }
    }
    let cd = cur.cache.delta(&prev.cache);
    let hit = match cd.hit_ratio() {
        Some(h) => format!("{:.1}%", h * 100.0),
        None => "-".to_string(),
    };
    let _ = write!(
        out,
        " | cache hit {hit} miss {}/s evict {}/s stale {}/s",
        si(rate(cd.misses, s)),
        si(rate(cd.evictions, s)),
        si(rate(cd.stale, s)),
    );
    let mut drops = String::new();
    for r in DropReason::ALL {
        let n = cur.drops_of(r).saturating_sub(prev.drops_of(r));
        if n > 0 {
            let _ = write!(drops, " {}={n}", r.name());
        }
    }
    if drops.is_empty() {
        out.push_str(" | drops 0");
    } else {
        let _ = write!(out, " | drops{drops}");
    }
    let _ = write!(
        out,
        " | kills {} reclaim {}",
        cur.reclaim.kills.saturating_sub(prev.reclaim.kills),
        cur.reclaim.awaiting
    );
    let lat = |p: &Percentiles| format!("{}/{}/{}", fmt_ns(p.p50), fmt_ns(p.p99), fmt_ns(p.p999));
    let l = cur.latency_interval.unwrap_or(cur.latency);
    let _ = write!(
        out,
        " | burst p50/p99/p99.9 {} miss p50/p99/p99.9 {}",
        lat(&l.burst_ns),
        lat(&l.miss_ns)
    );
    out
}

/// The multi-line summary printed at exit.
pub fn summary(r: &StatsReport) -> String {
    let t = &r.totals;
    let secs = r.uptime_s;
    let mut o = String::new();
    let _ = writeln!(o, "xfgate summary after {secs:.1} s");
    let _ = writeln!(
        o,
        "  rx        {:>14} pkts {:>16} bytes  (avg {})",
        t.rx_packets,
        t.rx_bytes,
        pps_bps(t.rx_packets, t.rx_bytes, secs)
    );
    let _ = writeln!(
        o,
        "  tx        {:>14} pkts {:>16} bytes  (avg {})",
        t.tx_packets,
        t.tx_bytes,
        pps_bps(t.tx_packets, t.tx_bytes, secs)
    );
    let _ = writeln!(
        o,
        "  forwarded {:>14}   encapsulated {}   decapsulated {}   fragments {}",
        t.forwarded, t.encapsulated, t.decapsulated, t.fragments
    );
    let _ = writeln!(o, "  dropped   {:>14}", t.dropped);
    for r_ in DropReason::ALL {
        let n = r.drops_of(r_);
        if n > 0 {
            let _ = writeln!(o, "    {:<18}{n:>14}", r_.name());
        }
    }
    let acc = match r.check_accounting() {
        Ok(()) => "ok (rx = forwarded + dropped)".to_string(),
        Err(e) => format!("MISMATCH: {e}"),
    };
    let _ = writeln!(o, "  accounting {acc}");
    let c = &r.cache;
    let _ = writeln!(
        o,
        "  cache     lookups {} hits {} ({:.2}%) misses {} stale {} inserts {} evictions {} denied {} swept {} displaced {} uncacheable {}",
        c.lookups,
        c.hits,
        r.cache_hit_ratio * 100.0,
        c.misses,
        c.stale,
        c.inserts,
        c.evictions,
        c.denied,
        c.swept,
        c.displaced,
        c.uncacheable
    );
    let rc = &r.reclaim;
    let _ = writeln!(
        o,
        "  objects   kills {} retired {} reclaimed {} awaiting {}",
        rc.kills, rc.retired, rc.reclaimed, rc.awaiting
    );
    let lat = |p: &Percentiles| {
        format!(
            "n={} p50 {} p90 {} p99 {} p99.9 {} max {}",
            p.count,
            fmt_ns(p.p50),
            fmt_ns(p.p90),
            fmt_ns(p.p99),
            fmt_ns(p.p999),
            fmt_ns(p.max)
        )
    };
    let _ = writeln!(o, "  latency   burst {}", lat(&r.latency.burst_ns));
    let _ = writeln!(o, "            miss  {}", lat(&r.latency.miss_ns));
    for p in &r.ports {
        let _ = writeln!(
            o,
            "  port {} {:<12} rx {} ({} B) tx {} ({} B) imissed {} ierrors {} rx_nombuf {} oerrors {}",
            p.port, p.name, p.rx, p.rx_bytes, p.tx, p.tx_bytes, p.imissed, p.ierrors, p.rx_nombuf, p.oerrors
        );
    }
    for l in &r.lcores {
        let busy = if l.loops > 0 {
            l.busy_loops as f64 * 100.0 / l.loops as f64
        } else {
            0.0
        };
        let _ = writeln!(
            o,
            "  lcore {:<3} rx {} fwd {} drop {} loops {} busy {busy:.1}%",
            l.lcore, l.rx_packets, l.forwarded, l.dropped, l.loops
        );
    }
    for sa in &r.sas {
        let _ = writeln!(
            o,
            "  sa {:#010x} {:<3} packets {} bytes {} errors {}",
            sa.spi, sa.dir, sa.packets, sa.bytes, sa.errors
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::report::tests::{inputs, two_lcores};
    use crate::stats::report::ReportInputs;
    use crate::stats::LcoreCounters;

    #[test]
    fn live_line_rates_over_the_interval() {
        let prev = StatsReport::build(&[LcoreCounters::new(1)], ReportInputs::default());
        let cur = StatsReport::build(&two_lcores(), inputs());
        let line = live_line(&prev, &cur, Duration::from_millis(500));
        // 1500 packets in 0.5 s = 3000 pps = 0.003 Mpps; 114000 B -> 1.824 Mbit/s.
        assert!(line.contains("rx 0.003 Mpps 0.002 Gbps"), "{line}");
        assert!(line.contains("tx 0.003 Mpps 0.002 Gbps"), "{line}");
        // Two ports: per-port rates appear.
        assert!(line.contains(" p0 rx 0.003/0.002 tx 0.000/0.000"), "{line}");
        assert!(line.contains(" p1 rx 0.000/0.000 tx 0.003/0.000"), "{line}");
        // 1300/1500 hits; 190 misses in 0.5 s.
        assert!(
            line.contains("cache hit 86.7% miss 380/s evict 0/s stale 20/s"),
            "{line}"
        );
        assert!(
            line.contains("| drops no_route=4 icv_fail=15 replay=11 |"),
            "{line}"
        );
        assert!(!line.contains("tx_full"), "{line}");
        assert!(line.contains("kills 3 reclaim 2"), "{line}");
        // Percentiles are the top of their bucket (at most 1/64 wider):
        // 300 -> 303, 5000 -> 5055.
        assert!(
            line.contains("burst p50/p99/p99.9 303ns/2.0us/2.0us"),
            "{line}"
        );
        assert!(
            line.contains("miss p50/p99/p99.9 5.1us/7.0us/7.0us"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        // Same report twice: zero rates, no drops, no hit ratio.
        let idle = live_line(&cur, &cur, Duration::from_secs(1));
        assert!(idle.contains("rx 0.000 Mpps 0.000 Gbps"), "{idle}");
        assert!(idle.contains("cache hit - miss 0/s"), "{idle}");
        assert!(idle.contains("drops 0 |"), "{idle}");
        // A zero interval does not divide by zero.
        assert!(live_line(&prev, &cur, Duration::ZERO).contains("rx 0.000 Mpps"));
    }

    #[test]
    fn summary_lists_everything() {
        let r = StatsReport::build(&two_lcores(), inputs());
        let s = summary(&r);
        assert!(s.contains("rx                  1500 pkts"), "{s}");
        assert!(s.contains("icv_fail"), "{s}");
        assert!(s.contains("accounting ok"), "{s}");
        assert!(s.contains("port 0 gen0"), "{s}");
        assert!(s.contains("lcore 2"), "{s}");
        assert!(s.contains("sa 0x00001000 out"), "{s}");
        assert!(!s.contains("tx_full"));
        let mut l = two_lcores();
        l[0].rx_packets += 1;
        assert!(summary(&StatsReport::build(&l, inputs())).contains("MISMATCH"));
    }

    #[test]
    fn ns_formatting() {
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(12_345), "12.3us");
        assert_eq!(fmt_ns(4_560_000), "4.56ms");
        assert_eq!(fmt_ns(1_200_000_000), "1.20s");
    }
}
