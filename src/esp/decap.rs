//! Inbound ESP: verify and decapsulate one packet in place.
//!
//! The buffer's data starts at the outer IP header; the caller found the SA
//! by (spi, dst). Order of checks (RFC 4303 section 3.4): lengths, then the
//! anti-replay check ("This SHOULD be the first ESP check applied to a
//! packet after it has been matched to an SA", 3.4.3), then ICV and
//! decryption (3.4.4), then the window update ("The receive window is
//! updated only if the integrity verification succeeds"), then padding and
//! next header. A packet refused before the update leaves the window as it
//! was. Errors never panic; after a failed decryption the buffer content is
//! unspecified and the packet must be dropped.

use super::cipher::EspAead;
use super::hdr::{self, put16, IpInfo};
use super::replay::ReplayWindow;
use super::sa::EspSa;
use super::{
    aad, nonce, EspError, ESP_HDR_LEN, ICV_LEN, IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6,
    IPPROTO_NONE, IV_LEN,
};
use crate::buf::PacketBuf;
use crate::ip::Family;
use crate::spd::Mode;

const ESP_IV_LEN: usize = ESP_HDR_LEN + IV_LEN;

/// What a successful decapsulation left in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapped {
    /// Next header from the ESP trailer: 4 or 41 in tunnel mode, the upper
    /// protocol in transport mode.
    pub next_header: u8,
    /// The full (ESN-inferred) sequence number.
    pub seq: u64,
    /// Family of the IP packet now in the buffer.
    pub family: Family,
    /// Its length (the buffer's new length).
    pub len: usize,
}

/// Verify and decapsulate the ESP packet in `pkt` for `sa`, using and
/// updating `window` (the SA's replay window).
///
/// Tunnel mode: the buffer ends up holding exactly the inner IP packet (TFC
/// padding behind it removed, ECN combined per RFC 6040). Transport mode:
/// the original IP packet rebuilt in place (protocol / next header restored,
/// lengths and IPv4 checksum fixed).
pub fn decapsulate<C: EspAead, B: PacketBuf>(
    sa: &EspSa<C>,
    window: &mut ReplayWindow,
    pkt: &mut B,
) -> Result<Decapped, EspError> {
    let outer = outer_header(sa, pkt.data())?;
    let hl = outer.hdr_len;
    // ESP needs at least SPI, sequence, IV, pad length, next header and ICV.
    if outer.total < hl + ESP_IV_LEN + 2 + ICV_LEN {
        return Err(EspError::Truncated);
    }
    // Bytes beyond the IP packet (L2 padding) are not ESP.
    let excess = pkt.len() - outer.total;
    pkt.trim(excess);

    let d = pkt.data_mut();
    let spi = u32::from_be_bytes([d[hl], d[hl + 1], d[hl + 2], d[hl + 3]]);
    if spi != sa.spi() {
        return Err(EspError::SpiMismatch);
    }
    let seq_low = u32::from_be_bytes([d[hl + 4], d[hl + 5], d[hl + 6], d[hl + 7]]);
    let seq = window.check(seq_low)?;

    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&d[hl + ESP_HDR_LEN..hl + ESP_IV_LEN]);
    let (a, alen) = aad(spi, seq, sa.esn());
    let n = nonce(sa.salt(), &iv);
    let body = &mut d[hl + ESP_IV_LEN..];
    let ct_len = body.len() - ICV_LEN;
    let (ct, icv) = body.split_at_mut(ct_len);
    let icv: &[u8; ICV_LEN] = (&*icv).try_into().map_err(|_| EspError::Truncated)?;
    sa.cipher()
        .open_in_place(&n, &a[..alen], ct, icv)
        .map_err(|_| EspError::IcvFail)?;

    // Authentic: record it before anything else can refuse it.
    window.update(seq)?;

    // RFC 4303 2.4 / 2.5: pad length and next header end the plaintext.
    let pad = ct[ct_len - 2] as usize;
    let next_header = ct[ct_len - 1];
    if pad + 2 > ct_len {
        return Err(EspError::BadPadding);
    }
    let payload = ct_len - 2 - pad;
    // RFC 4303 2.4: "the receiver SHOULD inspect the Padding field"
    // (bytes 1, 2, 3, ... as the sender wrote them).
    if ct[payload..payload + pad]
        .iter()
        .enumerate()
        .any(|(i, &b)| b != i as u8 + 1)
    {
        return Err(EspError::BadPadding);
    }
    // RFC 4303 2.6: "the receiver MUST be prepared to silently discard" a
    // dummy packet (next header 59).
    if next_header == IPPROTO_NONE {
        return Err(EspError::Dummy);
    }
    match sa.mode() {
        Mode::Tunnel => tunnel(pkt, &outer, payload, next_header, seq),
        Mode::Transport => transport(pkt, &outer, payload, next_header, seq),
    }
}

