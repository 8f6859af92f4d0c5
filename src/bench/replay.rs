//! A scenario point's traffic as pcap files, for the DPDK backend of
//! `xfgate bench`: DPDK's `net_pcap` replays them (`infinite_rx=1`) or reads
//! them once (finite inputs).
//!
//! The frames are the built-in generator's ([`GenRx`], driven here with the
//! device string the software run uses, [`super::scenario::gen_vdev`]), one
//! file per rx queue: file `q` of `n` holds queue `q` of `n`, so each worker
//! gets the share of the flows its software twin would. The generator's
//! pacing (`rate=`) is dropped: net_pcap cannot pace.
//!
//! Each file remembers which of its packets belong to never-seen flows, so
//! the bench counts them exactly from a worker's rx counter (net_pcap
//! delivers a file in order, and with `infinite_rx` over and over again):
//! a "never-seen" flow of a replay is one not seen *within the file's
//! period*. What that means for the flood scenario is in docs/PERFORMANCE.md.
//!
//! Nothing here needs DPDK.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::buf::PacketBuf;
use crate::ip::Addr;
use crate::port::gen::GenRx;
use crate::port::pcap::PcapWriter;
use crate::port::vdev::{parse_vdev, GenSpec, VdevKind};
use crate::port::{sw_port_mac, Burst, Pool, PooledBuf, QueueStats, RxQueue};

/// The generator's spec from a `gen...` device string.
pub fn gen_spec(vdev: &str) -> Result<GenSpec, String> {
    match parse_vdev(vdev).map_err(|e| e.to_string())?.kind {
        VdevKind::Gen(g) => Ok(g),
        _ => Err(format!("'{vdev}' is not a generator")),
    }
}

/// One rx queue's file.
#[derive(Debug)]
pub struct QueueFile {
    pub path: PathBuf,
    pub packets: u64,
    /// `new_before[i]`: packets of never-seen flows among the file's first `i`.
    new_before: Vec<u32>,
}

impl QueueFile {
    /// Packets of never-seen flows in the file.
    pub fn new_flow_packets_per_pass(&self) -> u64 {
        self.new_before.last().copied().unwrap_or(0) as u64
    }

    /// Packets of never-seen flows among the first `n` packets the queue
    /// delivered, the file read from its start and, past its end, again
    /// from the start (`infinite_rx`).
    pub fn new_flow_packets(&self, n: u64) -> u64 {
        if self.packets == 0 {
            return 0;
        }
        let (passes, rest) = (n / self.packets, n % self.packets);
        passes * self.new_flow_packets_per_pass() + self.new_before[rest as usize] as u64
    }
}

/// A point's traffic: one file per rx queue.
#[derive(Debug)]
pub struct Replay {
    pub files: Vec<QueueFile>,
    /// Distinct established (not never-seen) flows over all files.
    pub flows_covered: u64,
}

/// The flow of a frame as the gateway keys it (enough to count distinct flows).
type Tuple = (Addr, Addr, u8, u16, u16);

fn tuple(frame: &[u8]) -> Option<Tuple> {
    let (p, src, dst) = crate::wire::parse::parse_frame_addrs(frame).ok()?;
    Some((src, dst, p.l4_proto, p.sport, p.dport))
}

impl Replay {
    /// Write `packets` packets (over all `queues` files, split as the
    /// generator splits `count`) of the generator `spec` into `dir`, files
    /// named `{tag}-q{N}.pcap`. The generator's own `count` and `rate` are
    /// replaced.
    pub fn write(
        dir: &Path,
        tag: &str,
        spec: &GenSpec,
        queues: usize,
        packets: u64,
    ) -> Result<Replay, String> {
        let queues = queues.max(1);
        let spec = GenSpec {
            count: packets.max(1),
            rate: 0,
            ..spec.clone()
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Buffers for any frame the generator makes (up to 1518 bytes, IMIX).
        let pool = Pool::new(64, 2048 + 128, 128);
        let mut seen: HashSet<Tuple> = HashSet::new();
        let mut files = Vec::with_capacity(queues);
        for q in 0..queues {
            let stats = std::sync::Arc::new(QueueStats::default());
            let mut gen = GenRx::new(
                0,
                sw_port_mac(0),
                &spec,
                q,
                queues,
                pool.clone(),
                stats,
                None,
            )
            .map_err(|e| e.to_string())?;
            let path = dir.join(format!("{tag}-q{q}.pcap"));
            let mut w =
                PcapWriter::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut burst: Burst<PooledBuf> = Burst::new();
            let mut new_before = vec![0u32];
            let mut n = 0u64;
            while !gen.is_done() {
                let before = gen.new_flow_packets();
                if gen.rx_burst(&mut burst, 1) == 0 {
                    break;
                }
                let is_new = gen.new_flow_packets() > before;
                let Some(b) = burst.pop() else { break };
                w.write((n / 1_000_000) as u32, (n % 1_000_000) as u32, b.data())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if !is_new {
                    if let Some(t) = tuple(b.data()) {
                        seen.insert(t);
                    }
                }
                let last = *new_before.last().unwrap_or(&0);
                new_before.push(last + u32::from(is_new));
                n += 1;
            }
            w.finish().map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(QueueFile {
                path,
                packets: n,
                new_before,
            });
        }
        Ok(Replay {
            files,
            flows_covered: seen.len() as u64,
        })
    }

    /// Packets over all files (one period of the replay).
    pub fn packets(&self) -> u64 {
        self.files.iter().map(|f| f.packets).sum()
    }

    /// Packets of never-seen flows over all files (each one a distinct flow).
    pub fn new_flow_packets_per_pass(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.new_flow_packets_per_pass())
            .sum()
    }

