//! ICMP (RFC 792) and ICMPv6 (RFC 4443) message views. Both start with Type,
//! Code, Checksum and a 4-byte rest of header, so one view serves both.

use super::WireError;

/// Byte ranges of the ICMP/ICMPv6 header.
pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo request/reply: Identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo request/reply: Sequence Number.
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Type, code, checksum and the 4-byte rest of header: the shortest message.
    pub const HEADER_LEN: usize = 8;
}

/// ICMPv4 message types used here.
pub mod icmpv4_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// ICMPv6 message types used here.
pub mod icmpv6_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

/// A read/write wrapper around an ICMP or ICMPv6 message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// ICMP for IPv4 (protocol 1).
pub type Icmpv4Packet<T> = IcmpPacket<T>;
/// ICMPv6 (next header 58).
pub type Icmpv6Packet<T> = IcmpPacket<T>;

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wrap `buffer`, checking that the 8-byte header fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < field::HEADER_LEN {
            return Err(WireError::TruncatedL4);
        }
        Ok(IcmpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT.start)
    }

    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQNO.start)
    }

    /// The bytes after the 8-byte header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    fn set_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    pub fn set_msg_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.set_u16(field::CHECKSUM.start, c);
    }

    pub fn set_echo_ident(&mut self, i: u16) {
        self.set_u16(field::ECHO_IDENT.start, i);
    }

    pub fn set_echo_seq_no(&mut self, s: u16) {
        self.set_u16(field::ECHO_SEQNO.start, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    /// An ICMP echo request as `ping` sends it: id 0x1a2b, seq 1, 4 data bytes,
    /// with its checksum (ICMPv4: over the message only).
    #[test]
    fn echo_request() {
        let mut m = vec![8, 0, 0, 0, 0x1a, 0x2b, 0x00, 0x01, b'a', b'b', b'c', b'd'];
        let c = checksum::checksum(&m);
        let mut v = IcmpPacket::new_checked(&mut m[..]).unwrap();
        v.set_checksum(c);
        let v = Icmpv4Packet::new_checked(&m[..]).unwrap();
        assert_eq!((v.msg_type(), v.msg_code()), (icmpv4_type::ECHO_REQUEST, 0));
        assert_eq!((v.echo_ident(), v.echo_seq_no()), (0x1a2b, 1));
        assert_eq!(v.payload(), b"abcd");
        assert_eq!(checksum::sum(&m), 0xffff);
    }

    #[test]
    fn setters_and_truncation() {
        let mut m = [0u8; 8];
        let mut v = Icmpv6Packet::new_checked(&mut m[..]).unwrap();
        v.set_msg_type(icmpv6_type::PACKET_TOO_BIG);
        v.set_msg_code(0);
        v.set_echo_ident(0x0000);
        v.set_echo_seq_no(1280);
        assert_eq!(m, [2, 0, 0, 0, 0, 0, 0x05, 0x00]);
        for n in 0..8 {
            assert_eq!(
                IcmpPacket::new_checked(&m[..n]),
                Err(WireError::TruncatedL4)
            );
        }
    }
}
