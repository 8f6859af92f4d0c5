//! Miss-path tables: SPD classifier, route LPM, SAD inbound lookup.
//!
//! `cargo bench --bench spd -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use xfgate::flow::FlowKey;
use xfgate::ip::{Addr, Dir, Family, Prefix};
use xfgate::route::table::RouteTable;
use xfgate::route::RouteSpec;
use xfgate::sad::table::{SaFields, SaTable};
use xfgate::spd::classifier::Classifier;
use xfgate::spd::{PortRange, Selector, IPPROTO_ESP};

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A gateway-like SPD of `n` policies: an ESP bypass for everything (priority 0),
/// then 90 % host pairs (half any-protocol, half TCP to port 443), 9 % /24
/// subnet pairs with UDP port ranges, and a few /8 rules.
/// Returns the policies and some keys that hit host pairs.
fn policy_mix(n: usize, rng: &mut StdRng) -> (Vec<(Selector, u32)>, Vec<FlowKey>) {
    let mut out = Vec::with_capacity(n);
    let mut hits = Vec::new();
    out.push((
        Selector {
            proto: IPPROTO_ESP,
            ..Selector::any(Family::V4)
        },
        0,
    ));
    let wide = (n / 10_000).max(1);
    let subnets = (n * 9 / 100).max(1);
    let hosts = n.saturating_sub(1 + wide + subnets);
    for i in 0..hosts {
        // 10.0.0.0/8 sources to 172.16.0.0/12 destinations, all distinct pairs.
        let src = 0x0a00_0000 | (i as Addr & 0x00ff_ffff);
        let dst = 0xac10_0000 | (rng.gen::<u32>() as Addr & 0x000f_ffff);
        let tcp = i % 2 == 1;
        let s = Selector {
            src: Prefix::host(Family::V4, src),
            dst: Prefix::host(Family::V4, dst),
            proto: if tcp { TCP } else { 0 },
            dport: if tcp {
                PortRange::single(443)
            } else {
                PortRange::ANY
            },
            ..Selector::any(Family::V4)
        };
        out.push((s, 100));
        hits.push(FlowKey::new(
            Family::V4,
            Dir::Out,
            src,
            dst,
            TCP,
            40_000 + i as u16,
            443,
            0,
        ));
    }
    for i in 0..subnets {
        let lo = rng.gen_range(1000..30_000);
        let s = Selector {
            src: Prefix::new(Family::V4, 0xc0a8_0000 | ((i as Addr) << 8), 24),
            dst: Prefix::new(Family::V4, 0xc600_0000 | ((i as Addr) << 8), 24),
            proto: UDP,
            dport: PortRange { lo, hi: lo + 1000 },
            ..Selector::any(Family::V4)
        };
        out.push((s, 200));
    }
    for i in 0..wide {
        let s = Selector {
            src: Prefix::new(Family::V4, (20 + i as Addr) << 24, 8),
            dst: Prefix::new(Family::V4, (30 + i as Addr) << 24, 8),
            ..Selector::any(Family::V4)
        };
        out.push((s, 500));
    }
    (out, hits)
}

// Out-of-line wrappers, one symbol per case, so `valgrind --tool=callgrind`
// can count instructions per call (see the end of this file).
#[inline(never)]
fn spd_lookup<const N: usize, const HIT: bool>(
    c: &Classifier<u32>,
    k: &FlowKey,
) -> Option<(u64, u32)> {
    c.lookup(k)
}

#[inline(never)]
fn route_lookup<const V6: bool>(t: &RouteTable, f: Family, a: Addr) -> Option<u16> {
    t.lookup(f, a).map(|r| r.port)
}

#[inline(never)]
fn sad_lookup_in(t: &SaTable<u32>, spi: u32, dst: Addr) -> Option<u32> {
    t.lookup_in(spi, dst, Family::V4)
}

type SpdCase<'a> = (
    &'a str,
    &'a Vec<FlowKey>,
    fn(&Classifier<u32>, &FlowKey) -> Option<(u64, u32)>,
);
type RouteCase<'a> = (
    &'a str,
    Family,
    &'a Vec<Addr>,
    fn(&RouteTable, Family, Addr) -> Option<u16>,
);

fn build(pols: &[(Selector, u32)]) -> Classifier<u32> {
    let mut c = Classifier::new();
    for (i, (s, p)) in pols.iter().enumerate() {
        c.insert(i as u64, s, *p, i as u32);
    }
    c
}

