//! A few seconds of traffic through real DPDK with two workers:
//! `net_pcap` with `infinite_rx=1` (two rx queues, one per worker) as the
//! source on the protected port, `net_null` with `no-rx=1` as the tunnel-side
//! sink. Every packet is accounted for (rx = forwarded + drops by reason),
//! DPDK's port counters agree with the gateway's, the shutdown is clean and
//! no mbuf leaks (mempool in-use count back to its start value).
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{check_accounting, eal, tmp, u, write_pcap, xfgate};
use xfgate::ip::Family;
use xfgate::wire::build::FrameSpec;

const CFG: &str = "
state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x1001 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f10a1a2a3a4 128
policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel
route add 198.51.100.0/24 port 1
";

#[test]
fn dpdk_two_workers_pcap_infinite_to_null_accounts_for_every_packet() {
    let d = tmp("tput");
    // 1,024 flows per file, 64-byte frames; the second file is shifted so the
    // two workers see different flows.
    let frames = |base: u128| -> Vec<Vec<u8>> {
        (0..1024u128)
            .map(|i| {
                FrameSpec::udp(
                    Family::V4,
                    0x0a01_0000 + base + i,
                    0x0a02_0001,
                    1000 + i as u16,
                    53,
                    18,
                )
                .frame()
            })
            .collect()
    };
    let (a, b) = (d.join("a.pcap"), d.join("b.pcap"));
    write_pcap(&a, &frames(0));
    write_pcap(&b, &frames(4096));
    let vdevs = vec![
        format!(
            "net_pcap0,rx_pcap={},rx_pcap={},infinite_rx=1",
            a.display(),
            b.display()
        ),
        "net_null1,no-rx=1".to_string(),
    ];
    let cfgp = d.join("gw.cfg");
    std::fs::write(&cfgp, CFG).unwrap();
    let cfgs = cfgp.to_string_lossy().into_owned();
    // Three lcores: management on CPU 0, both workers share CPU 1 (the CI
    // machines have two cores).
    let r = xfgate(
        &d,
        &eal("0@0,1@1,2@1", &vdevs),
        &["-u", "0x2", "-f", &cfgs, "--duration", "3"],
    );
    assert_eq!(r.code, Some(0), "xfgate succeeded: {}", r.stderr);
    let s = r.stats.expect("stats JSON");
    check_accounting(&s);
    let rx = u(&s, &["totals", "rx_packets"]);
    let fwd = u(&s, &["totals", "forwarded"]);
    assert!(rx > 10_000, "traffic flowed: {s}");
    // Everything forwarded was encrypted (one outbound tunnel policy covers
    // every flow); what was not forwarded was refused by the sink's queue.
    assert_eq!(u(&s, &["totals", "encapsulated"]), fwd, "{s}");
    assert_eq!(rx - fwd, u(&s, &["totals", "drops", "tx_full"]), "{s}");
    // DPDK's counters agree with the gateway's.
    assert_eq!(u(&s, &["ports", "0", "rx"]), rx, "{s}");
    assert_eq!(u(&s, &["ports", "1", "tx"]), fwd, "{s}");
    assert_eq!(u(&s, &["ports", "0", "rx_nombuf"]), 0, "{s}");
    // Two workers, each with its own rx queue, both busy.
    let lcores = s["lcores"].as_array().unwrap();
    assert_eq!(lcores.len(), 2, "{s}");
    for l in lcores {
        assert!(u(l, &["rx_packets"]) > 0, "worker {l} received");
    }
    let _ = std::fs::remove_dir_all(d);
}
