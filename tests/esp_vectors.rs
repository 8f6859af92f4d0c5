//! ESP known-answer vectors from an independent implementation (scapy's
//! `SecurityAssociation`), in both directions. The vectors live outside the
//! repository, in `../shared/vectors/` (see its README); they are part of
//! the test environment and a missing file fails the test.

use std::net::IpAddr;

use serde_json::Value;
use xfgate::buf::{HeapBuf, PacketBuf};
use xfgate::esp::{decapsulate, encapsulate_with_iv, EspSa};
use xfgate::ip::{addr_from_ip, Family};
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::Mode;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/vectors/esp-aes-gcm.json"
);

struct Vector {
    name: String,
    spec: SaSpec,
    seq: u64,
    iv: [u8; 8],
    inner: Vec<u8>,
    esp: Vec<u8>,
    esp_offset: usize,
}

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("vector field {k} missing or not a string: {v}"))
}

fn u64_field(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("vector field {k} missing or not a number: {v}"))
}

fn hex_field(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(str_field(v, k)).unwrap_or_else(|e| panic!("vector field {k}: {e}"))
}

/// Source and destination address of the IP packet `p`.
fn ip_addrs(p: &[u8]) -> (Family, u128, u128) {
    match p[0] >> 4 {
        4 => (
            Family::V4,
            u32::from_be_bytes(p[12..16].try_into().unwrap()) as u128,
            u32::from_be_bytes(p[16..20].try_into().unwrap()) as u128,
        ),
        6 => (
            Family::V6,
            u128::from_be_bytes(p[8..24].try_into().unwrap()),
            u128::from_be_bytes(p[24..40].try_into().unwrap()),
        ),
        v => panic!("IP version {v}"),
    }
}

/// The vectors file: `../shared/vectors/esp-aes-gcm.json` beside the
/// repository, or `$XFGATE_ESP_VECTORS` (for a checkout elsewhere, e.g. a
/// git worktree).
fn vectors_path() -> String {
    std::env::var("XFGATE_ESP_VECTORS").unwrap_or_else(|_| VECTORS.to_string())
}

fn load() -> Vec<Vector> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read the ESP vectors at {path}: {e} (they are part of the test environment)")
    });
    let json: Value = serde_json::from_str(&text).expect("vectors: invalid JSON");
    let list = json["vectors"]
        .as_array()
        .expect("vectors: no `vectors` array");
    assert!(!list.is_empty(), "vectors: empty list");
    list.iter()
        .map(|v| {
            let name = str_field(v, "name").to_string();
            assert_eq!(str_field(v, "aead"), "rfc4106(gcm(aes))", "{name}");
            assert_eq!(u64_field(v, "icv_bits"), 128, "{name}");
            let keysalt = hex_field(v, "key_hex");
            let alg = AeadAlg::from_keysalt_len(keysalt.len())
                .unwrap_or_else(|| panic!("{name}: key+salt of {} bytes", keysalt.len()));
            let (key, salt) = keysalt.split_at(keysalt.len() - 4);
            let mode = match str_field(v, "mode") {
                "tunnel" => Mode::Tunnel,
                "transport" => Mode::Transport,
                m => panic!("{name}: mode {m}"),
            };
            let family = match str_field(v, "family") {
                "ipv4" => Family::V4,
                "ipv6" => Family::V6,
                f => panic!("{name}: family {f}"),
            };
            let inner = hex_field(v, "inner_hex");
            let (src, dst) = match mode {
                Mode::Tunnel => {
                    let s: IpAddr = str_field(v, "tunnel_src").parse().unwrap();
                    let d: IpAddr = str_field(v, "tunnel_dst").parse().unwrap();
                    let (fs, s) = addr_from_ip(s);
                    let (fd, d) = addr_from_ip(d);
                    assert_eq!((fs, fd), (family, family), "{name}");
                    (s, d)
                }
                Mode::Transport => {
                    let (f, s, d) = ip_addrs(&inner);
                    assert_eq!(f, family, "{name}");
                    (s, d)
                }
            };
            let spec = SaSpec {
                spi: u64_field(v, "spi") as u32,
                mode,
                family,
                src,
                dst,
                reqid: 1,
                alg,
                key: key.to_vec(),
                salt: salt.try_into().unwrap(),
                replay_window: 64,
                esn: false,
                lifetime: SaLifetime::default(),
            };
            Vector {
                spec,
                seq: u64_field(v, "seq"),
                iv: hex_field(v, "iv_hex").try_into().expect("8-byte IV"),
                inner,
                esp: hex_field(v, "esp_packet_hex"),
                esp_offset: u64_field(v, "esp_offset") as usize,
                name,
            }
        })
        .collect()
}

/// Length of the IP header in front of the ESP header of `p` (no
/// extension headers in the vectors: checked).
fn ip_hdr_len(p: &[u8]) -> usize {
    match p[0] >> 4 {
        4 => (p[0] & 0xf) as usize * 4,
        _ => 40,
    }
}