fn classifier(c: &mut Criterion) {
    let mut g = c.benchmark_group("spd_lookup");
    for n in [10usize, 1_000, 100_000] {
        let mut rng = StdRng::seed_from_u64(n as u64);
        let (pols, hits) = policy_mix(n, &mut rng);
        let cls = build(&pols);
        assert_eq!(cls.len(), pols.len());
        // TCP flows between addresses no policy covers: probes every tuple.
        let misses: Vec<FlowKey> = (0..1024)
            .map(|_| {
                FlowKey::new(
                    Family::V4,
                    Dir::Out,
                    0x6400_0000 | rng.gen::<u16>() as Addr,
                    0x6500_0000 | rng.gen::<u16>() as Addr,
                    TCP,
                    rng.gen(),
                    80,
                    0,
                )
            })
            .collect();
        assert!(misses.iter().all(|k| cls.lookup(k).is_none()));
        let hits: Vec<FlowKey> = (0..1024).map(|i| hits[i % hits.len()]).collect();
        assert!(hits.iter().all(|k| cls.lookup(k).is_some()));
        let f: [SpdCase; 2] = match n {
            10 => [
                ("hit", &hits, spd_lookup::<10, true>),
                ("miss", &misses, spd_lookup::<10, false>),
            ],
            1_000 => [
                ("hit", &hits, spd_lookup::<1_000, true>),
                ("miss", &misses, spd_lookup::<1_000, false>),
            ],
            _ => [
                ("hit", &hits, spd_lookup::<100_000, true>),
                ("miss", &misses, spd_lookup::<100_000, false>),
            ],
        };
        for (name, keys, lookup) in f {
            g.bench_with_input(BenchmarkId::new(name, n), keys, |b, keys| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 1023;
                    black_box(lookup(&cls, &keys[i]))
                })
            });
        }
        if n == 100_000 {
            let mut out = Vec::new();
            let probe = pols[pols.len() / 2].0;
            g.bench_function("overlapping_host_pair/100000", |b| {
                b.iter(|| {
                    out.clear();
                    cls.overlapping(black_box(&probe), &mut out);
                    out.len()
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("spd_build");
    g.sample_size(10);
    let mut rng = StdRng::seed_from_u64(7);
    let (pols, _) = policy_mix(100_000, &mut rng);
    g.bench_function("insert_100000", |b| b.iter(|| build(&pols).len()));
    g.finish();
}

fn routes(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut t = RouteTable::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for i in 0..1000u16 {
        let len4 = [8, 16, 20, 22, 24, 24, 24, 28, 32][rng.gen_range(0..9)];
        let a4 = rng.gen::<u32>() as Addr;
        t.add(RouteSpec {
            prefix: Prefix::new(Family::V4, a4, len4),
            port: i % 4,
            next_hop: Some(1),
        });
        v4.push(a4);
        let len6 = [32, 40, 48, 48, 56, 64, 64, 128][rng.gen_range(0..8)];
        let a6 = (0x2001_0db8u128 << 96) | (rng.gen::<u64>() as Addr) << 32;
        t.add(RouteSpec {
            prefix: Prefix::new(Family::V6, a6, len6),
            port: i % 4,
            next_hop: None,
        });
        v6.push(a6);
    }
    t.add(RouteSpec {
        prefix: Prefix::any(Family::V4),
        port: 9,
        next_hop: Some(2),
    });
    let mut g = c.benchmark_group("route_lookup_1000");
    let cases: [RouteCase; 2] = [
        ("v4", Family::V4, &v4, route_lookup::<false>),
        ("v6", Family::V6, &v6, route_lookup::<true>),
    ];
    for (name, fam, addrs, lookup) in cases {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % addrs.len();
                black_box(lookup(&t, fam, addrs[i]))
            })
        });
    }
    g.finish();
}

fn sad(c: &mut Criterion) {
    let mut t = SaTable::new();
    let mut rng = StdRng::seed_from_u64(2);
    let mut keys = Vec::new();
    for i in 0..100_000u32 {
        let f = SaFields {
            spi: rng.gen::<u32>() | 0x100,
            family: Family::V4,
            src: 0xc000_0201,
            dst: 0xc000_0202 + (i % 16) as Addr,
            mode: xfgate::spd::Mode::Tunnel,
            reqid: i,
        };
        if t.insert(&f, i).is_ok() {
            keys.push((f.spi, f.dst));
        }
    }
    let mut g = c.benchmark_group("sad");
    g.bench_function("lookup_in_100000", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            let (spi, dst) = keys[i];
            black_box(sad_lookup_in(&t, spi, dst))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = classifier, routes, sad
}
criterion_main!(benches);

// Instruction counts (repeatable on a shared machine):
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//     target/release/deps/spd-<hash> --bench --profile-time 0.2 'lookup|overlap'
//   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'spd_lookup|route_lookup|sad_lookup'
// and divide by the call counts (`--dump-instr=no`, `calls=` lines, or
// `callgrind_annotate --tree=caller`).
