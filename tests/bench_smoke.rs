//! Smoke run of every `xfgate bench` scenario with `--quick` (finite inputs):
//! the JSON has every field, every strategy made the same decisions for the
//! same input, and the plots exist (the checks: tests/bench_support). Nothing
//! here depends on a timing.

mod bench_support;

use serde_json::Value;

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
    assert_eq!(v["command"], "bench_smoke");
    assert_eq!(v["options"]["backend"], "software");
    // The generator wrote headers only (payload=keep): the JSON says so.
    assert_eq!(v["options"]["generator_payload"], "keep");
    assert_eq!(v["samples"].as_array().unwrap().len(), report.samples.len());
    assert_eq!(v["plots"].as_array().unwrap().len(), report.plots.len());
    bench_support::check_quick_report(&v, &dir, "smoke", count);
    let _ = std::fs::remove_dir_all(&dir);
}
