//! End to end through real DPDK with `net_pcap` ports: the same checks as
//! `gateway_pcap.rs` (software ports). Plain packets in on a protected port
//! come out as ESP that decrypts back to the input; ESP built from the
//! shared vectors comes out decrypted. Each scenario is one xfgate process
//! (EAL initialises once per process).
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::scenarios::{self, write_pcap, Inbound, Outbound};
use dpdk_support::{check_accounting, eal, tmp, u, xfgate};
use serde_json::Value;

/// Run one worker over the pcap ports for long enough to drain the file.
fn run(d: &std::path::Path, vdevs: &[String], unprotected: &str, cfg: &str, window: &str) -> Value {
    let cfgp = d.join("gw.cfg");
    std::fs::write(&cfgp, cfg).unwrap();
    let cfgs = cfgp.to_string_lossy().into_owned();
    let r = xfgate(
        d,
        &eal("0-1", vdevs),
        &[
            "-u",
            unprotected,
            "-f",
            &cfgs,
            "--replay-window",
            window,
            "--duration",
            "1.5",
        ],
    );
    assert_eq!(r.code, Some(0), "xfgate succeeded: {}", r.stderr);
    let s = r.stats.expect("stats JSON written");
    check_accounting(&s);
    s
}

fn drop_count(s: &Value, reason: &str) -> u64 {
    u(s, &["totals", "drops", reason])
}

#[test]
fn dpdk_outbound_protect_bypass_block_default_v4_v6() {
    let d = tmp("out");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let o = scenarios::outbound();
    let (cfg, frames) = (&o.cfg, &o.frames);
    write_pcap(&inp, frames);
    let vdevs = vec![
        format!("net_pcap0,rx_pcap={}", inp.display()),
        format!("net_pcap1,tx_pcap={}", outp.display()),
    ];
    let s = run(&d, &vdevs, "0x2", cfg, "0");
    assert_eq!(u(&s, &["totals", "rx_packets"]), frames.len() as u64);
    assert_eq!(u(&s, &["totals", "forwarded"]), Outbound::FORWARDED);
    assert_eq!(u(&s, &["totals", "encapsulated"]), Outbound::ENCAPSULATED);
    assert_eq!(drop_count(&s, "policy_block"), Outbound::POLICY_BLOCK);
    assert_eq!(drop_count(&s, "default_block"), Outbound::DEFAULT_BLOCK);
    assert_eq!(drop_count(&s, "malformed"), Outbound::MALFORMED);
    assert_eq!(drop_count(&s, "ttl_expired"), Outbound::TTL_EXPIRED);
    // DPDK's own counters agree with the gateway's.
    assert_eq!(u(&s, &["ports", "0", "rx"]), frames.len() as u64);
    assert_eq!(u(&s, &["ports", "1", "tx"]), Outbound::FORWARDED);
    scenarios::check_outbound_output(&outp, &o);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn dpdk_inbound_vectors_decrypt_and_error_counters() {
    let d = tmp("in");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let sc = scenarios::inbound();
    let (cfg, frames) = (&sc.cfg, &sc.frames);
    write_pcap(&inp, frames);
    let vdevs = vec![
        format!("net_pcap0,tx_pcap={}", outp.display()),
        format!("net_pcap1,rx_pcap={}", inp.display()),
    ];
    let s = run(&d, &vdevs, "0x2", cfg, "64");
    assert_eq!(u(&s, &["totals", "forwarded"]), sc.n_tunnel, "{s}");
    assert_eq!(u(&s, &["totals", "decapsulated"]), sc.n_tunnel, "{s}");
    // Replayed copy and ICV-flipped copy (same sequence number): replay.
    assert_eq!(drop_count(&s, "replay"), Inbound::REPLAY);
    assert_eq!(drop_count(&s, "icv_fail"), Inbound::ICV_FAIL);
    assert_eq!(drop_count(&s, "no_sa"), Inbound::NO_SA);
    scenarios::check_inbound_output(&outp, &sc);
    let _ = std::fs::remove_dir_all(d);
}
