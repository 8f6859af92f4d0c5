//! The software port registry: builds numbered ports from `--vdev` strings
//! and splits them into per-worker queue handles.
//!
//! Ports are numbered in the order given, as DPDK numbers vdevs. Every port
//! gets one rx and one tx queue per worker; worker `w` owns queue `w` of every
//! port ([`WorkerQueues`]). Each worker also gets its own buffer [`Pool`], from
//! which its rx queues allocate (see [`Pool`] for why per-worker pools stand
//! in for per-lcore caches).
//!
//! Per backend, with `n` queues:
//! - `net_pcap`: rx queue `i` replays packets `i, i+n, ...` of the file; all tx
//!   queues write to the one file;
//! - `net_null`: every rx queue generates (unless `no-rx=1`), every tx queue
//!   sinks;
//! - `net_ring`: all queues share the ring of each direction;
//! - `gen`: each rx queue generates its own share of the flows, `count` and
//!   `rate`; tx queues sink (counted and freed).
//!
//! Everything that can fail (files, sizes, ring names, generator tuple
//! space) fails here, at start-up, with an error naming the device.

use std::sync::Arc;

use super::gen::{GenError, GenRx, GenTransform};
use super::null::{NullRx, NullTx};
use super::pcap::{PcapData, PcapError, PcapRx, PcapSink, PcapTx, LINKTYPE_ETHERNET};
use super::ring::{RingEnd, RingError, RingRx, RingTx};
use super::vdev::{parse_vdev, GenSpec, VdevError, VdevKind, VdevSpec};
use super::{
    sw_port_mac, Burst, Pool, PooledBuf, PortCounters, PortInfo, PortKind, PortStats, RxQueue,
    TxQueue,
};
use crate::buf::{DEFAULT_BUF_SIZE, DEFAULT_HEADROOM};

/// Makes the per-queue transform of a generator that has `esp=SPI` (or any
/// generator, if it returns `Some`): `(port, queue, spec)`. The coordinator
/// wires ESP encapsulation here; without a factory, `esp=` is an error.
pub type GenTransformFactory =
    Arc<dyn Fn(u16, usize, &GenSpec) -> Option<GenTransform> + Send + Sync>;

/// How to build the ports.
#[derive(Clone)]
pub struct PortsConfig {
    /// Queues per port = workers.
    pub nb_queues: usize,
    /// Buffers per worker pool.
    pub pool_size: usize,
    /// Buffer size, headroom included.
    pub buf_size: usize,
    pub headroom: usize,
    pub gen_transform: Option<GenTransformFactory>,
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            nb_queues: 1,
            pool_size: 8192,
            buf_size: DEFAULT_BUF_SIZE,
            headroom: DEFAULT_HEADROOM,
            gen_transform: None,
        }
    }
}

impl std::fmt::Debug for PortsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortsConfig")
            .field("nb_queues", &self.nb_queues)
            .field("pool_size", &self.pool_size)
            .field("buf_size", &self.buf_size)
            .field("headroom", &self.headroom)
            .field("gen_transform", &self.gen_transform.is_some())
            .finish()
    }
}

/// Why the ports could not be built. Each names the device.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(transparent)]
    Vdev(#[from] VdevError),
    #[error("{dev}: {path}: {err}")]
    Pcap {
        dev: String,
        path: String,
        err: PcapError,
    },
    #[error("{dev}: {err}")]
    Ring { dev: String, err: RingError },
    #[error("{dev}: {err}")]
    Gen { dev: String, err: GenError },
    #[error("{dev}: {reason}")]
    Invalid { dev: String, reason: String },
    #[error("too many ports (at most {max})")]
    TooMany { max: usize },
    #[error("nb_queues must be at least 1")]
    NoQueues,
}

/// An rx queue of any software port (dispatch per burst, not per packet).
pub enum SwRx {
    Pcap(PcapRx),
    Null(NullRx),
    Ring(RingRx),
    Gen(Box<GenRx>),
}

impl RxQueue<PooledBuf> for SwRx {
    #[inline]
    fn rx_burst(&mut self, out: &mut Burst<PooledBuf>, max: usize) -> usize {
        match self {
            SwRx::Pcap(q) => q.rx_burst(out, max),
            SwRx::Null(q) => q.rx_burst(out, max),
            SwRx::Ring(q) => q.rx_burst(out, max),
            SwRx::Gen(q) => q.rx_burst(out, max),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            SwRx::Pcap(q) => q.is_done(),
            SwRx::Null(q) => q.is_done(),
            SwRx::Ring(q) => q.is_done(),
            SwRx::Gen(q) => q.is_done(),
        }
    }

