//! The demo's built-in configuration: hundreds of IPv4 and IPv6 policies and
//! SAs, a generator on the protected port, generated ESP on the unprotected
//! port, null sinks.
//!
//! Ports: 0 = protected (gen, plain IPv4+IPv6), 1 = unprotected (gen, ESP for
//! SPI 0x2000), 2 = tunnel-side sink, 3 = inside sink.

use std::fmt::Write;

/// SPI of the inbound SA the ESP generator uses.
pub const DEMO_INBOUND_SPI: u32 = 0x2000;

/// Device strings of the demo.
pub fn vdevs(flows: u64) -> Vec<String> {
    vec![
        format!(
            "gen0,flows={flows},size=imix,family=mixed,src=10.1.0.0/16,dst=10.2.0.0/16,src6=2001:db8:1::/48,dst6=2001:db8:2::/48,dist=zipf"
        ),
        format!("gen1,flows={},size=512,src=10.3.0.0/16,dst=10.4.0.0/16,esp={DEMO_INBOUND_SPI}", flows / 4 + 1),
        "net_null2,no-rx=1".to_string(),
        "net_null3,no-rx=1".to_string(),
    ]
}

/// Unprotected ports: 1 (ESP in) and 2 (tunnel side).
pub const UNPROTECTED: u64 = 0b0110;

fn hexkey(seed: u32, len: usize) -> String {
    let mut s = String::from("0x");
    for i in 0..len {
        let _ = write!(s, "{:02x}", (seed as usize * 131 + i * 29 + 7) & 0xff);
    }
    s
}

/// The configuration text (ip-xfrm syntax): 256 IPv4 and 128 IPv6 outbound
/// tunnel policies with one SA each, 64 inbound policies for the generated
/// ESP, routes and neighbors.
pub fn config() -> String {
    let mut c = String::from("# xfgate demo configuration (built in)\n");
    for x in 0..256u32 {
        let _ = writeln!(
            c,
            "state add src 192.0.2.1 dst 198.51.100.{} proto esp spi {} reqid {} mode tunnel aead 'rfc4106(gcm(aes))' {} 128",
            x % 250 + 1,
            0x1000 + x,
            1000 + x,
            hexkey(x, 20)
        );
        let _ = writeln!(
            c,
            "policy add src 10.1.{x}.0/24 dst 10.2.0.0/16 dir out priority 100 tmpl src 192.0.2.1 dst 198.51.100.{} proto esp reqid {} mode tunnel",
            x % 250 + 1,
            1000 + x
        );
    }
    for x in 0..128u32 {
        let _ = writeln!(
            c,
            "state add src 2001:db8::1 dst 2001:db8:ffff::{:x} proto esp spi {} reqid {} mode tunnel aead 'rfc4106(gcm(aes))' {} 128",
            x + 1,
            0x3000 + x,
            3000 + x,
            hexkey(1000 + x, 36)
        );
        let _ = writeln!(
            c,
            "policy add src 2001:db8:1:{:x}00::/56 dst 2001:db8:2::/48 dir out priority 100 tmpl src 2001:db8::1 dst 2001:db8:ffff::{:x} proto esp reqid {} mode tunnel",
            x * 2,
            x + 1,
            3000 + x
        );
    }
    let _ = writeln!(
        c,
        "state add src 198.51.100.1 dst 192.0.2.1 proto esp spi {DEMO_INBOUND_SPI} mode tunnel replay-window 1024 aead 'rfc4106(gcm(aes))' {} 128",
        hexkey(4242, 20)
    );
    for x in 0..64u32 {
        let _ = writeln!(
            c,
            "policy add src 10.3.{}.0/22 dst 10.4.0.0/16 dir in tmpl src 198.51.100.1 dst 192.0.2.1 proto esp spi {DEMO_INBOUND_SPI} mode tunnel",
            x * 4
        );
    }
    c.push_str("policy setdefault out block\npolicy setdefault in block\n");
    c.push_str("route add 198.51.100.0/24 port 2\nroute add 2001:db8:ffff::/48 port 2\nroute add 10.4.0.0/16 port 3\n");
    c.push_str("neigh port 2 02:00:00:00:02:02\nneigh port 3 02:00:00:00:03:03\n");
    c
}
