//! Standard pcap files (the libpcap format tcpdump and tshark read) and the
//! `net_pcap` port built on them.
//!
//! Read: microsecond (`a1b2c3d4`) and nanosecond (`a1b23c4d`) magic, either
//! byte order. Write: microsecond magic, host byte order, version 2.4,
//! `LINKTYPE_ETHERNET`.
//!
//! rx reads the whole file into memory when the port is built, so replay
//! costs one copy per packet and no I/O. With several rx queues, queue `i` of
//! `n` replays packets `i, i+n, i+2n, ...`; with `infinite_rx=1` each queue
//! loops over its share forever, otherwise it reports [`RxQueue::is_done`]
//! after its last packet.
//!
//! tx: every queue encodes records into its own buffer, allocated at start-up,
//! and writes it to the shared file (one short lock per 256 KiB, never per
//! packet) when it fills, on [`TxQueue::flush`] and on drop. Records of
//! different queues interleave in whole-record chunks.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Burst, Pool, PooledBuf, QueueStats, RxQueue, TxQueue};
use crate::buf::PacketBuf;

/// Microsecond-resolution magic.
pub const MAGIC_USEC: u32 = 0xa1b2_c3d4;
/// Nanosecond-resolution magic.
pub const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written in file headers.
pub const SNAPLEN: u32 = 65535;
/// Largest record accepted on read (libpcap's own ceiling for most links).
pub const MAX_RECORD: u32 = 262_144;

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
const TX_BUF: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a pcap file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("file header truncated ({0} bytes)")]
    ShortHeader(usize),
    #[error("record at byte {offset} truncated")]
    Truncated { offset: usize },
    #[error("record at byte {offset} claims {len} bytes (limit {MAX_RECORD})")]
    RecordTooLong { offset: usize, len: u32 },
}

/// One packet of a pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    pub ts_sec: u32,
    /// Microseconds or nanoseconds, as the file's magic says.
    pub ts_frac: u32,
    pub orig_len: u32,
    off: usize,
    len: usize,
}

/// A pcap file held in memory.
#[derive(Clone, Debug)]
pub struct PcapData {
    pub linktype: u32,
    pub nanos: bool,
    pub big_endian: bool,
    pub snaplen: u32,
    bytes: Vec<u8>,
    records: Vec<PcapRecord>,
}

impl PcapData {
    /// Read and parse a whole file.
    pub fn read_file(path: &Path) -> Result<PcapData, PcapError> {
        PcapData::parse(std::fs::read(path)?)
    }

