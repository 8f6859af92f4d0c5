//! End to end through real DPDK with `net_pcap` ports: the same checks as
//! `gateway_pcap.rs` (software ports). Plain packets in on a protected port
//! come out as ESP that decrypts back to the input; ESP built from the
//! shared vectors comes out decrypted. Each scenario is one xfgate process
//! (EAL initialises once per process).
#![cfg(feature = "dpdk")]

mod dpdk_support;

use dpdk_support::{check_accounting, eal, tmp, u, write_pcap, xfgate};
use serde_json::Value;
use xfgate::buf::HeapBuf;
use xfgate::esp::{decapsulate, EspSa};
use xfgate::ip::Family;
use xfgate::port::pcap::PcapData;
use xfgate::wire::build::FrameSpec;

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
    u(s, &["drops", reason])
}

const KEY4: &str = "0x0102030405060708090a0b0c0d0e0f10a1a2a3a4";
const KEY6: &str = "0x1112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30b1b2b3b4";

fn sa_spec(spi: u32, family: Family, src: u128, dst: u128, key: &str) -> xfgate::sad::SaSpec {
    let k = hex::decode(&key[2..]).unwrap();
    let (key, salt) = k.split_at(k.len() - 4);
    xfgate::sad::SaSpec {
        spi,
        mode: xfgate::spd::Mode::Tunnel,
        family,
        src,
        dst,
        reqid: 0,
        alg: xfgate::sad::AeadAlg::from_keysalt_len(k.len()).unwrap(),
        key: key.to_vec(),
        salt: salt.try_into().unwrap(),
        replay_window: 0,
        esn: false,
        lifetime: Default::default(),
    }
}

