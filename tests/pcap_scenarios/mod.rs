//! The pcap scenarios shared by the software-port tests (gateway_pcap.rs)
//! and the DPDK tests (dpdk_pcap.rs): the same frames, configuration and
//! checks of what comes out, so both backends are held to the same results.
//! Each test file runs them its own way and checks its own counters against
//! the expected values here.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use xfgate::buf::HeapBuf;
use xfgate::esp::{decapsulate, EspSa};
use xfgate::ip::Family;
use xfgate::port::pcap::{PcapData, PcapWriter};
use xfgate::wire::build::FrameSpec;

pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::create(path).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(1, i as u32, f).unwrap();
    }
    w.finish().unwrap();
}

pub const KEY4: &str = "0x0102030405060708090a0b0c0d0e0f10a1a2a3a4";
pub const KEY6: &str = "0x1112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30b1b2b3b4";

pub fn sa_spec(spi: u32, family: Family, src: u128, dst: u128, key: &str) -> xfgate::sad::SaSpec {
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

pub fn vectors() -> Vec<Value> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/esp-aes-gcm.json"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(p).expect("shared vectors present")).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

pub fn eth(ty: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 8];
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

/// Outbound on a protected port 0 (egress port 1): 20 IPv4 + 20 IPv6 flows
/// into two tunnels, 5 blocked, 5 bypassed, 5 without policy (default
/// block), one truncated header, one TTL 1.
pub struct Outbound {
    pub cfg: String,
    pub frames: Vec<Vec<u8>>,
    /// The frames that must come out encrypted, in order.
    pub protected_in: Vec<Vec<u8>>,
}

impl Outbound {
    pub const FORWARDED: u64 = 40 + 5;
    pub const ENCAPSULATED: u64 = 40;
    pub const POLICY_BLOCK: u64 = 5;
    pub const DEFAULT_BLOCK: u64 = 5;
    pub const MALFORMED: u64 = 1;
    pub const TTL_EXPIRED: u64 = 1;
}

pub fn outbound() -> Outbound {
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
    Outbound {
        cfg,
        frames,
        protected_in,
    }
}

/// What came out of the outbound scenario (`out` = the egress pcap):
/// the ESP decrypts back to the input (TTL decremented once), the rest is
/// the 5 bypassed packets.
pub fn check_outbound_output(outp: &Path, o: &Outbound) {
    let protected_in = &o.protected_in;
    let out = PcapData::read_file(outp).unwrap();
    assert_eq!(out.len() as u64, Outbound::FORWARDED);
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
    for (got, frame) in decrypted.iter().zip(protected_in) {
        let mut want = frame[14..].to_vec();
        if want[0] >> 4 == 4 {
            xfgate::wire::ipv4_decrement_ttl(&mut want).unwrap();
        } else {
            xfgate::wire::ipv6_decrement_hop_limit(&mut want).unwrap();
        }
        assert_eq!(got, &want, "decrypted packet equals the input");
    }
}

/// Inbound ESP from the shared vectors on unprotected port 1 (egress port
/// 0), plus a replayed copy, an ICV-flipped copy (same sequence number:
/// replay, RFC 4303 3.4.3 checks the window first) and an unknown SPI.
pub struct Inbound {
    pub cfg: String,
    pub frames: Vec<Vec<u8>>,
    /// The decrypted packets that must come out, in order.
    pub expect: Vec<Vec<u8>>,
    /// Tunnel vectors = packets forwarded and decapsulated.
    pub n_tunnel: u64,
}

impl Inbound {
    pub const REPLAY: u64 = 2;
    pub const ICV_FAIL: u64 = 0;
    pub const NO_SA: u64 = 1;
}

pub fn inbound() -> Inbound {
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
    Inbound {
        cfg,
        frames,
        expect,
        n_tunnel: n_tunnel as u64,
    }
}

/// The egress pcap of the inbound scenario holds exactly the decrypted packets.
pub fn check_inbound_output(outp: &Path, i: &Inbound) {
    let out = PcapData::read_file(outp).unwrap();
    let got: Vec<Vec<u8>> = out.packets().map(|p| p[14..].to_vec()).collect();
    assert_eq!(got, i.expect, "vectors' ESP comes out decrypted");
}
