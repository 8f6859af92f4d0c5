//! ESP header view (RFC 4303 section 2): SPI and sequence number. The
//! transforms themselves live in `crate::esp`.

use super::WireError;

/// Byte ranges of the ESP header.
pub mod field {
    use core::ops::Range;
    /// Security Parameters Index.
    pub const SPI: Range<usize> = 0..4;
    /// Sequence Number (the low 32 bits with ESN).
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const HEADER_LEN: usize = 8;
}

/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;

/// A read/write wrapper around an ESP packet buffer (header, then payload
/// data, padding, trailer and ICV, which this view does not interpret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        EspPacket { buffer }
    }

    /// Wrap `buffer`, checking that SPI and sequence number fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < field::HEADER_LEN {
            return Err(WireError::TruncatedL4);
        }
        Ok(EspPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    pub fn spi(&self) -> u32 {
        self.u32_at(field::SPI.start)
    }

    pub fn sequence_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM.start)
    }

    /// Everything after the header: IV, ciphertext, ICV.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspPacket<T> {
    pub fn set_spi(&mut self, spi: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.to_be_bytes());
    }

    pub fn set_sequence_number(&mut self, seq: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&seq.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spi_and_seq() {
        let mut b = [0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x2a, 0xee];
        let e = EspPacket::new_checked(&b[..]).unwrap();
        assert_eq!((e.spi(), e.sequence_number()), (0x1001, 42));
        assert_eq!(e.payload(), &[0xee]);
        let mut e = EspPacket::new_checked(&mut b[..]).unwrap();
        e.set_spi(0xdead_beef);
        e.set_sequence_number(u32::MAX);
        assert_eq!(&b[..8], &[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff]);
        for n in 0..8 {
            assert_eq!(EspPacket::new_checked(&b[..n]), Err(WireError::TruncatedL4));
        }
    }
}
