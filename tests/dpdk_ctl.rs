//! The control socket with DPDK ports: the same commands as with software
//! ports change policy live and read statistics (ports from `rte_eth_stats`).
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{tmp, u, write_pcap};
use std::time::{Duration, Instant};
use xfgate::ctl::ctl_call;
use xfgate::ip::Family;
use xfgate::wire::build::FrameSpec;

fn stats(sock: &std::path::Path) -> serde_json::Value {
    let r = ctl_call(sock, "stats --json").expect("stats");
    assert!(r.ok, "{}", r.error);
    serde_json::from_str(&r.body).expect("stats JSON")
}

/// Poll `stats` until `f` holds (the workers publish their counters every
/// few tens of milliseconds).
fn wait_for(
    sock: &std::path::Path,
    what: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let s = stats(sock);
        if f(&s) {
            return s;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{what}: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dpdk_ctl_changes_policy_live_and_reports_eth_stats() {
    let d = tmp("ctl");
    let inp = d.join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..64u128)
        .map(|i| FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a08_0001, 1, 2, 10).frame())
        .collect();
    write_pcap(&inp, &frames);
    let cfg = d.join("gw.cfg");
    std::fs::write(
        &cfg,
        "policy add src 10.1.0.0/16 dst 10.8.0.0/16 dir out priority 10\nroute add 10.8.0.0/16 port 1\n",
    )
    .unwrap();
    let sock = d.join("ctl.sock");
    let json = d.join("stats.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args([
            "--lcores",
            "0-1",
            "--no-pci",
            "--in-memory",
            "--log-level=warning",
        ])
        .arg("--vdev")
        .arg(format!("net_pcap0,rx_pcap={},infinite_rx=1", inp.display()))
        .args(["--vdev", "net_null1,no-rx=1", "--"])
        .args(["-u", "0x2", "-f"])
        .arg(&cfg)
        .arg("--ctl")
        .arg(&sock)
        .args(["--duration", "30", "--stats-interval", "0", "--stats-json"])
        .arg(&json)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("xfgate runs");
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "control socket {}",
            sock.display()
        );
        assert!(child.try_wait().unwrap().is_none(), "xfgate exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Bypass policy: traffic flows, nothing dropped, and the ports' counters
    // are DPDK's own (net_pcap received, net_null sent).
    let s = wait_for(&sock, "forwarding", |s| {
        u(s, &["totals", "forwarded"]) > 1000
    });
    assert_eq!(u(&s, &["totals", "drops", "policy_block"]), 0, "{s}");
    let ports = s["ports"].as_array().expect("ports[]");
    assert_eq!(ports.len(), 2, "{s}");
    assert!(
        ports[0]["name"].as_str().unwrap().contains("net_pcap0"),
        "{s}"
    );
    assert!(u(&ports[0], &["rx"]) > 0, "{s}");
    assert!(u(&ports[1], &["tx"]) > 0, "{s}");

    // A live change through the socket: a blocking policy that beats the
    // bypass one. Acknowledged means visible to the workers, so from now on
    // every packet is dropped for it.
    let r = ctl_call(
        &sock,
        "policy add src 10.1.0.0/16 dst 10.8.0.0/24 dir out action block priority 1",
    )
    .unwrap();
    assert!(r.ok, "{}", r.error);
    let before = stats(&sock);
    let s = wait_for(&sock, "blocking", |s| {
        u(s, &["totals", "drops", "policy_block"]) > 1000
    });
    let fwd_before = u(&before, &["totals", "forwarded"]);
    let fwd_after = u(&s, &["totals", "forwarded"]);
    // Forwarding stopped: at most what was in flight when `before` was read
    // (the workers publish every 50 ms; a burst or two may be counted late).
    assert!(
        fwd_after - fwd_before < 1000,
        "forwarded {fwd_before} -> {fwd_after} after the block"
    );
    // Bad input is refused with a reason, the gateway keeps running.
    let r = ctl_call(&sock, "policy add src 10.1.0.0/33 dir out").unwrap();
    assert!(!r.ok);
    assert!(!r.error.is_empty());

    // SIGINT: clean shutdown, the final report accounts for every packet.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("xfgate ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        u(&fin, &["totals", "drops", "policy_block"]) > 1000,
        "{fin}"
    );
    assert_eq!(
        u(&fin, &["totals", "rx_packets"]),
        u(&fin, &["totals", "forwarded"]) + u(&fin, &["totals", "dropped"]),
        "{fin}"
    );
    assert!(!sock.exists(), "the socket is removed at exit");
    let _ = std::fs::remove_dir_all(d);
}