#[test]
fn dpdk_outbound_protect_bypass_block_default_v4_v6() {
    let d = tmp("out");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let cfg = format!(
        "
state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x1001 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' {KEY4} 128
state add src 2001:db8::1 dst 2001:db8:ffff::7 proto esp spi 0x1002 reqid 2 mode tunnel aead 'rfc4106(gcm(aes))' {KEY6} 128
policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 1 mode tunnel
policy add src 2001:db8:1::/48 dst 2001:db8:2::/48 dir out tmpl src 2001:db8::1 dst 2001:db8:ffff::7 proto esp reqid 2 mode tunnel
policy add src 10.1.0.0/16 dst 10.9.0.0/16 dir out action block
policy add src 10.1.0.0/16 dst 10.8.0.0/16 dir out
route add 198.51.100.0/24 port 1
route add 2001:db8:ffff::/48 port 1
route add 10.8.0.0/16 port 1
"
    );
    let mut frames = Vec::new();
    let mut protected_in = Vec::new();
    for i in 0..20u128 {
        let f4 = FrameSpec::udp(
            Family::V4,
            0x0a01_0000 + i,
            0x0a02_0001,
            1000 + i as u16,
            53,
            i as usize * 37,
        )
        .frame();
        let f6 = FrameSpec::tcp(
            Family::V6,
            0x2001_0db8_0001_0000_0000_0000_0000_0000 + i,
            0x2001_0db8_0002_0000_0000_0000_0000_0001,
            2000,
            443,
            i as usize * 51,
        )
        .frame();
        protected_in.push(f4.clone());
        protected_in.push(f6.clone());
        frames.push(f4);
        frames.push(f6);
    }
    for i in 0..5u128 {
        frames.push(FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a09_0001, 1, 2, 10).frame()); // block
        frames.push(FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a08_0001, 1, 2, 10).frame()); // bypass
        frames.push(FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a07_0001, 1, 2, 10).frame());
        // no policy
    }
    let mut bad = FrameSpec::udp(Family::V4, 0x0a01_0001, 0x0a02_0001, 1, 2, 10).frame();
    bad.truncate(20); // truncated IPv4 header
    frames.push(bad);
    frames.push(
        FrameSpec::udp(Family::V4, 0x0a01_0001, 0x0a02_0001, 1, 2, 10)
            .with_ttl(1)
            .frame(),
    ); // TTL
    write_pcap(&inp, &frames);
    let vdevs = vec![
        format!("net_pcap0,rx_pcap={}", inp.display()),
        format!("net_pcap1,tx_pcap={}", outp.display()),
    ];
    let s = run(&d, &vdevs, "0x2", &cfg, "0");
    assert_eq!(u(&s, &["totals", "rx_packets"]), frames.len() as u64);
    assert_eq!(u(&s, &["totals", "forwarded"]), 40 + 5);
    assert_eq!(u(&s, &["totals", "encapsulated"]), 40);
    assert_eq!(drop_count(&s, "policy_block"), 5);
    assert_eq!(drop_count(&s, "default_block"), 5);
    assert_eq!(drop_count(&s, "malformed"), 1);
    assert_eq!(drop_count(&s, "ttl_expired"), 1);
    // DPDK's own counters agree with the gateway's.
    assert_eq!(
        u(&s, &["ports", "0", "eth", "ipackets"]),
        frames.len() as u64
    );
    assert_eq!(u(&s, &["ports", "1", "eth", "opackets"]), 45);

    // The ESP that came out decrypts back to the input (TTL decremented once).
    let out = PcapData::read_file(&outp).unwrap();
    assert_eq!(out.len(), 45);
    let sa4 = EspSa::new(&sa_spec(0x1001, Family::V4, 0xc000_0201, 0xc633_6407, KEY4)).unwrap();
    let sa6 = EspSa::new(&sa_spec(
        0x1002,
        Family::V6,
        0x2001_0db8_0000_0000_0000_0000_0000_0001,
        0x2001_0db8_ffff_0000_0000_0000_0000_0007,
        KEY6,
    ))
    .unwrap();
    let (mut w4, mut w6) = (sa4.new_replay_window(), sa6.new_replay_window());
    let mut decrypted = Vec::new();
    let mut bypassed = 0;
    for pkt in out.packets() {
        let mut b = HeapBuf::from_slice(&pkt[14..]);
        let ety = u16::from_be_bytes([pkt[12], pkt[13]]);
        if pkt[14 + 9] == 50 && ety == 0x0800 {
            decapsulate(&sa4, &mut w4, &mut b).expect("v4 ESP decrypts");
            decrypted.push(xfgate::buf::PacketBuf::data(&b).to_vec());
        } else if ety == 0x86dd && pkt[14 + 6] == 50 {
            decapsulate(&sa6, &mut w6, &mut b).expect("v6 ESP decrypts");
            decrypted.push(xfgate::buf::PacketBuf::data(&b).to_vec());
        } else {
            bypassed += 1;
        }
    }
    assert_eq!(bypassed, 5);
    assert_eq!(decrypted.len(), protected_in.len());
    for (got, frame) in decrypted.iter().zip(&protected_in) {
        let mut want = frame[14..].to_vec();
        if want[0] >> 4 == 4 {
            xfgate::wire::ipv4_decrement_ttl(&mut want).unwrap();
        } else {
            xfgate::wire::ipv6_decrement_hop_limit(&mut want).unwrap();
        }
        assert_eq!(got, &want, "decrypted packet equals the input");
    }
    let _ = std::fs::remove_dir_all(d);
}

fn vectors() -> Vec<Value> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/esp-aes-gcm.json"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(p).expect("shared vectors present")).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn eth(ty: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 8];
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

