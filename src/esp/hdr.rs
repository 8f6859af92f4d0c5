//! The few IP header fields ESP needs, parsed here (bounds-checked, never
//! panicking) so that `esp` does not depend on `wire`.

use super::{EspError, IPPROTO_ESP};
use crate::ip::Family;

pub(crate) const IPV4_MIN_HDR: usize = 20;
pub(crate) const IPV6_HDR: usize = 40;

/// IPv6 extension headers (RFC 8200 section 4).
const NH_HOPOPTS: u8 = 0;
const NH_ROUTING: u8 = 43;
const NH_FRAGMENT: u8 = 44;
const NH_DSTOPTS: u8 = 60;

/// What ESP needs to know of an IP packet at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpInfo {
    pub family: Family,
    /// Bytes of the IP packet (IPv4 total length; IPv6 40 + payload length).
    pub total: usize,
    /// Length of the IP header, extension headers included, up to the point
    /// where ESP sits (decap) or goes (encap transport).
    pub hdr_len: usize,
    /// Offset of the next-header byte that names what follows `hdr_len`
    /// (IPv4 protocol field, IPv6 next header of the base or last extension header).
    pub nh_off: usize,
    /// IPv4 TOS / IPv6 traffic class: DSCP and ECN.
    pub tos: u8,
    /// IPv4 DF bit (IPv6: always true, IPv6 routers never fragment).
    pub df: bool,
    /// IPv4 MF set or offset non-zero; IPv6 fragment header crossed.
    pub fragment: bool,
}

#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[inline]
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

/// Version nibble of the first byte, if any.
#[inline]
pub(crate) fn version(b: &[u8]) -> Option<u8> {
    b.first().map(|v| v >> 4)
}

/// Parse the IPv4 header at the start of `b`: version, IHL, total length.
#[inline]
pub(crate) fn ipv4(b: &[u8]) -> Result<IpInfo, EspError> {
    if b.len() < IPV4_MIN_HDR {
        return Err(EspError::Truncated);
    }
    if b[0] >> 4 != 4 {
        return Err(EspError::BadIpHeader);
    }
    let ihl = (b[0] & 0x0f) as usize * 4;
    let total = be16(b, 2) as usize;
    if ihl < IPV4_MIN_HDR || total < ihl {
        return Err(EspError::BadIpHeader);
    }
    if total > b.len() {
        return Err(EspError::Truncated);
    }
    let frag = be16(b, 6);
    Ok(IpInfo {
        family: Family::V4,
        total,
        hdr_len: ihl,
        nh_off: 9,
        tos: b[1],
        df: frag & 0x4000 != 0,
        fragment: frag & 0x3fff != 0,
    })
}

/// Parse the IPv6 header at the start of `b`, and walk extension headers
/// while `walk(nh, first)` says so (`first`: directly after the base header).
#[inline]
pub(crate) fn ipv6(b: &[u8], walk: impl Fn(u8, bool) -> bool) -> Result<IpInfo, EspError> {
    if b.len() < IPV6_HDR {
        return Err(EspError::Truncated);
    }
    if b[0] >> 4 != 6 {
        return Err(EspError::BadIpHeader);
    }
    // A payload length of 0 with a jumbo payload option is not supported:
    // such a packet is read as one without payload.
    let total = IPV6_HDR + be16(b, 4) as usize;
    if total > b.len() {
        return Err(EspError::Truncated);
    }
    let mut nh_off = 6;
    let mut off = IPV6_HDR;
    let mut fragment = false;
    while walk(b[nh_off], off == IPV6_HDR) {
        let nh = b[nh_off];
        // Each extension header starts with next header and a length byte.
        if off + 8 > total {
            return Err(EspError::Truncated);
        }
        let len = match nh {
            NH_FRAGMENT => {
                fragment = true;
                8
            }
            _ => (b[off + 1] as usize + 1) * 8,
        };
        if off + len > total {
            return Err(EspError::Truncated);
        }
        nh_off = off;
        off += len;
    }
    Ok(IpInfo {
        family: Family::V6,
        total,
        hdr_len: off,
        nh_off,
        tos: ((b[0] & 0x0f) << 4) | (b[1] >> 4),
        df: true,
        fragment,
    })
}

