//! Flow-cache engine benchmarks (issue 2): hit path, miss path, churn, bulk load.
//!
//! `cargo bench --bench flow` (add `-- hit` etc. to select).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xfgate::flow::{BundleRef, FlowKey, Shard};
use xfgate::ip::{Dir, Family, Prefix};
use xfgate::mgmt::{EngineConfig, Mgmt, MgmtHandle, Op, Strategy};
use xfgate::route::RouteSpec;
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::{Level, Mode, PolicySpec, PortRange, Selector, Template};

fn key(i: u64) -> FlowKey {
    FlowKey::new(
        Family::V4,
        Dir::Out,
        0x0a00_0000 | (i as u128 & 0xff_ffff),
        0xc0a8_0001,
        17,
        1024 + (i >> 24) as u16,
        53,
        0,
    )
}

/// Policies: host-pair protect policies, /24 subnets with port ranges, a few wide ones.
fn policy(i: u32) -> PolicySpec {
    let mut s = Selector::any(Family::V4);
    match i % 4 {
        0 | 1 => {
            s.src = Prefix::new(Family::V4, 0x0a00_0000 | i as u128, 32);
            s.dst = Prefix::new(Family::V4, 0xc0a8_0001, 32);
        }
        // Unique selectors for any i: the low 16 bits pick the /24, the rest the ports.
        2 => {
            s.src = Prefix::new(Family::V4, 0x0b00_0000 | ((i as u128 & 0xffff) << 8), 24);
            s.proto = 17;
            let lo = 1000 + (i >> 16) as u16 * 10;
            s.dport = PortRange { lo, hi: lo + 5 };
        }
        _ => {
            s.src = Prefix::new(Family::V4, 0x0c00_0000 | ((i as u128 & 0xffff) << 8), 24);
            s.proto = 6;
            s.sport = PortRange::single((i >> 16) as u16);
        }
    }
    let mut p = PolicySpec::bypass(s, Dir::Out, 100 + i % 10);
    p.templates.push(Template {
        proto: 50,
        mode: Mode::Tunnel,
        family: Family::V4,
        src: Some(0xc000_0201),
        dst: Some(0xc633_6400 | (i % 200) as u128),
        reqid: 0,
        spi: None,
        level: Level::Required,
    });
    p
}

fn sa(i: u32) -> SaSpec {
    SaSpec {
        spi: 0x1000 + i,
        mode: Mode::Tunnel,
        family: Family::V4,
        src: 0xc000_0201,
        dst: 0xc633_6400 | (i % 200) as u128,
        reqid: 0,
        alg: AeadAlg::Aes128Gcm,
        key: vec![1; 16],
        salt: [0; 4],
        replay_window: 64,
        esn: false,
        lifetime: SaLifetime::default(),
    }
}

fn engine_with(npol: u32, strategy: Strategy) -> Mgmt {
    let cfg = EngineConfig {
        max_policies: (npol as usize + 1024).next_power_of_two(),
        max_sas: 1024,
        strategy,
        ..EngineConfig::default()
    };
    let mut m = Mgmt::new(&cfg);
    let mut ops: Vec<Op> = (0..200).map(|i| Op::SaAdd(sa(i))).collect();
    ops.push(Op::RouteAdd(RouteSpec {
        prefix: Prefix::any(Family::V4),
        port: 1,
        next_hop: None,
    }));
    ops.extend((0..npol).map(|i| Op::PolicyAdd(policy(i))));
    m.apply(Op::Batch(ops)).unwrap();
    m
}

fn hit_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hit");
    g.throughput(Throughput::Elements(32));
    for flows in [1_000u64, 100_000, 1_000_000] {
        let m = engine_with(1000, Strategy::Selective);
        let e = m.engine().clone();
        let mut reader = e.domain.register(1);
        reader.online();
        let mut shard = Shard::new(flows as usize * 2);
        let keys: Vec<FlowKey> = (0..flows).map(key).collect();
        let mut out = [BundleRef::default(); 32];
        for _ in 0..3 {
            for c in keys.chunks(32) {
                shard.lookup_burst_refs(&e, &reader, c, &mut out);
            }
        }
        assert!(
            shard.len() as u64 >= flows * 9 / 10,
            "shard holds the flows"
        );
        // Random bursts over all flows (worst case for the CPU caches).
        let order: Vec<FlowKey> = {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            (0..65536)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    keys[(x % flows) as usize]
                })
                .collect()
        };
        let mut i = 0;
        let h0 = shard.stats.hits;
        g.bench_function(BenchmarkId::from_parameter(flows), |b| {
            b.iter(|| {
                let burst = &order[i..i + 32];
                i = (i + 32) & 65535;
                shard.lookup_burst_refs(&e, &reader, burst, &mut out);
            })
        });
        let s = shard.stats;
        eprintln!("hit/{flows}: hits {} misses {}", s.hits - h0, s.misses);
        reader.offline();
    }
    g.finish();
}

