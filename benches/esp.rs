//! ESP encapsulation and decapsulation beside the bare AES-GCM seal/open of
//! the same bytes, so the cost outside the cipher shows.
//!
//! Tunnel mode, IPv4 in IPv4, AES-128-GCM, inner packets of 64, 512 and
//! 1420 bytes. Throughput is in inner-packet bytes. The bare seal/open
//! works on the exact ciphertext ESP encrypts (inner + padding + 2 bytes)
//! with the same 8-byte AAD. Restoring the packet between iterations is
//! excluded with `iter_batched_ref` (and measured on its own as `restore`).
//! The decap SA has its replay window off, so one packet can be reused.
//!
//! Run: `cargo bench --bench esp -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xfgate::buf::{HeapBuf, PacketBuf};
use xfgate::esp::{decapsulate, encapsulate, EspSa};
use xfgate::ip::Family;
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::Mode;

const SIZES: [usize; 3] = [64, 512, 1420];
const KEY: [u8; 16] = [
    0x4c, 0x80, 0xcd, 0xef, 0xbb, 0x5d, 0x10, 0xda, 0x90, 0x6a, 0xc7, 0x3c, 0x36, 0x13, 0xa6, 0x34,
];

fn spec(replay_window: u32) -> SaSpec {
    SaSpec {
        spi: 0x0102_0304,
        mode: Mode::Tunnel,
        family: Family::V4,
        src: 0xc000_0201,
        dst: 0xc633_6407,
        reqid: 1,
        alg: AeadAlg::Aes128Gcm,
        key: KEY.to_vec(),
        salt: [1, 2, 3, 4],
        replay_window,
        esn: false,
        lifetime: SaLifetime::default(),
    }
}

/// An IPv4/UDP packet of `len` bytes (header checksum left 0: ESP does not
/// look at it).
fn inner(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 1, 0, 5]);
    p[16..20].copy_from_slice(&[10, 2, 0, 9]);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn buf(p: &[u8]) -> HeapBuf {
    let mut b = HeapBuf::new(2048 + 128, 128);
    b.append(p.len()).unwrap().copy_from_slice(p);
    b
}

fn bench(c: &mut Criterion) {
    let sa = EspSa::new(&spec(0)).unwrap();
    let bare = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &KEY).unwrap());
    let mut g = c.benchmark_group("esp");
    for n in SIZES {
        g.throughput(Throughput::Bytes(n as u64));
        let pkt = inner(n);
        let ct_len = (n + 2).div_ceil(4) * 4;

        let mut data = vec![0u8; ct_len];
        let mut seq = 0u64;
        g.bench_function(format!("bare_seal/{n}"), |b| {
            b.iter(|| {
                seq += 1;
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&[1, 2, 3, 4]);
                nonce[4..].copy_from_slice(&seq.to_be_bytes());
                let mut aad = [0u8; 8];
                aad[4..].copy_from_slice(&(seq as u32).to_be_bytes());
                let tag = bare
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        black_box(&mut data[..]),
                    )
                    .unwrap();
                black_box(tag.as_ref());
            })
        });

        let mut seq = 0u32;
        g.bench_function(format!("encap/{n}"), |b| {
            b.iter_batched_ref(
                || buf(&pkt),
                |p| {
                    seq = seq.wrapping_add(1).max(1);
                    encapsulate(&sa, p, seq as u64).unwrap();
                },
                BatchSize::SmallInput,
            )
        });

        // One sealed packet for the bare open and for decap.
        let mut sealed = buf(&pkt);
        encapsulate(&sa, &mut sealed, 1).unwrap();
        let esp = sealed.data()[20..].to_vec();
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&[1, 2, 3, 4]);
        nonce[4..].copy_from_slice(&esp[8..16]);
        let aad: [u8; 8] = esp[..8].try_into().unwrap();
        let tag: [u8; 16] = esp[esp.len() - 16..].try_into().unwrap();
        let ct = esp[16..esp.len() - 16].to_vec();
        g.bench_function(format!("bare_open/{n}"), |b| {
            b.iter_batched_ref(
                || ct.clone(),
                |d| {
                    bare.open_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        &tag,
                        d,
                    )
                    .unwrap();
                },
                BatchSize::SmallInput,
            )
        });

        let mut w = sa.new_replay_window();
        g.bench_function(format!("decap/{n}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |p| {
                    decapsulate(&sa, &mut w, p).unwrap();
                },
                BatchSize::SmallInput,
            )
        });

        // What restoring a packet costs (excluded above).
        let mut scratch = buf(&pkt);
        g.bench_function(format!("restore/{n}"), |b| {
            b.iter(|| {
                scratch.reset(128);
                scratch
                    .append(sealed.len())
                    .unwrap()
                    .copy_from_slice(black_box(sealed.data()));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