    #[inline]
    fn new_flow_packets(&self) -> u64 {
        match self {
            SwRx::Gen(q) => q.new_flow_packets(),
            _ => 0,
        }
    }
}

/// A tx queue of any software port.
pub enum SwTx {
    Pcap(PcapTx),
    Null(NullTx),
    Ring(RingTx),
}

impl TxQueue<PooledBuf> for SwTx {
    #[inline]
    fn tx_burst(&mut self, pkts: &mut Burst<PooledBuf>) -> usize {
        match self {
            SwTx::Pcap(q) => q.tx_burst(pkts),
            SwTx::Null(q) => q.tx_burst(pkts),
            SwTx::Ring(q) => q.tx_burst(pkts),
        }
    }

    fn flush(&mut self) {
        if let SwTx::Pcap(q) = self {
            q.flush()
        }
    }
}

/// The queues one worker owns: `rx[p]` and `tx[p]` are its queues of port `p`.
pub struct WorkerQueues {
    pub worker: usize,
    pub rx: Vec<SwRx>,
    pub tx: Vec<SwTx>,
    /// The pool this worker's rx queues allocate from.
    pub pool: Pool,
}

impl WorkerQueues {
    /// Have all of this worker's rx queues finished?
    pub fn rx_done(&self) -> bool {
        self.rx.iter().all(|q| q.is_done())
    }

    /// Flush every tx queue.
    pub fn flush(&mut self) {
        self.tx.iter_mut().for_each(|q| q.flush());
    }
}

/// What stays with the management core after [`Ports::split`]: port facts,
/// counters, pools and pcap writers (for their error state).
#[derive(Clone)]
pub struct PortsHandle {
    pub info: Vec<PortInfo>,
    pub counters: Vec<Arc<PortCounters>>,
    pub pools: Vec<Pool>,
    sinks: Vec<(String, Arc<PcapSink>)>,
}

impl PortsHandle {
    /// Counters of port `p`, summed over its queues.
    pub fn stats(&self, p: u16) -> PortStats {
        self.counters[p as usize].total()
    }

    /// Buffers in use over all pools (zero when nothing leaked).
    pub fn bufs_in_use(&self) -> usize {
        self.pools.iter().map(|p| p.in_use()).sum()
    }

    /// The first pcap write error of any port, as `dev: path: error`.
    pub fn write_error(&self) -> Option<String> {
        self.sinks
            .iter()
            .find_map(|(dev, s)| s.error().map(|e| format!("{dev}: {e}")))
    }
}

/// All software ports, built and ready to split among workers.
pub struct Ports {
    handle: PortsHandle,
    workers: Vec<WorkerQueues>,
}

