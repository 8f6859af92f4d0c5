//! The checks of a `xfgate bench --quick` report (finite inputs, every
//! scenario), shared by the software smoke test (tests/bench_smoke.rs) and
//! the DPDK one (tests/dpdk_bench.rs). Nothing here depends on a timing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

pub const SAMPLE_FIELDS: [&str; 39] = [
    "scenario",
    "point",
    "x",
    "strategy",
    "rep",
    "flows",
    "policies",
    "size",
    "key_bits",
    "new_flow_pct",
    "churn_rate",
    "workers",
    "bypass",
    "count",
    "startup_s",
    "seconds",
    "rx_packets",
    "rx_bytes",
    "mpps",
    "gbps",
    "cache",
    "hit_ratio",
    "new_flow_packets",
    "hit_ratio_established",
    "loops",
    "busy_loops",
    "mean_burst_us",
    "burst_p50_us",
    "burst_p99_us",
    "burst_p999_us",
    "burst_max_us",
    "pkts_per_burst",
    "churn_ops",
    "churn_calls",
    "churn_errors",
    "churn_rate_achieved",
    "policy_bumps",
    "global_bumps",
    "decisions",
];

pub fn obj<'a>(v: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
}

/// Check the report `v` of a `--quick` run of every scenario with `count`
/// packets per sample, written as `dir/{stem}.json` (the plots beside it):
/// every field, every scenario and strategy, every packet accounted for,
/// identical decisions and traffic for the three strategies.
pub fn check_quick_report(v: &Value, dir: &Path, stem: &str, count: u64) {
    let top = obj(v, "report");
    for f in [
        "command",
        "unix_time",
        "machine",
        "options",
        "samples",
        "points",
        "summary",
        "targets",
        "decision_mismatches",
        "plots",
        "elapsed_s",
    ] {
        assert!(top.contains_key(f), "report lacks '{f}'");
    }
    let m = obj(&v["machine"], "machine");
    for f in [
        "cpu_model",
        "cpu_flags",
        "cores",
        "kernel",
        "build_profile",
        "features",
    ] {
        assert!(m.contains_key(f), "machine lacks '{f}'");
    }
    assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);

    let samples = v["samples"].as_array().unwrap();
    // Every scenario, every strategy.
    for sc in xfgate::bench::SCENARIOS {
        for st in ["selective", "flush-all", "off"] {
            assert!(
                samples
                    .iter()
                    .any(|s| s["scenario"] == sc && s["strategy"] == st),
                "no {st} sample of {sc}"
            );
        }
        assert!(
            v["plots"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str().unwrap().ends_with(&format!("-{sc}.svg"))),
            "no {sc} plot"
        );
        let svg = std::fs::read_to_string(dir.join(format!("{stem}-{sc}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<path").count(),
            3,
            "{sc}: one line per strategy"
        );
    }

    // Identical decisions: group by (scenario, point, rep), compare the final counters.
    let mut groups: BTreeMap<(String, String, u64), Vec<&Value>> = BTreeMap::new();
    let mut blocked = 0u64;
    for s in samples {
        let o = obj(s, "sample");
        for f in SAMPLE_FIELDS {
            assert!(o.contains_key(f), "sample lacks '{f}'");
        }
        for f in ["lookups", "hits", "misses", "stale", "inserts", "evictions"] {
            assert!(s["cache"].get(f).is_some(), "cache lacks '{f}'");
        }
        let d = &s["decisions"];
        let rx = d["rx_packets"].as_u64().unwrap();
        assert_eq!(rx, count, "finite input fully received: {s}");
        let drops: u64 = obj(&d["drops"], "drops")
            .values()
            .map(|x| x.as_u64().unwrap())
            .sum();
        assert_eq!(
            d["forwarded"].as_u64().unwrap() + drops,
            rx,
            "every packet forwarded or dropped for a reason"
        );
        blocked += d["drops"]
            .get("PolicyBlock")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if s["strategy"] == "off" {
            assert_eq!(s["cache"]["hits"], 0, "no cache, no hits");
        }
        // Burst latency percentiles exist, are ordered and bounded by the max.
        let lat: Vec<f64> = [
            "burst_p50_us",
            "burst_p99_us",
            "burst_p999_us",
            "burst_max_us",
        ]
        .iter()
        .map(|f| s[*f].as_f64().unwrap_or_else(|| panic!("{f} not a number")))
        .collect();
        assert!(lat[0] > 0.0, "busy loops were timed: {s}");
        assert!(lat.windows(2).all(|w| w[0] <= w[1]), "{lat:?}");
        // New-flow packets: none without new flows, some with them, never
        // more than the lookups; the established ratio is a ratio.
        let new = s["new_flow_packets"].as_u64().unwrap();
        let pct = s["new_flow_pct"].as_f64().unwrap();
        if pct == 0.0 {
            assert_eq!(new, 0);
        } else {
            assert!(new > 0 && new <= s["cache"]["lookups"].as_u64().unwrap());
        }
        if let Some(h) = s["hit_ratio_established"].as_f64() {
            assert!((0.0..=1.0).contains(&h));
        }
        groups
            .entry((
                s["scenario"].as_str().unwrap().to_string(),
                s["point"].as_str().unwrap().to_string(),
                s["rep"].as_u64().unwrap(),
            ))
            .or_default()
            .push(s);
    }
    assert!(blocked > 0, "some input hits a block policy");
    for (k, g) in &groups {
        assert_eq!(g.len(), 3, "{k:?}: three strategies");
        for s in g {
            assert_eq!(
                s["decisions"], g[0]["decisions"],
                "{k:?}: {} and {} decided differently",
                s["strategy"], g[0]["strategy"]
            );
            // Identical traffic: the same share of never-seen flows.
            assert_eq!(
                s["new_flow_packets"], g[0]["new_flow_packets"],
                "{k:?}: {} and {} got different traffic",
                s["strategy"], g[0]["strategy"]
            );
        }
    }
    assert!(v["decision_mismatches"].as_array().unwrap().is_empty());
    // The churn thread really changed the SPD while traffic flowed.
    assert!(samples
        .iter()
        .any(|s| s["scenario"] == "churn" && s["churn_ops"].as_u64().unwrap() > 0));
    for s in samples {
        assert_eq!(s["churn_errors"], 0, "every policy change applied");
    }
    // Flood at 100 %: never-seen flows cannot hit, every packet is one.
    for s in samples
        .iter()
        .filter(|s| s["scenario"] == "flood" && s["new_flow_pct"] == 100.0)
    {
        assert_eq!(s["cache"]["hits"], 0);
        assert_eq!(s["new_flow_packets"].as_u64(), Some(count));
        assert!(s["hit_ratio_established"].is_null());
    }
    // Flood below 100 %: the cached strategies report the established
    // flows' ratio; `off` does not.
    for s in samples
        .iter()
        .filter(|s| s["scenario"] == "flood" && s["new_flow_pct"] == 50.0)
    {
        assert_eq!(
            s["hit_ratio_established"].is_null(),
            s["strategy"] == "off",
            "{s}"
        );
    }
    let summary = v["summary"].as_array().unwrap();
    assert_eq!(summary.len(), groups.len() * 3);
}

/// The decisions and never-seen-flow packets of every sample, by
/// (scenario, point, strategy, rep).
pub fn decisions(v: &Value) -> BTreeMap<(String, String, String, u64), (Value, Value)> {
    v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["scenario"].as_str().unwrap().to_string(),
                    s["point"].as_str().unwrap().to_string(),
                    s["strategy"].as_str().unwrap().to_string(),
                    s["rep"].as_u64().unwrap(),
                ),
                (s["decisions"].clone(), s["new_flow_packets"].clone()),
            )
        })
        .collect()
}
