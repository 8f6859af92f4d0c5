//! Software port throughput: one worker moving 32-packet bursts from a source
//! port to a null sink (rx burst + tx burst + buffer return), per packet.
//!
//! `cargo bench --bench ports -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xfgate::port::pcap::PcapWriter;
use xfgate::port::{Burst, Ports, PortsConfig, RxQueue, TxQueue, MAX_BURST};

fn forward(c: &mut Criterion, name: &str, vdevs: &[String]) {
    let cfg = PortsConfig {
        pool_size: 1024,
        ..PortsConfig::default()
    };
    let (mut w, _h) = Ports::from_strs(vdevs, &cfg).unwrap().split();
    let wq = &mut w[0];
    let mut burst = Burst::new();
    let mut g = c.benchmark_group("ports");
    g.throughput(Throughput::Elements(MAX_BURST as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let n = wq.rx[0].rx_burst(&mut burst, MAX_BURST);
            assert_eq!(n, MAX_BURST);
            wq.tx[1].tx_burst(&mut burst);
            burst.clear();
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let sink = "net_null9,no-rx=1".to_string();
    forward(
        c,
        "null_to_null_64",
        &["net_null0,size=64".into(), sink.clone()],
    );
    forward(
        c,
        "gen_udp4_64_to_null",
        &["gen0,flows=65536".into(), sink.clone()],
    );
    forward(
        c,
        "gen_imix_zipf_mixed_to_null",
        &[
            "gen0,flows=65536,size=imix,dist=zipf,family=mixed,new_flow_pct=5".into(),
            sink.clone(),
        ],
    );
    let path = std::env::temp_dir().join(format!("xfgate-bench-{}.pcap", std::process::id()));
    let mut w = PcapWriter::create(&path).unwrap();
    for i in 0..1024u32 {
        w.write(0, 0, &[i as u8; 60]).unwrap();
    }
    w.finish().unwrap();
    forward(
        c,
        "pcap_infinite_64_to_null",
        &[
            format!("net_pcap0,rx_pcap={},infinite_rx=1", path.display()),
            sink.clone(),
        ],
    );
    let _ = std::fs::remove_file(&path);

    // null -> loopback ring -> back out of the ring -> null sink.
    let vdevs = ["net_null0,size=64", "net_ring0", "net_null1,no-rx=1"];
    let (mut w, _h) = Ports::from_strs(&vdevs, &PortsConfig::default())
        .unwrap()
        .split();
    let wq = &mut w[0];
    let mut burst = Burst::new();
    let mut g = c.benchmark_group("ports");
    g.throughput(Throughput::Elements(MAX_BURST as u64));
    g.bench_function("null_via_ring_to_null", |b| {
        b.iter(|| {
            wq.rx[0].rx_burst(&mut burst, MAX_BURST);
            assert_eq!(wq.tx[1].tx_burst(&mut burst), MAX_BURST);
            assert_eq!(wq.rx[1].rx_burst(&mut burst, MAX_BURST), MAX_BURST);
            wq.tx[2].tx_burst(&mut burst);
        })
    });
    g.finish();
}

criterion_group!(port_benches, benches);
criterion_main!(port_benches);
