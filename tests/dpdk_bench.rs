//! `xfgate bench EAL -- ...` on DPDK ports (net_pcap0 replaying the point's
//! traffic, net_null1): the `--quick` report passes every check of the
//! software smoke test (tests/bench_support), says it ran on DPDK, and its
//! decisions equal the software run's for the same finite inputs; a short
//! time-bounded run replays a file over and over and counts its never-seen
//! flows exactly; the run stops with a clear message when the replay cannot
//! fit. One xfgate process per run (EAL starts once per process). Nothing
//! here depends on a timing.
#![cfg(feature = "dpdk")]

mod bench_support;
mod dpdk_support;

use dpdk_support::{eal, tmp};
use serde_json::Value;
use std::process::Command;

/// Run `xfgate bench ARGS` (EAL options, `--`, bench options, as given);
/// exit code, stderr and the report at `out`.
fn bench(args: &[&str], out: &std::path::Path) -> (Option<i32>, String, Option<Value>) {
    let _ = std::fs::remove_file(out);
    let o = Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .arg("bench")
        .args(args)
        .output()
        .expect("xfgate runs");
    let v = std::fs::read_to_string(out)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("valid report JSON"));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        v,
    )
}

fn dpdk_args<'a>(eal_opts: &[&'a str], bench_opts: &[&'a str]) -> Vec<&'a str> {
    let mut v = eal_opts.to_vec();
    v.push("--");
    v.extend_from_slice(bench_opts);
    v
}

#[test]
fn quick_on_dpdk_ports_decides_as_the_software_run() {
    let d = tmp("bench-quick");
    let (out, sw_out) = (d.join("x.json"), d.join("sw.json"));
    let outs = out.to_string_lossy().into_owned();
    let eal_opts = eal("0-1", &[]);
    let (code, err, v) = bench(&dpdk_args(&eal_opts, &["--quick", "--out", &outs]), &out);
    assert_eq!(code, Some(0), "xfgate bench on DPDK succeeded: {err}");
    let v = v.expect("report written");
    let count = xfgate::bench::BenchOpts::quick().count;
    bench_support::check_quick_report(&v, &d, "x", count);

    // The report says what ran: backend, EAL options, the build's features.
    assert_eq!(v["options"]["backend"], "dpdk", "{}", v["options"]);
    let cmd = v["command"].as_str().unwrap();
    assert!(
        cmd.contains("bench --lcores 0-1 --no-pci --in-memory") && cmd.contains("-- --quick"),
        "{cmd}"
    );
    assert!(v["machine"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "dpdk"));
    assert!(
        v["options"].get("leaked_mbufs").is_none(),
        "{}",
        v["options"]
    );
    assert!(!err.contains("mbufs were not back"), "{err}");
    assert!(err.contains("backend dpdk"), "{err}");
    // Finite inputs are read once, exactly `count` packets per point.
    for p in v["points"].as_array().unwrap() {
        assert_eq!(
            p["extra"]["replay_packets"].as_f64(),
            Some(count as f64),
            "{p}"
        );
        assert_eq!(p["extra"]["replay_infinite"].as_f64(), Some(0.0), "{p}");
    }

    // The same binary on software ports: the same traffic (the generator's
    // frames), so the same decisions and never-seen-flow packets, sample by
    // sample.
    let sw_outs = sw_out.to_string_lossy().into_owned();
    let (code, err, sw) = bench(&["--quick", "--out", &sw_outs], &sw_out);
    assert_eq!(code, Some(0), "software bench succeeded: {err}");
    let sw = sw.expect("software report");
    assert_eq!(sw["options"]["backend"], "software");
    let (a, b) = (bench_support::decisions(&v), bench_support::decisions(&sw));
    assert_eq!(a.len(), b.len());
    for (k, dpdk) in &a {
        assert_eq!(Some(dpdk), b.get(k), "{k:?}: DPDK and software differ");
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn time_bounded_samples_replay_the_file_and_count_new_flows() {
    let d = tmp("bench-timed");
    let out = d.join("t.json");
    let outs = out.to_string_lossy().into_owned();
    let eal_opts = eal("0-1", &[]);
    // Small files (16k packets: a few passes per sample) so the test needs
    // few hugepages.
    let (code, err, v) = bench(
        &dpdk_args(
            &eal_opts,
            &[
                "sizes",
                "flood",
                "--sizes",
                "64",
                "--keys",
                "128",
                "--flood",
                "0,100",
                "--base-flows",
                "1k",
                "--replay-packets",
                "16k",
                "--reps",
                "1",
                "--warmup",
                "0.1",
                "--measure",
                "0.2",
                "--out",
                &outs,
            ],
        ),
        &out,
    );
    assert_eq!(code, Some(0), "{err}");
    let v = v.expect("report written");
    assert_eq!(v["options"]["backend"], "dpdk");
    assert_eq!(v["options"]["replay_packets"], "16000");
    for p in v["points"].as_array().unwrap() {
        let e = &p["extra"];
        assert_eq!(e["replay_packets"].as_f64(), Some(16_000.0), "{p}");
        assert_eq!(e["replay_infinite"].as_f64(), Some(1.0), "{p}");
        let new = e["replay_new_flows"].as_f64().unwrap();
        let covered = e["replay_flows_covered"].as_f64().unwrap();
        if p["point"] == "100%" {
            // Every packet of the file is a never-seen flow's.
            assert_eq!((new, covered), (16_000.0, 0.0), "{p}");
        } else {
            assert_eq!(new, 0.0, "{p}");
            assert!(covered > 900.0 && covered <= 1000.0, "{p}");
        }
    }
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 9, "3 points x 3 strategies");
    for s in samples {
        let rx = s["rx_packets"].as_u64().unwrap();
        assert!(rx > 0, "traffic flowed: {s}");
        assert_eq!(s["count"], 0);
        let new = s["new_flow_packets"].as_u64().unwrap();
        if s["new_flow_pct"] == 100.0 {
            // Counted from the file, across its passes: all of them.
            assert_eq!(new, rx, "{s}");
            assert!(s["hit_ratio_established"].is_null(), "{s}");
        } else {
            assert_eq!(new, 0, "{s}");
            // Without never-seen flows the established ratio is exact.
            assert_eq!(
                s["hit_ratio_established"].is_null(),
                s["strategy"] == "off",
                "{s}"
            );
        }
        if s["strategy"] == "off" {
            assert_eq!(s["cache"]["hits"], 0);
        }
    }
    // A flood target is not judged on a replay.
    for t in v["targets"].as_array().unwrap() {
        if t["name"].as_str().unwrap().starts_with("flood") {
            assert!(t["met"].is_null(), "{t}");
        }
    }
    assert!(!err.contains("mbufs were not back"), "{err}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_replay_that_cannot_fit_or_a_probed_port_stops_the_run() {
    let d = tmp("bench-errors");
    let out = d.join("e.json");
    let outs = out.to_string_lossy().into_owned();
    let eal_opts = eal("0-1", &[]);
    // 100M packets of one mbuf each: far more hugepages than any test host.
    let (code, err, v) = bench(
        &dpdk_args(
            &eal_opts,
            &[
                "sizes",
                "--sizes",
                "64",
                "--keys",
                "128",
                "--replay-packets",
                "100M",
                "--out",
                &outs,
            ],
        ),
        &out,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(v.is_none(), "nothing measured, nothing written");
    assert!(
        err.contains("the replay needs 100000000 packets") && err.contains("x 2 MiB hugepages"),
        "{err}"
    );
    // EAL must probe no port: the bench brings its own.
    let null = vec!["net_null0".to_string()];
    let eal_opts = eal("0-1", &null);
    let (code, err, _) = bench(&dpdk_args(&eal_opts, &["--quick", "--out", &outs]), &out);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("EAL probed 1 port(s)") && err.contains("--no-pci"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}
