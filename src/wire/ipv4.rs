//! IPv4 header view (RFC 791), header checksum and the TTL decrement of the
//! forwarding path (RFC 1812, RFC 1624).

use super::{checksum, WireError};

/// Byte ranges of the IPv4 header (RFC 791 section 3.1).
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub const VER_IHL: usize = 0;
    /// DSCP (high 6 bits) and ECN (low 2 bits); formerly Type of Service.
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (reserved, DF, MF) and the fragment offset in 8-byte units.
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    /// Header length without options.
    pub const HEADER_LEN: usize = 20;
}

/// Flag bits in the FLG_OFF word.
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read/write wrapper around an IPv4 packet buffer.
///
/// After [`Ipv4Packet::new_checked`] the header (options included) and the
/// whole datagram (total length) are known to lie within the buffer; bytes of
/// the buffer beyond the total length (Ethernet padding) are not part of
/// [`Ipv4Packet::payload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Check an IPv4 header at the start of `b`; returns (header length, total length).
///
/// RFC 791 section 3.1: IHL is "the length of the internet header in 32 bit
/// words ... the minimum value for a correct header is 5"; Total Length is
/// "the length of the datagram, measured in octets, including internet header
/// and data".
#[inline(always)]
pub(crate) fn check_header(b: &[u8]) -> Result<(&[u8; 20], usize, usize), WireError> {
    let Some(h) = b.first_chunk::<{ field::HEADER_LEN }>() else {
        return Err(WireError::TruncatedL3);
    };
    if h[0] >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let hl = ((h[0] & 0x0f) as usize) * 4;
    if hl < field::HEADER_LEN {
        return Err(WireError::BadIhl);
    }
    if hl > b.len() {
        return Err(WireError::TruncatedL3);
    }
    let tl = u16::from_be_bytes([h[2], h[3]]) as usize;
    if tl < hl || tl > b.len() {
        return Err(WireError::BadTotalLength);
    }
    Ok((h, hl, tl))
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap `buffer` without checks; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap `buffer`, checking version 4, IHL >= 5, that the header fits and
    /// that IHL*4 <= total length <= buffer length.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_header(buffer.as_ref())?;
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline(always)]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline(always)]
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = self.b();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }

    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The whole DSCP/ECN byte (former TOS).
    pub fn tos(&self) -> u8 {
        self.b()[field::DSCP_ECN]
    }

    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    pub fn total_len(&self) -> u16 {
        self.u16_at(field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & FRAG_OFFSET_MASK) << 3
    }

    /// Is this a fragment (MF set or offset non-zero)?
    pub fn is_fragment(&self) -> bool {
        self.u16_at(field::FLG_OFF) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Source address, host order.
    pub fn src_addr(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[12], b[13], b[14], b[15]])
    }

    /// Destination address, host order.
    pub fn dst_addr(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[16], b[17], b[18], b[19]])
    }

    /// The options (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.b()[field::HEADER_LEN..self.header_len()]
    }

    /// Does the header checksum verify? (RFC 791: the sum over the header,
    /// checksum field included, is all ones.)
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.b()[..self.header_len()]) == 0xffff
    }

    /// The datagram's data: from the end of the header to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline(always)]
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Set version 4 and the header length in bytes (a multiple of 4, 20 to 60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.bm()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.bm()[field::DSCP_ECN] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        self.bm()[field::TOTAL_LEN].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_ident(&mut self, id: u16) {
        self.bm()[field::IDENT].copy_from_slice(&id.to_be_bytes());
    }

    /// Set DF, MF and the fragment offset (in bytes; must be a multiple of 8).
    pub fn set_flags_and_frag_offset(&mut self, df: bool, mf: bool, offset: u16) {
        let mut w = (offset >> 3) & FRAG_OFFSET_MASK;
        if df {
            w |= FLAG_DF;
        }
        if mf {
            w |= FLAG_MF;
        }
        self.bm()[field::FLG_OFF].copy_from_slice(&w.to_be_bytes());
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.bm()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, p: u8) {
        self.bm()[field::PROTOCOL] = p;
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.bm()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    pub fn set_src_addr(&mut self, a: u32) {
        self.bm()[field::SRC_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    pub fn set_dst_addr(&mut self, a: u32) {
        self.bm()[field::DST_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    /// Compute and store the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.b()[..hl]);
        self.set_checksum(c);
    }

    /// Decrement the TTL, updating the checksum incrementally; see [`ipv4_decrement_ttl`].
    pub fn decrement_ttl(&mut self) -> Result<u8, WireError> {
        ipv4_decrement_ttl(self.bm())
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        &mut self.bm()[hl..tl]
    }
}

/// Compute the header checksum of the IPv4 header at the start of `header`
/// (the checksum field is treated as zero). `None` if the header is short.
pub fn ipv4_header_checksum(header: &[u8]) -> Option<u16> {
    let hl = ((*header.first()? & 0x0f) as usize * 4).max(field::HEADER_LEN);
    let h = header.get(..hl)?;
    // The checksum field sits at an even offset, so the two sums join word-aligned.
    Some(!checksum::combine(&[
        checksum::sum(&h[..10]),
        checksum::sum(&h[12..]),
    ]))
}

/// Decrement the TTL of the IPv4 header at the start of `packet` and update the
/// header checksum incrementally; returns the new TTL.
///
/// RFC 1812 section 5.3.1: "a router MUST NOT forward any datagram whose TTL
/// is zero after decrementing" — a TTL of 0 or 1 gives
/// [`WireError::TtlExceeded`] and the packet is left unchanged.
///
/// RFC 1624 section 3, eqn. 3: `HC' = ~(~HC + ~m + m')`, where `m` is the
/// 16-bit word holding TTL and Protocol.
#[inline]
pub fn ipv4_decrement_ttl(packet: &mut [u8]) -> Result<u8, WireError> {
    let Some(h) = packet.get_mut(..field::HEADER_LEN) else {
        return Err(WireError::TruncatedL3);
    };
    if h[0] >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let ttl = h[field::TTL];
    if ttl <= 1 {
        return Err(WireError::TtlExceeded);
    }
    let old = u16::from_be_bytes([ttl, h[field::PROTOCOL]]);
    let new = old - 0x0100;
    let hc = u16::from_be_bytes([h[10], h[11]]);
    let hc = checksum::update(hc, old, new);
    h[field::TTL] = ttl - 1;
    h[field::CHECKSUM].copy_from_slice(&hc.to_be_bytes());
    Ok(ttl - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A real header (from a capture): 192.168.0.1 -> 192.168.0.199, UDP,
    /// total length 0x73, checksum 0xb861 (the classic Wikipedia example).
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> Vec<u8> {
        let mut p = HDR.to_vec();
        p.resize(0x73, 0xab);
        p
    }

    #[test]
    fn accessors() {
        let p = packet();
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.version(), 4);
        assert_eq!(v.header_len(), 20);
        assert_eq!(v.total_len(), 0x73);
        assert!(v.dont_frag());
        assert!(!v.more_frags());
        assert!(!v.is_fragment());
        assert_eq!(v.frag_offset(), 0);
        assert_eq!(v.ttl(), 64);
        assert_eq!(v.protocol(), 17);
        assert_eq!(v.checksum(), 0xb861);
        assert_eq!(v.src_addr(), 0xc0a8_0001);
        assert_eq!(v.dst_addr(), 0xc0a8_00c7);
        assert!(v.verify_checksum());
        assert_eq!(v.payload().len(), 0x73 - 20);
        assert!(v.options().is_empty());
        assert_eq!(ipv4_header_checksum(&p), Some(0xb861));
    }

    #[test]
    fn padding_is_not_payload() {
        let mut p = packet();
        p.extend_from_slice(&[0; 10]);
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.payload().len(), 0x73 - 20);
    }

    #[test]
    fn options_and_fragments() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL), MF set, offset 1480.
        let mut p = vec![
            0x46, 0x00, 0x00, 0x20, 0x12, 0x34, 0x20, 0xb9, 0x40, 0x06, 0, 0, 10, 0, 0, 1, 10, 0,
            0, 2, 1, 1, 1, 0,
        ];
        p.resize(0x20, 0);
        let mut v = Ipv4Packet::new_checked(&mut p[..]).unwrap();
        v.fill_checksum();
        assert!(v.verify_checksum());
        assert_eq!(v.header_len(), 24);
        assert_eq!(v.options(), &[1, 1, 1, 0]);
        assert!(v.more_frags() && v.is_fragment());
        assert_eq!(v.frag_offset(), 185 * 8);
        assert_eq!(v.ident(), 0x1234);
        assert_eq!(v.payload().len(), 8);
        v.set_flags_and_frag_offset(true, false, 0);
        assert!(!v.is_fragment() && v.dont_frag());
        v.set_flags_and_frag_offset(false, false, 8);
        assert!(v.is_fragment() && !v.more_frags());
    }

    #[test]
    fn malformed() {
        let p = packet();
        for n in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&p[..n]),
                Err(WireError::TruncatedL3)
            );
        }
        for n in 20..0x73 {
            assert_eq!(
                Ipv4Packet::new_checked(&p[..n]),
                Err(WireError::BadTotalLength),
                "len {n}"
            );
        }
        let mut q = p.clone();
        q[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&q[..]), Err(WireError::BadVersion));
        for ihl in 0..5u8 {
            q[0] = 0x40 | ihl;
            assert_eq!(Ipv4Packet::new_checked(&q[..]), Err(WireError::BadIhl));
        }
        // IHL 15 = 60 bytes, but only 40 bytes in the buffer.
        q[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&q[..40]),
            Err(WireError::TruncatedL3)
        );
        // Total length smaller than the header.
        q[0] = 0x46;
        q[2..4].copy_from_slice(&20u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&q[..]),
            Err(WireError::BadTotalLength)
        );
        // Total length beyond the buffer.
        q[0] = 0x45;
        q[2..4].copy_from_slice(&0x74u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&q[..]),
            Err(WireError::BadTotalLength)
        );
    }

    #[test]
    fn decrement_ttl_updates_checksum() {
        let mut p = packet();
        assert_eq!(ipv4_decrement_ttl(&mut p), Ok(63));
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.ttl(), 63);
        assert!(v.verify_checksum());
        let mut q = packet();
        q[8] = 1;
        let before = q.clone();
        assert_eq!(ipv4_decrement_ttl(&mut q), Err(WireError::TtlExceeded));
        assert_eq!(q, before);
        q[8] = 0;
        assert_eq!(ipv4_decrement_ttl(&mut q), Err(WireError::TtlExceeded));
        assert_eq!(
            ipv4_decrement_ttl(&mut q[..19]),
            Err(WireError::TruncatedL3)
        );
        q[0] = 0x60;
        assert_eq!(ipv4_decrement_ttl(&mut q), Err(WireError::BadVersion));
    }

    /// RFC 1624 incremental update against a full recompute over many random
    /// headers (random options, TTLs, protocols and addresses).
    #[test]
    fn incremental_checksum_matches_recompute() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x1624);
        for i in 0..100_000 {
            let ihl = rng.gen_range(5..=15usize);
            let mut h = vec![0u8; ihl * 4];
            rng.fill(&mut h[..]);
            h[0] = 0x40 | ihl as u8;
            // Include the edge TTLs and all-ones/zero-heavy headers now and then.
            if i % 7 == 0 {
                h[8] = 2;
            }
            if i % 11 == 0 {
                for b in &mut h[1..] {
                    *b = 0xff;
                }
                h[8] = rng.gen_range(2..=255);
            }
            let mut v = Ipv4Packet::new_unchecked(&mut h[..]);
            v.fill_checksum();
            let ttl = v.ttl();
            if ttl <= 1 {
                assert_eq!(v.decrement_ttl(), Err(WireError::TtlExceeded));
                continue;
            }
            assert_eq!(v.decrement_ttl(), Ok(ttl - 1));
            let incremental = v.checksum();
            assert!(v.verify_checksum(), "header {h:02x?}");
            let mut v = Ipv4Packet::new_unchecked(&mut h[..]);
            v.fill_checksum();
            assert_eq!(incremental, v.checksum(), "header {h:02x?}");
        }
    }
}
