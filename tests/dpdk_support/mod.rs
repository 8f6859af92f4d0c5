//! Shared helpers of the DPDK tests: EAL can be initialised once per process,
//! so every scenario runs the built `xfgate` binary as a subprocess with
//! `--no-pci --in-memory` and reads its `--stats-json`.
#![allow(dead_code)]

/// The pcap scenarios the software-port tests share (tests/pcap_scenarios).
#[path = "../pcap_scenarios/mod.rs"]
pub mod scenarios;
#[allow(unused_imports)]
pub use scenarios::write_pcap;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xfgate-dpdk-{}-{}", std::process::id(), name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The result of one xfgate run.
pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
    pub stats: Option<Value>,
}

/// Run `xfgate EAL -- APP --stats-json F` and collect exit code, stderr and
/// the statistics.
pub fn xfgate(dir: &Path, eal: &[&str], app: &[&str]) -> Run {
    let json = dir.join("stats.json");
    let _ = std::fs::remove_file(&json);
    let out = Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args(eal)
        .arg("--")
        .args(app)
        .arg("--stats-interval")
        .arg("0")
        .arg("--stats-json")
        .arg(&json)
        .output()
        .expect("xfgate runs");
    let stats = std::fs::read_to_string(&json)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("valid stats JSON"));
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stats,
    }
}

/// The EAL options every test uses: no PCI, no shared files, quiet.
pub fn eal<'a>(lcores: &'a str, vdevs: &'a [String]) -> Vec<&'a str> {
    let mut v = vec![
        "--lcores",
        lcores,
        "--no-pci",
        "--in-memory",
        "--log-level=warning",
    ];
    for d in vdevs {
        v.push("--vdev");
        v.push(d);
    }
    v
}

pub fn u(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = match p.parse::<usize>() {
            Ok(i) => &x[i],
            Err(_) => &x[*p],
        };
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is a number in {v}"))
}

/// rx = forwarded + drops, tx = forwarded, no mbuf leaked, the management
/// core freed everything it retired.
pub fn check_accounting(s: &Value) {
    assert_eq!(
        u(s, &["schema"]),
        1,
        "the shared report (docs/stats.md): {s}"
    );
    assert_eq!(s["backend"], "dpdk", "{s}");
    let rx = u(s, &["totals", "rx_packets"]);
    let fwd = u(s, &["totals", "forwarded"]);
    let dropped = u(s, &["totals", "dropped"]);
    let by_reason: u64 = s["totals"]["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(dropped, by_reason, "drops by reason add up: {s}");
    assert_eq!(rx, fwd + dropped, "every packet in one counter: {s}");
    assert_eq!(u(s, &["totals", "tx_packets"]), fwd, "{s}");
    assert_eq!(
        u(s, &["mbufs_in_use_at_end"]),
        u(s, &["mbufs_in_use_at_start"]),
        "no mbuf leaked: {s}"
    );
    assert_eq!(
        u(s, &["engine", "freed"]),
        u(s, &["engine", "retired"]),
        "everything retired was freed: {s}"
    );
}
