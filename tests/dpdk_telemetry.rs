//! DPDK telemetry: a running xfgate answers `/xfgate/stats` on EAL's
//! telemetry socket (what `dpdk-telemetry.py` talks to) with its totals.
#![cfg(feature = "dpdk")]
#![allow(unsafe_code)]

mod dpdk_support;

use dpdk_support::{tmp, u, write_pcap};
use std::time::{Duration, Instant};
use xfgate::ip::Family;
use xfgate::wire::build::FrameSpec;

/// A SOCK_SEQPACKET unix socket (std has none), closed on drop.
struct SeqPacket(i32);

impl SeqPacket {
    fn connect(path: &std::path::Path) -> Option<SeqPacket> {
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0) };
        assert!(fd >= 0, "socket");
        let s = SeqPacket(fd);
        // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let p = path.as_os_str().as_encoded_bytes();
        assert!(p.len() < addr.sun_path.len());
        for (d, b) in addr.sun_path.iter_mut().zip(p) {
            *d = *b as libc::c_char;
        }
        // SAFETY: addr is an initialised sockaddr_un of the given size.
        let rc = unsafe {
            libc::connect(
                fd,
                &addr as *const libc::sockaddr_un as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        (rc == 0).then_some(s)
    }

    fn send(&self, msg: &str) {
        // SAFETY: msg is a valid buffer of msg.len() bytes.
        let n = unsafe { libc::send(self.0, msg.as_ptr().cast(), msg.len(), 0) };
        assert_eq!(n, msg.len() as isize, "sent");
    }

    fn recv_json(&self) -> serde_json::Value {
        let mut buf = vec![0u8; 1 << 16];
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n > 0, "a reply");
        serde_json::from_slice(&buf[..n as usize]).expect("JSON reply")
    }
}

impl Drop for SeqPacket {
    fn drop(&mut self) {
        // SAFETY: our fd, closed once.
        unsafe { libc::close(self.0) };
    }
}

#[test]
fn dpdk_telemetry_serves_xfgate_stats() {
    let d = tmp("telemetry");
    let inp = d.join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..64u128)
        .map(|i| FrameSpec::udp(Family::V4, 0x0a01_0000 + i, 0x0a08_0001, 1, 2, 10).frame())
        .collect();
    write_pcap(&inp, &frames);
    let cfg = d.join("gw.cfg");
    std::fs::write(
        &cfg,
        "policy add src 10.1.0.0/16 dst 10.8.0.0/16 dir out\nroute add 10.8.0.0/16 port 1\n",
    )
    .unwrap();
    let prefix = format!("xfgt-tel-{}", std::process::id());
    let json = d.join("stats.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args([
            "--lcores",
            "0-1",
            "--no-pci",
            "--in-memory",
            "--log-level=warning",
        ])
        .args(["--file-prefix", &prefix])
        .arg("--vdev")
        .arg(format!("net_pcap0,rx_pcap={},infinite_rx=1", inp.display()))
        .args(["--vdev", "net_null1,no-rx=1", "--"])
        .args(["-u", "0x2", "-f"])
        .arg(&cfg)
        .args(["--duration", "3", "--stats-interval", "0", "--stats-json"])
        .arg(&json)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("xfgate runs");
    let sock = std::path::Path::new("/var/run/dpdk")
        .join(&prefix)
        .join("dpdk_telemetry.v2");
    let t0 = Instant::now();
    let s = loop {
        if let Some(s) = SeqPacket::connect(&sock) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "telemetry socket {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let hello = s.recv_json();
    assert!(
        hello["version"].as_str().unwrap().starts_with("DPDK 22.11"),
        "{hello}"
    );
    // The socket is up once EAL is; the command once the gateway started
    // (null before). Then wait until it says it received traffic.
    let stats = loop {
        s.send("/xfgate/stats");
        let r = s.recv_json();
        let st = r["/xfgate/stats"].clone();
        if st.is_object() && u(&st, &["rx_packets"]) > 0 {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a dict with traffic: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let rx = u(&stats, &["rx_packets"]);
    assert!(rx > 0, "{stats}");
    assert_eq!(u(&stats, &["workers"]), 1);
    // Every packet matched the bypass policy (the snapshot is one worker's
    // consistent copy): nothing dropped, everything forwarded.
    assert_eq!(u(&stats, &["forwarded"]), rx, "{stats}");
    assert_eq!(u(&stats, &["dropped"]), 0, "{stats}");
    assert_eq!(u(&stats, &["drop_no_route"]), 0, "{stats}");
    s.send("/help,/xfgate/stats");
    let help = s.recv_json();
    assert!(help["/help"]["/xfgate/stats"]
        .as_str()
        .unwrap()
        .contains("xfgate"));
    drop(s);
    let out = child.wait_with_output().expect("xfgate ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        u(&fin, &["totals", "rx_packets"]) >= rx,
        "the final count includes what telemetry saw"
    );
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    let _ = std::fs::remove_dir_all(d);
}
