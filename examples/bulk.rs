//! Time (and, under callgrind, count) one batch of N policies + N SAs:
//! `cargo run --release --example bulk -- 100000`.

use std::time::Instant;
use xfgate::ip::{Dir, Family, Prefix};
use xfgate::mgmt::{EngineConfig, Mgmt, Op};
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::{Level, Mode, PolicySpec, Selector, Template};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let cfg = EngineConfig {
        max_policies: (n as usize * 2).next_power_of_two(),
        max_sas: (n as usize * 2).next_power_of_two(),
        ..EngineConfig::default()
    };
    let ops: Vec<Op> = (0..n)
        .map(|i| {
            let mut s = Selector::any(Family::V4);
            s.src = Prefix::new(Family::V4, 0x0a00_0000 | i as u128, 32);
            let mut p = PolicySpec::bypass(s, Dir::Out, 100);
            p.templates.push(Template {
                proto: 50,
                mode: Mode::Tunnel,
                family: Family::V4,
                src: Some(0xc000_0201),
                dst: Some(0xc600_0000 | i as u128),
                reqid: 0,
                spi: None,
                level: Level::Required,
            });
            Op::PolicyAdd(p)
        })
        .chain((0..n).map(|i| {
            Op::SaAdd(SaSpec {
                spi: 0x1000 + i,
                mode: Mode::Tunnel,
                family: Family::V4,
                src: 0xc000_0201,
                dst: 0xc600_0000 | i as u128,
                reqid: 0,
                alg: AeadAlg::Aes128Gcm,
                key: vec![1; 16],
                salt: [0; 4],
                replay_window: 64,
                esn: false,
                lifetime: SaLifetime::default(),
            })
        }))
        .collect();
    let mut m = Mgmt::new(&cfg);
    let t = Instant::now();
    m.apply(Op::Batch(ops)).unwrap();
    println!("{n} policies + {n} SAs in one batch: {:?}", t.elapsed());
}