/// Parse an IP packet of either family with no extension headers walked
/// (the inner packet of tunnel mode).
#[inline]
pub(crate) fn ip_any(b: &[u8]) -> Result<IpInfo, EspError> {
    match version(b) {
        Some(4) => ipv4(b),
        Some(6) => ipv6(b, |_, _| false),
        Some(_) => Err(EspError::BadIpHeader),
        None => Err(EspError::Truncated),
    }
}

/// RFC 4303 section 3.1.1: "In the IPv6 context, ESP is viewed as an
/// end-to-end payload, and thus should appear after hop-by-hop, routing, and
/// fragmentation extension headers.  Destination options extension header(s)
/// could appear before, after, or both before and after the ESP header".
/// Encapsulation puts ESP after hop-by-hop (first only) and routing headers,
/// and before anything else (destination options included). It walks a
/// fragment header too, but only to refuse the fragment (transport mode
/// protects whole datagrams).
#[inline]
pub(crate) fn ipv6_insert_point(nh: u8, first: bool) -> bool {
    (nh == NH_HOPOPTS && first) || nh == NH_ROUTING || nh == NH_FRAGMENT
}

/// Decapsulation walks every header that may precede ESP, destination
/// options included, until it reaches ESP (or something else: not ESP).
#[inline]
pub(crate) fn ipv6_before_esp(nh: u8, first: bool) -> bool {
    nh != IPPROTO_ESP
        && ((nh == NH_HOPOPTS && first)
            || nh == NH_ROUTING
            || nh == NH_FRAGMENT
            || nh == NH_DSTOPTS)
}

/// Ones' complement sum of 16-bit words (RFC 1071), not yet folded.
#[inline]
pub(crate) fn sum16(b: &[u8]) -> u32 {
    let mut s = 0u32;
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        s += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        s += (*last as u32) << 8;
    }
    s
}

