//! End to end through the real gateway with pcap ports: plain packets in on a
//! protected port come out as ESP that decrypts back to the input; ESP built
//! from the shared vectors comes out decrypted; block, bypass, no policy, no
//! SA, replay and ICV failures end in the right counters; IPv4 and IPv6.

mod pcap_scenarios;

use pcap_scenarios::{eth, vectors, write_pcap, Inbound, Outbound};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use xfgate::gateway::{Gateway, GatewayOpts, WorkerSnapshot};
use xfgate::ip::Family;
use xfgate::mgmt::MgmtCounters;
use xfgate::stats::DropReason;
use xfgate::wire::build::FrameSpec;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xfgate-test-{}-{}", std::process::id(), name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(
    vdevs: Vec<String>,
    unprotected: u64,
    config: &str,
    replay_window: Option<u32>,
) -> (Vec<WorkerSnapshot>, MgmtCounters) {
    let opts = GatewayOpts {
        vdevs,
        workers: vec![(1, 1)],
        unprotected,
        config: Some(("test.cfg".into(), config.into())),
        replay_window,
        pool_size: 1024,
        ..GatewayOpts::default()
    };
    let gw = Gateway::start(opts).unwrap_or_else(|e| panic!("start: {e}"));
    let stop = AtomicBool::new(false);
    gw.run(
        &stop,
        Some(Duration::from_secs(20)),
        Duration::from_millis(50),
        |_| {},
    );
    assert!(gw.inputs_done(), "inputs finished before the timeout");
    gw.shutdown()
}

fn total(s: &[WorkerSnapshot]) -> xfgate::stats::LcoreCounters {
    let mut t = xfgate::stats::LcoreCounters::default();
    for w in s {
        t.rx_packets += w.counters.rx_packets;
        t.forwarded += w.counters.forwarded;
        t.tx_packets += w.counters.tx_packets;
        for (a, b) in t.drops.iter_mut().zip(w.counters.drops.iter()) {
            *a += b;
        }
    }
    t
}

fn drops(t: &xfgate::stats::LcoreCounters, r: DropReason) -> u64 {
    t.drops[r as usize]
}

/// rx = forwarded + drops, and the final object counts are zero.
fn check_accounting(t: &xfgate::stats::LcoreCounters, m: &MgmtCounters) {
    assert_eq!(
        t.rx_packets,
        t.forwarded + t.drops.iter().sum::<u64>(),
        "every packet in one counter: {t:?}"
    );
    assert_eq!(t.tx_packets, t.forwarded);
    assert_eq!(m.policies_live + m.sas_live, 0, "live objects end at zero");
    assert_eq!(m.freed, m.retired, "everything retired was freed");
}