fn miss_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("miss");
    g.throughput(Throughput::Elements(1));
    for npol in [10u32, 1_000, 100_000] {
        let m = engine_with(npol, Strategy::Selective);
        let e = m.engine().clone();
        let mut reader = e.domain.register(1);
        reader.online();
        let mut i = 0u64;
        g.bench_function(BenchmarkId::new("resolve", npol), |b| {
            b.iter(|| {
                i += 1;
                // Keys that hit a host policy half the time, miss everything otherwise.
                let k = key(if i.is_multiple_of(2) {
                    i % npol as u64
                } else {
                    0x80_0000 + (i & 0xffff)
                });
                e.resolve(&k, &reader, false)
            })
        });
        reader.offline();
    }
    g.finish();
}

/// Lookup bursts over 10,000 flows while the control path adds and deletes a
/// policy every 100 µs (an add+delete pair every 200 µs).
fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn_100us");
    g.throughput(Throughput::Elements(32));
    for strategy in [Strategy::Selective, Strategy::FlushAll, Strategy::Off] {
        let m = engine_with(1000, strategy);
        let e = m.engine().clone();
        let (h, join) = MgmtHandle::spawn(m, 16);
        let stop = Arc::new(AtomicBool::new(false));
        let churner = {
            let (h, stop) = (h.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let mut p = policy(500_000 + n);
                    p.index = Some(8 * (1 << 20));
                    let _ = h.call(Op::PolicyAdd(p));
                    let _ = h.call(Op::PolicyDelete(xfgate::spd::PolicyId::Index(
                        8 * (1 << 20),
                    )));
                    n += 1;
                    if let Some(d) = Duration::from_micros(200).checked_sub(t.elapsed()) {
                        std::thread::sleep(d);
                    }
                }
            })
        };
        let mut reader = e.domain.register(1);
        reader.online();
        let mut shard = Shard::new(1 << 16);
        let keys: Vec<FlowKey> = (0..10_000).map(key).collect();
        let mut out = [BundleRef::default(); 32];
        let mut i = 0;
        g.bench_function(BenchmarkId::from_parameter(strategy), |b| {
            b.iter(|| {
                let burst = &keys[i..i + 32];
                i = (i + 32) % (keys.len() - 32);
                shard.lookup_burst_refs(&e, &reader, burst, &mut out);
                shard.sweep(&e, 8, 0);
                reader.quiescent();
            })
        });
        eprintln!("churn/{strategy}: {:?}", shard.stats);
        reader.offline();
        stop.store(true, Ordering::Relaxed);
        churner.join().unwrap();
        drop(h);
        drop(reader);
        join.join().unwrap();
    }
    g.finish();
}

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk");
    g.sample_size(10);
    g.bench_function("100k_policies_100k_sas", |b| {
        b.iter_batched(
            || {
                let cfg = EngineConfig {
                    max_policies: 1 << 17,
                    max_sas: 1 << 17,
                    ..EngineConfig::default()
                };
                let ops: Vec<Op> = (0..100_000u32)
                    .map(|i| Op::PolicyAdd(policy(i)))
                    .chain((0..100_000u32).map(|i| {
                        let mut s = sa(i);
                        s.dst = 0xc600_0000 | i as u128;
                        Op::SaAdd(s)
                    }))
                    .collect();
                (Mgmt::new(&cfg), ops)
            },
            |(mut m, ops)| {
                m.apply(Op::Batch(ops)).unwrap();
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Never-seen flows only (a 100 % flood) against a shard full of
/// established flows, as in the gateway's flood scenario (10k flows, a
/// 32,768-entry shard): what a miss costs with the cache (probe, doorkeeper,
/// admission) next to `off` (resolve only).
fn flood(c: &mut Criterion) {
    let mut g = c.benchmark_group("flood");
    g.throughput(Throughput::Elements(32));
    for strategy in [Strategy::Selective, Strategy::Off] {
        let m = engine_with(1000, strategy);
        let e = m.engine().clone();
        let mut reader = e.domain.register(1);
        reader.online();
        let mut shard = Shard::new(32_768);
        let keys: Vec<FlowKey> = (0..10_000).map(key).collect();
        let mut out = [BundleRef::default(); 32];
        for _ in 0..3 {
            for c in keys.chunks(32) {
                shard.lookup_burst_refs(&e, &reader, c, &mut out);
            }
        }
        let mut next = 1_000_000u64;
        let mut burst: Vec<FlowKey> = Vec::with_capacity(32);
        g.bench_function(BenchmarkId::from_parameter(strategy), |b| {
            b.iter(|| {
                burst.clear();
                burst.extend((next..next + 32).map(key));
                next += 32;
                shard.lookup_burst_refs(&e, &reader, &burst, &mut out);
            })
        });
        reader.offline();
    }
    g.finish();
}

criterion_group!(benches, hit_path, miss_path, churn, bulk, flood);
criterion_main!(benches);