/// Fold a sum and complement it.
#[inline]
pub(crate) fn fold(s: u32) -> u16 {
    // Two rounds always do for 32 bits: after the first the sum is at most
    // 0xffff + 0xffff, after the second at most 0xfffe + 1.
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Recompute the IPv4 header checksum of `h` (the whole header, options included).
#[inline]
pub(crate) fn set_ipv4_checksum(h: &mut [u8]) {
    h[10] = 0;
    h[11] = 0;
    let c = fold(sum16(h));
    put16(h, 10, c);
}

/// RFC 3168 ECN codepoints (the low two bits of TOS / traffic class).
pub(crate) const ECN_MASK: u8 = 0b11;
pub(crate) const ECN_NOT_ECT: u8 = 0b00;
pub(crate) const ECN_ECT1: u8 = 0b01;
pub(crate) const ECN_ECT0: u8 = 0b10;
pub(crate) const ECN_CE: u8 = 0b11;

/// RFC 6040 section 4.2, the decapsulator's table: the ECN field of the
/// forwarded inner header from the arriving inner and outer ones; `None`
/// means drop.
///
/// ```text
///  +---------+------------------------------------------------+
///  |Arriving |            Arriving Outer Header               |
///  |   Inner +---------+------------+------------+------------+
///  |  Header | Not-ECT | ECT(0)     | ECT(1)     |     CE     |
///  +---------+---------+------------+------------+------------+
///  | Not-ECT | Not-ECT |Not-ECT(!!!)|Not-ECT(!!!)| <drop>(!!!)|
///  |  ECT(0) |  ECT(0) | ECT(0)     | ECT(1)     |     CE     |
///  |  ECT(1) |  ECT(1) | ECT(1) (!) | ECT(1)     |     CE     |
///  |    CE   |      CE |     CE     |     CE(!!!)|     CE     |
///  +---------+---------+------------+------------+------------+
/// ```
#[inline]
pub(crate) fn ecn_decap(inner: u8, outer: u8) -> Option<u8> {
    match (inner & ECN_MASK, outer & ECN_MASK) {
        (ECN_NOT_ECT, ECN_CE) => None,
        (ECN_NOT_ECT, _) => Some(ECN_NOT_ECT),
        (ECN_CE, _) => Some(ECN_CE),
        (_, ECN_CE) => Some(ECN_CE),
        (ECN_ECT0, ECN_ECT1) => Some(ECN_ECT1),
        (i, _) => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real IPv4/UDP header (from the ESP vectors), checksum 0x67ae.
    const V4: [u8; 20] = [
        0x45, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x00, 0x00, 0x3f, 0x11, 0x67, 0xae, 0x0a, 0x01, 0x00,
        0x05, 0x0a, 0x02, 0x00, 0x09,
    ];

    #[test]
    fn ipv4_fields_and_checksum() {
        let mut p = [0u8; 46];
        p[..20].copy_from_slice(&V4);
        let i = ipv4(&p).unwrap();
        assert_eq!((i.total, i.hdr_len, i.nh_off), (46, 20, 9));
        assert!(!i.df && !i.fragment);
        let mut h = V4;
        h[10] = 0xde;
        set_ipv4_checksum(&mut h);
        assert_eq!(h, V4);
        // Truncated, bad IHL, total beyond the buffer, bad version.
        assert_eq!(ipv4(&p[..19]), Err(EspError::Truncated));
        assert_eq!(ipv4(&p[..45]), Err(EspError::Truncated));
        let mut q = p;
        q[0] = 0x44;
        assert_eq!(ipv4(&q), Err(EspError::BadIpHeader));
        q[0] = 0x65;
        assert_eq!(ipv4(&q), Err(EspError::BadIpHeader));
        let mut q = p;
        q[6] = 0x20; // MF
        assert!(ipv4(&q).unwrap().fragment);
    }

    #[test]
    fn ipv6_walk() {
        // Base header, hop-by-hop (8 bytes), routing (16 bytes), then ESP.
        let mut p = vec![0u8; 40 + 8 + 16 + 8];
        p[0] = 0x60;
        p[1] = 0xb0; // traffic class 0x0b
        put16(&mut p, 4, 32);
        p[6] = NH_HOPOPTS;
        p[40] = NH_ROUTING;
        p[41] = 0;
        p[48] = IPPROTO_ESP;
        p[49] = 1;
        let i = ipv6(&p, ipv6_before_esp).unwrap();
        assert_eq!((i.total, i.hdr_len, i.nh_off), (72, 64, 48));
        assert_eq!(i.tos, 0x0b);
        assert_eq!(p[i.nh_off], IPPROTO_ESP);
        let j = ipv6(&p, ipv6_insert_point).unwrap();
        assert_eq!(j.hdr_len, 64);
        // An extension header running past the payload.
        p[49] = 3;
        assert_eq!(ipv6(&p, ipv6_before_esp), Err(EspError::Truncated));
        // Hop-by-hop not first is not walked.
        p[49] = 1;
        p[40] = NH_HOPOPTS;
        assert_eq!(ipv6(&p, ipv6_before_esp).unwrap().hdr_len, 48);
    }

    #[test]
    fn rfc6040_table() {
        use super::{ECN_CE as CE, ECN_ECT0 as E0, ECN_ECT1 as E1, ECN_NOT_ECT as N};
        let rows = [
            (N, [Some(N), Some(N), Some(N), None]),
            (E0, [Some(E0), Some(E0), Some(E1), Some(CE)]),
            (E1, [Some(E1), Some(E1), Some(E1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        for (inner, outs) in rows {
            for (outer, want) in [N, E0, E1, CE].into_iter().zip(outs) {
                assert_eq!(
                    ecn_decap(inner | 0xb8, outer | 0x48),
                    want,
                    "{inner} {outer}"
                );
            }
        }
    }
}
