//! Ethernet II frames with zero, one or two VLAN tags (IEEE 802.1Q, 802.1ad),
//! and the rewrite helpers of the forwarding path.

use super::WireError;
use crate::buf::PacketBuf;
use crate::route::spec::Mac;

/// EtherType values this gateway knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (S-tag, "QinQ").
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// Byte ranges of the Ethernet II header and of a VLAN tag.
pub mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    /// The EtherType, or the TPID of the first VLAN tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Header length without tags.
    pub const HEADER_LEN: usize = 14;
    /// One VLAN tag: TPID (2 bytes, in the EtherType position) then TCI (2 bytes);
    /// the next EtherType follows the TCI.
    pub const VLAN_TAG_LEN: usize = 4;
    /// Most tags accepted (S-tag + C-tag).
    pub const MAX_VLAN_TAGS: usize = 2;
    /// Longest header: two tags.
    pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_VLAN_TAGS * VLAN_TAG_LEN;
}

#[inline(always)]
fn is_vlan_tpid(t: u16) -> bool {
    t == ethertype::VLAN || t == ethertype::QINQ
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

/// The L2 header of `frame`: `(header length, VLAN tag count, inner EtherType)`.
///
/// Tags with TPID 0x8100 or 0x88a8 are skipped; at most two are accepted.
#[inline]
pub fn l2_header(frame: &[u8]) -> Result<(usize, u8, u16), WireError> {
    let mut ty = be16(frame, 12).ok_or(WireError::TruncatedL2)?;
    let mut len = field::HEADER_LEN;
    let mut tags = 0u8;
    while is_vlan_tpid(ty) {
        if tags as usize == field::MAX_VLAN_TAGS {
            return Err(WireError::TooManyVlanTags);
        }
        // The next EtherType sits at the end of this tag.
        ty = be16(frame, len + 2).ok_or(WireError::TruncatedL2)?;
        len += field::VLAN_TAG_LEN;
        tags += 1;
    }
    Ok((len, tags, ty))
}

/// Length of the L2 header (Ethernet + VLAN tags) of `frame`.
#[inline]
pub fn l2_header_len(frame: &[u8]) -> Result<usize, WireError> {
    l2_header(frame).map(|(len, _, _)| len)
}

/// A read/write wrapper around an Ethernet II frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    header_len: u8,
    tags: u8,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap `buffer`, checking that the header and its VLAN tags (at most two) fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let (len, tags, _) = l2_header(buffer.as_ref())?;
        Ok(EthernetFrame {
            buffer,
            header_len: len as u8,
            tags,
        })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Header length, VLAN tags included.
    pub fn header_len(&self) -> usize {
        self.header_len as usize
    }

    pub fn dst_addr(&self) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        m
    }

    pub fn src_addr(&self) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        m
    }

    /// The EtherType field of the untagged header (a TPID when tagged).
    pub fn ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[12], b[13]])
    }

    /// Number of VLAN tags (0 to 2).
    pub fn vlan_count(&self) -> usize {
        self.tags as usize
    }

    /// TPID of tag `i` (0 = outermost), if present.
    pub fn vlan_tpid(&self, i: usize) -> Option<u16> {
        (i < self.vlan_count()).then(|| be16(self.buffer.as_ref(), 12 + 4 * i).unwrap_or(0))
    }

    /// TCI (PCP, DEI, VID) of tag `i` (0 = outermost), if present.
    pub fn vlan_tci(&self, i: usize) -> Option<u16> {
        (i < self.vlan_count()).then(|| be16(self.buffer.as_ref(), 14 + 4 * i).unwrap_or(0))
    }

    /// VLAN identifier (low 12 bits of the TCI) of tag `i`.
    pub fn vlan_id(&self, i: usize) -> Option<u16> {
        self.vlan_tci(i).map(|t| t & 0x0fff)
    }

    /// The EtherType after the VLAN tags: the payload's protocol.
    pub fn inner_ethertype(&self) -> u16 {
        let at = self.header_len() - 2;
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&mac);
    }

    pub fn set_src_addr(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&mac);
    }

    /// Set the EtherType after the VLAN tags.
    pub fn set_inner_ethertype(&mut self, ty: u16) {
        let at = self.header_len() - 2;
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&ty.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// Set destination and source MAC of `frame`, as the forwarding path does
/// after the route and neighbor lookup.
#[inline]
pub fn rewrite_macs(frame: &mut [u8], src: Mac, dst: Mac) -> Result<(), WireError> {
    match frame.get_mut(..12) {
        Some(h) => {
            h[field::DESTINATION].copy_from_slice(&dst);
            h[field::SOURCE].copy_from_slice(&src);
            Ok(())
        }
        None => Err(WireError::TruncatedL2),
    }
}

/// Remove the L2 header (Ethernet + VLAN tags) from the front of `buf`, leaving
/// the L3 packet; returns the number of bytes removed.
#[inline]
pub fn strip_l2<B: PacketBuf + ?Sized>(buf: &mut B) -> Result<usize, WireError> {
    let len = l2_header_len(buf.data())?;
    if buf.adj(len) {
        Ok(len)
    } else {
        Err(WireError::TruncatedL2)
    }
}

/// Prepend an untagged Ethernet II header to the L3 packet in `buf`.
/// `None` (buffer unchanged) if the headroom is too small.
#[inline]
pub fn push_l2<B: PacketBuf + ?Sized>(buf: &mut B, src: Mac, dst: Mac, ty: u16) -> Option<()> {
    // The header is built whole and stored with one fixed-size copy.
    let mut h = [0u8; field::HEADER_LEN];
    h[field::DESTINATION].copy_from_slice(&dst);
    h[field::SOURCE].copy_from_slice(&src);
    h[field::ETHERTYPE].copy_from_slice(&ty.to_be_bytes());
    let d = buf.prepend(field::HEADER_LEN)?;
    *d.first_chunk_mut::<{ field::HEADER_LEN }>()? = h;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::HeapBuf;

    const DST: Mac = [0x02, 0, 0, 0, 0, 0x01];
    const SRC: Mac = [0x02, 0, 0, 0, 0, 0x02];

    fn untagged() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        f
    }

    fn qinq() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        // S-tag 0x88a8 VID 100, C-tag 0x8100 PCP 5 VID 200, then IPv6.
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0xa0, 0xc8, 0x86, 0xdd]);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f
    }

    #[test]
    fn untagged_frame() {
        let f = untagged();
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(e.header_len(), 14);
        assert_eq!(e.dst_addr(), DST);
        assert_eq!(e.src_addr(), SRC);
        assert_eq!(e.ethertype(), ethertype::IPV4);
        assert_eq!(e.inner_ethertype(), ethertype::IPV4);
        assert_eq!(e.vlan_count(), 0);
        assert_eq!(e.vlan_tci(0), None);
        assert_eq!(e.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn two_tags() {
        let f = qinq();
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(e.header_len(), 22);
        assert_eq!(e.vlan_count(), 2);
        assert_eq!(e.vlan_tpid(0), Some(ethertype::QINQ));
        assert_eq!(e.vlan_id(0), Some(100));
        assert_eq!(e.vlan_tpid(1), Some(ethertype::VLAN));
        assert_eq!(e.vlan_tci(1), Some(0xa0c8));
        assert_eq!(e.vlan_id(1), Some(200));
        assert_eq!(e.inner_ethertype(), ethertype::IPV6);
        assert_eq!(e.payload()[0], 0x60);
        assert_eq!(l2_header(&f), Ok((22, 2, ethertype::IPV6)));
    }

    #[test]
    fn three_tags_rejected() {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0]);
        assert_eq!(
            EthernetFrame::new_checked(&f[..]),
            Err(WireError::TooManyVlanTags)
        );
    }

    #[test]
    fn truncated_at_every_offset() {
        for f in [untagged(), qinq()] {
            let (hl, _, _) = l2_header(&f).unwrap();
            for n in 0..hl {
                assert_eq!(
                    EthernetFrame::new_checked(&f[..n]),
                    Err(WireError::TruncatedL2),
                    "len {n}"
                );
            }
            assert!(EthernetFrame::new_checked(&f[..hl]).is_ok());
        }
    }

    #[test]
    fn setters_and_rewrite() {
        let mut f = qinq();
        let mut e = EthernetFrame::new_checked(&mut f[..]).unwrap();
        e.set_dst_addr([9; 6]);
        e.set_src_addr([8; 6]);
        e.set_inner_ethertype(ethertype::IPV4);
        assert_eq!(e.dst_addr(), [9; 6]);
        assert_eq!(e.src_addr(), [8; 6]);
        assert_eq!(e.vlan_id(1), Some(200));
        assert_eq!(&f[20..22], &[0x08, 0x00]);
        rewrite_macs(&mut f, SRC, DST).unwrap();
        assert_eq!(&f[0..6], &DST);
        assert_eq!(&f[6..12], &SRC);
        assert_eq!(
            rewrite_macs(&mut [0u8; 11], SRC, DST),
            Err(WireError::TruncatedL2)
        );
    }

    #[test]
    fn strip_and_push() {
        let f = qinq();
        let mut b = HeapBuf::from_slice(&f);
        assert_eq!(strip_l2(&mut b), Ok(22));
        assert_eq!(b.data(), &f[22..]);
        push_l2(&mut b, SRC, DST, ethertype::IPV6).unwrap();
        assert_eq!(b.len(), f.len() - 8);
        let e = EthernetFrame::new_checked(b.data()).unwrap();
        assert_eq!(e.inner_ethertype(), ethertype::IPV6);
        assert_eq!(e.vlan_count(), 0);
        let mut short = HeapBuf::from_slice(&f[..13]);
        assert_eq!(strip_l2(&mut short), Err(WireError::TruncatedL2));
        assert_eq!(short.len(), 13);
    }
}
