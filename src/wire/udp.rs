//! UDP header view (RFC 768).

use super::WireError;

/// Byte ranges of the UDP header.
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    /// "the length in octets of this user datagram including this header and the data".
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;
}

/// A read/write wrapper around a UDP datagram buffer.
///
/// After [`UdpPacket::new_checked`], 8 <= length field <= buffer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wrap `buffer`, checking that the header fits and that the length field
    /// is at least 8 and at most the buffer length.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let Some(h) = b.get(..field::HEADER_LEN) else {
            return Err(WireError::TruncatedL4);
        };
        let len = u16::from_be_bytes([h[4], h[5]]) as usize;
        if len < field::HEADER_LEN || len > b.len() {
            return Err(WireError::BadUdpLength);
        }
        Ok(UdpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT.start)
    }

    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    /// Is the payload empty (length field 8)?
    pub fn is_empty(&self) -> bool {
        self.len() as usize == field::HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// The data, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..self.len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn set_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_src_port(&mut self, p: u16) {
        self.set_u16(field::SRC_PORT.start, p);
    }

    pub fn set_dst_port(&mut self, p: u16) {
        self.set_u16(field::DST_PORT.start, p);
    }

    pub fn set_len(&mut self, l: u16) {
        self.set_u16(field::LENGTH.start, l);
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.set_u16(field::CHECKSUM.start, c);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len() as usize;
        &mut self.buffer.as_mut()[field::HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // DNS query header: 49152 -> 53, length 12, checksum 0x1234, 4 data bytes.
    const DGRAM: [u8; 12] = [0xc0, 0x00, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];

    #[test]
    fn accessors_and_setters() {
        let u = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (49152, 53, 12));
        assert_eq!(u.checksum(), 0x1234);
        assert_eq!(u.payload(), &[1, 2, 3, 4]);
        assert!(!u.is_empty());
        let mut d = DGRAM;
        let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
        u.set_src_port(4500);
        u.set_dst_port(4501);
        u.set_checksum(0);
        u.payload_mut()[0] = 9;
        assert_eq!(&d[..8], &[0x11, 0x94, 0x11, 0x95, 0, 12, 0, 0]);
        assert_eq!(d[8], 9);
    }

    #[test]
    fn malformed() {
        for n in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&DGRAM[..n]),
                Err(WireError::TruncatedL4)
            );
        }
        for n in 8..12 {
            assert_eq!(
                UdpPacket::new_checked(&DGRAM[..n]),
                Err(WireError::BadUdpLength)
            );
        }
        let mut d = DGRAM;
        d[5] = 7;
        assert_eq!(UdpPacket::new_checked(&d[..]), Err(WireError::BadUdpLength));
    }
}
