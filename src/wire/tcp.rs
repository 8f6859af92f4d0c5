//! TCP header view (RFC 9293).

use super::WireError;

/// Byte ranges of the TCP header (RFC 9293 section 3.1).
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data Offset (high 4 bits, 32-bit words) and reserved bits.
    pub const DATA_OFFSET: usize = 12;
    /// CWR ECE URG ACK PSH RST SYN FIN.
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const HEADER_LEN: usize = 20;
}

/// TCP control bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// A read/write wrapper around a TCP segment buffer.
///
/// After [`TcpPacket::new_checked`], 20 <= data offset * 4 <= buffer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// Check a TCP header at the start of `b`; returns the header length.
///
/// RFC 9293 section 3.1: Data Offset is "the number of 32-bit words in the TCP
/// header", at least 5.
#[inline(always)]
pub(crate) fn check_header(b: &[u8]) -> Result<usize, WireError> {
    let Some(&off) = b.get(field::DATA_OFFSET) else {
        return Err(WireError::TruncatedL4);
    };
    if b.len() < field::HEADER_LEN {
        return Err(WireError::TruncatedL4);
    }
    let hl = (off >> 4) as usize * 4;
    if hl < field::HEADER_LEN || hl > b.len() {
        return Err(WireError::BadDataOffset);
    }
    Ok(hl)
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap `buffer`, checking that the fixed header fits and that the data
    /// offset is at least 5 and the options fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_header(buffer.as_ref())?;
        Ok(TcpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.b()[at], self.b()[at + 1]])
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT.start)
    }

    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM.start)
    }

    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4), options included.
    pub fn header_len(&self) -> usize {
        (self.b()[field::DATA_OFFSET] >> 4) as usize * 4
    }

    /// The control bits ([`flags`]).
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }

    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WINDOW.start)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT.start)
    }

    pub fn options(&self) -> &[u8] {
        &self.b()[field::HEADER_LEN..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn set_bytes(&mut self, at: usize, v: &[u8]) {
        self.buffer.as_mut()[at..at + v.len()].copy_from_slice(v);
    }

    pub fn set_src_port(&mut self, p: u16) {
        self.set_bytes(field::SRC_PORT.start, &p.to_be_bytes());
    }

    pub fn set_dst_port(&mut self, p: u16) {
        self.set_bytes(field::DST_PORT.start, &p.to_be_bytes());
    }

    pub fn set_seq_number(&mut self, s: u32) {
        self.set_bytes(field::SEQ_NUM.start, &s.to_be_bytes());
    }

    pub fn set_ack_number(&mut self, a: u32) {
        self.set_bytes(field::ACK_NUM.start, &a.to_be_bytes());
    }

    /// Set the header length in bytes (a multiple of 4, 20 to 60).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    pub fn set_window_len(&mut self, w: u16) {
        self.set_bytes(field::WINDOW.start, &w.to_be_bytes());
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.set_bytes(field::CHECKSUM.start, &c.to_be_bytes());
    }

    pub fn set_urgent_at(&mut self, u: u16) {
        self.set_bytes(field::URGENT.start, &u.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN with an MSS option (kind 2, len 4, 1460): 40000 -> 443.
    const SYN: [u8; 24] = [
        0x9c, 0x40, 0x01, 0xbb, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa,
        0xf0, 0xab, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn accessors_and_setters() {
        let t = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 443));
        assert_eq!((t.seq_number(), t.ack_number()), (0x1000, 0));
        assert_eq!(t.header_len(), 24);
        assert!(t.syn() && !t.ack() && !t.fin() && !t.rst());
        assert_eq!(
            (t.window_len(), t.checksum(), t.urgent_at()),
            (64240, 0xabcd, 0)
        );
        assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
        assert!(t.payload().is_empty());
        let mut s = SYN;
        let mut t = TcpPacket::new_unchecked(&mut s[..]);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.set_seq_number(3);
        t.set_ack_number(4);
        t.set_header_len(20);
        t.set_flags(flags::ACK | flags::PSH);
        t.set_window_len(5);
        t.set_checksum(6);
        t.set_urgent_at(7);
        let t = TcpPacket::new_checked(&s[..]).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()),
            (1, 2, 3, 4)
        );
        assert_eq!(
            (t.flags(), t.window_len(), t.checksum(), t.urgent_at()),
            (0x18, 5, 6, 7)
        );
        assert_eq!(t.payload(), &[2, 4, 5, 0xb4]);
    }

    #[test]
    fn malformed() {
        for n in 0..20 {
            assert_eq!(
                TcpPacket::new_checked(&SYN[..n]),
                Err(WireError::TruncatedL4)
            );
        }
        for n in 20..24 {
            assert_eq!(
                TcpPacket::new_checked(&SYN[..n]),
                Err(WireError::BadDataOffset)
            );
        }
        let mut s = SYN;
        for off in 0..5u8 {
            s[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&s[..]),
                Err(WireError::BadDataOffset)
            );
        }
        s[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&s[..]),
            Err(WireError::BadDataOffset)
        );
    }
}
