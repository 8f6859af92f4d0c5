//! Flow-key extraction: the `struct flowi` of a packet for the flow cache.

use super::parse::{parse_frame_addrs, parse_l3_addrs, ParsedFrame};
use super::WireError;
use crate::flow::key::{FlowKey, FLOW_FRAGMENT};
use crate::ip::{Addr, Dir};

#[inline(always)]
fn key_of(p: &ParsedFrame, src: Addr, dst: Addr, dir: Dir, ingress: u16) -> FlowKey {
    let mut k = FlowKey::new(
        p.family, dir, src, dst, p.l4_proto, p.sport, p.dport, ingress,
    );
    // As Linux's decode_session4/6: a fragment is keyed without ports (they
    // are zero in `p`) and marked, so the caller can count it.
    if p.frag.is_some() {
        k.flags |= FLOW_FRAGMENT;
    }
    k
}

/// Parse an Ethernet frame and build its flow key.
///
/// Ports are those of UDP, TCP, UDP-Lite and SCTP; for ICMP and ICMPv6 the
/// type goes in `sport` and the code in `dport`; other protocols (ESP
/// included) have zero ports. Fragments (IPv4 MF or offset, IPv6 fragment
/// header) get zero ports and [`FLOW_FRAGMENT`].
#[inline]
pub fn flow_key(frame: &[u8], dir: Dir, ingress: u16) -> Result<(FlowKey, ParsedFrame), WireError> {
    let (p, src, dst) = parse_frame_addrs(frame)?;
    Ok((key_of(&p, src, dst, dir, ingress), p))
}

