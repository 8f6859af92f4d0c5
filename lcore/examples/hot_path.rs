//! Rough per-call cost of the reader fast paths (single thread, no contention).
//!
//! `cargo run --release -p lcore --example hot_path`
//!
//! A measurement, not a test: it prints numbers and asserts nothing.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    use lcore::{Domain, LeftRight, QsbrConfig, Slots};
    use std::hint::black_box;
    use std::time::Instant;

    const N: u64 = 50_000_000;
    let d = Domain::new(QsbrConfig::default());
    let slots: Slots<u64> = Slots::new(1024, d.clone());
    let hs: Vec<_> = (0..1024u64)
        .map(|i| slots.insert(i).ok().unwrap())
        .collect();
    let lr = LeftRight::new(7u64, d.clone());
    let mut r = d.register(0);
    r.online();

    let report = |what: &str, t: Instant| {
        println!(
            "{what:<28} {:6.2} ns/op",
            t.elapsed().as_nanos() as f64 / N as f64
        );
    };

    let t = Instant::now();
    for _ in 0..N {
        black_box(&mut r).quiescent();
    }
    report("Reader::quiescent", t);

    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..N {
        let h = hs[(i & 1023) as usize];
        sum = sum.wrapping_add(u64::from(slots.is_current(black_box(h))));
    }
    black_box(sum);
    report("Slots::is_current", t);

    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..N {
        let h = hs[(i & 1023) as usize];
        if let Some(v) = slots.get(black_box(h), &r) {
            sum = sum.wrapping_add(*v);
        }
    }
    black_box(sum);
    report("Slots::get", t);

    let t = Instant::now();
    let mut sum = 0u64;
    for _ in 0..N {
        sum = sum.wrapping_add(*black_box(&lr).read(&r));
    }
    black_box(sum);
    report("LeftRight::read", t);

    r.offline();
    let t = Instant::now();
    for i in 0..100_000u64 {
        d.retire(i);
    }
    d.reclaim();
    println!(
        "{:<28} {:6.2} ns/op",
        "Domain::retire (+reclaim)",
        t.elapsed().as_nanos() as f64 / 100_000.0
    );
}