/// Parse the outer header: family as the SA's, protocol ESP, not a fragment.
#[inline]
fn outer_header<C: EspAead>(sa: &EspSa<C>, d: &[u8]) -> Result<IpInfo, EspError> {
    let ip = match (hdr::version(d), sa.family()) {
        (Some(4), Family::V4) => hdr::ipv4(d)?,
        (Some(6), Family::V6) => hdr::ipv6(d, hdr::ipv6_before_esp)?,
        (Some(4 | 6), _) => return Err(EspError::FamilyMismatch),
        (Some(_), _) => return Err(EspError::BadIpHeader),
        (None, _) => return Err(EspError::Truncated),
    };
    // RFC 4303 3.4.1: "If required, reassembly is performed prior to ESP
    // processing." Reassembly is not ours.
    if ip.fragment {
        return Err(EspError::Fragment);
    }
    if d[ip.nh_off] != IPPROTO_ESP {
        return Err(EspError::NotEsp);
    }
    Ok(ip)
}

/// Strip outer header, ESP header/IV, trailer and ICV: only the inner IP
/// packet stays.
#[inline]
fn tunnel<B: PacketBuf>(
    pkt: &mut B,
    outer: &IpInfo,
    payload: usize,
    next_header: u8,
    seq: u64,
) -> Result<Decapped, EspError> {
    let start = outer.hdr_len + ESP_IV_LEN;
    let d = pkt.data_mut();
    let inner_bytes = &mut d[start..start + payload];
    let inner = match (next_header, hdr::version(inner_bytes)) {
        (IPPROTO_IPIP, Some(4)) | (IPPROTO_IPV6, Some(6)) => {
            hdr::ip_any(inner_bytes).map_err(|_| EspError::BadInner)?
        }
        (IPPROTO_IPIP | IPPROTO_IPV6, _) => return Err(EspError::BadInner),
        _ => return Err(EspError::BadNextHeader),
    };
    // RFC 6040 section 4.2: combine the outer ECN field into the inner one.
    let ecn = hdr::ecn_decap(inner.tos, outer.tos).ok_or(EspError::EcnDrop)?;
    if ecn != inner.tos & hdr::ECN_MASK {
        match inner.family {
            Family::V4 => {
                inner_bytes[1] = (inner.tos & !hdr::ECN_MASK) | ecn;
                hdr::set_ipv4_checksum(&mut inner_bytes[..inner.hdr_len]);
            }
            Family::V6 => {
                // Traffic class spans the low nibble of byte 0 and the high
                // nibble of byte 1; ECN is its low two bits.
                inner_bytes[1] = (inner_bytes[1] & 0xcf) | (ecn << 4);
            }
        }
    }
    // RFC 4303 2.7: TFC padding behind the inner packet is removed using
    // the inner IP length.
    let tail = pkt.len() - start - inner.total;
    pkt.adj(start);
    pkt.trim(tail);
    Ok(Decapped {
        next_header,
        seq,
        family: inner.family,
        len: pkt.len(),
    })
}

