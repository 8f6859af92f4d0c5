//! Frame builders for tests and the traffic generator: a valid
//! Ethernet / IPv4-or-IPv6 / UDP-TCP-ICMP-ESP frame from a 5-tuple and a
//! payload length, with correct lengths and checksums.
//!
//! ```
//! use xfgate::ip::{Dir, Family};
//! use xfgate::wire::{build::FrameSpec, flow_key};
//! let f = FrameSpec::udp(Family::V4, 0x0a00_0001, 0x0a00_0002, 1234, 53, 100).frame();
//! let (key, _) = flow_key(&f, Dir::Out, 0).unwrap();
//! assert_eq!((key.sport, key.dport, key.proto), (1234, 53, 17));
//! ```

use super::ethernet::{ethertype, field as eth};
use super::parse::Fragment;
use super::{checksum, proto, Ipv4Packet, Ipv6Packet};
use crate::ip::{Addr, Family};
use crate::route::spec::Mac;

/// Why a frame could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("IP datagram too long: {0} bytes")]
    TooLong(usize),
}

/// Default MACs of built frames (locally administered).
pub const DEFAULT_SRC_MAC: Mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
pub const DEFAULT_DST_MAC: Mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// Everything that goes into a built frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    pub dst_mac: Mac,
    pub src_mac: Mac,
    /// C-tag VLAN id (802.1Q), if tagged.
    pub vlan: Option<u16>,
    /// S-tag VLAN id (802.1ad), outside the C-tag; only used with `vlan`.
    pub svlan: Option<u16>,
    pub family: Family,
    pub src: Addr,
    pub dst: Addr,
    pub proto: u8,
    /// Source port, or ICMP type.
    pub sport: u16,
    /// Destination port, or ICMP code.
    pub dport: u16,
    /// Bytes after the upper-layer header (byte i is `i as u8`).
    pub payload_len: usize,
    pub ttl: u8,
    pub tos: u8,
    pub dont_frag: bool,
    /// Make a fragment: IPv4 flags/offset, or an IPv6 fragment header. With
    /// a non-zero offset no upper-layer header is written.
    pub frag: Option<Fragment>,
    /// ESP SPI and sequence number (proto 50).
    pub spi: u32,
    pub seq: u32,
}

impl FrameSpec {
    /// A frame of `proto` with the given 5-tuple.
    pub fn new(
        family: Family,
        src: Addr,
        dst: Addr,
        proto: u8,
        sport: u16,
        dport: u16,
        payload_len: usize,
    ) -> FrameSpec {
        FrameSpec {
            dst_mac: DEFAULT_DST_MAC,
            src_mac: DEFAULT_SRC_MAC,
            vlan: None,
            svlan: None,
            family,
            src,
            dst,
            proto,
            sport,
            dport,
            payload_len,
            ttl: 64,
            tos: 0,
            dont_frag: false,
            frag: None,
            spi: 0,
            seq: 0,
        }
    }

    pub fn udp(family: Family, src: Addr, dst: Addr, sport: u16, dport: u16, len: usize) -> Self {
        Self::new(family, src, dst, proto::UDP, sport, dport, len)
    }

    pub fn tcp(family: Family, src: Addr, dst: Addr, sport: u16, dport: u16, len: usize) -> Self {
        Self::new(family, src, dst, proto::TCP, sport, dport, len)
    }

    /// ICMP (IPv4) or ICMPv6 (IPv6) message of type `ty` and `code`.
    pub fn icmp(family: Family, src: Addr, dst: Addr, ty: u8, code: u8, len: usize) -> Self {
        let p = match family {
            Family::V4 => proto::ICMP,
            Family::V6 => proto::ICMPV6,
        };
        Self::new(family, src, dst, p, ty as u16, code as u16, len)
    }

    /// An ESP packet: header with `spi` and `seq`, then `len` opaque bytes.
    pub fn esp(family: Family, src: Addr, dst: Addr, spi: u32, seq: u32, len: usize) -> Self {
        let mut s = Self::new(family, src, dst, proto::ESP, 0, 0, len);
        s.spi = spi;
        s.seq = seq;
        s
    }

    pub fn with_vlan(mut self, vid: u16) -> Self {
        self.vlan = Some(vid);
        self
    }

