//! Whole-frame parsing for the data path: one pass over the headers, no
//! allocation, no copy; the result says where each layer starts.

use super::ethernet::{ethertype, l2_header};
use super::{ipv4, ipv6, proto, tcp, WireError};
use crate::ip::{Addr, Family};

/// Fragment information (IPv4 flags/offset, or an IPv6 fragment header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the fragment's data in the original datagram, in bytes.
    pub offset: u16,
    /// More fragments follow (MF / M flag).
    pub more: bool,
    /// Identification (IPv4: 16 bits, widened).
    pub ident: u32,
}

/// SPI and sequence number of an ESP packet (RFC 4303 section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspInfo {
    pub spi: u32,
    /// Low 32 bits of the sequence number.
    pub seq: u32,
}

/// What one parse of a frame found. Offsets count from the start of the
/// buffer given to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    /// Ethernet header length, VLAN tags included (0 when parsed from L3).
    pub l2_len: u16,
    /// Number of VLAN tags (0 to 2).
    pub vlans: u8,
    pub family: Family,
    /// Offset of the IP header (equal to `l2_len`).
    pub l3_offset: u16,
    /// Length of the IP datagram from its header (IPv4 total length, IPv6
    /// 40 + payload length); bytes of the buffer beyond it are L2 padding.
    pub l3_len: u32,
    /// Upper-layer protocol: IPv4 protocol, or the IPv6 Next Header after the
    /// extension headers (after a fragment header: its Next Header).
    pub l4_proto: u8,
    /// Offset of the upper-layer header (for a fragment: of the fragment data).
    pub l4_offset: u32,
    /// Source port, or ICMP type; 0 for fragments and port-less protocols.
    pub sport: u16,
    /// Destination port, or ICMP code; 0 for fragments and port-less protocols.
    pub dport: u16,
    /// IPv4 DSCP/ECN byte or IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Set if the packet is a fragment; then ports are zero and the upper
    /// layer was not parsed.
    pub frag: Option<Fragment>,
    /// Set for an unfragmented ESP packet (protocol 50).
    pub esp: Option<EspInfo>,
}

impl ParsedFrame {
    /// Is this an IPv4 fragment or an IPv6 packet with a fragment header?
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.frag.is_some()
    }

    /// The end of the IP datagram within the buffer (`l3_offset + l3_len`).
    #[inline(always)]
    pub fn l3_end(&self) -> usize {
        self.l3_offset as usize + self.l3_len as usize
    }
}

/// Parse an Ethernet frame (zero, one or two VLAN tags) down to the upper-layer header.
///
/// Checks: the L2 header and tags fit; the EtherType is IPv4 or IPv6 and
/// matches the IP version; the IP header is well formed and the datagram fits
/// the buffer (see [`ipv4::Ipv4Packet::new_checked`],
/// [`ipv6::walk_ext_headers`]); unless the packet is a fragment, the
/// upper-layer header needed for the flow key fits (UDP, UDP-Lite 8 bytes; TCP
/// 20 bytes and a valid data offset; SCTP 12; ICMP/ICMPv6 8; ESP 8). The IPv4
/// header checksum is not verified here (NIC offload or
/// [`ipv4::Ipv4Packet::verify_checksum`]).
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<ParsedFrame, WireError> {
    parse_frame_addrs(frame).map(|(p, _, _)| p)
}

/// Parse an IP packet (IPv4 or IPv6, by the version nibble) that starts at
/// offset 0, e.g. the inner packet after ESP tunnel decapsulation.
#[inline]
pub fn parse_l3(packet: &[u8]) -> Result<ParsedFrame, WireError> {
    parse_l3_addrs(packet).map(|(p, _, _)| p)
}

#[inline(always)]
pub(crate) fn parse_frame_addrs(frame: &[u8]) -> Result<(ParsedFrame, Addr, Addr), WireError> {
    let (l2, vlans, ty) = l2_header(frame)?;
    let family = match ty {
        ethertype::IPV4 => Family::V4,
        ethertype::IPV6 => Family::V6,
        _ => return Err(WireError::UnsupportedEthertype),
    };
    parse_ip(frame, l2, vlans, family)
}

#[inline(always)]
pub(crate) fn parse_l3_addrs(packet: &[u8]) -> Result<(ParsedFrame, Addr, Addr), WireError> {
    let family = match packet.first() {
        None => return Err(WireError::TruncatedL3),
        Some(v) if v >> 4 == 4 => Family::V4,
        Some(v) if v >> 4 == 6 => Family::V6,
        Some(_) => return Err(WireError::BadVersion),
    };
    parse_ip(packet, 0, 0, family)
}