/// As [`flow_key`], for an IP packet starting at offset 0 (a decapsulated
/// inner packet); the family comes from the version nibble.
#[inline]
pub fn flow_key_l3(
    packet: &[u8],
    dir: Dir,
    ingress: u16,
) -> Result<(FlowKey, ParsedFrame), WireError> {
    let (p, src, dst) = parse_l3_addrs(packet)?;
    Ok((key_of(&p, src, dst, dir, ingress), p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::Family;
    use crate::wire::build::FrameSpec;
    use crate::wire::parse_frame;
    use proptest::prelude::*;

    #[test]
    fn key_fields() {
        let f = FrameSpec::tcp(Family::V4, 0x0a00_0001, 0xc0a8_0001, 40000, 443, 0)
            .with_vlan(12)
            .frame();
        let (k, p) = flow_key(&f, Dir::Out, 3).unwrap();
        assert_eq!(
            k,
            FlowKey::new(
                Family::V4,
                Dir::Out,
                0x0a00_0001,
                0xc0a8_0001,
                6,
                40000,
                443,
                3
            )
        );
        assert_eq!(p.vlans, 1);
        assert!(!k.is_fragment());
        let a6 = 0x2001_0db8_0000_0000_0000_0000_0000_00aa;
        let b6 = 0x2001_0db8_0000_0000_0000_0000_0000_00bb;
        let s = FrameSpec::icmp(Family::V6, a6, b6, 128, 0, 56);
        let (k, _) = flow_key(&s.frame(), Dir::In, 1).unwrap();
        assert_eq!((k.family, k.src, k.dst, k.proto), (Family::V6, a6, b6, 58));
        assert_eq!((k.sport, k.dport, k.ingress, k.dir), (128, 0, 1, Dir::In));
        let (k3, p3) = flow_key_l3(&s.packet(), Dir::In, 1).unwrap();
        assert_eq!(k3, k);
        assert_eq!(p3.l2_len, 0);
    }

    #[test]
    fn fragment_key() {
        let s = FrameSpec::udp(Family::V4, 1, 2, 1000, 2000, 64).with_fragment(0, true, 5);
        let (k, p) = flow_key(&s.frame(), Dir::Fwd, 0).unwrap();
        assert!(p.is_fragment() && k.is_fragment());
        assert_eq!(k.flags, FLOW_FRAGMENT);
        assert_eq!((k.sport, k.dport, k.proto), (0, 0, 17));
        // All fragments of one datagram share the key.
        let s2 = s.with_fragment(64, false, 5);
        assert_eq!(flow_key(&s2.frame(), Dir::Fwd, 0).unwrap().0, k);
    }

    fn arb_spec() -> impl Strategy<Value = FrameSpec> {
        (
            any::<bool>(),
            any::<u128>(),
            any::<u128>(),
            prop::sample::select(vec![6u8, 17, 1, 58, 50, 132, 136, 47]),
            any::<u16>(),
            any::<u16>(),
            0usize..300,
            0u8..3,
            prop::option::of((0u16..8191, any::<bool>())),
        )
            .prop_map(|(v6, s, d, p, sp, dp, len, tags, frag)| {
                let fam = if v6 { Family::V6 } else { Family::V4 };
                let (s, d) = if v6 {
                    (s, d)
                } else {
                    (s & 0xffff_ffff, d & 0xffff_ffff)
                };
                let mut spec = FrameSpec::new(fam, s, d, p, sp, dp, len);
                if (p == 1 && v6) || (p == 58 && !v6) {
                    spec.proto = if v6 { 58 } else { 1 };
                }
                if matches!(spec.proto, 1 | 58) {
                    spec.sport &= 0xff;
                    spec.dport &= 0xff;
                }
                spec = match tags {
                    0 => spec,
                    1 => spec.with_vlan(sp & 0xfff),
                    _ => spec.with_qinq(dp & 0xfff, sp & 0xfff),
                };
                if let Some((off, more)) = frag {
                    spec = spec.with_fragment(off << 3, more, 9);
                }
                spec
            })
    }

    proptest! {
        /// Arbitrary bytes never panic, and both entry points agree.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let a = parse_frame(&bytes);
            let b = flow_key(&bytes, Dir::In, 0);
            prop_assert_eq!(a, b.map(|(_, p)| p));
            let _ = flow_key_l3(&bytes, Dir::Out, 0);
        }

        /// Frames that look like IP (EtherType and version set) with random
        /// headers never panic and only ever fail with a WireError.
        #[test]
        fn ip_looking_bytes_never_panic(
            v6 in any::<bool>(),
            mut bytes in prop::collection::vec(any::<u8>(), 14..160),
        ) {
            bytes[12..14].copy_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
            if bytes.len() > 14 {
                bytes[14] = (bytes[14] & 0x0f) | if v6 { 0x60 } else { 0x40 };
            }
            if let Ok(p) = parse_frame(&bytes) {
                prop_assert!(p.l3_end() <= bytes.len());
                prop_assert!(p.l4_offset as usize <= p.l3_end());
            }
            let _ = flow_key_l3(&bytes[14..], Dir::Out, 0);
        }

        /// Whatever the builder writes parses back to the spec's key.
        #[test]
        fn built_frames_round_trip(spec in arb_spec()) {
            let f = spec.frame();
            let (k, p) = flow_key(&f, Dir::Out, 7).unwrap();
            prop_assert_eq!(k.family, spec.family);
            prop_assert_eq!((k.src, k.dst, k.proto), (spec.src, spec.dst, spec.proto));
            prop_assert_eq!(p.l3_end(), f.len());
            prop_assert_eq!(p.l2_len as usize, spec.l2_len());
            let ported = matches!(spec.proto, 6 | 17 | 1 | 58 | 132 | 136);
            if spec.frag.is_some() {
                prop_assert!(k.is_fragment());
                prop_assert_eq!((k.sport, k.dport), (0, 0));
            } else if ported {
                prop_assert_eq!((k.sport, k.dport), (spec.sport, spec.dport));
            } else {
                prop_assert_eq!((k.sport, k.dport), (0, 0));
            }
            prop_assert_eq!(p.esp.is_some(), spec.proto == 50 && spec.frag.is_none());
            // Every truncation fails cleanly.
            for n in 0..f.len() {
                prop_assert!(parse_frame(&f[..n]).is_err());
            }
            // Single-byte corruption never panics.
            let mut g = f.clone();
            for i in 0..g.len() {
                g[i] ^= 0xa5;
                let _ = flow_key(&g, Dir::In, 0);
                g[i] ^= 0xa5;
            }
        }
    }
}
