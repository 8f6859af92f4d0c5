//! Instruction-count probe of the flow-cache hit path (run under
//! `valgrind --tool=callgrind`; the numbers are repeatable, unlike time on a
//! shared VM): `cargo build --release --example hit_path` then
//! `valgrind --tool=callgrind target/release/examples/hit_path FLOWS BURSTS`.

use xfgate::flow::{BundleRef, FlowKey, Shard};
use xfgate::ip::{Dir, Family, Prefix};
use xfgate::mgmt::{EngineConfig, Mgmt, Op};
use xfgate::route::RouteSpec;
use xfgate::spd::{PolicySpec, Selector};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let flows = *args.first().unwrap_or(&1000);
    let bursts = *args.get(1).unwrap_or(&10_000);
    let mut m = Mgmt::new(&EngineConfig::default());
    let mut s = Selector::any(Family::V4);
    s.src = Prefix::new(Family::V4, 0x0a00_0000, 8);
    m.apply(Op::PolicyAdd(PolicySpec::bypass(s, Dir::Out, 1)))
        .unwrap();
    m.apply(Op::RouteAdd(RouteSpec {
        prefix: Prefix::any(Family::V4),
        port: 1,
        next_hop: None,
    }))
    .unwrap();
    let e = m.engine().clone();
    let mut reader = e.domain.register(1);
    reader.online();
    let mut shard = Shard::new(flows as usize * 2);
    let keys: Vec<FlowKey> = (0..flows)
        .map(|i| {
            FlowKey::new(
                Family::V4,
                Dir::Out,
                0x0a00_0000 + i as u128,
                0x0b00_0001,
                17,
                1000,
                53,
                0,
            )
        })
        .collect();
    let mut out = [BundleRef::default(); 32];
    for _ in 0..2 {
        for c in keys.chunks(32) {
            shard.lookup_burst_refs(&e, &reader, c, &mut out);
        }
    }
    let h0 = shard.stats.hits;
    let mut x = 88172645463325252u64;
    let mut burst = [FlowKey::default(); 32];
    let t = std::time::Instant::now();
    for _ in 0..bursts {
        for k in burst.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *k = keys[(x % flows) as usize];
        }
        shard.lookup_burst_refs(&e, &reader, &burst, &mut out);
    }
    let el = t.elapsed();
    let n = bursts * 32;
    println!(
        "{flows} flows: {} hits of {n} lookups, {:.1} ns per lookup (wall clock; noisy on shared VMs)",
        shard.stats.hits - h0,
        el.as_nanos() as f64 / n as f64
    );
    reader.offline();
}
