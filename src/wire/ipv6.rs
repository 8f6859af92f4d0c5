//! IPv6 header view (RFC 8200), extension headers walked to the upper layer,
//! and the hop-limit decrement of the forwarding path.

use super::{Fragment, WireError};
use crate::ip::Addr;

/// Byte ranges of the IPv6 fixed header (RFC 8200 section 3).
pub mod field {
    use core::ops::Range;
    /// Version (4 bits), Traffic Class (8 bits), Flow Label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const HEADER_LEN: usize = 40;
}

/// Byte ranges of the extension headers (RFC 8200 sections 4.3 to 4.6).
pub mod ext_field {
    /// Every extension header we walk starts with Next Header.
    pub const NEXT_HEADER: usize = 0;
    /// Hdr Ext Len: length in 8-octet units, not counting the first 8 octets
    /// (hop-by-hop, routing, destination options).
    pub const HDR_EXT_LEN: usize = 1;
    /// Fragment header: Fragment Offset (13 bits, 8-octet units), Res, M flag.
    pub const FRAG_OFF_M: core::ops::Range<usize> = 2..4;
    /// Fragment header: Identification.
    pub const FRAG_IDENT: core::ops::Range<usize> = 4..8;
    /// Fixed size of the fragment header and minimum size of the others.
    pub const MIN_LEN: usize = 8;
}

/// Next Header values of the extension headers walked by [`walk_ext_headers`].
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const DEST_OPTS: u8 = 60;
    pub const NO_NEXT_HEADER: u8 = 59;
}

/// Most extension headers walked before giving up ([`WireError::TooManyExtHeaders`]).
/// RFC 8200 section 4.1 recommends each header once (destination options
/// twice) but requires receivers to accept any order and count, so the walk is
/// bounded by this count (a conforming packet has at most five).
pub const MAX_EXT_HEADERS: usize = 8;

