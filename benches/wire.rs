//! Parse + flow-key extraction for a burst of 32 mixed frames (IPv4/IPv6,
//! UDP/TCP, some with a VLAN tag), reported per packet.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use xfgate::ip::{Dir, Family};
use xfgate::wire::build::FrameSpec;
use xfgate::wire::{flow_key, parse_frame};

const BURST: usize = 32;

fn burst() -> Vec<Vec<u8>> {
    (0..BURST)
        .map(|i| {
            let v6 = i % 2 == 1;
            let (fam, s, d) = if v6 {
                (
                    Family::V6,
                    0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | i as u128,
                    0x2001_0db8_0001_0000_0000_0000_0000_0001u128,
                )
            } else {
                (Family::V4, 0x0a00_0000 | i as u128, 0xc0a8_0001)
            };
            let len = [64usize, 512, 1400][i % 3];
            let spec = if i % 4 < 2 {
                FrameSpec::udp(fam, s, d, 10000 + i as u16, 53, len)
            } else {
                FrameSpec::tcp(fam, s, d, 40000 + i as u16, 443, len)
            };
            // One frame in eight carries a VLAN tag.
            let spec = if i % 8 == 3 {
                spec.with_vlan(100)
            } else {
                spec
            };
            spec.frame()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = burst();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(BURST as u64));
    g.bench_function("parse_frame/burst32", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for f in &frames {
                if let Ok(p) = parse_frame(black_box(f)) {
                    acc = acc.wrapping_add(p.l4_offset).wrapping_add(p.sport as u32);
                }
            }
            acc
        })
    });
    g.bench_function("flow_key/burst32", |b| {
        let mut keys = [xfgate::flow::key::FlowKey::default(); BURST];
        b.iter(|| {
            for (k, f) in keys.iter_mut().zip(&frames) {
                if let Ok((key, _)) = flow_key(black_box(f), Dir::Out, 0) {
                    *k = key;
                }
            }
            black_box(&keys);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
