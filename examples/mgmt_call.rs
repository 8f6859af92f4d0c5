//! Latency of one small management call (a policy add or delete, answered
//! after it is visible to workers) while a worker polls, as in the churn
//! scenario: `cargo run --release --example mgmt_call -- [CALLS] [POLICIES]`.
//! The worker reports a quiescent state once per loop of ~20 µs of work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xfgate::ip::{Dir, Family, Prefix};
use xfgate::mgmt::{EngineConfig, Mgmt, MgmtHandle, Op};
use xfgate::spd::{PolicyId, PolicySpec, Selector};

fn host(i: u32) -> Selector {
    let mut s = Selector::any(Family::V4);
    s.src = Prefix::new(Family::V4, 0xc0a8_0000 | i as u128, 32);
    s
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = *args.first().unwrap_or(&400);
    let policies = *args.get(1).unwrap_or(&1000) as u32;
    let mut m = Mgmt::new(&EngineConfig::default());
    m.apply(Op::Batch(
        (0..policies)
            .map(|i| Op::PolicyAdd(PolicySpec::bypass(host(i), Dir::Out, 10)))
            .collect(),
    ))
    .unwrap();
    let engine = m.engine().clone();
    // `direct`: call `Mgmt::apply` on this thread (no channel, no thread wake-up).
    let direct = std::env::args().any(|a| a == "direct");
    let mut local = None;
    let mut remote = None;
    if direct {
        local = Some(m);
    } else {
        remote = Some(MgmtHandle::spawn(m, 64));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = engine.domain.register(1);
    let worker = {
        let stop = stop.clone();
        let engine = engine.clone();
        std::thread::spawn(move || {
            reader.online();
            let mut loops = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let _ = engine.tables.read(&reader).routes.iter().count();
                while t.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
                reader.quiescent();
                loops += 1;
            }
            reader.offline();
            loops
        })
    };
    let mut lat = Vec::with_capacity(calls);
    for i in 0..calls as u32 {
        let sel = host(policies + 1 + (i / 2) % 16);
        let op = if i % 2 == 0 {
            Op::PolicyAdd(PolicySpec::bypass(sel, Dir::Out, 10))
        } else {
            Op::PolicyDelete(PolicyId::Selector {
                selector: sel,
                dir: Dir::Out,
                ptype: xfgate::spd::PolicyType::Main,
            })
        };
        let t = Instant::now();
        match (&mut local, &remote) {
            (Some(m), _) => {
                m.apply(op).unwrap();
            }
            (None, Some((h, _))) => {
                h.call(op).unwrap();
            }
            _ => unreachable!(),
        }
        lat.push(t.elapsed());
        if let Some(m) = &mut local {
            m.tick(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let loops = worker.join().unwrap();
    if let Some((h, join)) = remote {
        drop(h);
        let _ = join.join();
    }
    lat.sort();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "{calls} {} calls with {policies} policies, worker loops {loops}: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
        if direct { "direct" } else { "channel" },
        q(0.5),
        q(0.9),
        q(0.99),
        lat[lat.len() - 1]
    );
}