/// Parse the IP packet of `family` at `frame[l3..]`; returns the result and
/// the source and destination addresses.
#[inline(always)]
fn parse_ip(
    frame: &[u8],
    l3: usize,
    vlans: u8,
    family: Family,
) -> Result<(ParsedFrame, Addr, Addr), WireError> {
    let Some(pkt) = frame.get(l3..) else {
        return Err(WireError::TruncatedL3);
    };
    let mut p = ParsedFrame {
        l2_len: l3 as u16,
        vlans,
        family,
        l3_offset: l3 as u16,
        l3_len: 0,
        l4_proto: 0,
        l4_offset: 0,
        sport: 0,
        dport: 0,
        tos: 0,
        ttl: 0,
        frag: None,
        esp: None,
    };
    let (src, dst, l4) = match family {
        Family::V4 => {
            let (h, hl, tl) = ipv4::check_header(pkt)?;
            let flg_off = u16::from_be_bytes([h[6], h[7]]);
            p.l3_len = tl as u32;
            p.l4_proto = h[ipv4::field::PROTOCOL];
            p.l4_offset = (l3 + hl) as u32;
            p.tos = h[ipv4::field::DSCP_ECN];
            p.ttl = h[ipv4::field::TTL];
            // RFC 791 section 3.1: a fragment has MF set or a non-zero offset.
            if flg_off & (ipv4::FLAG_MF | 0x1fff) != 0 {
                p.frag = Some(Fragment {
                    offset: (flg_off & 0x1fff) << 3,
                    more: flg_off & ipv4::FLAG_MF != 0,
                    ident: u16::from_be_bytes([h[4], h[5]]) as u32,
                });
            }
            let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as Addr;
            let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]) as Addr;
            // hl <= tl <= pkt.len() after check_header.
            (src, dst, pkt.get(hl..tl).unwrap_or_default())
        }
        Family::V6 => {
            let (h, pl) = ipv6::check_header(pkt)?;
            let payload = pkt.get(40..40 + pl).unwrap_or_default();
            let up = ipv6::walk_ext_headers(h[ipv6::field::NEXT_HEADER], payload)?;
            p.l3_len = (40 + pl) as u32;
            p.l4_proto = up.protocol;
            p.l4_offset = (l3 + 40 + up.offset) as u32;
            p.tos = ((u16::from_be_bytes([h[0], h[1]]) >> 4) & 0xff) as u8;
            p.ttl = h[ipv6::field::HOP_LIMIT];
            p.frag = up.fragment;
            let mut a = [0u8; 16];
            a.copy_from_slice(&h[ipv6::field::SRC_ADDR]);
            let src = u128::from_be_bytes(a);
            a.copy_from_slice(&h[ipv6::field::DST_ADDR]);
            let dst = u128::from_be_bytes(a);
            (src, dst, payload.get(up.offset..).unwrap_or_default())
        }
    };
    if p.frag.is_none() {
        upper_layer(&mut p, l4)?;
    }
    Ok((p, src, dst))
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Check the upper-layer header in `l4` and take ports (ICMP type/code, ESP SPI/seq).
#[inline(always)]
fn upper_layer(p: &mut ParsedFrame, l4: &[u8]) -> Result<(), WireError> {
    let need = match (p.family, p.l4_proto) {
        (_, proto::TCP) => {
            tcp::check_header(l4)?;
            0
        }
        (_, proto::UDP) | (_, proto::UDPLITE) => 8,
        (_, proto::SCTP) => 12,
        (Family::V4, proto::ICMP) | (Family::V6, proto::ICMPV6) => 8,
        (_, proto::ESP) => 8,
        _ => return Ok(()),
    };
    if l4.len() < need {
        return Err(WireError::TruncatedL4);
    }
    match p.l4_proto {
        proto::ICMP | proto::ICMPV6 => {
            // Only reached for the family's own ICMP. sport = type, dport = code.
            if let [ty, code, ..] = *l4 {
                p.sport = ty as u16;
                p.dport = code as u16;
            }
        }
        proto::ESP => {
            if let Some(h) = l4.first_chunk::<8>() {
                p.esp = Some(EspInfo {
                    spi: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
                    seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                });
            }
        }
        _ => {
            // TCP, UDP, UDP-Lite, SCTP: source and destination port first.
            p.sport = be16(l4, 0);
            p.dport = be16(l4, 2);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::FrameSpec;

    const A4: Addr = 0x0a00_0001;
    const B4: Addr = 0x0a00_0002;
    const A6: Addr = 0xfd00_0000_0000_0000_0000_0000_0000_0001;
    const B6: Addr = 0xfd00_0000_0000_0000_0000_0000_0000_0002;

    /// A hand-written IPv4/UDP frame: 10.0.0.1:5000 -> 10.0.0.2:53, 4 data
    /// bytes, header checksum 0x66c6 (computed by hand), 6 bytes of padding.
    const UDP4: [u8; 52] = [
        // Ethernet
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, //
        // IPv4: len 32, id 0, DF, TTL 64, UDP
        0x45, 0x00, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x26, 0xcb, 10, 0, 0, 1, 10, 0,
        0, 2, //
        // UDP: 5000 -> 53, len 12, checksum 0
        0x13, 0x88, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, //
        b'd', b'a', b't', b'a', //
        0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn hand_made_udp4() {
        assert!(crate::wire::Ipv4Packet::new_checked(&UDP4[14..])
            .unwrap()
            .verify_checksum());
        let p = parse_frame(&UDP4).unwrap();
        assert_eq!(p.l2_len, 14);
        assert_eq!(p.l3_offset, 14);
        assert_eq!(p.vlans, 0);
        assert_eq!(p.family, Family::V4);
        assert_eq!(p.l3_len, 32);
        assert_eq!(p.l3_end(), 46);
        assert_eq!(p.l4_proto, 17);
        assert_eq!(p.l4_offset, 34);
        assert_eq!((p.sport, p.dport), (5000, 53));
        assert_eq!((p.tos, p.ttl), (0, 64));
        assert!(!p.is_fragment());
        assert_eq!(p.esp, None);
    }

    #[test]
    fn truncated_at_every_offset() {
        let frames = [
            UDP4[..46].to_vec(),
            FrameSpec::tcp(Family::V4, A4, B4, 1, 2, 0)
                .with_vlan(5)
                .frame(),
            FrameSpec::tcp(Family::V6, A6, B6, 1, 2, 0)
                .with_qinq(5, 6)
                .frame(),
            FrameSpec::icmp(Family::V6, A6, B6, 128, 0, 0).frame(),
            FrameSpec::esp(Family::V4, A4, B4, 0x100, 1, 0).frame(),
        ];
        for f in &frames {
            let full = parse_frame(f).unwrap();
            for n in 0..f.len() {
                let e = parse_frame(&f[..n]).unwrap_err();
                let expect = if n < full.l2_len as usize {
                    WireError::TruncatedL2
                } else if n < full.l2_len as usize + if full.family == Family::V4 { 20 } else { 40 }
                {
                    WireError::TruncatedL3
                } else if full.family == Family::V4 {
                    WireError::BadTotalLength
                } else {
                    WireError::BadPayloadLength
                };
                assert_eq!(e, expect, "frame {f:02x?} cut at {n}");
            }
        }
    }

    #[test]
    fn short_l4_in_consistent_datagram() {
        // The IP header says the datagram ends before the UDP header does.
        let mut f = UDP4[..38].to_vec();
        f[16..18].copy_from_slice(&24u16.to_be_bytes());
        let mut ip = crate::wire::Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
        assert_eq!(parse_frame(&f), Err(WireError::TruncatedL4));
        // TCP with data offset 4.
        let mut f = FrameSpec::tcp(Family::V4, A4, B4, 1, 2, 0).frame();
        f[34 + 12] = 0x40;
        assert_eq!(parse_frame(&f), Err(WireError::BadDataOffset));
        // TCP with data offset 6 and no options bytes.
        f[34 + 12] = 0x60;
        assert_eq!(parse_frame(&f), Err(WireError::BadDataOffset));
    }

    #[test]
    fn bad_headers() {
        let mut f = UDP4;
        f[14] = 0x44;
        assert_eq!(parse_frame(&f), Err(WireError::BadIhl));
        f[14] = 0x65;
        assert_eq!(parse_frame(&f), Err(WireError::BadVersion));
        let mut f = UDP4;
        f[16..18].copy_from_slice(&39u16.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(WireError::BadTotalLength));
        let mut f = UDP4;
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse_frame(&f), Err(WireError::TruncatedL3));
        let mut f = UDP4.to_vec();
        f.resize(100, 0);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse_frame(&f), Err(WireError::BadVersion));
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_frame(&f), Err(WireError::UnsupportedEthertype));
        assert_eq!(parse_l3(&[]), Err(WireError::TruncatedL3));
        assert_eq!(parse_l3(&[0x50; 60]), Err(WireError::BadVersion));
    }

    #[test]
    fn ipv6_ext_chain_overrun_and_too_long() {
        // hop-by-hop whose Hdr Ext Len claims 16 more bytes than the payload holds.
        let base = FrameSpec::udp(Family::V6, A6, B6, 1, 2, 0).frame();
        let mut f = base[..54].to_vec();
        f[20] = 0; // next header: hop-by-hop
        f.extend_from_slice(&[17, 2, 1, 4, 0, 0, 0, 0]);
        f.extend_from_slice(&base[54..]);
        let pl = (f.len() - 54) as u16;
        f[18..20].copy_from_slice(&pl.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(WireError::ExtHeaderOverrun));
        // Fix the length: now valid, UDP after 8 bytes of options.
        f[55] = 0;
        let p = parse_frame(&f).unwrap();
        assert_eq!((p.l4_proto, p.l4_offset, p.sport, p.dport), (17, 62, 1, 2));
        // A chain of 9 destination-options headers.
        let mut f = base[..54].to_vec();
        f[20] = 60;
        for i in 0..9 {
            f.extend_from_slice(&[if i == 8 { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
        }
        f.extend_from_slice(&base[54..]);
        let pl = (f.len() - 54) as u16;
        f[18..20].copy_from_slice(&pl.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(WireError::TooManyExtHeaders));
    }

    #[test]
    fn fragments_have_no_ports() {
        for s in [
            FrameSpec::udp(Family::V4, A4, B4, 7, 8, 100).with_fragment(0, true, 1),
            FrameSpec::udp(Family::V4, A4, B4, 7, 8, 100).with_fragment(1480, false, 1),
            FrameSpec::tcp(Family::V6, A6, B6, 7, 8, 100).with_fragment(0, true, 2),
            FrameSpec::tcp(Family::V6, A6, B6, 7, 8, 100).with_fragment(1232, true, 2),
            FrameSpec::tcp(Family::V6, A6, B6, 7, 8, 100).with_fragment(0, false, 3),
        ] {
            let p = parse_frame(&s.frame()).unwrap();
            let fr = s.frag.unwrap();
            assert_eq!(
                p.frag.map(|f| (f.offset, f.more)),
                Some((fr.offset, fr.more))
            );
            assert_eq!(p.frag.unwrap().ident, fr.ident);
            assert_eq!((p.sport, p.dport, p.l4_proto), (0, 0, s.proto));
            assert_eq!(p.l4_offset as usize, 14 + s.ip_header_len());
        }
        // A non-first fragment too short for any upper-layer header is fine.
        let s = FrameSpec::udp(Family::V4, A4, B4, 7, 8, 1).with_fragment(8, false, 1);
        assert!(parse_frame(&s.frame()).unwrap().is_fragment());
    }

    #[test]
    fn esp_and_icmp() {
        let f = FrameSpec::esp(Family::V6, A6, B6, 0xdead_beef, 77, 40).frame();
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.l4_proto, 50);
        assert_eq!(
            p.esp,
            Some(EspInfo {
                spi: 0xdead_beef,
                seq: 77
            })
        );
        assert_eq!((p.sport, p.dport), (0, 0));
        let f = FrameSpec::icmp(Family::V4, A4, B4, 11, 1, 20).frame();
        let p = parse_frame(&f).unwrap();
        assert_eq!((p.l4_proto, p.sport, p.dport), (1, 11, 1));
        // ICMPv6 next header inside IPv4 is not ICMP: no type/code.
        let f = FrameSpec::new(Family::V4, A4, B4, 58, 0, 0, 8).frame();
        let p = parse_frame(&f).unwrap();
        assert_eq!((p.l4_proto, p.sport, p.dport), (58, 0, 0));
        let f = FrameSpec::new(Family::V6, A6, B6, 132, 9, 10, 20).frame();
        let p = parse_frame(&f).unwrap();
        assert_eq!((p.l4_proto, p.sport, p.dport), (132, 9, 10));
    }

    #[test]
    fn l3_parse_matches_frame_parse() {
        let s = FrameSpec::udp(Family::V6, A6, B6, 1, 2, 10)
            .with_tos(0xb9)
            .with_ttl(3);
        let a = parse_frame(&s.frame()).unwrap();
        let b = parse_l3(&s.packet()).unwrap();
        assert_eq!((b.l2_len, b.l3_offset, b.l3_len), (0, 0, a.l3_len));
        assert_eq!(b.l4_offset + 14, a.l4_offset);
        assert_eq!((a.tos, a.ttl, b.tos, b.ttl), (0xb9, 3, 0xb9, 3));
    }
}
