//! `--mtu` on DPDK ports: jumbo frames (9,000-byte IPv4 packets) go through
//! the outbound tunnel whole only when `--mtu` sizes the mbufs for them, and
//! the ESP that comes out decrypts back to the input. Without `--mtu` the
//! mbufs hold 2,048 bytes: net_pcap has to chain segments for such a frame,
//! the gateway cannot make it one buffer and drops it at rx.
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{check_accounting, eal, tmp, u, write_pcap, xfgate};
use xfgate::buf::HeapBuf;
use xfgate::esp::{decapsulate, EspSa};
use xfgate::ip::Family;
use xfgate::port::pcap::PcapData;
use xfgate::wire::build::FrameSpec;

const KEY4: &str = "0102030405060708090a0b0c0d0e0f10a1a2a3a4";

fn cfg() -> String {
    format!(
        "
state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x1001 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x{KEY4} 128
policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel
route add 198.51.100.0/24 port 1
"
    )
}

fn sa() -> EspSa {
    let k = hex::decode(KEY4).unwrap();
    let (key, salt) = k.split_at(k.len() - 4);
    EspSa::new(&xfgate::sad::SaSpec {
        spi: 0x1001,
        mode: xfgate::spd::Mode::Tunnel,
        family: Family::V4,
        src: 0xc000_0201,
        dst: 0xc633_6407,
        reqid: 1,
        alg: xfgate::sad::AeadAlg::from_keysalt_len(k.len()).unwrap(),
        key: key.to_vec(),
        salt: salt.try_into().unwrap(),
        replay_window: 0,
        esn: false,
        lifetime: Default::default(),
    })
    .unwrap()
}

/// 5 jumbo frames (IPv4 total length 9,000) and 5 small ones, alternating.
fn frames() -> Vec<Vec<u8>> {
    (0..10u128)
        .map(|i| {
            let payload = if i % 2 == 0 { 9000 - 28 } else { 100 };
            FrameSpec::udp(
                Family::V4,
                0x0a01_0000 + i,
                0x0a02_0001,
                1000,
                53,
                payload as usize,
            )
            .frame()
        })
        .collect()
}

fn run(name: &str, mtu: Option<&str>) -> (serde_json::Value, Vec<Vec<u8>>, String) {
    let d = tmp(name);
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    write_pcap(&inp, &frames());
    let cfgp = d.join("gw.cfg");
    std::fs::write(&cfgp, cfg()).unwrap();
    let cfgs = cfgp.to_string_lossy().into_owned();
    let vdevs = vec![
        format!("net_pcap0,rx_pcap={}", inp.display()),
        format!("net_pcap1,tx_pcap={}", outp.display()),
    ];
    let mut app = vec!["-u", "0x2", "-f", &cfgs, "--duration", "1.5"];
    if let Some(m) = mtu {
        app.extend(["--mtu", m]);
    }
    let r = xfgate(&d, &eal("0-1", &vdevs), &app);
    assert_eq!(r.code, Some(0), "xfgate succeeded: {}", r.stderr);
    let s = r.stats.expect("stats JSON");
    check_accounting(&s);
    let out = PcapData::read_file(&outp)
        .unwrap()
        .packets()
        .map(|p| p.to_vec())
        .collect();
    let _ = std::fs::remove_dir_all(d);
    (s, out, r.stderr)
}

#[test]
fn dpdk_mtu_9000_carries_jumbo_frames_through_the_tunnel() {
    let (s, out, stderr) = run("mtu9000", Some("9000"));
    assert!(
        stderr.contains("mtu 9000"),
        "ports report MTU 9000: {stderr}"
    );
    assert_eq!(u(&s, &["totals", "rx_packets"]), 10, "{s}");
    assert_eq!(u(&s, &["totals", "encapsulated"]), 10, "{s}");
    assert_eq!(out.len(), 10);
    let sa = sa();
    let mut w = sa.new_replay_window();
    for (pkt, frame) in out.iter().zip(frames()) {
        let mut b = HeapBuf::from_slice(&pkt[14..]);
        decapsulate(&sa, &mut w, &mut b).expect("ESP decrypts");
        let mut want = frame[14..].to_vec();
        xfgate::wire::ipv4_decrement_ttl(&mut want).unwrap();
        assert_eq!(xfgate::buf::PacketBuf::data(&b), &want[..]);
    }
    assert!(
        out.iter().any(|p| p.len() > 9000 + 14),
        "jumbo frames came out whole"
    );
}

#[test]
fn dpdk_default_mtu_does_not_take_jumbo_frames() {
    let (s, out, stderr) = run("mtu-default", None);
    assert!(stderr.contains("mtu 1500"), "ports keep MTU 1500: {stderr}");
    // Only the small frames arrive as packets the gateway can use.
    assert_eq!(u(&s, &["totals", "rx_packets"]), 5, "{s}");
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|p| p.len() < 300));
}

#[test]
fn dpdk_mtu_unsupported_by_a_driver_is_said_plainly() {
    let d = tmp("mtu-ring");
    let cfgp = d.join("gw.cfg");
    std::fs::write(&cfgp, "route add 198.51.100.0/24 port 1\n").unwrap();
    let cfgs = cfgp.to_string_lossy().into_owned();
    let vdevs = vec!["net_null0,no-rx=1".to_string(), "net_ring1".to_string()];
    let r = xfgate(
        &d,
        &eal("0-1", &vdevs),
        &["-f", &cfgs, "--mtu", "9000", "--duration", "0.3"],
    );
    assert_eq!(r.code, Some(0), "xfgate succeeded: {}", r.stderr);
    assert!(r.stderr.contains("port 0 net_null0 socket"), "{}", r.stderr);
    assert!(r.stderr.contains("mtu 9000 rxq"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "port 1 (net_ring1) cannot change its MTU (rte_eth_dev_set_mtu: not supported by the driver): it keeps MTU 1500"
        ),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(d);
}
