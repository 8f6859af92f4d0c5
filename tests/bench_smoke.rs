//! Smoke run of every `xfgate bench` scenario with `--quick` (finite inputs):
//! the JSON has every field, every strategy made the same decisions for the
//! same input, and the plots exist. Nothing here depends on a timing.

use std::collections::BTreeMap;

use serde_json::Value;

const SAMPLE_FIELDS: [&str; 39] = [
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

fn obj<'a>(v: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
}

#[test]
fn every_scenario_quick() {
    let dir = std::env::temp_dir().join(format!("xfgate-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("smoke.json");
    let args: Vec<String> = ["bench", "--quick", "--out", out.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let opts = xfgate::bench::parse_args(&args).unwrap();
    let count = opts.count;
    assert!(count > 0, "--quick uses finite inputs");
    let report = xfgate::bench::run(&opts, "bench_smoke").unwrap();

    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let top = obj(&v, "report");
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
    assert_eq!(v["command"], "bench_smoke");
    // The generator wrote headers only (payload=keep): the JSON says so.
    assert_eq!(v["options"]["generator_payload"], "keep");
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
        assert!(report
            .plots
            .iter()
            .any(|p| p.ends_with(&format!("-{sc}.svg"))));
        let svg = std::fs::read_to_string(dir.join(format!("smoke-{sc}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<path").count(),
            3,
            "{sc}: one line per strategy"
        );
    }
    assert_eq!(samples.len(), report.samples.len());

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
    let _ = std::fs::remove_dir_all(&dir);
}