    /// Remove the files.
    pub fn remove(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::pcap::PcapData;

    fn dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xfgate-replay-{}-{name}", std::process::id()))
    }

    #[test]
    fn files_hold_the_generators_queues_and_count_new_flows() {
        let d = dir("split");
        let g = gen_spec(
            "gen0,flows=100,size=64,src=10.0.0.0/8,dst=172.16.0.1/32,dist=uniform,seed=7,new_flow_pct=25,rate=1000,count=9",
        )
        .unwrap();
        let r = Replay::write(&d, "t", &g, 3, 1001).unwrap();
        // The count is split as the generator splits it; the rate is dropped
        // (the files are written at once).
        let per: Vec<u64> = r.files.iter().map(|f| f.packets).collect();
        assert_eq!(per, vec![334, 334, 333]);
        assert_eq!(r.packets(), 1001);
        let mut new_total = 0;
        for (q, f) in r.files.iter().enumerate() {
            let data = PcapData::read_file(&f.path).unwrap();
            assert_eq!(data.len() as u64, f.packets);
            // Every never-seen flow is outside 0..flows (source 10.0.0.1 +
            // flow), and the file's marks say which packets they are.
            let mut marks = 0;
            for (i, p) in data.packets().enumerate() {
                assert_eq!(p.len(), 60, "64-byte frames without the FCS");
                let src = u32::from_be_bytes([p[26], p[27], p[28], p[29]]);
                let flow = src - 0x0a00_0001;
                let new = f.new_before[i + 1] > f.new_before[i];
                assert_eq!(new, flow >= 100, "queue {q} packet {i}");
                marks += u64::from(new);
            }
            assert_eq!(marks, f.new_flow_packets_per_pass());
            new_total += marks;
            // Counting over a replay: whole passes plus the head of the next.
            let n = f.packets;
            assert_eq!(f.new_flow_packets(0), 0);
            assert_eq!(f.new_flow_packets(n), marks);
            assert_eq!(
                f.new_flow_packets(2 * n + 5),
                2 * marks + f.new_before[5] as u64
            );
        }
        assert_eq!(r.new_flow_packets_per_pass(), new_total);
        // About a quarter of 1001 (seeded: the same every run).
        assert!((150..350).contains(&new_total), "{new_total}");
        // Established flows seen: some of the 100, never more.
        assert!(r.flows_covered > 50 && r.flows_covered <= 100);
        r.remove();
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn same_spec_same_bytes_and_imix_sizes() {
        let d = dir("imix");
        let g =
            gen_spec("gen0,flows=10,size=imix,src=10.0.0.0/8,dst=172.16.0.1/32,seed=7").unwrap();
        let a = Replay::write(&d, "a", &g, 1, 24).unwrap();
        let b = Replay::write(&d, "b", &g, 1, 24).unwrap();
        let (pa, pb) = (
            PcapData::read_file(&a.files[0].path).unwrap(),
            PcapData::read_file(&b.files[0].path).unwrap(),
        );
        assert!(pa.packets().eq(pb.packets()), "deterministic");
        let sizes: HashSet<usize> = pa.packets().map(|p| p.len()).collect();
        assert_eq!(sizes, HashSet::from([60, 590, 1514]));
        assert!(a.flows_covered > 0 && a.flows_covered <= 10);
        assert_eq!(a.new_flow_packets_per_pass(), 0);
        let _ = std::fs::remove_dir_all(d);
    }
}
