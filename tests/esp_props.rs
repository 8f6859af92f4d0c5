//! ESP properties: round trips over every mode/family/key size/ESN
//! combination and payload sizes 0 to 9000; every single-bit flip of the
//! ESP part is rejected and leaves the replay window unchanged; replays.

use xfgate::buf::{HeapBuf, PacketBuf};
use xfgate::esp::{
    decapsulate, encapsulate, EspError, EspSa, InboundState, ReplayError, ReplayWindow,
};
use xfgate::ip::Family;
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::Mode;

const V4_SRC: u128 = 0x0a01_0005;
const V4_DST: u128 = 0x0a02_0009;
const V6_SRC: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0005;
const V6_DST: u128 = 0x2001_0db8_0002_0000_0000_0000_0000_0009;

fn spec(mode: Mode, family: Family, alg: AeadAlg, esn: bool) -> SaSpec {
    let (src, dst) = match family {
        Family::V4 => (0xc000_0201, 0xc633_6407),
        Family::V6 => (
            0x2001_0db8_ffff_0000_0000_0000_0000_0001,
            0x2001_0db8_eeee_0000_0000_0000_0000_0001,
        ),
    };
    // Transport mode: the endpoints are the packet's own addresses.
    let (src, dst) = match (mode, family) {
        (Mode::Transport, Family::V4) => (V4_SRC, V4_DST),
        (Mode::Transport, Family::V6) => (V6_SRC, V6_DST),
        _ => (src, dst),
    };
    SaSpec {
        spi: 0xc0ff_ee01,
        mode,
        family,
        src,
        dst,
        reqid: 7,
        alg,
        key: (0..alg.key_len() as u8)
            .map(|i| i.wrapping_mul(37) ^ 0x5a)
            .collect(),
        salt: [0xde, 0xad, 0xbe, 0xef],
        replay_window: 64,
        esn,
        lifetime: SaLifetime::default(),
    }
}