    /// Two tags: S-tag `svid` outside, C-tag `cvid` inside.
    pub fn with_qinq(mut self, svid: u16, cvid: u16) -> Self {
        self.svlan = Some(svid);
        self.vlan = Some(cvid);
        self
    }

    pub fn with_macs(mut self, src: Mac, dst: Mac) -> Self {
        self.src_mac = src;
        self.dst_mac = dst;
        self
    }

    pub fn with_ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn with_tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// Make it a fragment at `offset` bytes (a multiple of 8) with the M flag `more`.
    pub fn with_fragment(mut self, offset: u16, more: bool, ident: u32) -> Self {
        self.frag = Some(Fragment {
            offset: offset & !7,
            more,
            ident,
        });
        self
    }

    /// Length of the L2 header.
    pub fn l2_len(&self) -> usize {
        let tags = match (self.vlan, self.svlan) {
            (None, _) => 0,
            (Some(_), None) => 1,
            (Some(_), Some(_)) => 2,
        };
        eth::HEADER_LEN + tags * eth::VLAN_TAG_LEN
    }

    fn writes_l4_header(&self) -> bool {
        !matches!(self.frag, Some(f) if f.offset != 0)
    }

    /// Length of the upper-layer header written.
    pub fn l4_header_len(&self) -> usize {
        if !self.writes_l4_header() {
            return 0;
        }
        match self.proto {
            proto::TCP => 20,
            proto::UDP | proto::UDPLITE | proto::ESP => 8,
            proto::ICMP | proto::ICMPV6 => 8,
            proto::SCTP => 12,
            _ => 0,
        }
    }

    /// Length of the IP header(s): 20, or 40 (+ 8 with a fragment header).
    pub fn ip_header_len(&self) -> usize {
        match self.family {
            Family::V4 => 20,
            Family::V6 => 40 + if self.frag.is_some() { 8 } else { 0 },
        }
    }

    /// Length of the IP datagram.
    pub fn l3_len(&self) -> usize {
        self.ip_header_len() + self.l4_header_len() + self.payload_len
    }

    /// Length of the whole frame.
    pub fn frame_len(&self) -> usize {
        self.l2_len() + self.l3_len()
    }

