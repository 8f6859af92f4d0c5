//! ESP decapsulation on arbitrary bytes must never panic.
//!
//! The first input byte picks one of eight fixed SAs (tunnel/transport,
//! IPv4/IPv6, with and without ESN) and one of three ways to use the rest:
//! - raw: the bytes are the whole packet (almost always an ICV failure, but
//!   every length and header check before it is exercised);
//! - sealed: the bytes are the ESP plaintext (payload, padding, pad length,
//!   next header), sealed with the SA's key under a valid header, so the
//!   checks after decryption (padding, next header, inner packet, ECN) see
//!   arbitrary input;
//! - round trip: the bytes are an IP packet; if encapsulation accepts it,
//!   decapsulation must give it back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xfgate::buf::{HeapBuf, PacketBuf};
use xfgate::esp::{decapsulate, encapsulate, EspAead, EspError, EspSa};
use xfgate::ip::Family;
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::Mode;

const SPI: u32 = 0x0bad_cafe;
const V4_SRC: u128 = 0xc000_0201;
const V4_DST: u128 = 0xc633_6407;
const V6_SRC: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
const V6_DST: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

fn sas() -> &'static [EspSa] {
    static SAS: OnceLock<Vec<EspSa>> = OnceLock::new();
    SAS.get_or_init(|| {
        let mut v = Vec::new();
        for esn in [false, true] {
            for mode in [Mode::Tunnel, Mode::Transport] {
                for family in [Family::V4, Family::V6] {
                    let (src, dst) = match family {
                        Family::V4 => (V4_SRC, V4_DST),
                        Family::V6 => (V6_SRC, V6_DST),
                    };
                    let spec = SaSpec {
                        spi: SPI,
                        mode,
                        family,
                        src,
                        dst,
                        reqid: 1,
                        alg: AeadAlg::Aes128Gcm,
                        key: vec![0x42; 16],
                        salt: [1, 2, 3, 4],
                        replay_window: 64,
                        esn,
                        lifetime: SaLifetime::default(),
                    };
                    v.push(EspSa::new(&spec).expect("fuzz SA"));
                }
            }
        }
        v
    })
}

/// A buffer holding `p` with room for ESP around it.
fn buf(p: &[u8]) -> HeapBuf {
    let mut b = HeapBuf::new(128 + p.len() + 64, 128);
    if let Some(d) = b.append(p.len()) {
        d.copy_from_slice(p);
    }
    b
}

/// Outer header (family of the SA) + ESP header + IV around `plain`, sealed.
fn sealed(sa: &EspSa, seq: u64, plain: &[u8]) -> Option<HeapBuf> {
    let hl = match sa.family() {
        Family::V4 => 20,
        Family::V6 => 40,
    };
    let total = hl + 16 + plain.len() + 16;
    if total > 0xffff {
        return None;
    }
    let mut p = vec![0u8; total];
    match sa.family() {
        Family::V4 => {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[8] = 64;
            p[9] = 50;
            p[12..16].copy_from_slice(&(V4_SRC as u32).to_be_bytes());
            p[16..20].copy_from_slice(&(V4_DST as u32).to_be_bytes());
        }
        Family::V6 => {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
            p[6] = 50;
            p[7] = 64;
            p[8..24].copy_from_slice(&V6_SRC.to_be_bytes());
            p[24..40].copy_from_slice(&V6_DST.to_be_bytes());
        }
    }
    p[hl..hl + 4].copy_from_slice(&SPI.to_be_bytes());
    p[hl + 4..hl + 8].copy_from_slice(&(seq as u32).to_be_bytes());
    p[hl + 8..hl + 16].copy_from_slice(&seq.to_be_bytes());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(sa.salt());
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&SPI.to_be_bytes());
    let aad_len = if sa.esn() {
        aad[4..].copy_from_slice(&seq.to_be_bytes());
        12
    } else {
        aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        8
    };
    let body = &mut p[hl + 16..];
    let (ct, icv) = body.split_at_mut(plain.len());
    ct.copy_from_slice(plain);
    let icv: &mut [u8; 16] = icv.try_into().ok()?;
    sa.cipher()
        .seal_in_place(&nonce, &aad[..aad_len], ct, icv)
        .ok()?;
    Some(buf(&p))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let sa = &sas()[(sel & 7) as usize];
    let mut w = sa.new_replay_window();
    let before = w.clone();
    match (sel >> 3) % 3 {
        0 => {
            let mut b = buf(rest);
            if decapsulate(sa, &mut w, &mut b).is_err() {
                assert_eq!(w, before, "a refused packet changed the window");
            }
        }
        1 => {
            let seq = 1 + (sel >> 5) as u64;
            if let Some(mut b) = sealed(sa, seq, rest) {
                let len = b.len();
                if let Ok(d) = decapsulate(sa, &mut w, &mut b) {
                    assert_eq!(d.seq, seq);
                    assert_eq!(d.len, b.len());
                    assert!(b.len() < len);
                }
                // Authentic (pad length and next header present), so the
                // window recorded it whatever the checks after the ICV said.
                if rest.len() >= 2 {
                    assert_eq!(w.top(), seq);
                }
            }
        }
        _ => {
            let mut b = buf(rest);
            if encapsulate(sa, &mut b, 1).is_ok() {
                let d = match decapsulate(sa, &mut w, &mut b) {
                    // RFC 4303 2.6: next header 59 marks a dummy packet, so a
                    // transport-mode packet whose protocol is 59 ("no next
                    // header") is discarded by any receiver.
                    Err(EspError::Dummy) if sa.mode() == Mode::Transport => return,
                    r => r.expect("round trip"),
                };
                assert_eq!(d.seq, 1);
                let out = b.data();
                assert_eq!(out.len(), d.len);
                assert!(out.len() <= rest.len());
                let orig = &rest[..out.len()];
                if sa.mode() == Mode::Transport && sa.family() == Family::V4 {
                    // The IPv4 checksum is recomputed; all else is as sent.
                    assert_eq!(&out[..10], &orig[..10]);
                    assert_eq!(&out[12..], &orig[12..]);
                } else {
                    assert_eq!(out, orig);
                }
            }
        }
    }
});