/// An IP packet of `family` carrying `n` bytes of UDP-numbered payload.
fn ip_packet(family: Family, n: usize) -> Vec<u8> {
    let mut p = match family {
        Family::V4 => {
            let total = 20 + n;
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[1] = 0x28; // DSCP AF11, Not-ECT
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            h[6] = 0x40;
            h[8] = 63;
            h[9] = 17;
            h[12..16].copy_from_slice(&(V4_SRC as u32).to_be_bytes());
            h[16..20].copy_from_slice(&(V4_DST as u32).to_be_bytes());
            let mut s = 0u32;
            for c in h.chunks(2) {
                s += u16::from_be_bytes([c[0], c[1]]) as u32;
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            h[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
            h
        }
        Family::V6 => {
            let mut h = vec![0u8; 40];
            h[0] = 0x60;
            h[1] = 0x20;
            h[4..6].copy_from_slice(&(n as u16).to_be_bytes());
            h[6] = 17;
            h[7] = 63;
            h[8..24].copy_from_slice(&V6_SRC.to_be_bytes());
            h[24..40].copy_from_slice(&V6_DST.to_be_bytes());
            h
        }
    };
    p.extend((0..n).map(|i| (i * 7 + n) as u8));
    p
}

fn buf_with(p: &[u8]) -> HeapBuf {
    let mut b = HeapBuf::new(128 + p.len() + 128, 128);
    b.append(p.len()).unwrap().copy_from_slice(p);
    b
}

const SIZES_EXTRA: [usize; 9] = [100, 255, 256, 257, 1000, 1400, 1420, 1500, 9000];

fn sizes() -> impl Iterator<Item = usize> {
    (0..=64).chain(SIZES_EXTRA)
}

/// (mode, outer family, inner family)
const COMBOS: [(Mode, Family, Family); 6] = [
    (Mode::Tunnel, Family::V4, Family::V4),
    (Mode::Tunnel, Family::V4, Family::V6),
    (Mode::Tunnel, Family::V6, Family::V4),
    (Mode::Tunnel, Family::V6, Family::V6),
    (Mode::Transport, Family::V4, Family::V4),
    (Mode::Transport, Family::V6, Family::V6),
];

#[test]
fn round_trips_every_combination() {
    let mut count = 0;
    for (mode, outer, inner) in COMBOS {
        for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
            for esn in [false, true] {
                let sa = EspSa::new(&spec(mode, outer, alg, esn)).unwrap();
                let mut rx = InboundState::new(&sa);
                // With ESN, run in the second 2^32 subspace: the receiver has
                // seen 2^32 + 1 already.
                let base = if esn {
                    rx.window.update((1 << 32) + 1).unwrap();
                    (1u64 << 32) + 1
                } else {
                    0
                };
                for (i, n) in sizes().enumerate() {
                    let seq = base + i as u64 + 1;
                    let plain = ip_packet(inner, n);
                    let mut b = buf_with(&plain);
                    encapsulate(&sa, &mut b, seq).unwrap();
                    let e = b.data();
                    let esp_off = match mode {
                        Mode::Tunnel => {
                            if outer == Family::V4 {
                                20
                            } else {
                                40
                            }
                        }
                        Mode::Transport => {
                            if inner == Family::V4 {
                                20
                            } else {
                                40
                            }
                        }
                    };
                    // Length: headers + payload + pad to 4 + 2 + ICV.
                    let payload = match mode {
                        Mode::Tunnel => plain.len(),
                        Mode::Transport => plain.len() - esp_off,
                    };
                    let padded = (payload + 2).div_ceil(4) * 4;
                    assert_eq!(e.len(), esp_off + 16 + padded + 16, "{mode:?} {n}");
                    assert_eq!(e[0] >> 4, if outer == Family::V4 { 4 } else { 6 });
                    assert_eq!(&e[esp_off + 4..esp_off + 8], &(seq as u32).to_be_bytes());
                    let d = rx.decapsulate(&sa, &mut b).unwrap_or_else(|err| {
                        panic!("{mode:?} {outer:?}/{inner:?} {alg:?} esn={esn} n={n}: {err}")
                    });
                    assert_eq!(d.seq, seq);
                    assert_eq!(d.family, inner);
                    assert_eq!(b.data(), &plain[..], "{mode:?} {outer:?}/{inner:?} n={n}");
                    count += 1;
                }
            }
        }
    }
    assert_eq!(count, 6 * 2 * 2 * (65 + SIZES_EXTRA.len()));
}

#[test]
fn esn_round_trip_across_the_32_bit_wrap() {
    let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4, AeadAlg::Aes128Gcm, true)).unwrap();
    let mut w = sa.new_replay_window();
    w.update((1 << 32) - 10).unwrap();
    let mut held = Vec::new();
    let mut highest = 0;
    for seq in ((1u64 << 32) - 9)..((1 << 32) + 9) {
        let plain = ip_packet(Family::V4, 33);
        let mut b = buf_with(&plain);
        encapsulate(&sa, &mut b, seq).unwrap();
        if seq % 3 == 0 {
            held.push((seq, b)); // delivered late, after the wrap
            continue;
        }
        let d = decapsulate(&sa, &mut w, &mut b).unwrap();
        assert_eq!(d.seq, seq);
        assert_eq!(b.data(), &plain[..]);
        highest = seq;
    }
    assert!(highest > 1 << 32);
    assert_eq!(w.top(), highest);
    for (seq, mut b) in held {
        let replay = b.clone();
        assert_eq!(decapsulate(&sa, &mut w, &mut b).unwrap().seq, seq);
        let mut replay = replay;
        assert_eq!(
            decapsulate(&sa, &mut w, &mut replay),
            Err(EspError::Replay(ReplayError::Duplicate))
        );
    }
}

#[test]
fn without_esn_seq_never_passes_2_32() {
    let sa = EspSa::new(&spec(Mode::Tunnel, Family::V4, AeadAlg::Aes128Gcm, false)).unwrap();
    let mut b = buf_with(&ip_packet(Family::V4, 10));
    assert_eq!(encapsulate(&sa, &mut b, 1 << 32), Err(EspError::BadSeq));
    assert!(encapsulate(&sa, &mut b, u32::MAX as u64).is_ok());
}

/// Every single-bit flip in SPI, sequence number, IV, ciphertext and ICV.
fn tamper_all(mode: Mode, outer: Family, inner: Family, esn: bool, n: usize) {
    let sa = EspSa::new(&spec(mode, outer, AeadAlg::Aes256Gcm, esn)).unwrap();
    let mut w = sa.new_replay_window();
    // The receiver has seen a few packets (some out of order).
    for seq in [1u64, 2, 5] {
        let mut b = buf_with(&ip_packet(inner, 20));
        encapsulate(&sa, &mut b, seq).unwrap();
        decapsulate(&sa, &mut w, &mut b).unwrap();
    }
    let plain = ip_packet(inner, n);
    let mut good = buf_with(&plain);
    encapsulate(&sa, &mut good, 4).unwrap();
    let esp_off = match outer {
        Family::V4 => 20,
        Family::V6 => 40,
    };
    let before = w.clone();
    let len = good.len();
    let mut flips = 0;
    for byte in esp_off..len {
        for bit in 0..8 {
            let mut b = good.clone();
            b.data_mut()[byte] ^= 1 << bit;
            let r = decapsulate(&sa, &mut w, &mut b);
            assert!(r.is_err(), "flip of byte {byte} bit {bit} accepted");
            if byte < esp_off + 4 {
                assert_eq!(r, Err(EspError::SpiMismatch));
            } else if byte >= esp_off + 8 {
                assert_eq!(r, Err(EspError::IcvFail), "byte {byte} bit {bit}");
            }
            assert_eq!(w, before, "window changed by flip of byte {byte} bit {bit}");
            flips += 1;
        }
    }
    assert_eq!(flips, (len - esp_off) * 8);
    // The untouched packet still passes, once.
    let mut b = good.clone();
    assert_eq!(decapsulate(&sa, &mut w, &mut b).unwrap().seq, 4);
    assert_eq!(b.data(), &plain[..]);
    assert_ne!(w, before);
}

