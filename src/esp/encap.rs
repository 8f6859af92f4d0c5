//! Outbound ESP: encapsulate one IP packet in place.
//!
//! RFC 4303 section 2 (packet format, with RFC 4106's 8-byte explicit IV):
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Initialization Vector (8 bytes)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Payload Data (encrypted)                   ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value (16 bytes, RFC 4106)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The buffer's data starts at the IP header (L2 already stripped). Tunnel
//! mode prepends outer header + ESP header + IV into the headroom; transport
//! mode moves the IP header forward by 16 bytes (the only copy) and inserts
//! ESP header + IV behind it. The trailer and ICV go into the tailroom. The
//! payload is encrypted where it lies. On error the packet is unchanged.

use super::cipher::EspAead;
use super::hdr::{self, put16, IpInfo};
use super::sa::EspSa;
use super::{
    aad, nonce, EspError, ESP_HDR_LEN, ICV_LEN, IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6, IV_LEN,
};
use crate::buf::PacketBuf;
use crate::ip::Family;
use crate::spd::Mode;

/// ESP header + explicit IV.
const ESP_IV_LEN: usize = ESP_HDR_LEN + IV_LEN;

/// RFC 4303 section 2.4: "the Padding field is used to ensure that the
/// ciphertext terminates on a 4-byte boundary. Specifically, the Pad Length
/// and Next Header fields must be right aligned within a 4-byte word".
/// AES-GCM needs no block padding (RFC 4106 section 3), so pad only to 4.
#[inline]
pub(crate) const fn pad_len(payload: usize) -> usize {
    (4 - (payload + 2) % 4) % 4
}

/// Encapsulate `pkt` for `sa` with sequence number `seq` (from
/// [`EspSa::seq`]), the IV being `seq` in network byte order.
///
/// RFC 4106 section 3.1: "The IV MUST be chosen by the encryptor in a
/// manner that ensures that the same IV value is used only once for a given
/// key. The encryptor can generate the IV in any manner that ensures
/// uniqueness. Common approaches to IV generation include incrementing a
/// counter for each packet". The sequence counter never repeats.
#[inline]
pub fn encapsulate<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    seq: u64,
) -> Result<(), EspError> {
    encapsulate_with_iv(sa, pkt, seq, seq.to_be_bytes())
}

/// [`encapsulate`] with a chosen explicit IV (known-answer tests). The IV
/// must never repeat under one key.
#[inline]
pub fn encapsulate_with_iv<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    seq: u64,
    iv: [u8; IV_LEN],
) -> Result<(), EspError> {
    let s = frame_with_iv(sa, pkt, seq, iv)?;
    seal(sa, pkt, &s)
}

/// An ESP packet framed by [`frame`] and waiting for [`seal`]: its sequence
/// number, and where its ESP header is, counted from the packet's end (so
/// L2 headers may be prepended in between). The IV is in the ESP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed {
    pub seq: u64,
    /// Bytes from the ESP header to the end of the packet (ICV included).
    pub esp_to_end: u32,
}

/// The first half of [`encapsulate`]: everything but the cipher. Checks the
/// packet, writes the outer header (tunnel mode) or moves the IP header
/// (transport mode), the ESP header and IV, the padding and trailer, and
/// makes room for the ICV; [`seal`] then encrypts and writes the ICV. A
/// burst is framed packet by packet and then sealed in one pass, so the
/// cipher's streaming through the packets does not evict the per-packet
/// state between two framings. On error the packet is unchanged; a framed
/// packet that is not sealed must be dropped (its payload is plaintext
/// inside an ESP header).
#[inline(always)]
pub fn frame<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    seq: u64,
) -> Result<Framed, EspError> {
    frame_with_iv(sa, pkt, seq, seq.to_be_bytes())
}

#[inline(always)]
fn frame_with_iv<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    seq: u64,
    iv: [u8; IV_LEN],
) -> Result<Framed, EspError> {
    // RFC 4303 3.3.3: the first packet has sequence number 1, and without
    // ESN the number never cycles past 2^32 - 1.
    if seq == 0 || (!sa.esn() && seq > u32::MAX as u64) {
        return Err(EspError::BadSeq);
    }
    let esp = match sa.mode() {
        Mode::Tunnel => tunnel(sa, pkt, seq)?,
        Mode::Transport => transport(sa, pkt, seq)?,
    };
    write_esp_header(sa, &mut pkt.data_mut()[esp..], seq, &iv);
    Ok(Framed {
        seq,
        esp_to_end: (pkt.len() - esp) as u32,
    })
}