#[test]
fn vectors_cover_every_mode_and_family() {
    let vs = load();
    let mut seen = std::collections::HashSet::new();
    for v in &vs {
        seen.insert((v.spec.mode, v.spec.family, v.spec.alg));
        seen.insert((v.spec.mode, ip_addrs(&v.inner).0, v.spec.alg));
    }
    assert!(
        vs.len() >= 10,
        "expected the full vector set, got {}",
        vs.len()
    );
    assert!(seen.contains(&(Mode::Tunnel, Family::V4, AeadAlg::Aes128Gcm)));
    assert!(seen.contains(&(Mode::Tunnel, Family::V6, AeadAlg::Aes256Gcm)));
    assert!(seen.contains(&(Mode::Transport, Family::V4, AeadAlg::Aes128Gcm)));
    assert!(seen.contains(&(Mode::Transport, Family::V6, AeadAlg::Aes256Gcm)));
}

#[test]
fn decapsulate_every_vector() {
    for v in load() {
        let sa = EspSa::new(&v.spec).unwrap();
        let mut w = sa.new_replay_window();
        assert_eq!(ip_hdr_len(&v.esp), v.esp_offset, "{}", v.name);
        let mut b = HeapBuf::from_slice(&v.esp);
        let d = decapsulate(&sa, &mut w, &mut b)
            .unwrap_or_else(|e| panic!("{}: decapsulate: {e}", v.name));
        assert_eq!(d.seq, v.seq, "{}", v.name);
        assert_eq!(d.len, v.inner.len(), "{}", v.name);
        match v.spec.mode {
            Mode::Tunnel => {
                assert_eq!(hex::encode(b.data()), hex::encode(&v.inner), "{}", v.name);
                let want_nh = if v.inner[0] >> 4 == 4 { 4 } else { 41 };
                assert_eq!(d.next_header, want_nh, "{}", v.name);
            }
            Mode::Transport => {
                // The original payload under the original addresses, with
                // protocol and lengths restored: the original packet.
                let hl = ip_hdr_len(&v.inner);
                assert_eq!(&b.data()[hl..], &v.inner[hl..], "{}: payload", v.name);
                assert_eq!(ip_addrs(b.data()), ip_addrs(&v.inner), "{}", v.name);
                let proto = if v.inner[0] >> 4 == 4 {
                    v.inner[9]
                } else {
                    v.inner[6]
                };
                assert_eq!(d.next_header, proto, "{}", v.name);
                assert_eq!(hex::encode(b.data()), hex::encode(&v.inner), "{}", v.name);
            }
        }
        assert_eq!(w.top(), v.seq, "{}: window updated", v.name);
        // The same packet again is a replay.
        let mut again = HeapBuf::from_slice(&v.esp);
        assert!(
            decapsulate(&sa, &mut w, &mut again).is_err(),
            "{}: replay accepted",
            v.name
        );
    }
}

#[test]
fn encapsulate_every_vector() {
    for v in load() {
        let sa = EspSa::new(&v.spec).unwrap();
        let mut b = HeapBuf::from_slice(&v.inner);
        encapsulate_with_iv(&sa, &mut b, v.seq, v.iv)
            .unwrap_or_else(|e| panic!("{}: encapsulate: {e}", v.name));
        let out = b.data();
        let off = v.esp_offset;
        assert_eq!(out.len(), v.esp.len(), "{}: length", v.name);
        // SPI .. ICV byte for byte.
        assert_eq!(
            hex::encode(&out[off..]),
            hex::encode(&v.esp[off..]),
            "{}: ESP bytes",
            v.name
        );
        // Outer header: version, addresses, protocol and lengths.
        assert_eq!(out[0] >> 4, v.esp[0] >> 4, "{}: version", v.name);
        assert_eq!(ip_addrs(out), ip_addrs(&v.esp), "{}: addresses", v.name);
        match out[0] >> 4 {
            4 => {
                assert_eq!(out[0], v.esp[0], "{}: IHL", v.name);
                assert_eq!(out[9], 50, "{}: protocol", v.name);
                assert_eq!(out[9], v.esp[9], "{}: protocol", v.name);
                assert_eq!(&out[2..4], &v.esp[2..4], "{}: total length", v.name);
                // The header checksum verifies.
                let mut s = 0u32;
                for c in out[..off].chunks(2) {
                    s += u16::from_be_bytes([c[0], c[1]]) as u32;
                }
                while s > 0xffff {
                    s = (s & 0xffff) + (s >> 16);
                }
                assert_eq!(s, 0xffff, "{}: IPv4 checksum", v.name);
            }
            _ => {
                assert_eq!(out[6], 50, "{}: next header", v.name);
                assert_eq!(out[6], v.esp[6], "{}: next header", v.name);
                assert_eq!(&out[4..6], &v.esp[4..6], "{}: payload length", v.name);
            }
        }
        if v.spec.mode == Mode::Transport {
            // Transport mode keeps the original header: ID, TTL, DSCP
            // come from it, so the whole packet matches.
            assert_eq!(hex::encode(out), hex::encode(&v.esp), "{}", v.name);
        }
    }
}
