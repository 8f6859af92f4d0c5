//! Two xfgate processes over `net_memif`: A encrypts (pcap source with
//! `infinite_rx=1` -> ESP out on a memif server port), B decrypts (memif
//! client -> plain out on a null sink). Every ESP packet A handed to memif
//! arrives at B and is decrypted; both processes account for every packet.
//! memif needs EAL's multi-process support, so these use a unique
//! `--file-prefix` (with `--huge-unlink`) instead of `--in-memory`.
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{check_accounting, tmp, u, write_pcap};
use std::process::{Command, Stdio};
use std::time::Duration;
use xfgate::ip::Family;
use xfgate::wire::build::FrameSpec;

const SA: &str = "state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x1001 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f10a1a2a3a4 128\n";

/// `lcores`: A's worker runs on CPU 1, B's on CPU 0, so the two busy-polling
/// workers do not share a CPU on a two-core machine.
fn cmd(
    lcores: &str,
    prefix: &str,
    vdevs: &[String],
    app: &[&str],
    json: &std::path::Path,
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xfgate"));
    c.args([
        "--lcores",
        lcores,
        "--no-pci",
        "--file-prefix",
        prefix,
        "--huge-unlink",
        "--log-level=warning",
    ]);
    for v in vdevs {
        c.args(["--vdev", v]);
    }
    c.arg("--")
        .args(app)
        .args(["--stats-interval", "0", "--stats-json"])
        .arg(json);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

#[test]
fn dpdk_memif_two_processes_encrypt_then_decrypt() {
    let d = tmp("memif");
    let frames: Vec<Vec<u8>> = (0..64u128)
        .map(|i| FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a02_0001, 1000, 53, 58).frame())
        .collect();
    let inp = d.join("in.pcap");
    write_pcap(&inp, &frames);
    let (acfg, bcfg) = (d.join("a.cfg"), d.join("b.cfg"));
    std::fs::write(
        &acfg,
        format!("{SA}policy add src 10.0.0.0/8 dst 10.0.0.0/8 dir out tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel\nroute add 198.51.100.0/24 port 1\n"),
    )
    .unwrap();
    std::fs::write(
        &bcfg,
        format!("{SA}policy add src 10.0.0.0/8 dst 10.0.0.0/8 dir in tmpl src 192.0.2.1 dst 198.51.100.7 proto esp mode tunnel\nroute add 10.0.0.0/8 port 1\n"),
    )
    .unwrap();
    let sock = d.join("memif.sock");
    let (ajson, bjson) = (d.join("a.json"), d.join("b.json"));
    let pid = std::process::id();
    let (pa, pb) = (format!("xfgt-a-{pid}"), format!("xfgt-b-{pid}"));
    let (ac, bc) = (
        acfg.to_string_lossy().into_owned(),
        bcfg.to_string_lossy().into_owned(),
    );

    // A (memif server) first: a client's start fails without a server socket.
    let a = cmd(
        "0@0,1@1",
        &pa,
        &[
            format!("net_pcap0,rx_pcap={},infinite_rx=1", inp.display()),
            format!("net_memif1,role=server,socket={}", sock.display()),
        ],
        &["-u", "0x2", "-f", &ac, "--duration", "3"],
        &ajson,
    )
    .spawn()
    .expect("A starts");
    std::thread::sleep(Duration::from_millis(700));
    // B outlives A, so it drains what A sent before A closes the link.
    let b = cmd(
        "0@1,1@0",
        &pb,
        &[
            format!("net_memif0,role=client,socket={}", sock.display()),
            "net_null1,no-rx=1".to_string(),
        ],
        &["-u", "0x1", "-f", &bc, "--duration", "4"],
        &bjson,
    )
    .output()
    .expect("B runs");
    let a = a.wait_with_output().expect("A ends");
    for p in [&pa, &pb] {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{p}"));
    }
    assert!(
        a.status.success(),
        "A: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert!(
        b.status.success(),
        "B: {}",
        String::from_utf8_lossy(&b.stderr)
    );
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (sa, sb) = (read(&ajson), read(&bjson));
    check_accounting(&sa);
    check_accounting(&sb);
    // What A's workers sent, and what DPDK says its memif port sent.
    let sent = u(&sa, &["totals", "tx_packets"]);
    assert!(sent > 1000, "A sent ESP over memif: {sa}");
    assert_eq!(u(&sa, &["ports", "1", "tx"]), sent, "{sa}");
    assert_eq!(
        u(&sa, &["totals", "encapsulated"]),
        u(&sa, &["totals", "rx_packets"])
    );
    // Everything A sent arrived at B and was decrypted and forwarded.
    assert_eq!(u(&sb, &["totals", "rx_packets"]), sent, "A: {sa}\nB: {sb}");
    assert_eq!(u(&sb, &["totals", "decapsulated"]), sent, "{sb}");
    assert_eq!(u(&sb, &["totals", "forwarded"]), sent, "{sb}");
    assert_eq!(u(&sb, &["ports", "1", "tx"]), sent, "{sb}");
    let _ = std::fs::remove_dir_all(d);
}