#[test]
fn dpdk_inbound_vectors_decrypt_and_error_counters() {
    let d = tmp("in");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let mut cfg = String::new();
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    let mut n_tunnel = 0;
    let mut selectors = std::collections::HashSet::new();
    for (i, v) in vectors().iter().enumerate() {
        let mode = v["mode"].as_str().unwrap();
        let family = v["family"].as_str().unwrap();
        let esp = hex::decode(v["esp_packet_hex"].as_str().unwrap()).unwrap();
        let inner = hex::decode(v["inner_hex"].as_str().unwrap()).unwrap();
        let spi = v["spi"].as_u64().unwrap();
        let key = v["key_hex"].as_str().unwrap();
        let ety = if family == "ipv4" { 0x0800 } else { 0x86dd };
        let (osrc, odst) = if family == "ipv4" {
            (
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&esp[12..16]).unwrap()).to_string(),
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&esp[16..20]).unwrap()).to_string(),
            )
        } else {
            (
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&esp[8..24]).unwrap()).to_string(),
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&esp[24..40]).unwrap()).to_string(),
            )
        };
        // Unique SA per vector: spi + dst.
        cfg.push_str(&format!(
            "state add src {osrc} dst {odst} proto esp spi {spi} mode {mode} aead 'rfc4106(gcm(aes))' 0x{key} 128\n"
        ));
        if mode != "tunnel" {
            continue;
        }
        let (isrc, idst) = if inner[0] >> 4 == 4 {
            (
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&inner[12..16]).unwrap()).to_string(),
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&inner[16..20]).unwrap()).to_string(),
            )
        } else {
            (
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&inner[8..24]).unwrap()).to_string(),
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&inner[24..40]).unwrap()).to_string(),
            )
        };
        let proto = if inner[0] >> 4 == 4 {
            inner[9]
        } else {
            inner[6]
        };
        if !selectors.insert((isrc.clone(), idst.clone(), proto)) {
            continue; // one policy per selector: a second vector for it would need another
        }
        cfg.push_str(&format!(
            "policy add src {isrc} dst {idst} proto {proto} dir in priority {i} tmpl src {osrc} dst {odst} proto esp spi {spi} mode tunnel\n"
        ));
        n_tunnel += 1;
        cfg.push_str(&format!("route add {idst} port 0\n"));
        frames.push(eth(ety, &esp));
        let mut want = inner.clone();
        if want[0] >> 4 == 4 {
            xfgate::wire::ipv4_decrement_ttl(&mut want).unwrap();
        } else {
            xfgate::wire::ipv6_decrement_hop_limit(&mut want).unwrap();
        }
        expect.push(want);
    }
    assert!(n_tunnel >= 2);
    // Error cases built from the first tunnel vector: replay, ICV failure, unknown SPI.
    let first = frames[0].clone();
    frames.push(first.clone()); // replay
    let mut icv = first.clone();
    let last = icv.len() - 1;
    icv[last] ^= 1;
    frames.push(icv);
    let mut nosa = first.clone();
    nosa[14 + 20] ^= 0xff; // SPI
    frames.push(nosa);
    // A plain packet matching an ESP-requiring inbound policy.
    write_pcap(&inp, &frames);
    let vdevs = vec![
        format!("net_pcap0,tx_pcap={}", outp.display()),
        format!("net_pcap1,rx_pcap={}", inp.display()),
    ];
    let s = run(&d, &vdevs, "0x2", &cfg, "64");
    assert_eq!(u(&s, &["totals", "forwarded"]), n_tunnel as u64, "{s}");
    assert_eq!(u(&s, &["totals", "decapsulated"]), n_tunnel as u64, "{s}");
    // Replayed copy and ICV-flipped copy (same sequence number): replay.
    assert_eq!(drop_count(&s, "replay"), 2);
    assert_eq!(drop_count(&s, "icv_fail"), 0);
    assert_eq!(drop_count(&s, "no_sa"), 1);
    let out = PcapData::read_file(&outp).unwrap();
    let got: Vec<Vec<u8>> = out.packets().map(|p| p[14..].to_vec()).collect();
    assert_eq!(got, expect, "vectors' ESP comes out decrypted");
    let _ = std::fs::remove_dir_all(d);
}