    /// Write the frame into `out`; returns its length.
    pub fn write_frame(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let l2 = self.l2_len();
        let need = l2 + self.l3_len();
        if out.len() < need {
            return Err(BuildError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        self.write_l3(&mut out[l2..need])?;
        out[eth::DESTINATION].copy_from_slice(&self.dst_mac);
        out[eth::SOURCE].copy_from_slice(&self.src_mac);
        let ty = match self.family {
            Family::V4 => ethertype::IPV4,
            Family::V6 => ethertype::IPV6,
        };
        let mut at = 12;
        if let Some(c) = self.vlan {
            if let Some(s) = self.svlan {
                out[at..at + 4].copy_from_slice(&tag(ethertype::QINQ, s));
                at += 4;
            }
            out[at..at + 4].copy_from_slice(&tag(ethertype::VLAN, c));
            at += 4;
        }
        out[at..at + 2].copy_from_slice(&ty.to_be_bytes());
        Ok(need)
    }

    /// The frame in a new `Vec`.
    pub fn frame(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.frame_len()];
        // The Vec has exactly the needed length; only TooLong can fail.
        let n = self.write_frame(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }

    /// The IP packet (no L2 header) in a new `Vec`.
    pub fn packet(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.l3_len()];
        let n = self.write_l3(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }

    /// Write the IP packet (no L2 header) into `out`; returns its length.
    pub fn write_l3(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let len = self.l3_len();
        let max = match self.family {
            Family::V4 => 65535,
            Family::V6 => 65535 + 40,
        };
        if len > max {
            return Err(BuildError::TooLong(len));
        }
        if out.len() < len {
            return Err(BuildError::BufferTooSmall {
                need: len,
                have: out.len(),
            });
        }
        let out = &mut out[..len];
        let ih = self.ip_header_len();
        let l4h = self.l4_header_len();
        for (i, b) in out[ih + l4h..].iter_mut().enumerate() {
            *b = i as u8;
        }
        // The upper-layer length as the pseudo-header counts it.
        let ulen = (len - ih) as u32;
        match self.family {
            Family::V4 => {
                out[..20].fill(0);
                let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
                ip.set_version_and_header_len(20);
                ip.set_tos(self.tos);
                ip.set_total_len(len as u16);
                let (off, more, id) = self
                    .frag
                    .map_or((0, false, 0), |f| (f.offset, f.more, f.ident as u16));
                ip.set_ident(id);
                ip.set_flags_and_frag_offset(self.dont_frag, more, off);
                ip.set_ttl(self.ttl);
                ip.set_protocol(self.proto);
                ip.set_src_addr(self.src as u32);
                ip.set_dst_addr(self.dst as u32);
                ip.fill_checksum();
            }
            Family::V6 => {
                out[..ih].fill(0);
                let mut ip = Ipv6Packet::new_unchecked(&mut out[..]);
                ip.set_version();
                ip.set_traffic_class(self.tos);
                ip.set_payload_len((len - 40) as u16);
                ip.set_hop_limit(self.ttl);
                ip.set_src_addr(self.src);
                ip.set_dst_addr(self.dst);
                match self.frag {
                    None => ip.set_next_header(self.proto),
                    Some(f) => {
                        ip.set_next_header(super::ipv6::next_header::FRAGMENT);
                        let fh = &mut out[40..48];
                        fh[0] = self.proto;
                        let w = (f.offset & 0xfff8) | f.more as u16;
                        fh[2..4].copy_from_slice(&w.to_be_bytes());
                        fh[4..8].copy_from_slice(&f.ident.to_be_bytes());
                    }
                }
            }
        }
        if l4h == 0 {
            return Ok(len);
        }
        let l4 = &mut out[ih..];
        l4[..l4h].fill(0);
        match self.proto {
            proto::ESP => {
                l4[0..4].copy_from_slice(&self.spi.to_be_bytes());
                l4[4..8].copy_from_slice(&self.seq.to_be_bytes());
            }
            proto::ICMP | proto::ICMPV6 => {
                l4[0] = self.sport as u8;
                l4[1] = self.dport as u8;
                // Echo identifier / sequence: something recognizable.
                l4[4..6].copy_from_slice(&0x7866u16.to_be_bytes());
                l4[6..8].copy_from_slice(&1u16.to_be_bytes());
            }
            _ => {
                l4[0..2].copy_from_slice(&self.sport.to_be_bytes());
                l4[2..4].copy_from_slice(&self.dport.to_be_bytes());
            }
        }
        let ck_at = match self.proto {
            proto::UDP | proto::UDPLITE => {
                // UDP-Lite: checksum coverage 0 = the whole datagram (RFC 3828).
                let v = if self.proto == proto::UDP {
                    ulen as u16
                } else {
                    0
                };
                l4[4..6].copy_from_slice(&v.to_be_bytes());
                Some(6)
            }
            proto::TCP => {
                l4[4..8].copy_from_slice(&0x0100_0000u32.to_be_bytes());
                l4[12] = 5 << 4;
                l4[13] = super::tcp::flags::ACK | super::tcp::flags::PSH;
                l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
                Some(16)
            }
            proto::ICMP | proto::ICMPV6 => Some(2),
            _ => None,
        };
        // Checksums over the whole upper layer; a first fragment gets the sum
        // over what it carries, which is what a sender computing over a short
        // datagram would have written.
        if let Some(at) = ck_at {
            let data = checksum::sum(l4);
            let ph = match (self.family, self.proto) {
                (Family::V4, proto::ICMP) => 0,
                (Family::V4, _) => {
                    checksum::pseudo_header_v4(self.src as u32, self.dst as u32, self.proto, ulen)
                }
                (Family::V6, _) => checksum::pseudo_header_v6(self.src, self.dst, self.proto, ulen),
            };
            let mut c = !checksum::combine(&[data, ph]);
            if c == 0 && self.proto == proto::UDP {
                // RFC 768: a computed zero is sent as all ones.
                c = 0xffff;
            }
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        Ok(len)
    }
}

fn tag(tpid: u16, vid: u16) -> [u8; 4] {
    let [a, b] = tpid.to_be_bytes();
    let [c, d] = (vid & 0x0fff).to_be_bytes();
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{IcmpPacket, TcpPacket, UdpPacket};

    const A4: Addr = 0xc0a8_0101;
    const B4: Addr = 0xc0a8_0202;
    const A6: Addr = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    const B6: Addr = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

    /// Verify an upper-layer checksum the way a receiver does.
    fn l4_sum_ok(family: Family, src: Addr, dst: Addr, p: u8, l4: &[u8]) -> bool {
        let ph = match (family, p) {
            (Family::V4, proto::ICMP) => 0,
            (Family::V4, _) => {
                checksum::pseudo_header_v4(src as u32, dst as u32, p, l4.len() as u32)
            }
            (Family::V6, _) => checksum::pseudo_header_v6(src, dst, p, l4.len() as u32),
        };
        checksum::combine(&[checksum::sum(l4), ph]) == 0xffff
    }

    #[test]
    fn udp_v4_frame_bytes() {
        let f = FrameSpec::udp(Family::V4, A4, B4, 1000, 2000, 4).frame();
        assert_eq!(f.len(), 14 + 20 + 8 + 4);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.total_len(), ip.ttl(), ip.protocol()), (32, 64, 17));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (A4 as u32, B4 as u32));
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (1000, 2000, 12));
        assert_eq!(u.payload(), &[0, 1, 2, 3]);
        assert!(l4_sum_ok(Family::V4, A4, B4, 17, ip.payload()));
    }

    #[test]
    fn checksums_verify_for_all_kinds() {
        for fam in [Family::V4, Family::V6] {
            let (a, b) = if fam == Family::V4 {
                (A4, B4)
            } else {
                (A6, B6)
            };
            for len in [0usize, 1, 7, 100, 1401] {
                for s in [
                    FrameSpec::udp(fam, a, b, 53, 5353, len),
                    FrameSpec::tcp(fam, a, b, 443, 40000, len),
                    FrameSpec::icmp(fam, a, b, 8, 0, len),
                ] {
                    let pkt = s.packet();
                    assert_eq!(pkt.len(), s.l3_len());
                    let l4 = &pkt[s.ip_header_len()..];
                    assert!(l4_sum_ok(fam, a, b, s.proto, l4), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn tcp_and_icmp_headers() {
        let f = FrameSpec::tcp(Family::V6, A6, B6, 443, 40000, 10)
            .with_vlan(7)
            .frame();
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0x07, 0x86, 0xdd]);
        let ip = Ipv6Packet::new_checked(&f[18..]).unwrap();
        assert_eq!((ip.payload_len(), ip.next_header()), (30, 6));
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.header_len()),
            (443, 40000, 20)
        );
        assert_eq!(t.payload().len(), 10);
        let f = FrameSpec::icmp(Family::V4, A4, B4, 3, 4, 0)
            .with_qinq(10, 20)
            .frame();
        assert_eq!(&f[12..22], &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 20, 0x08, 0]);
        let m = IcmpPacket::new_checked(&f[22 + 20..]).unwrap();
        assert_eq!((m.msg_type(), m.msg_code()), (3, 4));
    }

    #[test]
    fn fragments() {
        let s = FrameSpec::udp(Family::V6, A6, B6, 1, 2, 16).with_fragment(1232, false, 99);
        let p = s.packet();
        assert_eq!(p.len(), 40 + 8 + 16);
        assert_eq!(p[6], 44);
        assert_eq!(&p[40..48], &[17, 0, 0x04, 0xd0, 0, 0, 0, 99]);
        let s = FrameSpec::udp(Family::V4, A4, B4, 1, 2, 16).with_fragment(0, true, 7);
        let p = s.packet();
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(ip.more_frags() && ip.frag_offset() == 0 && ip.ident() == 7);
        assert_eq!(ip.payload().len(), 8 + 16);
    }

    #[test]
    fn errors() {
        let s = FrameSpec::udp(Family::V4, A4, B4, 1, 2, 100);
        let mut small = [0u8; 50];
        assert_eq!(
            s.write_frame(&mut small),
            Err(BuildError::BufferTooSmall {
                need: 142,
                have: 50
            })
        );
        let s = FrameSpec::udp(Family::V4, A4, B4, 1, 2, 65535 - 28 + 1);
        assert_eq!(
            s.write_l3(&mut vec![0; 70000]),
            Err(BuildError::TooLong(65536))
        );
        let s = FrameSpec::udp(Family::V6, A6, B6, 1, 2, 65535 - 8);
        assert_eq!(s.write_l3(&mut vec![0; 70000]), Ok(65575));
    }
}
