//! Flow-key extraction on arbitrary bytes: no panic; the key agrees with the
//! parse result and with the L3-only extraction; fragments carry no ports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xfgate::flow::key::FLOW_FRAGMENT;
use xfgate::ip::Dir;
use xfgate::wire::{flow_key, flow_key_l3, parse_frame};

fuzz_target!(|data: &[u8]| {
    let (dir, ingress, frame) = match data.split_first() {
        Some((&b, rest)) => (Dir::ALL[(b % 3) as usize], b as u16, rest),
        None => (Dir::In, 0, data),
    };
    let r = flow_key(frame, dir, ingress);
    assert_eq!(r.map(|(_, p)| p), parse_frame(frame));
    if let Ok((k, p)) = r {
        assert_eq!((k.dir, k.ingress, k.family, k.proto), (dir, ingress, p.family, p.l4_proto));
        assert_eq!((k.sport, k.dport), (p.sport, p.dport));
        assert_eq!(k.flags & FLOW_FRAGMENT != 0, p.is_fragment());
        if p.is_fragment() {
            assert_eq!((k.sport, k.dport), (0, 0));
        }
        if p.family == xfgate::ip::Family::V4 {
            assert!(k.src >> 32 == 0 && k.dst >> 32 == 0);
        }
        let (k3, _) = flow_key_l3(&frame[p.l3_offset as usize..], dir, ingress)
            .expect("L3 part of a keyed frame");
        assert_eq!(k3, k);
    }
    let _ = flow_key_l3(frame, dir, ingress);
});
