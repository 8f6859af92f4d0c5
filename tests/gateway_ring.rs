//! Two gateways connected by an in-process ring: traffic encrypted by one is
//! decrypted and policy-checked by the other; counters match packet for packet.

use std::sync::atomic::AtomicBool;
use std::time::Duration;
use xfgate::gateway::{Gateway, GatewayOpts};
use xfgate::ip::Family;
use xfgate::port::pcap::{PcapData, PcapWriter};
use xfgate::stats::DropReason;
use xfgate::wire::build::FrameSpec;

const SA: &str = "state add src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x100 reqid 7 mode tunnel \
                  aead 'rfc4106(gcm(aes))' 0x00112233445566778899aabbccddeeff01020304 128\n\
                  state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x200 reqid 8 mode tunnel \
                  aead 'rfc4106(gcm(aes))' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff01020304 128\n";

fn start(vdevs: Vec<String>, unprotected: u64, cfg: String) -> Gateway {
    Gateway::start(GatewayOpts {
        vdevs,
        workers: vec![(1, 1)],
        unprotected,
        config: Some(("ring.cfg".into(), cfg)),
        pool_size: 2048,
        ..GatewayOpts::default()
    })
    .unwrap_or_else(|e| panic!("start: {e}"))
}

#[test]
fn two_gateways_over_a_ring_encrypt_then_decrypt() {
    let d = std::env::temp_dir().join(format!("xfgate-ring-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let (inp, outp) = (d.join("in.pcap"), d.join("out.pcap"));
    let mut frames = Vec::new();
    for i in 0..300u128 {
        frames.push(
            FrameSpec::udp(
                Family::V4,
                0x0a01_0000 + i % 50,
                0x0a02_0000 + i,
                1000,
                53,
                (i * 7 % 1400) as usize,
            )
            .frame(),
        );
        if i % 3 == 0 {
            frames.push(
                FrameSpec::tcp(
                    Family::V6,
                    0x2001_0db8_0001_0000_0000_0000_0000_0000 + i,
                    0x2001_0db8_0002_0000_0000_0000_0000_0001,
                    4000,
                    443,
                    100,
                )
                .frame(),
            );
        }
    }
    frames.push(FrameSpec::udp(Family::V4, 0x0a01_0001, 0x0a09_0001, 1, 2, 10).frame()); // no policy at A
    let mut w = PcapWriter::create(&inp).unwrap();
    for f in &frames {
        w.write(0, 0, f).unwrap();
    }
    w.finish().unwrap();
    let ring = format!("gwpair{}", std::process::id());
    let cfg_a = format!(
        "{SA}policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.1 proto esp reqid 7 mode tunnel\n\
         policy add src 2001:db8:1::/48 dst 2001:db8:2::/48 dir out tmpl src 2001:db8::1 dst 2001:db8::2 proto esp reqid 8 mode tunnel\n\
         route add 198.51.100.0/24 port 1\nroute add 2001:db8::/64 port 1\n"
    );
    let cfg_b = format!(
        "{SA}policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir in tmpl src 192.0.2.1 dst 198.51.100.1 proto esp reqid 7 mode tunnel\n\
         policy add src 2001:db8:1::/48 dst 2001:db8:2::/48 dir fwd tmpl src 2001:db8::1 dst 2001:db8::2 proto esp reqid 8 mode tunnel\n\
         route add 10.2.0.0/16 port 1\nroute add 2001:db8:2::/48 port 1\n"
    );
    // B: port 0 = ring (ESP in, unprotected), port 1 = pcap out (protected side).
    let b = start(
        vec![
            format!("net_ring0,name={ring}"),
            format!("net_pcap1,tx_pcap={}", outp.display()),
        ],
        0b01,
        cfg_b,
    );
    // A: port 0 = pcap in (protected), port 1 = ring (ESP out).
    let a = start(
        vec![
            format!("net_pcap0,rx_pcap={}", inp.display()),
            format!("net_ring1,name={ring}"),
        ],
        0b10,
        cfg_a,
    );
    // A's ring port never ends while B holds its side: stop A once its pcap input
    // has been read and processed.
    let stop = AtomicBool::new(false);
    let n = frames.len() as u64;
    a.run(
        &stop,
        Some(Duration::from_secs(20)),
        Duration::from_millis(10),
        |g| {
            let s = g.worker_snapshots();
            if s.iter().map(|w| w.counters.rx_packets).sum::<u64>() >= n {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    );
    assert!(
        stop.load(std::sync::atomic::Ordering::Relaxed),
        "A read its input"
    );
    let stop = AtomicBool::new(false);
    let (fa, ma) = a.shutdown(); // closes A's end of the ring
    b.run(
        &stop,
        Some(Duration::from_secs(20)),
        Duration::from_millis(20),
        |_| {},
    );
    assert!(b.inputs_done(), "B sees the ring end");
    let (fb, mb) = b.shutdown();
    let (ca, cb) = (&fa[0].counters, &fb[0].counters);
    assert_eq!(ca.rx_packets, n);
    assert_eq!(ca.encapsulated, n - 1);
    assert_eq!(ca.drops[DropReason::DefaultBlock as usize], 1);
    assert_eq!(ca.forwarded, n - 1);
    assert_eq!(
        cb.rx_packets, ca.forwarded,
        "B received every packet A sent"
    );
    assert_eq!(cb.decapsulated, ca.encapsulated, "packet for packet");
    assert_eq!(cb.forwarded, cb.decapsulated);
    assert_eq!(cb.drops.iter().sum::<u64>(), 0);
    for m in [ma, mb] {
        assert_eq!(m.policies_live + m.sas_live, 0);
        assert_eq!(m.freed, m.retired);
    }
    let out = PcapData::read_file(&outp).unwrap();
    assert_eq!(out.len() as u64, n - 1);
    // Plain again, TTL twice decremented.
    for (got, sent) in out.packets().zip(frames.iter()) {
        let (g, s) = (&got[14..], &sent[14..]);
        if s[0] >> 4 == 4 {
            assert_eq!(g[8], s[8] - 2, "IPv4 TTL");
            assert_eq!(&g[12..], &s[12..], "addresses and payload");
        } else {
            assert_eq!(g[7], s[7] - 2, "IPv6 hop limit");
            assert_eq!(&g[8..], &s[8..]);
        }
    }
    let _ = std::fs::remove_dir_all(d);
}