    /// Parse a whole file's bytes.
    pub fn parse(bytes: Vec<u8>) -> Result<PcapData, PcapError> {
        if bytes.len() < FILE_HEADER_LEN {
            return Err(PcapError::ShortHeader(bytes.len()));
        }
        let raw = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let (big_endian, nanos) = match raw {
            MAGIC_USEC => (false, false),
            MAGIC_NSEC => (false, true),
            m if m.swap_bytes() == MAGIC_USEC => (true, false),
            m if m.swap_bytes() == MAGIC_NSEC => (true, true),
            m => return Err(PcapError::BadMagic(m)),
        };
        let rd = |at: usize| {
            let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let snaplen = rd(16);
        let linktype = rd(20) & 0x0fff_ffff; // upper bits: FCS length flags
        let mut records = Vec::new();
        let mut off = FILE_HEADER_LEN;
        while off < bytes.len() {
            if off + RECORD_HEADER_LEN > bytes.len() {
                return Err(PcapError::Truncated { offset: off });
            }
            let incl = rd(off + 8);
            if incl > MAX_RECORD {
                return Err(PcapError::RecordTooLong {
                    offset: off,
                    len: incl,
                });
            }
            let data = off + RECORD_HEADER_LEN;
            let end = data + incl as usize;
            if end > bytes.len() {
                return Err(PcapError::Truncated { offset: off });
            }
            records.push(PcapRecord {
                ts_sec: rd(off),
                ts_frac: rd(off + 4),
                orig_len: rd(off + 12),
                off: data,
                len: incl as usize,
            });
            off = end;
        }
        Ok(PcapData {
            linktype,
            nanos,
            big_endian,
            snaplen,
            bytes,
            records,
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[PcapRecord] {
        &self.records
    }

    /// The bytes of packet `i`.
    pub fn packet(&self, i: usize) -> &[u8] {
        let r = &self.records[i];
        &self.bytes[r.off..r.off + r.len]
    }

    /// Every packet's bytes, in file order.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.records
            .iter()
            .map(|r| &self.bytes[r.off..r.off + r.len])
    }

    /// The longest packet.
    pub fn max_len(&self) -> usize {
        self.records.iter().map(|r| r.len).max().unwrap_or(0)
    }
}

/// The 24-byte file header this module writes.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_USEC.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone = 0, sigfigs = 0
    h[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
    h
}

/// Append one record (header and packet, truncated to [`SNAPLEN`]) to `out`.
pub fn encode_record(out: &mut Vec<u8>, ts_sec: u32, ts_usec: u32, pkt: &[u8]) {
    let incl = pkt.len().min(SNAPLEN as usize);
    out.extend_from_slice(&ts_sec.to_ne_bytes());
    out.extend_from_slice(&ts_usec.to_ne_bytes());
    out.extend_from_slice(&(incl as u32).to_ne_bytes());
    out.extend_from_slice(&(pkt.len() as u32).to_ne_bytes());
    out.extend_from_slice(&pkt[..incl]);
}

fn now_usec() -> (u32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.subsec_micros())
}

/// A simple buffered pcap writer, for tools and tests.
pub struct PcapWriter<W: Write> {
    w: io::BufWriter<W>,
    rec: Vec<u8>,
}

impl PcapWriter<File> {
    pub fn create(path: &Path) -> Result<PcapWriter<File>, PcapError> {
        PcapWriter::new(File::create(path)?)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header to `w`.
    pub fn new(w: W) -> Result<PcapWriter<W>, PcapError> {
        let mut w = io::BufWriter::new(w);
        w.write_all(&file_header())?;
        Ok(PcapWriter {
            w,
            rec: Vec::with_capacity(2048),
        })
    }

    /// Write one packet with the given timestamp.
    pub fn write(&mut self, ts_sec: u32, ts_usec: u32, pkt: &[u8]) -> Result<(), PcapError> {
        self.rec.clear();
        encode_record(&mut self.rec, ts_sec, ts_usec, pkt);
        self.w.write_all(&self.rec)?;
        Ok(())
    }

    /// Write one packet stamped now.
    pub fn write_now(&mut self, pkt: &[u8]) -> Result<(), PcapError> {
        let (s, u) = now_usec();
        self.write(s, u, pkt)
    }

    /// Flush and give back the inner writer.
    pub fn finish(self) -> Result<W, PcapError> {
        self.w
            .into_inner()
            .map_err(|e| PcapError::Io(e.into_error()))
    }
}

// ---------------------------------------------------------------------------
// The net_pcap port

/// A pcap file being written by one or more tx queues.
#[derive(Debug)]
pub struct PcapSink {
    path: PathBuf,
    file: Mutex<File>,
    /// The first write error; later writes are skipped.
    error: Mutex<Option<String>>,
}

impl PcapSink {
    /// Create (truncate) the file and write its header.
    pub fn create(path: &Path) -> Result<Arc<PcapSink>, PcapError> {
        let mut f = File::create(path)?;
        f.write_all(&file_header())?;
        Ok(Arc::new(PcapSink {
            path: path.to_path_buf(),
            file: Mutex::new(f),
            error: Mutex::new(None),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    fn write(&self, bytes: &[u8]) {
        let Ok(mut err) = self.error.lock() else {
            return;
        };
        if err.is_some() {
            return;
        }
        let r = match self.file.lock() {
            Ok(mut f) => f.write_all(bytes),
            Err(_) => Err(io::Error::other("pcap writer lock poisoned")),
        };
        if let Err(e) = r {
            *err = Some(format!("{}: {e}", self.path.display()));
        }
    }
}

/// rx queue of a `net_pcap` port.
pub struct PcapRx {
    port: u16,
    data: Arc<PcapData>,
    start: usize,
    step: usize,
    next: usize,
    infinite: bool,
    pool: Pool,
    stats: Arc<QueueStats>,
}

impl PcapRx {
    /// Queue `queue` of `nb_queues` replays packets `queue, queue+nb_queues, ...`.
    pub fn new(
        port: u16,
        data: Arc<PcapData>,
        queue: usize,
        nb_queues: usize,
        infinite: bool,
        pool: Pool,
        stats: Arc<QueueStats>,
    ) -> PcapRx {
        PcapRx {
            port,
            data,
            start: queue,
            step: nb_queues.max(1),
            next: queue,
            infinite,
            pool,
            stats,
        }
    }
}

impl RxQueue<PooledBuf> for PcapRx {
    fn rx_burst(&mut self, out: &mut Burst<PooledBuf>, max: usize) -> usize {
        let n = self.data.len();
        let want = max.min(out.room());
        let (mut got, mut bytes) = (0, 0u64);
        while got < want {
            if self.next >= n {
                if !self.infinite || self.start >= n {
                    break;
                }
                self.next = self.start;
            }
            let pkt = self.data.packet(self.next);
            let Some(mut b) = self.pool.alloc_from(pkt) else {
                if pkt.len() > self.pool.buf_size() - self.pool.headroom() {
                    // Checked when the port is built; skip rather than stall.
                    self.stats.add_imissed(1);
                    self.next += self.step;
                    continue;
                }
                self.stats.add_rx_nombuf(1);
                break;
            };
            b.set_port(self.port);
            bytes += pkt.len() as u64;
            // Cannot fail: `got < want <= room`.
            let _ = out.push(b);
            got += 1;
            self.next += self.step;
        }
        self.stats.add_rx(got as u64, bytes);
        got
    }

    fn is_done(&self) -> bool {
        !self.infinite && self.next >= self.data.len()
            || self.infinite && self.start >= self.data.len()
    }
}

/// tx queue of a `net_pcap` port.
pub struct PcapTx {
    /// `None`: no `tx_pcap`, packets are counted and freed.
    sink: Option<Arc<PcapSink>>,
    buf: Vec<u8>,
    stats: Arc<QueueStats>,
}

impl PcapTx {
    pub fn new(sink: Option<Arc<PcapSink>>, stats: Arc<QueueStats>) -> PcapTx {
        let cap = if sink.is_some() {
            TX_BUF + RECORD_HEADER_LEN + SNAPLEN as usize
        } else {
            0
        };
        PcapTx {
            sink,
            buf: Vec::with_capacity(cap),
            stats,
        }
    }
}

impl TxQueue<PooledBuf> for PcapTx {
    fn tx_burst(&mut self, pkts: &mut Burst<PooledBuf>) -> usize {
        let n = pkts.len();
        let mut bytes = 0u64;
        if let Some(sink) = &self.sink {
            let (s, u) = now_usec();
            for p in pkts.drain() {
                bytes += p.len() as u64;
                if self.buf.len() + RECORD_HEADER_LEN + p.len() > self.buf.capacity() {
                    sink.write(&self.buf);
                    self.buf.clear();
                }
                encode_record(&mut self.buf, s, u, p.data());
            }
            if self.buf.len() >= TX_BUF {
                sink.write(&self.buf);
                self.buf.clear();
            }
        } else {
            bytes = pkts.iter().map(|p| p.len() as u64).sum();
            pkts.clear();
        }
        self.stats.add_tx(n as u64, bytes);
        n
    }

    fn flush(&mut self) {
        if let Some(sink) = &self.sink {
            if !self.buf.is_empty() {
                sink.write(&self.buf);
                self.buf.clear();
            }
        }
    }
}

impl Drop for PcapTx {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xfgate-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    fn sample_packets() -> Vec<Vec<u8>> {
        (0..50u32)
            .map(|i| {
                (0..(14 + i * 29) as usize)
                    .map(|j| (j as u32 ^ i) as u8)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn writer_reader_round_trip() {
        let pkts = sample_packets();
        let path = tmp("rt.pcap");
        let mut w = PcapWriter::create(&path).unwrap();
        for (i, p) in pkts.iter().enumerate() {
            w.write(1_700_000_000 + i as u32, i as u32 * 7, p).unwrap();
        }
        w.finish().unwrap();
        let d = PcapData::read_file(&path).unwrap();
        assert_eq!(d.linktype, LINKTYPE_ETHERNET);
        assert!(!d.nanos);
        assert_eq!(d.len(), pkts.len());
        for (i, (got, want)) in d.packets().zip(&pkts).enumerate() {
            assert_eq!(got, &want[..]);
            assert_eq!(d.records()[i].ts_sec, 1_700_000_000 + i as u32);
            assert_eq!(d.records()[i].ts_frac, i as u32 * 7);
            assert_eq!(d.records()[i].orig_len as usize, want.len());
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// A file as a big-endian nanosecond writer would make it, byte by byte.
    #[test]
    fn reads_big_endian_nanosecond() {
        let mut f = vec![
            0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0,
            1,
        ];
        f.extend_from_slice(&[0, 0, 0, 5, 0x3b, 0x9a, 0xc9, 0xff, 0, 0, 0, 3, 0, 0, 0, 60]);
        f.extend_from_slice(&[0xde, 0xad, 0xbe]);
        let d = PcapData::parse(f).unwrap();
        assert!(d.big_endian && d.nanos);
        assert_eq!(d.linktype, 1);
        assert_eq!(d.snaplen, 65535);
        assert_eq!(d.len(), 1);
        assert_eq!(d.packet(0), &[0xde, 0xad, 0xbe]);
        assert_eq!(d.records()[0].ts_sec, 5);
        assert_eq!(d.records()[0].ts_frac, 999_999_999);
        assert_eq!(d.records()[0].orig_len, 60);
    }

    #[test]
    fn reads_little_endian_microsecond_bytes() {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ];
        f.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0xab, 0xcd]);
        let d = PcapData::parse(f).unwrap();
        assert!(!d.big_endian && !d.nanos);
        assert_eq!(d.packet(0), &[0xab, 0xcd]);
        // Our own header is exactly these 24 bytes on a little-endian host.
        if cfg!(target_endian = "little") {
            assert_eq!(&file_header()[..], &d.bytes[..24]);
        }
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(
            PcapData::parse(vec![0; 10]),
            Err(PcapError::ShortHeader(10))
        ));
        let mut f = file_header().to_vec();
        f[0] = 0;
        assert!(matches!(PcapData::parse(f), Err(PcapError::BadMagic(_))));
        let mut f = file_header().to_vec();
        f.extend_from_slice(&[0; 10]);
        assert!(matches!(
            PcapData::parse(f),
            Err(PcapError::Truncated { offset: 24 })
        ));
        let mut f = file_header().to_vec();
        encode_record(&mut f, 0, 0, &[1, 2, 3, 4]);
        f.pop();
        assert!(matches!(
            PcapData::parse(f),
            Err(PcapError::Truncated { offset: 24 })
        ));
        let mut f = file_header().to_vec();
        f.extend_from_slice(&0u32.to_ne_bytes());
        f.extend_from_slice(&0u32.to_ne_bytes());
        f.extend_from_slice(&(MAX_RECORD + 1).to_ne_bytes());
        f.extend_from_slice(&0u32.to_ne_bytes());
        assert!(matches!(
            PcapData::parse(f),
            Err(PcapError::RecordTooLong { .. })
        ));
    }

    /// Port-level round trip: rx from a file, tx to another, bytes identical.
    #[test]
    fn port_rx_tx_round_trip() {
        let pkts = sample_packets();
        let inp = tmp("port-in.pcap");
        let outp = tmp("port-out.pcap");
        let mut w = PcapWriter::create(&inp).unwrap();
        for p in &pkts {
            w.write_now(p).unwrap();
        }
        w.finish().unwrap();

        let pool = Pool::with_defaults(64);
        let data = Arc::new(PcapData::read_file(&inp).unwrap());
        let stats = Arc::new(QueueStats::default());
        let mut rx = PcapRx::new(3, data, 0, 1, false, pool.clone(), stats.clone());
        let sink = PcapSink::create(&outp).unwrap();
        let mut tx = PcapTx::new(Some(sink.clone()), stats.clone());
        let mut burst = Burst::new();
        let mut total = 0;
        while !rx.is_done() {
            let n = rx.rx_burst(&mut burst, 32);
            assert!(burst.iter().all(|b| b.port() == 3));
            total += n;
            assert_eq!(tx.tx_burst(&mut burst), n);
            assert!(burst.is_empty());
        }
        assert_eq!(total, pkts.len());
        assert_eq!(pool.in_use(), 0);
        drop(tx); // flushes
        assert_eq!(sink.error(), None);
        let back = PcapData::read_file(&outp).unwrap();
        assert_eq!(
            back.packets().collect::<Vec<_>>(),
            pkts.iter().map(|p| &p[..]).collect::<Vec<_>>()
        );
        let s = stats.snapshot();
        let bytes: u64 = pkts.iter().map(|p| p.len() as u64).sum();
        assert_eq!((s.rx_packets, s.tx_packets), (50, 50));
        assert_eq!((s.rx_bytes, s.tx_bytes), (bytes, bytes));

        // Two queues split the file; infinite_rx loops over each share.
        let data = Arc::new(PcapData::read_file(&inp).unwrap());
        let st = Arc::new(QueueStats::default());
        let mut q1 = PcapRx::new(0, data.clone(), 1, 2, true, pool.clone(), st.clone());
        let mut seen = Vec::new();
        for _ in 0..2 {
            q1.rx_burst(&mut burst, 32);
            seen.extend(burst.drain().map(|b| b.data().to_vec()));
        }
        // Queue 1 of 2 owns packets 1, 3, ..., 49 and loops over them.
        let want: Vec<Vec<u8>> = (0..64).map(|k| pkts[1 + 2 * (k % 25)].clone()).collect();
        assert_eq!(seen, want);
        assert!(!q1.is_done());
        assert_eq!(pool.in_use(), 0);
        let _ = std::fs::remove_file(&inp);
        let _ = std::fs::remove_file(&outp);
    }

    /// tcpdump, when installed, reads what we write.
    #[test]
    fn tcpdump_reads_our_file() {
        let Ok(out) = std::process::Command::new("tcpdump")
            .arg("--version")
            .output()
        else {
            eprintln!("tcpdump not installed; skipped");
            return;
        };
        if !out.status.success() {
            return;
        }
        let path = tmp("tcpdump.pcap");
        let mut w = PcapWriter::create(&path).unwrap();
        // Ethernet + IPv4 + UDP 10.0.0.1:1000 -> 10.0.0.2:2000, checksum valid.
        let frame: [u8; 42] = [
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 28, 0, 1, 0x40, 0,
            64, 17, 0x26, 0xce, 10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0,
        ];
        for _ in 0..3 {
            w.write_now(&frame).unwrap();
        }
        w.finish().unwrap();
        let out = std::process::Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.contains("10.0.0.1.1000 > 10.0.0.2.2000: UDP"),
            "{text}"
        );
        let _ = std::fs::remove_file(&path);
    }
}