/// A read/write wrapper around an IPv6 packet buffer.
///
/// After [`Ipv6Packet::new_checked`] the fixed header and the payload
/// (payload length) are known to lie within the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Check an IPv6 header at the start of `b`; returns the payload length.
#[inline(always)]
pub(crate) fn check_header(b: &[u8]) -> Result<(&[u8; 40], usize), WireError> {
    let Some(h) = b.first_chunk::<{ field::HEADER_LEN }>() else {
        return Err(WireError::TruncatedL3);
    };
    if h[0] >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    // RFC 8200 section 3: Payload Length is "the length of the IPv6 payload,
    // i.e., the rest of the packet following this IPv6 header, in octets".
    // Jumbograms (RFC 2675, payload length 0 with a jumbo option) are not
    // supported: they are read as an empty payload.
    let pl = u16::from_be_bytes([h[4], h[5]]) as usize;
    if field::HEADER_LEN + pl > b.len() {
        return Err(WireError::BadPayloadLength);
    }
    Ok((h, pl))
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap `buffer` without checks; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wrap `buffer`, checking version 6, that the fixed header fits and that
    /// 40 + payload length <= buffer length.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_header(buffer.as_ref())?;
        Ok(Ipv6Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline(always)]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn word0(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        let b = self.b();
        u16::from_be_bytes([b[4], b[5]])
    }

    /// Next Header of the fixed header (an extension header or the upper layer).
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::SRC_ADDR]);
        u128::from_be_bytes(a)
    }

    pub fn dst_addr(&self) -> Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::DST_ADDR]);
        u128::from_be_bytes(a)
    }

    /// The payload (extension headers included), `payload_len` bytes.
    pub fn payload(&self) -> &[u8] {
        &self.b()[field::HEADER_LEN..field::HEADER_LEN + self.payload_len() as usize]
    }

    /// Walk the extension headers; see [`walk_ext_headers`].
    pub fn upper_layer(&self) -> Result<UpperLayer, WireError> {
        walk_ext_headers(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline(always)]
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_word0(&mut self, w: u32) {
        self.bm()[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
    }

    /// Set version 6, keeping traffic class and flow label.
    pub fn set_version(&mut self) {
        let w = self.word0();
        self.set_word0((w & 0x0fff_ffff) | 6 << 28);
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = self.word0();
        self.set_word0((w & 0xf00f_ffff) | (tc as u32) << 20);
    }

    pub fn set_flow_label(&mut self, fl: u32) {
        let w = self.word0();
        self.set_word0((w & 0xfff0_0000) | (fl & 0x000f_ffff));
    }

    pub fn set_payload_len(&mut self, len: u16) {
        self.bm()[field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_next_header(&mut self, nh: u8) {
        self.bm()[field::NEXT_HEADER] = nh;
    }

    pub fn set_hop_limit(&mut self, h: u8) {
        self.bm()[field::HOP_LIMIT] = h;
    }

    pub fn set_src_addr(&mut self, a: Addr) {
        self.bm()[field::SRC_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    pub fn set_dst_addr(&mut self, a: Addr) {
        self.bm()[field::DST_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::HEADER_LEN + self.payload_len() as usize;
        &mut self.bm()[field::HEADER_LEN..end]
    }
}

/// Decrement the hop limit of the IPv6 header at the start of `packet`;
/// returns the new hop limit. IPv6 has no header checksum.
///
/// RFC 8200 section 3: Hop Limit is "decremented by 1 by each node that
/// forwards the packet ... the packet is discarded if Hop Limit was zero when
/// received or is decremented to zero". A hop limit of 0 or 1 gives
/// [`WireError::TtlExceeded`] and the packet is left unchanged.
#[inline]
pub fn ipv6_decrement_hop_limit(packet: &mut [u8]) -> Result<u8, WireError> {
    let Some(h) = packet.get_mut(..field::HEADER_LEN) else {
        return Err(WireError::TruncatedL3);
    };
    if h[0] >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let hl = h[field::HOP_LIMIT];
    if hl <= 1 {
        return Err(WireError::TtlExceeded);
    }
    h[field::HOP_LIMIT] = hl - 1;
    Ok(hl - 1)
}

/// Where the extension-header chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    /// The protocol of the first header that is not an extension header we
    /// walk; after a fragment header, the fragment header's Next Header.
    pub protocol: u8,
    /// Offset of that header from the start of the IPv6 payload.
    pub offset: usize,
    /// The fragment header, if the chain holds one; the walk stops there.
    pub fragment: Option<Fragment>,
    /// Number of extension headers walked.
    pub ext_headers: u8,
}

/// Walk the extension headers of an IPv6 payload, starting with the fixed
/// header's Next Header `nh`, to the upper-layer header.
///
/// RFC 8200 section 4.1: "IPv6 nodes must accept and attempt to process
/// extension headers in any order and occurring any number of times in the
/// same packet, except for the Hop-by-Hop Options header, which is restricted
/// to appear immediately after an IPv6 header only." A Hop-by-Hop header
/// elsewhere gives [`WireError::BadExtHeader`]; a header whose length runs
/// past `payload` gives [`WireError::ExtHeaderOverrun`]; more than
/// [`MAX_EXT_HEADERS`] give [`WireError::TooManyExtHeaders`]. Every header is
/// at least 8 bytes, so the walk always advances: a chain cannot loop, and
/// both bounds end it.
///
/// The walk stops at a fragment header (as Linux's `decode_session6` does):
/// what follows may not be in this fragment.
#[inline]
pub fn walk_ext_headers(mut nh: u8, payload: &[u8]) -> Result<UpperLayer, WireError> {
    use next_header::*;
    let mut off = 0usize;
    let mut count = 0usize;
    loop {
        match nh {
            HOP_BY_HOP if count != 0 => return Err(WireError::BadExtHeader),
            HOP_BY_HOP | ROUTING | DEST_OPTS | FRAGMENT => {}
            _ => {
                return Ok(UpperLayer {
                    protocol: nh,
                    offset: off,
                    fragment: None,
                    ext_headers: count as u8,
                })
            }
        }
        if count == MAX_EXT_HEADERS {
            return Err(WireError::TooManyExtHeaders);
        }
        let Some(h) = payload.get(off..off + ext_field::MIN_LEN) else {
            return Err(WireError::ExtHeaderOverrun);
        };
        count += 1;
        if nh == FRAGMENT {
            // RFC 8200 section 4.5: Fragment Offset (13 bits, 8-octet units), Res (2), M (1).
            let w = u16::from_be_bytes([h[2], h[3]]);
            return Ok(UpperLayer {
                protocol: h[ext_field::NEXT_HEADER],
                offset: off + ext_field::MIN_LEN,
                fragment: Some(Fragment {
                    offset: w & 0xfff8,
                    more: w & 1 != 0,
                    ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                }),
                ext_headers: count as u8,
            });
        }
        // RFC 8200 sections 4.3, 4.4, 4.6: Hdr Ext Len in 8-octet units, not
        // including the first 8 octets.
        let len = (h[ext_field::HDR_EXT_LEN] as usize + 1) * 8;
        if off + len > payload.len() {
            return Err(WireError::ExtHeaderOverrun);
        }
        nh = h[ext_field::NEXT_HEADER];
        off += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Addr = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    const DST: Addr = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

    /// A fixed header (TC 0xb8, flow label 0x12345, hop limit 64) followed by `payload`.
    fn packet(nh: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x6b, 0x81, 0x23, 0x45];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[nh, 64]);
        p.extend_from_slice(&SRC.to_be_bytes());
        p.extend_from_slice(&DST.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// An 8-byte-multiple options header with Next Header `nh` and `units` extra 8-octet units.
    fn opts(nh: u8, units: u8) -> Vec<u8> {
        let mut h = vec![nh, units, 1, 4, 0, 0, 0, 0];
        h.resize(8 + units as usize * 8, 0);
        h
    }

    #[test]
    fn accessors() {
        let p = packet(17, &[0x12, 0x34, 0x56, 0x78, 0, 8, 0, 0]);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.version(), 6);
        assert_eq!(v.traffic_class(), 0xb8);
        assert_eq!(v.flow_label(), 0x12345);
        assert_eq!(v.payload_len(), 8);
        assert_eq!(v.next_header(), 17);
        assert_eq!(v.hop_limit(), 64);
        assert_eq!(v.src_addr(), SRC);
        assert_eq!(v.dst_addr(), DST);
        assert_eq!(v.payload()[0], 0x12);
        let u = v.upper_layer().unwrap();
        assert_eq!(
            (u.protocol, u.offset, u.fragment, u.ext_headers),
            (17, 0, None, 0)
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut p = vec![0u8; 48];
        let mut v = Ipv6Packet::new_unchecked(&mut p[..]);
        v.set_version();
        v.set_traffic_class(0xfc);
        v.set_flow_label(0xfffff);
        v.set_traffic_class(0x01);
        v.set_payload_len(8);
        v.set_next_header(58);
        v.set_hop_limit(2);
        v.set_src_addr(SRC);
        v.set_dst_addr(DST);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            (v.version(), v.traffic_class(), v.flow_label()),
            (6, 1, 0xfffff)
        );
        assert_eq!((v.next_header(), v.hop_limit()), (58, 2));
        assert_eq!((v.src_addr(), v.dst_addr()), (SRC, DST));
        assert_eq!(ipv6_decrement_hop_limit(&mut p), Ok(1));
        assert_eq!(
            ipv6_decrement_hop_limit(&mut p),
            Err(WireError::TtlExceeded)
        );
        assert_eq!(p[7], 1);
        assert_eq!(
            ipv6_decrement_hop_limit(&mut p[..39]),
            Err(WireError::TruncatedL3)
        );
    }

    #[test]
    fn malformed() {
        let p = packet(17, &[0; 8]);
        for n in 0..40 {
            assert_eq!(
                Ipv6Packet::new_checked(&p[..n]),
                Err(WireError::TruncatedL3)
            );
        }
        for n in 40..48 {
            assert_eq!(
                Ipv6Packet::new_checked(&p[..n]),
                Err(WireError::BadPayloadLength)
            );
        }
        let mut q = p.clone();
        q[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&q[..]), Err(WireError::BadVersion));
    }

    #[test]
    fn chain_to_upper_layer() {
        // hop-by-hop (16 bytes) -> routing (8) -> dest opts (24) -> TCP
        let mut pl = opts(next_header::ROUTING, 1);
        pl.extend(opts(next_header::DEST_OPTS, 0));
        pl.extend(opts(6, 2));
        pl.extend_from_slice(&[0; 20]);
        let p = packet(next_header::HOP_BY_HOP, &pl);
        let u = Ipv6Packet::new_checked(&p[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!(u.protocol, 6);
        assert_eq!(u.offset, 48);
        assert_eq!(u.ext_headers, 3);
        assert_eq!(u.fragment, None);
    }

    #[test]
    fn fragment_header_stops_the_walk() {
        // dest opts -> fragment (offset 1232, M=1, id 0xdeadbeef, next UDP)
        let mut pl = opts(next_header::FRAGMENT, 0);
        pl.extend_from_slice(&[17, 0, 0x04, 0xd1, 0xde, 0xad, 0xbe, 0xef]);
        pl.extend_from_slice(&[0; 16]);
        let u = walk_ext_headers(next_header::DEST_OPTS, &pl).unwrap();
        assert_eq!(u.protocol, 17);
        assert_eq!(u.offset, 16);
        assert_eq!(
            u.fragment,
            Some(Fragment {
                offset: 1232,
                more: true,
                ident: 0xdead_beef
            })
        );
        // The fragment header itself cut short.
        for n in 8..16 {
            assert_eq!(
                walk_ext_headers(next_header::DEST_OPTS, &pl[..n]),
                Err(WireError::ExtHeaderOverrun)
            );
        }
    }

    #[test]
    fn overrun_at_every_length() {
        let mut pl = opts(next_header::DEST_OPTS, 3);
        pl.extend(opts(17, 1));
        for n in 0..pl.len() {
            assert_eq!(
                walk_ext_headers(next_header::HOP_BY_HOP, &pl[..n]),
                Err(WireError::ExtHeaderOverrun),
                "len {n}"
            );
        }
        assert_eq!(walk_ext_headers(0, &pl).unwrap().offset, pl.len());
        // A length field pointing far past the payload.
        let big = opts(17, 255);
        assert_eq!(
            walk_ext_headers(next_header::DEST_OPTS, &big[..64]),
            Err(WireError::ExtHeaderOverrun)
        );
    }

    #[test]
    fn hop_by_hop_only_first() {
        let mut pl = opts(next_header::HOP_BY_HOP, 0);
        pl.extend(opts(17, 0));
        assert_eq!(
            walk_ext_headers(next_header::DEST_OPTS, &pl),
            Err(WireError::BadExtHeader)
        );
        // A hop-by-hop header that names itself as next: the "loop" case.
        let pl = opts(next_header::HOP_BY_HOP, 0);
        assert_eq!(
            walk_ext_headers(next_header::HOP_BY_HOP, &pl),
            Err(WireError::BadExtHeader)
        );
        // Repeated destination options and routing headers are accepted (RFC 8200 section 4.1).
        let mut pl = opts(next_header::ROUTING, 0);
        pl.extend(opts(next_header::DEST_OPTS, 0));
        pl.extend(opts(58, 0));
        let u = walk_ext_headers(next_header::ROUTING, &pl).unwrap();
        assert_eq!((u.protocol, u.offset, u.ext_headers), (58, 24, 3));
    }

    #[test]
    fn too_many() {
        // A chain of destination options headers each naming the next: it fits
        // the payload, so only the count stops it.
        for n in [MAX_EXT_HEADERS, MAX_EXT_HEADERS + 1, 40] {
            let mut pl = Vec::new();
            for i in 0..n {
                pl.extend(opts(
                    if i + 1 == n {
                        17
                    } else {
                        next_header::DEST_OPTS
                    },
                    0,
                ));
            }
            let r = walk_ext_headers(next_header::DEST_OPTS, &pl);
            if n <= MAX_EXT_HEADERS {
                assert_eq!(r.unwrap().offset, 8 * n);
            } else {
                assert_eq!(r, Err(WireError::TooManyExtHeaders));
            }
        }
        // A self-referencing chain (every header says "destination options
        // next") that runs off the end: bounded by the count or the length.
        let mut pl = Vec::new();
        for _ in 0..3 {
            pl.extend(opts(next_header::DEST_OPTS, 0));
        }
        assert_eq!(
            walk_ext_headers(next_header::DEST_OPTS, &pl),
            Err(WireError::ExtHeaderOverrun)
        );
    }
}
