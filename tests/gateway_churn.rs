//! Policy churn through the control socket while traffic flows: no packet that
//! entered after a delete returned is processed with the deleted policy
//! (packets carry a tag), and nothing leaks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xfgate::buf::{HeapBuf, PacketBuf};
use xfgate::esp::{decapsulate, EspSa};
use xfgate::gateway::{Gateway, GatewayOpts};
use xfgate::ip::Family;
use xfgate::port::ring::{RingEnd, RingRx, RingTx};
use xfgate::port::{Burst, PooledBuf, QueueStats, RxQueue, TxQueue};
use xfgate::sad::{AeadAlg, SaSpec};
use xfgate::spd::Mode;
use xfgate::wire::build::FrameSpec;

const KEY: &str = "00112233445566778899aabbccddeeff01020304";
const POLICY: &str = "policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out index 8 tmpl src 192.0.2.1 dst 198.51.100.1 proto esp reqid 7 mode tunnel";

#[test]
fn churn_no_packet_uses_a_deleted_policy_after_the_delete_returned() {
    let id = std::process::id();
    let (rin, rout) = (format!("churn-in-{id}"), format!("churn-out-{id}"));
    // The test holds one side of each ring; the gateway the other.
    let in_end = RingEnd::attach(&rin, 8192).unwrap();
    let out_end = RingEnd::attach(&rout, 8192).unwrap();
    let cfg = format!(
        "state add src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x100 reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' 0x{KEY} 128\n\
         {POLICY}\nroute add 198.51.100.0/24 port 1\n"
    );
    let gw = Gateway::start(GatewayOpts {
        vdevs: vec![
            format!("net_ring0,name={rin}"),
            format!("net_ring1,name={rout}"),
        ],
        workers: vec![(1, 1)],
        unprotected: 0b10,
        config: Some(("churn.cfg".into(), cfg)),
        pool_size: 4096,
        ..GatewayOpts::default()
    })
    .unwrap();

    // Sender: tagged packets, tag = a counter written into the UDP payload.
    let next_tag = Arc::new(AtomicU64::new(1));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pause = Arc::new(AtomicBool::new(false));
    let parked = Arc::new(AtomicBool::new(false));
    let sender = {
        let (next_tag, stop, end) = (next_tag.clone(), stop.clone(), in_end.clone());
        let (sent, pause, parked) = (sent.clone(), pause.clone(), parked.clone());
        std::thread::spawn(move || {
            let mut tx = RingTx::new(&end, Arc::new(QueueStats::default()));
            let mut burst = Burst::new();
            let template =
                FrameSpec::udp(Family::V4, 0x0a01_0001, 0x0a02_0001, 1000, 53, 16).frame();
            while !stop.load(Ordering::Relaxed) {
                if pause.load(Ordering::SeqCst) {
                    parked.store(true, Ordering::SeqCst);
                    std::thread::yield_now();
                    continue;
                }
                parked.store(false, Ordering::SeqCst);
                let mut f = template.clone();
                let tag = next_tag.fetch_add(1, Ordering::SeqCst);
                let off = 14 + 20 + 8;
                f[off..off + 8].copy_from_slice(&tag.to_be_bytes());
                let _ = burst.push(PooledBuf::unpooled(HeapBuf::from_slice(&f)));
                if tx.tx_burst(&mut burst) == 0 {
                    burst.clear(); // ring full: this tag is lost before the gateway, fine
                    std::thread::yield_now();
                } else {
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    // Receiver: decrypt the ESP that comes out and remember the tags.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let receiver = {
        let (seen, stop, end) = (seen.clone(), stop.clone(), out_end.clone());
        std::thread::spawn(move || {
            let k = hex::decode(KEY).unwrap();
            let spec = SaSpec {
                spi: 0x100,
                mode: Mode::Tunnel,
                family: Family::V4,
                src: 0xc000_0201,
                dst: 0xc633_6401,
                reqid: 7,
                alg: AeadAlg::Aes128Gcm,
                key: k[..16].to_vec(),
                salt: k[16..].try_into().unwrap(),
                replay_window: 0,
                esn: false,
                lifetime: Default::default(),
            };
            let sa = EspSa::new(&spec).unwrap();
            let mut w = sa.new_replay_window();
            let mut rx = RingRx::new(9, &end, Arc::new(QueueStats::default()));
            let mut burst = Burst::new();
            loop {
                let n = rx.rx_burst(&mut burst, 32);
                for p in burst.drain() {
                    let mut b = HeapBuf::from_slice(&p.data()[14..]);
                    decapsulate(&sa, &mut w, &mut b).expect("ESP from the gateway decrypts");
                    let off = 20 + 8;
                    let tag = u64::from_be_bytes(b.data()[off..off + 8].try_into().unwrap());
                    seen.lock().unwrap().push(tag);
                }
                if n == 0 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        })
    };

    // Each round: delete, let traffic run, then pause the sender and wait until
    // the gateway has processed everything sent, and only then re-add. So every
    // packet tagged in [deleted_at, readd_at) began processing after the delete
    // returned and before the re-add: none may come out encrypted.
    // The changes go through the real control socket, as `xfgate ctl` sends them.
    let sock = std::env::temp_dir().join(format!("xfgate-churn-{id}.sock"));
    let ctl_stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(gw.control_state());
    let server = xfgate::ctl::CtlServer::bind(&sock)
        .unwrap()
        .serve(xfgate::gateway::control::handler(state), ctl_stop.clone())
        .unwrap();
    let ctl = |line: &str| {
        let r = xfgate::ctl::ctl_call(&sock, line).unwrap();
        assert!(r.ok, "{line}: {:?}", r.error);
    };
    let mut windows = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(20));
        ctl("policy delete index 8");
        let deleted_at = next_tag.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        pause.store(true, Ordering::SeqCst);
        while !parked.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let want = sent.load(Ordering::SeqCst);
        let t = std::time::Instant::now();
        while gw
            .worker_snapshots()
            .iter()
            .map(|w| w.counters.rx_packets)
            .sum::<u64>()
            < want
        {
            assert!(t.elapsed() < Duration::from_secs(10), "gateway stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
        let readd_at = next_tag.load(Ordering::SeqCst);
        ctl(POLICY);
        pause.store(false, Ordering::SeqCst);
        windows.push((deleted_at, readd_at));
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    receiver.join().unwrap();
    ctl_stop.store(true, Ordering::Relaxed);
    server.join();
    let (finals, m) = gw.shutdown();
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() > 100,
        "traffic flowed: {} packets encrypted",
        seen.len()
    );
    // A packet tagged at or after `deleted_at` and before `readd_at` entered while
    // no protect policy existed: it must not come out encrypted.
    for &tag in seen.iter() {
        for &(d, r) in &windows {
            assert!(
                !(tag >= d && tag < r),
                "packet {tag} was encrypted with a policy deleted before it entered ({d}..{r})"
            );
        }
    }
    let c = &finals[0].counters;
    assert!(
        c.drops[xfgate::stats::DropReason::DefaultBlock as usize] > 0,
        "packets in the gaps were blocked"
    );
    assert_eq!(c.rx_packets, c.forwarded + c.drops.iter().sum::<u64>());
    assert_eq!(m.policies_live + m.sas_live, 0);
    assert_eq!(m.freed, m.retired, "nothing leaks");
    assert_eq!(m.policies_killed, m.policies_added);
}