/// Does an IP packet of `total` bytes fit the length field of `family`?
#[inline]
fn fits(family: Family, total: usize) -> bool {
    match family {
        Family::V4 => total <= u16::MAX as usize,
        Family::V6 => total - hdr::IPV6_HDR <= u16::MAX as usize,
    }
}

/// RFC 4303 section 3.1.2, tunnel mode: the whole inner packet is the
/// payload, next header 4 (IPv4) or 41 (IPv6).
#[inline]
fn tunnel<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    seq: u64,
) -> Result<usize, EspError> {
    let inner = hdr::ip_any(pkt.data())?;
    let payload = inner.total;
    let pad = pad_len(payload);
    let trailer = pad + 2 + ICV_LEN;
    let ohl = sa.outer_len();
    let head = ohl + ESP_IV_LEN;
    let total = head + payload + trailer;
    if !fits(sa.family(), total) {
        return Err(EspError::TooBig);
    }
    // Bytes beyond the IP packet (L2 padding) are dropped.
    let excess = pkt.len() - payload;
    if pkt.tailroom() + excess < trailer {
        return Err(EspError::NoTailroom);
    }
    if pkt.headroom() < head {
        return Err(EspError::NoHeadroom);
    }
    let next_header = match inner.family {
        Family::V4 => IPPROTO_IPIP,
        Family::V6 => IPPROTO_IPV6,
    };
    pkt.trim(excess);
    let d = pkt.append(trailer).ok_or(EspError::NoTailroom)?;
    write_trailer(&mut d[payload..], pad, next_header);
    let d = pkt.prepend(head).ok_or(EspError::NoHeadroom)?;
    sa.write_outer(&mut d[..ohl], total, &inner, seq);
    Ok(ohl)
}

/// RFC 4303 section 3.1.1, transport mode: ESP goes behind the IP header
/// (for IPv6, behind hop-by-hop and routing headers; see
/// `hdr::ipv6_insert_point`), and protects the rest of the packet.
/// Fragments are refused. A packet whose protocol is 59 ("no next header")
/// is sent, but RFC 4303 2.6 makes every receiver discard it as a dummy.
#[inline]
fn transport<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    _seq: u64,
) -> Result<usize, EspError> {
    let ip: IpInfo = match hdr::version(pkt.data()) {
        Some(4) => hdr::ipv4(pkt.data())?,
        Some(6) => hdr::ipv6(pkt.data(), hdr::ipv6_insert_point)?,
        Some(_) => return Err(EspError::BadIpHeader),
        None => return Err(EspError::Truncated),
    };
    // RFC 4303 3.1.1: "In transport mode, ESP is applied only to whole IP
    // datagrams (not to IP fragments)"; the receiver reassembles before ESP
    // (3.4.1) and would refuse a fragment carrying ESP. IPv6 fragment headers
    // are walked only to see them.
    if ip.fragment {
        return Err(EspError::Fragment);
    }
    if ip.family != sa.family() {
        return Err(EspError::FamilyMismatch);
    }
    let hl = ip.hdr_len;
    let payload = ip.total - hl;
    let pad = pad_len(payload);
    let trailer = pad + 2 + ICV_LEN;
    let total = ip.total + ESP_IV_LEN + trailer;
    if !fits(ip.family, total) {
        return Err(EspError::TooBig);
    }
    let excess = pkt.len() - ip.total;
    if pkt.tailroom() + excess < trailer {
        return Err(EspError::NoTailroom);
    }
    if pkt.headroom() < ESP_IV_LEN {
        return Err(EspError::NoHeadroom);
    }
    let next_header = pkt.data()[ip.nh_off];
    pkt.trim(excess);
    let d = pkt.append(trailer).ok_or(EspError::NoTailroom)?;
    write_trailer(&mut d[ip.total..], pad, next_header);
    let d = pkt.prepend(ESP_IV_LEN).ok_or(EspError::NoHeadroom)?;
    // Move the IP header (with its extension headers) to the front.
    d.copy_within(ESP_IV_LEN..ESP_IV_LEN + hl, 0);
    d[ip.nh_off] = IPPROTO_ESP;
    match ip.family {
        Family::V4 => {
            put16(d, 2, total as u16);
            hdr::set_ipv4_checksum(&mut d[..hl]);
        }
        Family::V6 => put16(d, 4, (total - hdr::IPV6_HDR) as u16),
    }
    Ok(hl)
}