impl Ports {
    /// Parse and build ports from `--vdev` strings.
    pub fn from_strs<S: AsRef<str>>(vdevs: &[S], cfg: &PortsConfig) -> Result<Ports, PortError> {
        let specs = vdevs
            .iter()
            .map(|s| parse_vdev(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ports::build(&specs, cfg)
    }

    /// Build ports from parsed device strings, numbered in order.
    pub fn build(specs: &[VdevSpec], cfg: &PortsConfig) -> Result<Ports, PortError> {
        let nq = cfg.nb_queues;
        if nq == 0 {
            return Err(PortError::NoQueues);
        }
        if specs.len() > u16::MAX as usize {
            return Err(PortError::TooMany {
                max: u16::MAX as usize,
            });
        }
        let room = cfg.buf_size.saturating_sub(cfg.headroom);
        let pools: Vec<Pool> = (0..nq)
            .map(|_| Pool::new(cfg.pool_size, cfg.buf_size, cfg.headroom))
            .collect();
        let mut workers: Vec<WorkerQueues> = (0..nq)
            .map(|w| WorkerQueues {
                worker: w,
                rx: Vec::with_capacity(specs.len()),
                tx: Vec::with_capacity(specs.len()),
                pool: pools[w].clone(),
            })
            .collect();
        let mut info = Vec::with_capacity(specs.len());
        let mut counters = Vec::with_capacity(specs.len());
        let mut sinks = Vec::new();

        for (idx, spec) in specs.iter().enumerate() {
            let id = idx as u16;
            let dev = spec.name.clone();
            let mac = sw_port_mac(id);
            let ctr = Arc::new(PortCounters::new(nq));
            let kind = match &spec.kind {
                VdevKind::Pcap(p) => {
                    let data = match &p.rx_pcap {
                        Some(path) => {
                            let d = PcapData::read_file(path).map_err(|err| PortError::Pcap {
                                dev: dev.clone(),
                                path: path.display().to_string(),
                                err,
                            })?;
                            if d.linktype != LINKTYPE_ETHERNET {
                                return Err(PortError::Invalid {
                                    dev,
                                    reason: format!(
                                        "{}: link type {} is not Ethernet (1)",
                                        path.display(),
                                        d.linktype
                                    ),
                                });
                            }
                            if d.max_len() > room {
                                return Err(PortError::Invalid {
                                    dev,
                                    reason: format!(
                                        "{}: a {}-byte packet exceeds the {room}-byte buffers",
                                        path.display(),
                                        d.max_len()
                                    ),
                                });
                            }
                            Arc::new(d)
                        }
                        None => Arc::new(
                            PcapData::parse(super::pcap::file_header().to_vec()).map_err(
                                |err| PortError::Pcap {
                                    dev: dev.clone(),
                                    path: String::new(),
                                    err,
                                },
                            )?,
                        ),
                    };
                    let sink = match &p.tx_pcap {
                        Some(path) => {
                            let s = PcapSink::create(path).map_err(|err| PortError::Pcap {
                                dev: dev.clone(),
                                path: path.display().to_string(),
                                err,
                            })?;
                            sinks.push((dev.clone(), s.clone()));
                            Some(s)
                        }
                        None => None,
                    };
                    for (w, wq) in workers.iter_mut().enumerate() {
                        wq.rx.push(SwRx::Pcap(PcapRx::new(
                            id,
                            data.clone(),
                            w,
                            nq,
                            p.infinite_rx,
                            pools[w].clone(),
                            ctr.queue(w),
                        )));
                        wq.tx
                            .push(SwTx::Pcap(PcapTx::new(sink.clone(), ctr.queue(w))));
                    }
                    PortKind::Pcap
                }
                VdevKind::Null(n) => {
                    if !n.no_rx && n.size > room {
                        return Err(PortError::Invalid {
                            dev,
                            reason: format!("size={} exceeds the {room}-byte buffers", n.size),
                        });
                    }
                    for (w, wq) in workers.iter_mut().enumerate() {
                        wq.rx.push(SwRx::Null(NullRx::new(
                            id,
                            n.size,
                            n.no_rx,
                            pools[w].clone(),
                            ctr.queue(w),
                        )));
                        wq.tx.push(SwTx::Null(NullTx::new(ctr.queue(w))));
                    }
                    PortKind::Null
                }
                VdevKind::Ring(r) => {
                    let end = match &r.name {
                        Some(name) => {
                            RingEnd::attach(name, r.size).map_err(|err| PortError::Ring {
                                dev: dev.clone(),
                                err,
                            })?
                        }
                        None => RingEnd::loopback(r.size),
                    };
                    for (w, wq) in workers.iter_mut().enumerate() {
                        wq.rx.push(SwRx::Ring(RingRx::new(id, &end, ctr.queue(w))));
                        wq.tx.push(SwTx::Ring(RingTx::new(&end, ctr.queue(w))));
                    }
                    PortKind::Ring
                }
                VdevKind::Gen(g) => {
                    for (w, wq) in workers.iter_mut().enumerate() {
                        let tf = cfg.gen_transform.as_ref().and_then(|f| f(id, w, g));
                        if let (Some(spi), None) = (g.esp, &tf) {
                            return Err(PortError::Invalid {
                                dev,
                                reason: format!(
                                    "esp={spi:#x}: no ESP transform was supplied to the ports"
                                ),
                            });
                        }
                        let q = GenRx::new(id, mac, g, w, nq, pools[w].clone(), ctr.queue(w), tf)
                            .map_err(|err| PortError::Gen {
                            dev: dev.clone(),
                            err,
                        })?;
                        wq.rx.push(SwRx::Gen(Box::new(q)));
                        wq.tx.push(SwTx::Null(NullTx::new(ctr.queue(w))));
                    }
                    PortKind::Gen
                }
            };
            info.push(PortInfo {
                id,
                name: dev,
                mac,
                kind,
            });
            counters.push(ctr);
        }
        Ok(Ports {
            handle: PortsHandle {
                info,
                counters,
                pools,
                sinks,
            },
            workers,
        })
    }

    pub fn info(&self) -> &[PortInfo] {
        &self.handle.info
    }

    pub fn nb_ports(&self) -> usize {
        self.handle.info.len()
    }

    pub fn handle(&self) -> &PortsHandle {
        &self.handle
    }

    /// Hand each worker its queues; the handle stays with the management core.
    pub fn split(self) -> (Vec<WorkerQueues>, PortsHandle) {
        (self.workers, self.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::PacketBuf;
    use crate::port::pcap::PcapWriter;
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xfgate-reg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    fn small(nq: usize) -> PortsConfig {
        PortsConfig {
            nb_queues: nq,
            pool_size: 256,
            ..PortsConfig::default()
        }
    }

    /// A worker loop in miniature: rx ports 0..3 into the ring (port 3),
    /// then the ring into the pcap writer (port 0); free what is refused.
    /// Returns (packets from the sources, refused by the ring).
    fn forward(wq: &mut WorkerQueues) -> (usize, usize) {
        let mut burst = Burst::new();
        let (mut rx, mut refused) = (0, 0);
        for p in 0..3 {
            rx += wq.rx[p].rx_burst(&mut burst, 32);
            wq.tx[3].tx_burst(&mut burst);
            refused += burst.len();
            burst.clear();
        }
        let n = wq.rx[3].rx_burst(&mut burst, 32);
        assert!(burst.iter().all(|b| b.port() == 3));
        assert_eq!(wq.tx[0].tx_burst(&mut burst), n);
        (rx, refused)
    }

    #[test]
    fn builds_in_order_and_no_leak_through_ports() {
        let inp = tmp("in.pcap");
        let outp = tmp("out.pcap");
        let mut w = PcapWriter::create(&inp).unwrap();
        let pkts: Vec<Vec<u8>> = (0..101u8).map(|i| vec![i; 60 + i as usize]).collect();
        for p in &pkts {
            w.write_now(p).unwrap();
        }
        w.finish().unwrap();
        let vdevs = [
            format!(
                "net_pcap0,rx_pcap={},tx_pcap={}",
                inp.display(),
                outp.display()
            ),
            "gen0,flows=50,count=300".to_string(),
            "net_null0,no-rx=1".to_string(),
            "net_ring0,size=16".to_string(),
        ];
        let ports = Ports::from_strs(&vdevs, &small(2)).unwrap();
        let kinds: Vec<(u16, &str, PortKind)> = ports
            .info()
            .iter()
            .map(|i| (i.id, i.name.as_str(), i.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, "net_pcap0", PortKind::Pcap),
                (1, "gen0", PortKind::Gen),
                (2, "net_null0", PortKind::Null),
                (3, "net_ring0", PortKind::Ring),
            ]
        );
        assert_eq!(ports.info()[2].mac, [0x02, 0x78, 0x66, 0x67, 0, 2]);
        let (mut workers, h) = ports.split();
        assert_eq!(workers.len(), 2);

        // Everything through the loopback ring (16 slots: some refused)
        // into the pcap writer.
        let (mut rx, mut refused) = (0, 0);
        loop {
            for wq in workers.iter_mut() {
                let (a, b) = forward(wq);
                rx += a;
                refused += b;
            }
            let sources_done = workers.iter().all(|w| (0..3).all(|p| w.rx[p].is_done()));
            if sources_done && h.stats(3).rx_packets == h.stats(3).tx_packets {
                break;
            }
        }
        assert_eq!(rx, 401);
        assert!(refused > 0, "a 16-slot ring must refuse some");
        let s = |p| h.stats(p);
        assert_eq!(s(0).rx_packets, 101);
        assert_eq!(s(1).rx_packets, 300);
        assert_eq!(s(1).rx_bytes, 300 * 60);
        assert_eq!(s(3).tx_full as usize, refused);
        assert_eq!(s(3).tx_packets as usize, 401 - refused);
        assert_eq!(s(3).rx_packets, s(3).tx_packets);
        assert_eq!(s(0).tx_packets, s(3).rx_packets);
        assert_eq!(h.bufs_in_use(), 0, "every buffer back in its pool");
        assert!(workers[0].rx[2].is_done() && !workers[0].rx[3].is_done());
        drop(workers); // flushes the pcap writers
        assert_eq!(h.write_error(), None);
        let back = PcapData::read_file(&outp).unwrap();
        assert_eq!(back.len() as u64, s(0).tx_packets);
        let _ = std::fs::remove_file(&inp);
        let _ = std::fs::remove_file(&outp);
    }

    #[test]
    fn two_gateways_on_one_ring() {
        let a = Ports::from_strs(
            &["gen0,flows=8,count=64", "net_ring0,name=reg-test-wire"],
            &small(1),
        )
        .unwrap();
        let b = Ports::from_strs(
            &["net_ring7,name=reg-test-wire", "net_null0,no-rx=1"],
            &small(1),
        )
        .unwrap();
        let (mut wa, ha) = a.split();
        let (mut wb, hb) = b.split();
        let mut burst = Burst::new();
        while !wa[0].rx[0].is_done() {
            wa[0].rx[0].rx_burst(&mut burst, 32);
            let n = burst.len();
            assert_eq!(wa[0].tx[1].tx_burst(&mut burst), n);
        }
        drop(wa); // A is finished: B's ring rx ends once drained
        let mut got = 0;
        while !wb[0].rx[0].is_done() {
            got += wb[0].rx[0].rx_burst(&mut burst, 32);
            assert!(burst.iter().all(|p| p.port() == 0));
            wb[0].tx[1].tx_burst(&mut burst);
        }
        assert_eq!(got, 64);
        assert_eq!(hb.stats(1).tx_packets, 64);
        assert_eq!(ha.bufs_in_use() + hb.bufs_in_use(), 0);
    }

    #[test]
    fn build_errors_name_the_device() {
        let cfg = small(1);
        let e = Ports::from_strs(
            &["net_null0", "net_pcap1,rx_pcap=/nonexistent/x.pcap"],
            &cfg,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with("net_pcap1: /nonexistent/x.pcap:"), "{e}");
        let e = Ports::from_strs(&["gen0,esp=0x1000"], &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("gen0: esp=0x1000"), "{e}");
        let e = Ports::from_strs(&["gen3,src=10.0.0.1/32,dst=10.0.0.2/32,flows=100000"], &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("gen3: flows=100000"), "{e}");
        let e = Ports::from_strs(&["net_null0,size=5000"], &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("size=5000"), "{e}");
        let e = Ports::from_strs(&["net_ring0,bad"], &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'bad'"), "{e}");
        let e = Ports::from_strs(&["net_null0"], &small(0)).err().unwrap();
        assert!(matches!(e, PortError::NoQueues));
    }

    #[test]
    fn handles_cross_threads() {
        fn send<T: Send>() {}
        fn share<T: Send + Sync>() {}
        send::<WorkerQueues>();
        share::<PortsHandle>();
        // A worker on its own thread, the management core reading counters.
        let (w, h) = Ports::from_strs(&["gen0,count=1000", "net_null0,no-rx=1"], &small(2))
            .unwrap()
            .split();
        let threads: Vec<_> = w
            .into_iter()
            .map(|mut wq| {
                std::thread::spawn(move || {
                    let mut burst = Burst::new();
                    while !wq.rx[0].is_done() {
                        wq.rx[0].rx_burst(&mut burst, 32);
                        wq.tx[1].tx_burst(&mut burst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(h.stats(1).tx_packets, 1000);
        assert_eq!(h.bufs_in_use(), 0);
    }

    #[test]
    fn esp_hook_is_wired_per_queue() {
        let factory: GenTransformFactory = Arc::new(|port, queue, spec| {
            let spi = spec.esp?;
            let tag = [port as u8, queue as u8];
            Some(Box::new(move |b: &mut crate::buf::HeapBuf| {
                let d = b.prepend(6).unwrap();
                d[..4].copy_from_slice(&spi.to_be_bytes());
                d[4..6].copy_from_slice(&tag);
                true
            }) as GenTransform)
        });
        let cfg = PortsConfig {
            gen_transform: Some(factory),
            ..small(2)
        };
        let (mut w, h) = Ports::from_strs(&["net_null0,no-rx=1", "gen1,esp=4096,count=4"], &cfg)
            .unwrap()
            .split();
        let mut burst = Burst::new();
        for (q, wq) in w.iter_mut().enumerate() {
            assert_eq!(wq.rx[1].rx_burst(&mut burst, 32), 2);
            for p in burst.iter() {
                assert_eq!(&p.data()[..6], &[0, 0, 0x10, 0, 1, q as u8]);
            }
            burst.clear();
        }
        assert_eq!(h.bufs_in_use(), 0);
    }
}
