//! Start-up failures on DPDK: a clear message and a non-zero exit, never a
//! half-started gateway.
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{eal, tmp, xfgate};

fn fails_with(eal_args: &[&str], want: &[&str]) {
    let d = tmp("err");
    let r = xfgate(&d, eal_args, &["--duration", "0.2"]);
    assert_ne!(r.code, Some(0), "xfgate must fail: {}", r.stderr);
    assert!(
        r.code.is_some(),
        "exits, not killed by a signal: {}",
        r.stderr
    );
    assert!(
        r.stats.is_none(),
        "no statistics from a gateway that never started"
    );
    for w in want {
        assert!(r.stderr.contains(w), "stderr mentions {w:?}:\n{}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_eal_argument() {
    let mut a = eal("0-1", &[]);
    a.push("--no-such-eal-option");
    fails_with(
        &a,
        &["EAL initialisation failed: Invalid argument (rte_errno 22)"],
    );
}

#[test]
fn unknown_device_driver() {
    let v = ["net_nosuchdriver0".to_string()];
    fails_with(
        &eal("0-1", &v),
        &["EAL initialisation failed: No such device"],
    );
}

#[test]
fn vdev_that_fails_to_probe() {
    let v = [
        "net_pcap0,rx_pcap=/nonexistent/xfgate-missing.pcap".to_string(),
        "net_null1,no-rx=1".to_string(),
    ];
    fails_with(
        &eal("0-1", &v),
        &["2 device(s) given with --vdev but only 1 port(s) came up"],
    );
}

#[test]
fn too_little_hugepage_memory() {
    let v = ["net_null0".to_string()];
    let mut a = eal("0-1", &v);
    a.extend(["--socket-limit", "4"]);
    fails_with(
        &a,
        &[
            "cannot create the mbuf pool",
            "hugepage memory is short",
            "x 2 MiB hugepages are needed",
        ],
    );
}

#[test]
fn no_worker_lcore() {
    let v = ["net_null0".to_string()];
    fails_with(&eal("0", &v), &["-l gives no worker lcore"]);
}

#[test]
fn no_port() {
    fails_with(&eal("0-1", &[]), &["no ethdev ports"]);
}
