//! `--config (port,queue,lcore),...` on DPDK ports means what it means on
//! software ports (`gateway_pcap::explicit_queue_map_assigns_rx_queues_to_lcores`):
//! the mapped rx queues go to their lcores, unmapped queues are not polled,
//! a triple naming a missing port or queue or a non-worker lcore is refused
//! with the triple named. Two workers on EAL lcores 1 and 2.
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{check_accounting, eal, tmp, u, write_pcap, xfgate};
use xfgate::ip::Family;
use xfgate::wire::build::FrameSpec;

const CFG: &str =
    "policy add src 10.1.0.0/16 dst 10.8.0.0/16 dir out\nroute add 10.8.0.0/16 port 1\n";

struct Setup {
    dir: std::path::PathBuf,
    vdevs: Vec<String>,
    cfg: String,
}

/// net_pcap0 with two rx queues (two files of 60 and 40 frames), net_null1 as sink.
fn setup(name: &str) -> Setup {
    let dir = tmp(name);
    let frames = |n: u128, base: u128| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                FrameSpec::udp(Family::V4, 0x0a01_0000 + base + i, 0x0a08_0001, 1, 2, 10).frame()
            })
            .collect()
    };
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    write_pcap(&a, &frames(60, 0));
    write_pcap(&b, &frames(40, 1000));
    let cfgp = dir.join("gw.cfg");
    std::fs::write(&cfgp, CFG).unwrap();
    Setup {
        vdevs: vec![
            format!("net_pcap0,rx_pcap={},rx_pcap={}", a.display(), b.display()),
            "net_null1,no-rx=1".to_string(),
        ],
        cfg: cfgp.to_string_lossy().into_owned(),
        dir,
    }
}

fn lcore_rx(s: &serde_json::Value, lcore: u64) -> u64 {
    s["lcores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| u(l, &["lcore"]) == lcore)
        .map(|l| u(l, &["rx_packets"]))
        .unwrap_or_else(|| panic!("lcore {lcore} in {s}"))
}

fn run(st: &Setup, map: Option<&str>) -> dpdk_support::Run {
    let mut app = vec!["-u", "0x2", "-f", &st.cfg, "--duration", "1.5"];
    if let Some(m) = map {
        app.extend(["--config", m]);
    }
    xfgate(&st.dir, &eal("0@0,1@1,2@1", &st.vdevs), &app)
}

#[test]
fn dpdk_queue_map_assigns_rx_queues_to_lcores() {
    let st = setup("qmap");
    // Default: worker i polls queue i (lcore 1: the 60 frames, lcore 2: the 40).
    let r = run(&st, None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s = r.stats.expect("stats JSON");
    check_accounting(&s);
    assert_eq!((lcore_rx(&s, 1), lcore_rx(&s, 2)), (60, 40), "{s}");

    // Both rx queues of port 0 on lcore 2; lcore 1 polls nothing.
    let r = run(&st, Some("(0,0,2),(0,1,2)"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s = r.stats.expect("stats JSON");
    check_accounting(&s);
    assert_eq!(lcore_rx(&s, 1), 0, "lcore 1 polls no queue: {s}");
    assert_eq!(lcore_rx(&s, 2), 100, "lcore 2 polls both queues: {s}");

    // Swapped: queue 0 on lcore 2, queue 1 on lcore 1.
    let r = run(&st, Some("(0,0,2),(0,1,1)"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s = r.stats.expect("stats JSON");
    assert_eq!((lcore_rx(&s, 1), lcore_rx(&s, 2)), (40, 60), "{s}");

    // Only queue 1 mapped: queue 0 is not polled.
    let r = run(&st, Some("(0,1,1)"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s = r.stats.expect("stats JSON");
    assert_eq!((lcore_rx(&s, 1), lcore_rx(&s, 2)), (40, 0), "{s}");
    let _ = std::fs::remove_dir_all(&st.dir);
}

#[test]
fn dpdk_queue_map_refuses_bad_triples() {
    let st = setup("qmap-bad");
    for (map, needle) in [
        ("(5,0,1)", "--config (5,0,1): there is no port 5"),
        ("(0,2,1)", "--config (0,2,1): port 0 has 2 rx queue(s)"),
        ("(0,0,9)", "--config (0,0,9): lcore 9 is not a worker"),
        ("(0,0,0)", "--config (0,0,0): lcore 0 is not a worker"),
    ] {
        let r = run(&st, Some(map));
        assert_eq!(r.code, Some(1), "{map} refused: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{map}: {}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(&st.dir);
}