#[test]
fn outbound_protect_bypass_block_default_v4_v6() {
    let d = tmp("out");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let o = pcap_scenarios::outbound();
    let (cfg, frames) = (&o.cfg, &o.frames);
    write_pcap(&inp, frames);
    let vdevs = vec![
        format!("net_pcap0,rx_pcap={}", inp.display()),
        format!("net_pcap1,tx_pcap={}", outp.display()),
    ];
    let (snaps, m) = run(vdevs, 0b10, cfg, None);
    let t = total(&snaps);
    assert_eq!(t.rx_packets, frames.len() as u64);
    assert_eq!(t.forwarded, Outbound::FORWARDED);
    assert_eq!(drops(&t, DropReason::PolicyBlock), Outbound::POLICY_BLOCK);
    assert_eq!(drops(&t, DropReason::DefaultBlock), Outbound::DEFAULT_BLOCK);
    assert_eq!(drops(&t, DropReason::Malformed), Outbound::MALFORMED);
    assert_eq!(drops(&t, DropReason::TtlExpired), Outbound::TTL_EXPIRED);
    check_accounting(&t, &m);
    pcap_scenarios::check_outbound_output(&outp, &o);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn inbound_vectors_decrypt_and_error_counters() {
    let d = tmp("in");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let sc = pcap_scenarios::inbound();
    let (cfg, frames, n_tunnel) = (&sc.cfg, &sc.frames, sc.n_tunnel);
    write_pcap(&inp, frames);
    let vdevs = vec![
        format!("net_pcap0,tx_pcap={}", outp.display()),
        format!("net_pcap1,rx_pcap={}", inp.display()),
    ];
    let (snaps, m) = run(vdevs, 0b10, cfg, Some(64));
    let t = total(&snaps);
    assert_eq!(t.forwarded, n_tunnel, "{t:?}");
    // The replayed copy, and the ICV-flipped copy too: it carries the first
    // packet's sequence number, and the replay check comes before the ICV
    // (RFC 4303 3.4.3). With the window off it is an ICV failure (next test).
    assert_eq!(drops(&t, DropReason::Replay), Inbound::REPLAY);
    assert_eq!(drops(&t, DropReason::IcvFail), Inbound::ICV_FAIL);
    assert_eq!(drops(&t, DropReason::NoSa), Inbound::NO_SA);
    check_accounting(&t, &m);
    pcap_scenarios::check_inbound_output(&outp, &sc);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn inbound_icv_failure_and_need_esp() {
    // Window off (--replay-window 0): a flipped ICV is an ICV failure; a plain
    // packet that matches an ESP-requiring policy is dropped as need_esp.
    let d = tmp("icv");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let v = &vectors()[0];
    assert_eq!(v["mode"], "tunnel");
    let esp = hex::decode(v["esp_packet_hex"].as_str().unwrap()).unwrap();
    let inner = hex::decode(v["inner_hex"].as_str().unwrap()).unwrap();
    let cfg = format!(
        "state add src {} dst {} proto esp spi {} mode tunnel aead 'rfc4106(gcm(aes))' 0x{} 128\n\
         policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir in tmpl src {} dst {} proto esp mode tunnel\n\
         route add 0.0.0.0/0 port 0\n",
        v["tunnel_src"].as_str().unwrap(),
        v["tunnel_dst"].as_str().unwrap(),
        v["spi"],
        v["key_hex"].as_str().unwrap(),
        v["tunnel_src"].as_str().unwrap(),
        v["tunnel_dst"].as_str().unwrap(),
    );
    let mut icv = eth(0x0800, &esp);
    let l = icv.len() - 1;
    icv[l] ^= 0x80;
    let frames = vec![icv, eth(0x0800, &inner), eth(0x0800, &esp)];
    write_pcap(&inp, &frames);
    let vdevs = vec![
        format!("net_pcap0,tx_pcap={}", outp.display()),
        format!("net_pcap1,rx_pcap={}", inp.display()),
    ];
    let (snaps, m) = run(vdevs, 0b10, &cfg, Some(0));
    let t = total(&snaps);
    assert_eq!(drops(&t, DropReason::IcvFail), 1);
    assert_eq!(drops(&t, DropReason::NeedEsp), 1);
    assert_eq!(t.forwarded, 1);
    check_accounting(&t, &m);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn explicit_queue_map_assigns_rx_queues_to_lcores() {
    let d = tmp("qmap");
    let inp = d.join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..100u128)
        .map(|i| FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a08_0001, 1, 2, 10).frame())
        .collect();
    write_pcap(&inp, &frames);
    let cfg = "policy add src 10.1.0.0/16 dst 10.8.0.0/16 dir out\nroute add 10.8.0.0/16 port 1\n";
    let start = |map: Vec<(u16, u16, usize)>| {
        Gateway::start(GatewayOpts {
            vdevs: vec![
                format!("net_pcap0,rx_pcap={}", inp.display()),
                "net_null1,no-rx=1".into(),
            ],
            workers: vec![(1, 0), (2, 1)],
            unprotected: 0b10,
            config: Some(("q.cfg".into(), cfg.into())),
            queue_map: map,
            pool_size: 512,
            ..GatewayOpts::default()
        })
    };
    // Both rx queues of port 0 on lcore 2; lcore 1 polls nothing.
    let gw = start(vec![(0, 0, 2), (0, 1, 2)]).unwrap();
    let stop = AtomicBool::new(false);
    let n = frames.len() as u64;
    gw.run(
        &stop,
        Some(Duration::from_secs(20)),
        Duration::from_millis(10),
        |g| {
            if g.worker_snapshots()
                .iter()
                .map(|w| w.counters.rx_packets)
                .sum::<u64>()
                >= n
            {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    );
    let (snaps, _) = gw.shutdown();
    let rx = |l: usize| {
        snaps
            .iter()
            .find(|s| s.lcore == l)
            .map_or(0, |s| s.counters.rx_packets)
    };
    assert_eq!(rx(1), 0, "lcore 1 polls no queue");
    assert_eq!(rx(2), n, "lcore 2 polls both queues");
    // Bad maps are refused with the offending triple named.
    for (map, needle) in [
        (vec![(5, 0, 1)], "no port 5"),
        (vec![(0, 7, 1)], "(0,7,1)"),
        (vec![(0, 0, 9)], "lcore 9 is not a worker"),
    ] {
        let e = start(map).err().expect("refused").to_string();
        assert!(e.contains(needle), "{e}");
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn mtu_sizes_the_buffers_for_jumbo_frames() {
    // `--mtu` sizes the buffers as on DPDK (tests/dpdk_mtu.rs): 9,000-byte
    // IPv4 packets go through the outbound tunnel whole with `mtu:
    // Some(9000)`; with the default buffers (2,048 bytes) a pcap port refuses
    // such a file at start (DPDK's net_pcap takes it and the rx path drops
    // the chained frames).
    let d = tmp("mtu");
    let inp = d.join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..10u128)
        .map(|i| {
            let payload = if i % 2 == 0 { 9000 - 28 } else { 100 };
            FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a02_0001, 1000, 53, payload).frame()
        })
        .collect();
    write_pcap(&inp, &frames);
    let o = pcap_scenarios::outbound();
    let outp = d.join("out.pcap");
    let start = |mtu: Option<u16>| {
        Gateway::start(GatewayOpts {
            vdevs: vec![
                format!("net_pcap0,rx_pcap={}", inp.display()),
                format!("net_pcap1,tx_pcap={}", outp.display()),
            ],
            workers: vec![(1, 1)],
            unprotected: 0b10,
            config: Some(("mtu.cfg".into(), o.cfg.clone())),
            pool_size: 256,
            mtu,
            ..GatewayOpts::default()
        })
    };
    let e = start(None).err().expect("refused").to_string();
    assert!(
        e.contains("a 9014-byte packet exceeds the 2048-byte buffers"),
        "{e}"
    );
    {
        let encapsulated = 10;
        let gw = start(Some(9000)).unwrap();
        let stop = AtomicBool::new(false);
        gw.run(
            &stop,
            Some(Duration::from_secs(20)),
            Duration::from_millis(20),
            |_| {},
        );
        let (snaps, m) = gw.shutdown();
        let t = total(&snaps);
        check_accounting(&t, &m);
        let enc: u64 = snaps.iter().map(|s| s.counters.encapsulated).sum();
        assert_eq!(enc, encapsulated);
        let out = xfgate::port::pcap::PcapData::read_file(&outp).unwrap();
        assert_eq!(out.len() as u64, encapsulated);
        assert_eq!(
            out.packets().filter(|p| p.len() > 9000).count(),
            5,
            "jumbo frames came out whole"
        );
    }
    let _ = std::fs::remove_dir_all(d);
}

/// A policy with two templates (an inner tunnel to 198.51.100.9 inside an
/// outer one to 198.51.100.7): the inner SA encrypts first, the outer one
/// encrypts its output in the burst's cipher pass; what comes out opens with
/// the outer SA, then the inner one, back to the input (TTL decremented once).
#[test]
fn outbound_chain_of_two_sas_nests_and_opens_in_reverse() {
    use pcap_scenarios::{sa_spec, KEY4};
    use xfgate::buf::HeapBuf;
    use xfgate::esp::{decapsulate, EspSa};
    use xfgate::port::pcap::PcapData;
    const KEY_IN: &str = "0x2122232425262728292a2b2c2d2e2f30c1c2c3c4";
    let d = tmp("chain");
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let cfg = format!(
        "
state add src 192.0.2.1 dst 198.51.100.9 proto esp spi 0x2001 reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' {KEY_IN} 128
state add src 192.0.2.1 dst 198.51.100.7 proto esp spi 0x2002 reqid 8 mode tunnel aead 'rfc4106(gcm(aes))' {KEY4} 128
policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.9 proto esp reqid 7 mode tunnel tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 8 mode tunnel
route add 198.51.100.0/24 port 1
"
    );
    let frames: Vec<Vec<u8>> = (0..40u128)
        .map(|i| {
            FrameSpec::udp(
                Family::V4,
                0x0a01_0000 + i,
                0x0a02_0001,
                1000,
                53,
                i as usize * 29,
            )
            .frame()
        })
        .collect();
    write_pcap(&inp, &frames);
    let vdevs = vec![
        format!("net_pcap0,rx_pcap={}", inp.display()),
        format!("net_pcap1,tx_pcap={}", outp.display()),
    ];
    let (snaps, m) = run(vdevs, 0b10, &cfg, None);
    let t = total(&snaps);
    assert_eq!((t.rx_packets, t.forwarded), (40, 40), "{t:?}");
    check_accounting(&t, &m);
    let outer = EspSa::new(&sa_spec(0x2002, Family::V4, 0xc000_0201, 0xc633_6407, KEY4)).unwrap();
    let inner = EspSa::new(&sa_spec(
        0x2001,
        Family::V4,
        0xc000_0201,
        0xc633_6409,
        KEY_IN,
    ))
    .unwrap();
    let (mut wo, mut wi) = (outer.new_replay_window(), inner.new_replay_window());
    let out = PcapData::read_file(&outp).unwrap();
    assert_eq!(out.len(), 40);
    for (pkt, frame) in out.packets().zip(&frames) {
        let mut b = HeapBuf::from_slice(&pkt[14..]);
        decapsulate(&outer, &mut wo, &mut b).expect("the outer SA opens first");
        decapsulate(&inner, &mut wi, &mut b).expect("then the inner one");
        let mut want = frame[14..].to_vec();
        xfgate::wire::ipv4_decrement_ttl(&mut want).unwrap();
        assert_eq!(xfgate::buf::PacketBuf::data(&b), &want[..]);
    }
    let _ = std::fs::remove_dir_all(d);
}

/// The management thread runs on the management core's CPU when one is
/// given (as DPDK runs it on the main lcore), not wherever the scheduler
/// puts it: /proc shows the thread named `mgmt` allowed on that CPU only.
#[test]
fn management_thread_is_pinned_to_the_management_cpu() {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = ncpu - 1;
    let opts = GatewayOpts {
        vdevs: vec![
            "gen0,flows=16,count=1000".into(),
            "net_null1,no-rx=1".into(),
        ],
        workers: vec![(1, 0)],
        unprotected: 0b10,
        mgmt_cpu: Some(cpu),
        pool_size: 1024,
        ..GatewayOpts::default()
    };
    let gw = Gateway::start(opts).unwrap();
    // The thread pins itself as it starts: look until it has.
    let mut allowed = String::new();
    for _ in 0..200 {
        for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == "mgmt" {
                let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                if let Some(l) = st.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
                    allowed = l["Cpus_allowed_list:".len()..].trim().to_string();
                }
            }
        }
        if allowed == cpu.to_string() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(allowed, cpu.to_string(), "mgmt thread's allowed CPUs");
    let stop = AtomicBool::new(false);
    gw.run(
        &stop,
        Some(Duration::from_secs(20)),
        Duration::from_millis(20),
        |_| {},
    );
    let (snaps, m) = gw.shutdown();
    check_accounting(&total(&snaps), &m);
}