/// Pad bytes 1, 2, 3, ... (RFC 4303 2.4: "the Padding bytes are initialized
/// with a series of (unsigned, 1-byte) integer values"), pad length, next header.
#[inline]
fn write_trailer(t: &mut [u8], pad: usize, next_header: u8) {
    for (i, b) in t[..pad].iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    t[pad] = pad as u8;
    t[pad + 1] = next_header;
}

/// SPI, sequence number and IV at the front of `esp` (the callers leave
/// room for them and the ICV).
#[inline]
fn write_esp_header<C: EspAead>(sa: &EspSa<C>, esp: &mut [u8], seq: u64, iv: &[u8; IV_LEN]) {
    if let Some(hdr) = esp.first_chunk_mut::<ESP_IV_LEN>() {
        hdr[..4].copy_from_slice(&sa.spi().to_be_bytes());
        // RFC 4303 2.2.1: with ESN "only the low-order 32 bits are transmitted".
        hdr[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        hdr[8..].copy_from_slice(iv);
    }
}

/// The second half of [`encapsulate`]: encrypt a packet [`frame`] framed
/// for `sa`, from the end of the IV to the ICV, and write the ICV (its
/// last 16 bytes). The packet may have grown at the front since (L2).
#[inline]
pub fn seal<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    pkt: &mut B,
    f: &Framed,
) -> Result<(), EspError> {
    let d = pkt.data_mut();
    // Fixed-size views: the ICV needs no further bounds checks. A packet
    // shortened since it was framed is refused.
    let Some(esp) = d.len().checked_sub(f.esp_to_end as usize) else {
        return Err(EspError::Cipher);
    };
    let Some((hdr, body)) = d[esp..].split_first_chunk_mut::<ESP_IV_LEN>() else {
        return Err(EspError::Cipher);
    };
    let Some((ct, icv)) = body.split_last_chunk_mut::<ICV_LEN>() else {
        return Err(EspError::Cipher);
    };
    let (a, alen) = aad(sa.spi(), f.seq, sa.esn());
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&hdr[ESP_HDR_LEN..]);
    let n = nonce(sa.salt(), &iv);
    sa.cipher()
        .seal_in_place(&n, &a[..alen], ct, icv)
        .map_err(|_| EspError::Cipher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::HeapBuf;
    use crate::esp::sa::tests::spec;

    #[test]
    fn padding() {
        assert_eq!(pad_len(0), 2);
        assert_eq!(pad_len(1), 1);
        assert_eq!(pad_len(2), 0);
        assert_eq!(pad_len(3), 3);
        assert_eq!(pad_len(46), 0);
        for n in 0..64 {
            assert_eq!((n + pad_len(n) + 2) % 4, 0);
        }
    }

    // IPv4/UDP, 30 bytes, DF set, ECN ECT(0).
    fn v4_udp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0x02, 0x00, 0x1e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0, 0, 10, 1, 0, 5, 10, 2,
            0, 9, 0x0f, 0xa0, 0x00, 0x35, 0x00, 0x0a, 0, 0, 0xab, 0xcd,
        ];
        hdr::set_ipv4_checksum(&mut p[..20]);
        p
    }

    #[test]
    fn tunnel_v4_layout() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4)).unwrap();
        let inner = v4_udp();
        let mut b = HeapBuf::from_slice(&inner);
        b.append(3).unwrap(); // L2 padding: dropped
        encapsulate(&sa, &mut b, 7).unwrap();
        let d = b.data();
        // 20 outer + 16 ESP/IV + 30 inner + 0 pad + 2 + 16 ICV.
        assert_eq!(d.len(), 84);
        assert_eq!(&d[2..4], &[0, 84]);
        assert_eq!(d[1], 0x02); // ECN copied
        assert_eq!(d[6], 0x40); // DF copied
        assert_eq!(d[9], 50);
        assert_eq!(hdr::fold(hdr::sum16(&d[..20])), 0);
        assert_eq!(&d[20..24], &0x1234_5678u32.to_be_bytes());
        assert_eq!(&d[24..28], &[0, 0, 0, 7]);
        assert_eq!(&d[28..36], &7u64.to_be_bytes());
        // The payload is encrypted.
        assert_ne!(&d[36..66], &inner[..]);
    }

    /// Framing, an L2 header in front, then sealing gives the bytes of a
    /// one-step encapsulation behind that header, in both modes.
    #[test]
    fn frame_then_seal_equals_encapsulate() {
        for mode in [Mode::Tunnel, Mode::Transport] {
            let sa = EspSa::new(&spec(mode, Family::V4)).unwrap();
            let mut one = HeapBuf::from_slice(&v4_udp());
            encapsulate(&sa, &mut one, 41).unwrap();
            let mut two = HeapBuf::from_slice(&v4_udp());
            let f = frame(&sa, &mut two, 41).unwrap();
            // Not encrypted yet: the protected bytes are still readable.
            let plain = match mode {
                Mode::Tunnel => &v4_udp()[..4],
                Mode::Transport => &v4_udp()[20..24],
            };
            let at = two.len() - f.esp_to_end as usize + 16;
            assert_eq!(&two.data()[at..at + 4], plain);
            two.prepend(14).unwrap()[..14].fill(0xee);
            seal(&sa, &mut two, &f).unwrap();
            assert_eq!(&two.data()[14..], one.data(), "{mode:?}");
            assert!(two.data()[..14].iter().all(|&b| b == 0xee));
            // A packet cut shorter than its framing is refused.
            two.trim(two.len() - 10);
            assert_eq!(seal(&sa, &mut two, &f), Err(EspError::Cipher));
        }
    }

    #[test]
    fn refuses_without_room_and_leaves_packet() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4)).unwrap();
        let inner = v4_udp();
        let mut b = HeapBuf::new(30 + 36 + 10, 36);
        b.append(30).unwrap().copy_from_slice(&inner);
        assert_eq!(encapsulate(&sa, &mut b, 1), Err(EspError::NoTailroom));
        assert_eq!(b.data(), &inner[..]);
        let mut b = HeapBuf::new(30 + 35 + 18, 35);
        b.append(30).unwrap().copy_from_slice(&inner);
        assert_eq!(encapsulate(&sa, &mut b, 1), Err(EspError::NoHeadroom));
        assert_eq!(b.data(), &inner[..]);
    }

    #[test]
    fn refuses_bad_input() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4)).unwrap();
        let mut b = HeapBuf::from_slice(&v4_udp());
        assert_eq!(encapsulate(&sa, &mut b, 0), Err(EspError::BadSeq));
        assert_eq!(encapsulate(&sa, &mut b, 1 << 32), Err(EspError::BadSeq));
        assert_eq!(
            encapsulate(&sa, &mut HeapBuf::from_slice(&[]), 1),
            Err(EspError::Truncated)
        );
        assert_eq!(
            encapsulate(&sa, &mut HeapBuf::from_slice(&[0x45; 10]), 1),
            Err(EspError::Truncated)
        );
        assert_eq!(
            encapsulate(&sa, &mut HeapBuf::from_slice(&[0x75; 40]), 1),
            Err(EspError::BadIpHeader)
        );
        let t4 = EspSa::new(&spec(Mode::Transport, Family::V4)).unwrap();
        let mut frag = v4_udp();
        frag[6] = 0x20;
        assert_eq!(
            encapsulate(&t4, &mut HeapBuf::from_slice(&frag), 1),
            Err(EspError::Fragment)
        );
        let t6 = EspSa::new(&spec(Mode::Transport, Family::V6)).unwrap();
        // IPv6 with a fragment header (next header 44, 8 bytes) then UDP.
        let mut f6 = vec![0u8; 40 + 8 + 8];
        f6[0] = 0x60;
        f6[5] = 16;
        f6[6] = 44;
        f6[40] = 17;
        assert_eq!(
            encapsulate(&t6, &mut HeapBuf::from_slice(&f6), 1),
            Err(EspError::Fragment)
        );
        assert_eq!(
            encapsulate(&t6, &mut HeapBuf::from_slice(&v4_udp()), 1),
            Err(EspError::FamilyMismatch)
        );
    }

    #[test]
    fn transport_v4_layout() {
        let sa = EspSa::new(&spec(Mode::Transport, Family::V4)).unwrap();
        let inner = v4_udp();
        let mut b = HeapBuf::from_slice(&inner);
        encapsulate(&sa, &mut b, 9).unwrap();
        let d = b.data();
        // 10 payload + 2 is a multiple of 4: no padding.
        assert_eq!(d.len(), 20 + 16 + 10 + 2 + 16);
        assert_eq!(&d[..2], &inner[..2]);
        assert_eq!(hdr::be16(d, 2) as usize, d.len());
        assert_eq!(d[9], 50);
        assert_eq!(&d[12..20], &inner[12..20]);
        assert_eq!(hdr::fold(hdr::sum16(&d[..20])), 0);
        assert_eq!(&d[24..28], &[0, 0, 0, 9]);
    }
}