#[test]
fn tamper_tunnel_v4() {
    tamper_all(Mode::Tunnel, Family::V4, Family::V4, false, 37);
}

#[test]
fn tamper_tunnel_v6_esn() {
    tamper_all(Mode::Tunnel, Family::V6, Family::V4, true, 64);
}

#[test]
fn tamper_transport_v4_esn() {
    tamper_all(Mode::Transport, Family::V4, Family::V4, true, 3);
}

#[test]
fn tamper_transport_v6() {
    tamper_all(Mode::Transport, Family::V6, Family::V6, false, 50);
}

#[test]
fn spi_flip_with_matching_sa_still_fails_icv() {
    // Even an SA whose SPI equals the flipped one (the SPI is in the AAD).
    let s = spec(Mode::Tunnel, Family::V4, AeadAlg::Aes128Gcm, false);
    let sa = EspSa::new(&s).unwrap();
    let mut b = buf_with(&ip_packet(Family::V4, 40));
    encapsulate(&sa, &mut b, 1).unwrap();
    for bit in 0..32 {
        let mut t = b.clone();
        let spi = s.spi ^ (1 << bit);
        t.data_mut()[20..24].copy_from_slice(&spi.to_be_bytes());
        let mut other = s.clone();
        other.spi = spi;
        let sa2 = EspSa::new(&other).unwrap();
        let mut w = sa2.new_replay_window();
        assert_eq!(decapsulate(&sa2, &mut w, &mut t), Err(EspError::IcvFail));
        assert_eq!(w, sa2.new_replay_window());
    }
}

#[test]
fn replay_and_reordering() {
    let sa = EspSa::new(&spec(Mode::Tunnel, Family::V6, AeadAlg::Aes128Gcm, false)).unwrap();
    let mut w: ReplayWindow = sa.new_replay_window();
    let pkts: Vec<HeapBuf> = (1..=200u64)
        .map(|seq| {
            let mut b = buf_with(&ip_packet(Family::V6, 16));
            encapsulate(&sa, &mut b, seq).unwrap();
            b
        })
        .collect();
    let rx = |w: &mut ReplayWindow, seq: u64| {
        let mut b = pkts[seq as usize - 1].clone();
        decapsulate(&sa, w, &mut b)
    };
    assert_eq!(rx(&mut w, 10).unwrap().seq, 10);
    assert_eq!(
        rx(&mut w, 10),
        Err(EspError::Replay(ReplayError::Duplicate))
    );
    // Out of order within the window.
    assert_eq!(rx(&mut w, 3).unwrap().seq, 3);
    assert_eq!(rx(&mut w, 9).unwrap().seq, 9);
    assert_eq!(rx(&mut w, 3), Err(EspError::Replay(ReplayError::Duplicate)));
    // Move the right edge to 100: the window is [37, 100].
    assert_eq!(rx(&mut w, 100).unwrap().seq, 100);
    assert_eq!(rx(&mut w, 37).unwrap().seq, 37);
    assert_eq!(rx(&mut w, 36), Err(EspError::Replay(ReplayError::TooOld)));
    assert_eq!(rx(&mut w, 11), Err(EspError::Replay(ReplayError::TooOld)));
    assert_eq!(rx(&mut w, 99).unwrap().seq, 99);
    assert_eq!(rx(&mut w, 200).unwrap().seq, 200);
    assert_eq!(rx(&mut w, 100), Err(EspError::Replay(ReplayError::TooOld)));
    assert_eq!(rx(&mut w, 199).unwrap().seq, 199);
}

#[test]
fn drop_reasons_are_named() {
    assert_eq!(EspError::IcvFail.reason(), "esp_icv_fail");
    assert_eq!(
        EspError::Replay(ReplayError::Duplicate).reason(),
        "esp_replay_duplicate"
    );
}