/// Rebuild the original packet: restore the next header, move the IP
/// header back over ESP header + IV, drop trailer and ICV, fix lengths.
#[inline]
fn transport<B: PacketBuf>(
    pkt: &mut B,
    ip: &IpInfo,
    payload: usize,
    next_header: u8,
    seq: u64,
) -> Result<Decapped, EspError> {
    let hl = ip.hdr_len;
    let total = hl + payload;
    let tail = pkt.len() - ESP_IV_LEN - total;
    let d = pkt.data_mut();
    d[ip.nh_off] = next_header;
    d.copy_within(0..hl, ESP_IV_LEN);
    pkt.adj(ESP_IV_LEN);
    pkt.trim(tail);
    let d = pkt.data_mut();
    match ip.family {
        Family::V4 => {
            put16(d, 2, total as u16);
            hdr::set_ipv4_checksum(&mut d[..hl]);
        }
        Family::V6 => put16(d, 4, (total - hdr::IPV6_HDR) as u16),
    }
    Ok(Decapped {
        next_header,
        seq,
        family: ip.family,
        len: pkt.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::HeapBuf;
    use crate::esp::encap::encapsulate;
    use crate::esp::sa::tests::spec;
    use crate::esp::ReplayError;

    fn v6_tcp(tc: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60 | (tc >> 4);
        p[1] = tc << 4;
        p[5] = 20;
        p[6] = 6;
        p[7] = 64;
        p[8] = 0x20;
        p[23] = 1;
        p[24] = 0x20;
        p[39] = 2;
        for (i, b) in p[40..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    #[test]
    fn tunnel_v6_round_trip_and_replay() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4)).unwrap();
        let mut w = sa.new_replay_window();
        let inner = v6_tcp(0x02);
        let mut b = HeapBuf::from_slice(&inner);
        encapsulate(&sa, &mut b, 3).unwrap();
        let sent = b.clone();
        let d = decapsulate(&sa, &mut w, &mut b).unwrap();
        assert_eq!(b.data(), &inner[..]);
        assert_eq!(
            d,
            Decapped {
                next_header: 41,
                seq: 3,
                family: Family::V6,
                len: 60
            }
        );
        let mut again = sent.clone();
        assert_eq!(
            decapsulate(&sa, &mut w, &mut again),
            Err(EspError::Replay(ReplayError::Duplicate))
        );
    }

    #[test]
    fn rfc6040_ce_propagates_and_not_ect_drops() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V6)).unwrap();
        // Inner ECT(0): outer CE sets CE inside.
        let inner = v6_tcp(0xb8 | 0b10);
        let mut b = HeapBuf::from_slice(&inner);
        encapsulate(&sa, &mut b, 1).unwrap();
        b.data_mut()[1] |= 0b11 << 4; // outer CE
        let mut w = sa.new_replay_window();
        decapsulate(&sa, &mut w, &mut b).unwrap();
        let mut want = inner.clone();
        want[1] |= 0b11 << 4;
        assert_eq!(b.data(), &want[..]);
        // Inner Not-ECT with outer CE: drop.
        let mut b = HeapBuf::from_slice(&v6_tcp(0xb8));
        encapsulate(&sa, &mut b, 2).unwrap();
        b.data_mut()[1] |= 0b11 << 4;
        assert_eq!(decapsulate(&sa, &mut w, &mut b), Err(EspError::EcnDrop));
    }

    #[test]
    fn short_and_foreign_packets() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4)).unwrap();
        let mut w = sa.new_replay_window();
        let mut b = HeapBuf::from_slice(&v6_tcp(0));
        assert_eq!(
            decapsulate(&sa, &mut w, &mut b),
            Err(EspError::FamilyMismatch)
        );
        // One byte short of header, IV, pad length, next header and ICV.
        let mut p = [0u8; 20 + 16 + 2 + 16 - 1];
        p[0] = 0x45;
        p[3] = 53;
        p[9] = 50;
        let mut b = HeapBuf::from_slice(&p);
        assert_eq!(decapsulate(&sa, &mut w, &mut b), Err(EspError::Truncated));
        let mut p = [0u8; 20 + 42];
        p[0] = 0x45;
        p[3] = 62;
        p[9] = 17;
        let mut b = HeapBuf::from_slice(&p);
        assert_eq!(decapsulate(&sa, &mut w, &mut b), Err(EspError::NotEsp));
        p[9] = 50;
        let mut b = HeapBuf::from_slice(&p);
        assert_eq!(decapsulate(&sa, &mut w, &mut b), Err(EspError::SpiMismatch));
        p[20..24].copy_from_slice(&sa.spi().to_be_bytes());
        p[27] = 1;
        let mut b = HeapBuf::from_slice(&p);
        assert_eq!(decapsulate(&sa, &mut w, &mut b), Err(EspError::IcvFail));
        assert_eq!(w.top(), 0);
    }

    #[test]
    fn transport_v6_with_extension_header() {
        let sa = EspSa::new(&spec(Mode::Transport, Family::V6)).unwrap();
        // Base header + routing header (8 bytes) + 12 bytes UDP-ish payload.
        let mut p = vec![0u8; 40 + 8 + 12];
        p[0] = 0x60;
        p[5] = 20;
        p[6] = 43;
        p[7] = 64;
        p[40] = 17; // routing header's next header
        p[41] = 0;
        for (i, b) in p[48..].iter_mut().enumerate() {
            *b = 0xf0 | i as u8;
        }
        let mut b = HeapBuf::from_slice(&p);
        encapsulate(&sa, &mut b, 5).unwrap();
        let e = b.data();
        assert_eq!(e[6], 43);
        assert_eq!(e[40], 50);
        assert_eq!(&e[48..52], &sa.spi().to_be_bytes());
        assert_eq!(hdr::be16(e, 4) as usize, e.len() - 40);
        let mut w = sa.new_replay_window();
        let d = decapsulate(&sa, &mut w, &mut b).unwrap();
        assert_eq!(b.data(), &p[..]);
        assert_eq!(d.next_header, 17);
    }
}
