//! DPDK `--vdev` device strings for the software ports.
//!
//! The spellings are DPDK's, so one command line works with and without
//! DPDK: `NAME[,key=value]...` where `NAME` is a driver name followed by any
//! instance suffix (`net_pcap0`, `net_pcap_in`), as DPDK matches vdev names by
//! driver prefix.
//!
//! | driver | keys |
//! |---|---|
//! | `net_pcap` | `rx_pcap=FILE`, `tx_pcap=FILE`, `infinite_rx=0\|1` (`rx_iface`, `tx_iface`, `iface`, `rx_iface_in`, `phy_mac` need DPDK and are refused) |
//! | `net_null` | `size=N` (packet length, default 64), `no-rx=0\|1`, `copy=0\|1` (accepted, no effect) |
//! | `net_ring` | `name=R`, `size=N` (ring slots, default 1024) |
//! | `gen` | see [`GenSpec`] |
//!
//! `net_ring` without `name` is a loopback, as DPDK's: what the port sends
//! comes back on its own rx. Two `net_ring` ports with the same `name=R` are
//! cross-connected: the first's tx is the second's rx and the other way
//! round. The name is process-wide, so two gateways in one process connect by
//! naming the same ring. DPDK's `nodeaction=` is refused with a pointer to
//! `name=`.
//!
//! Parsing only checks syntax and ranges; files are opened when the ports are
//! built ([`super::registry`]).

use std::path::PathBuf;

use crate::ip::{Family, Prefix};

/// Errors from parsing a device string; each names the device and the
/// offending key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VdevError {
    #[error("empty device string")]
    Empty,
    #[error("unknown device '{name}' (known without DPDK: net_pcapN, net_nullN, net_ringN, genN)")]
    UnknownDevice { name: String },
    #[error("{dev}: argument '{arg}' is not key=value")]
    NotKeyValue { dev: String, arg: String },
    #[error("{dev}: unknown key '{key}'")]
    UnknownKey { dev: String, key: String },
    #[error("{dev}: key '{key}' given twice")]
    DuplicateKey { dev: String, key: String },
    #[error("{dev}: bad value '{value}' for '{key}': {reason}")]
    BadValue {
        dev: String,
        key: String,
        value: String,
        reason: String,
    },
    #[error("{dev}: '{key}' is not supported without DPDK ({reason})")]
    Unsupported {
        dev: String,
        key: String,
        reason: String,
    },
    #[error("{dev}: {reason}")]
    Invalid { dev: String, reason: String },
}

/// A parsed device string.
#[derive(Clone, Debug, PartialEq)]
pub struct VdevSpec {
    /// Device name as given (`net_pcap0`).
    pub name: String,
    pub kind: VdevKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VdevKind {
    Pcap(PcapSpec),
    Null(NullSpec),
    Ring(RingSpec),
    Gen(GenSpec),
}

/// `net_pcap`: read packets from a file, write packets to a file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PcapSpec {
    /// No `rx_pcap`: the port receives nothing (and is done at once).
    pub rx_pcap: Option<PathBuf>,
    /// No `tx_pcap`: transmitted packets are counted and freed.
    pub tx_pcap: Option<PathBuf>,
    /// Replay the rx file forever.
    pub infinite_rx: bool,
}

/// `net_null`: a sink, and unless `no_rx` a source of zero-filled packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NullSpec {
    /// Length of received packets (DPDK default 64).
    pub size: usize,
    pub no_rx: bool,
}

impl Default for NullSpec {
    fn default() -> Self {
        NullSpec {
            size: 64,
            no_rx: false,
        }
    }
}

/// `net_ring`: an in-process ring; `name` pairs two ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingSpec {
    pub name: Option<String>,
    /// Slots per direction.
    pub size: usize,
}

impl Default for RingSpec {
    fn default() -> Self {
        RingSpec {
            name: None,
            size: 1024,
        }
    }
}

/// Generated frame sizes, Ethernet frame bytes including the 4-byte FCS as
/// RFC 2544 and IMIX quote them (a 64-byte frame is a 60-byte buffer: the NIC
/// adds the FCS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenSize {
    Fixed(usize),
    /// Simple IMIX: 64, 594 and 1518 byte frames in the ratio 7:4:1.
    Imix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenFamily {
    V4,
    V6,
    /// Even flows IPv4, odd flows IPv6.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenProto {
    Udp,
    Tcp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GenDist {
    Uniform,
    /// P(rank r) proportional to 1 / r^s, r = 1..flows.
    Zipf {
        s: f64,
    },
}

/// What a generated frame's payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenPayload {
    /// Zeros, written into every frame: the output is deterministic.
    Zero,
    /// Whatever the buffer holds (zeros when new, else its previous user's
    /// bytes): only the headers are written, as a NIC's DMA costs the CPU
    /// nothing per payload byte.
    Keep,
}

/// `gen`: the built-in traffic generator.
///
/// `genN,flows=N,size=64|imix|LEN,rate=PPS,new_flow_pct=P,family=ipv4|ipv6|mixed,
/// proto=udp|tcp,dist=uniform|zipf,zipf_s=S,src=PREFIX,dst=PREFIX,src6=PREFIX,
/// dst6=PREFIX,dport=N,count=N,seed=N,esp=SPI,payload=zero|keep`
///
/// - `rate` accepts `k`, `M`, `G` suffixes; 0 (default) = as fast as possible.
/// - `src`/`dst` set the prefix of their own family (an IPv6 prefix given to
///   `src` sets the IPv6 source); `src6`/`dst6` set the IPv6 ones explicitly,
///   for `family=mixed`.
/// - `count` = total packets over all queues; 0 (default) = no end.
/// - `esp=SPI`: ESP traffic for the inbound SA `SPI`. The generator itself only
///   carries the SPI: whoever builds the ports must supply a transform that
///   encapsulates (see [`super::registry::PortsConfig::gen_transform`]).
/// - `payload=keep` leaves the payload bytes as the buffer holds them (see
///   [`GenPayload`]); the default `zero` writes zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    pub flows: u64,
    pub size: GenSize,
    pub rate: u64,
    pub new_flow_pct: f64,
    pub family: GenFamily,
    pub proto: GenProto,
    pub dist: GenDist,
    pub src4: Prefix,
    pub dst4: Prefix,
    pub src6: Prefix,
    pub dst6: Prefix,
    pub dport: u16,
    pub count: u64,
    pub seed: u64,
    pub esp: Option<u32>,
    pub payload: GenPayload,
}

impl Default for GenSpec {
    fn default() -> Self {
        let p = |s: &str| s.parse::<Prefix>().expect("constant prefix");
        GenSpec {
            flows: 1024,
            size: GenSize::Fixed(64),
            rate: 0,
            new_flow_pct: 0.0,
            family: GenFamily::V4,
            proto: GenProto::Udp,
            dist: GenDist::Uniform,
            src4: p("10.0.0.0/16"),
            dst4: p("10.1.0.0/16"),
            src6: p("fd00::/64"),
            dst6: p("fd01::/64"),
            dport: 9,
            count: 0,
            seed: 1,
            esp: None,
            payload: GenPayload::Zero,
        }
    }
}

/// Largest frame a generator or null port may be asked for (jumbo).
pub const MAX_FRAME: usize = 9018;
/// Most flows a generator keeps (its popularity table is built at start-up).
pub const MAX_FLOWS: u64 = 1 << 24;

/// Drivers known without DPDK, longest first so that prefixes don't shadow.
const DRIVERS: [&str; 4] = ["net_pcap", "net_null", "net_ring", "gen"];

/// Parse one `--vdev` string.
pub fn parse_vdev(s: &str) -> Result<VdevSpec, VdevError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(VdevError::Empty);
    }
    let mut parts = s.split(',');
    let name = parts.next().unwrap_or_default().trim().to_string();
    let driver = DRIVERS
        .iter()
        .find(|d| {
            name.strip_prefix(**d)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        })
        .ok_or_else(|| VdevError::UnknownDevice { name: name.clone() })?;

    let mut kv: Vec<(&str, &str)> = Vec::new();
    for arg in parts {
        let arg = arg.trim();
        if arg.is_empty() {
            continue;
        }
        let (k, v) = arg.split_once('=').ok_or_else(|| VdevError::NotKeyValue {
            dev: name.clone(),
            arg: arg.to_string(),
        })?;
        let (k, v) = (k.trim(), v.trim());
        if kv.iter().any(|(k2, _)| *k2 == k) {
            return Err(VdevError::DuplicateKey {
                dev: name.clone(),
                key: k.to_string(),
            });
        }
        kv.push((k, v));
    }
    let a = Args { dev: &name };
    let kind = match *driver {
        "net_pcap" => VdevKind::Pcap(a.pcap(&kv)?),
        "net_null" => VdevKind::Null(a.null(&kv)?),
        "net_ring" => VdevKind::Ring(a.ring(&kv)?),
        _ => VdevKind::Gen(a.gen(&kv)?),
    };
    Ok(VdevSpec { name, kind })
}

struct Args<'a> {
    dev: &'a str,
}

impl Args<'_> {
    fn bad(&self, key: &str, value: &str, reason: impl Into<String>) -> VdevError {
        VdevError::BadValue {
            dev: self.dev.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    fn unknown(&self, key: &str) -> VdevError {
        VdevError::UnknownKey {
            dev: self.dev.to_string(),
            key: key.to_string(),
        }
    }

    fn bool01(&self, k: &str, v: &str) -> Result<bool, VdevError> {
        match v {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(self.bad(k, v, "expected 0 or 1")),
        }
    }

    fn uint(&self, k: &str, v: &str, min: u64, max: u64) -> Result<u64, VdevError> {
        let n: u64 = v
            .parse()
            .map_err(|_| self.bad(k, v, "expected a decimal number"))?;
        if n < min || n > max {
            return Err(self.bad(k, v, format!("expected {min}..={max}")));
        }
        Ok(n)
    }

    fn path(&self, k: &str, v: &str) -> Result<PathBuf, VdevError> {
        if v.is_empty() {
            return Err(self.bad(k, v, "empty file name"));
        }
        Ok(PathBuf::from(v))
    }

    fn pcap(&self, kv: &[(&str, &str)]) -> Result<PcapSpec, VdevError> {
        let mut p = PcapSpec::default();
        for &(k, v) in kv {
            match k {
                "rx_pcap" => p.rx_pcap = Some(self.path(k, v)?),
                "tx_pcap" => p.tx_pcap = Some(self.path(k, v)?),
                "infinite_rx" => p.infinite_rx = self.bool01(k, v)?,
                "rx_iface" | "rx_iface_in" | "tx_iface" | "iface" | "phy_mac" => {
                    return Err(VdevError::Unsupported {
                        dev: self.dev.to_string(),
                        key: k.to_string(),
                        reason: "live interfaces need the DPDK build; use rx_pcap/tx_pcap files"
                            .into(),
                    })
                }
                _ => return Err(self.unknown(k)),
            }
        }
        if p.rx_pcap.is_none() && p.tx_pcap.is_none() {
            return Err(VdevError::Invalid {
                dev: self.dev.to_string(),
                reason: "needs rx_pcap=FILE and/or tx_pcap=FILE".into(),
            });
        }
        if p.infinite_rx && p.rx_pcap.is_none() {
            return Err(self.bad("infinite_rx", "1", "needs rx_pcap"));
        }
        Ok(p)
    }

    fn null(&self, kv: &[(&str, &str)]) -> Result<NullSpec, VdevError> {
        let mut n = NullSpec::default();
        for &(k, v) in kv {
            match k {
                "size" => n.size = self.uint(k, v, 1, MAX_FRAME as u64)? as usize,
                "no-rx" => n.no_rx = self.bool01(k, v)?,
                "copy" => {
                    self.bool01(k, v)?;
                }
                _ => return Err(self.unknown(k)),
            }
        }
        Ok(n)
    }

    fn ring(&self, kv: &[(&str, &str)]) -> Result<RingSpec, VdevError> {
        let mut r = RingSpec::default();
        for &(k, v) in kv {
            match k {
                "name" => {
                    if v.is_empty() {
                        return Err(self.bad(k, v, "empty ring name"));
                    }
                    r.name = Some(v.to_string())
                }
                "size" => r.size = self.uint(k, v, 1, 1 << 20)? as usize,
                "nodeaction" => {
                    return Err(VdevError::Unsupported {
                        dev: self.dev.to_string(),
                        key: k.to_string(),
                        reason: "pair two ports by giving both name=RING".into(),
                    })
                }
                _ => return Err(self.unknown(k)),
            }
        }
        Ok(r)
    }

    fn prefix(&self, k: &str, v: &str) -> Result<Prefix, VdevError> {
        v.parse::<Prefix>()
            .map_err(|_| self.bad(k, v, "expected ADDRESS/LEN"))
    }

    fn rate(&self, k: &str, v: &str) -> Result<u64, VdevError> {
        let (num, mult) = match v.char_indices().last() {
            Some((i, 'k' | 'K')) => (&v[..i], 1_000),
            Some((i, 'm' | 'M')) => (&v[..i], 1_000_000),
            Some((i, 'g' | 'G')) => (&v[..i], 1_000_000_000),
            _ => (v, 1),
        };
        let n: f64 = num
            .parse()
            .map_err(|_| self.bad(k, v, "expected packets per second, e.g. 1000, 2.5M"))?;
        if !n.is_finite() || n < 0.0 || n * mult as f64 > 1e12 {
            return Err(self.bad(k, v, "expected 0..=1e12 packets per second"));
        }
        Ok((n * mult as f64).round() as u64)
    }

    fn gen(&self, kv: &[(&str, &str)]) -> Result<GenSpec, VdevError> {
        let mut g = GenSpec::default();
        let mut zipf_s = None;
        let mut zipf = false;
        for &(k, v) in kv {
            match k {
                "flows" => g.flows = self.uint(k, v, 1, MAX_FLOWS)?,
                "size" => {
                    g.size = match v {
                        "imix" | "IMIX" => GenSize::Imix,
                        _ => GenSize::Fixed(self.uint(k, v, 64, MAX_FRAME as u64)? as usize),
                    }
                }
                "rate" => g.rate = self.rate(k, v)?,
                "new_flow_pct" => {
                    let p: f64 = v
                        .parse()
                        .map_err(|_| self.bad(k, v, "expected a percentage"))?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(self.bad(k, v, "expected 0..=100"));
                    }
                    g.new_flow_pct = p;
                }
                "family" => {
                    g.family = match v {
                        "ipv4" => GenFamily::V4,
                        "ipv6" => GenFamily::V6,
                        "mixed" => GenFamily::Mixed,
                        _ => return Err(self.bad(k, v, "expected ipv4, ipv6 or mixed")),
                    }
                }
                "proto" => {
                    g.proto = match v {
                        "udp" => GenProto::Udp,
                        "tcp" => GenProto::Tcp,
                        _ => return Err(self.bad(k, v, "expected udp or tcp")),
                    }
                }
                "dist" => {
                    zipf = match v {
                        "uniform" => false,
                        "zipf" => true,
                        _ => return Err(self.bad(k, v, "expected uniform or zipf")),
                    }
                }
                "zipf_s" => {
                    let s: f64 = v.parse().map_err(|_| self.bad(k, v, "expected a number"))?;
                    if !(s > 0.0 && s <= 10.0) {
                        return Err(self.bad(k, v, "expected 0 < s <= 10"));
                    }
                    zipf_s = Some(s);
                }
                "src" | "dst" | "src6" | "dst6" => {
                    let p = self.prefix(k, v)?;
                    let want6 = k.ends_with('6');
                    if want6 && p.family != Family::V6 {
                        return Err(self.bad(k, v, "expected an IPv6 prefix"));
                    }
                    let slot = match (k.starts_with("src"), p.family) {
                        (true, Family::V4) => &mut g.src4,
                        (true, Family::V6) => &mut g.src6,
                        (false, Family::V4) => &mut g.dst4,
                        (false, Family::V6) => &mut g.dst6,
                    };
                    *slot = p;
                }
                "dport" => g.dport = self.uint(k, v, 0, 65535)? as u16,
                "count" => g.count = self.uint(k, v, 0, u64::MAX)?,
                "seed" => g.seed = self.uint(k, v, 0, u64::MAX)?,
                "esp" => {
                    let n = match v.strip_prefix("0x") {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => v.parse::<u32>().ok(),
                    };
                    match n {
                        Some(spi) if spi >= 256 => g.esp = Some(spi),
                        // RFC 4303 2.1: SPI values 1..255 are reserved, 0 is local.
                        _ => return Err(self.bad(k, v, "expected an SPI >= 256")),
                    }
                }
                "payload" => {
                    g.payload = match v {
                        "zero" => GenPayload::Zero,
                        "keep" => GenPayload::Keep,
                        _ => return Err(self.bad(k, v, "expected zero or keep")),
                    }
                }
                _ => return Err(self.unknown(k)),
            }
        }
        if zipf_s.is_some() && !zipf {
            return Err(self.bad("zipf_s", "", "needs dist=zipf"));
        }
        if zipf {
            g.dist = GenDist::Zipf {
                s: zipf_s.unwrap_or(1.1),
            };
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_vdev(s).unwrap_err().to_string()
    }

    #[test]
    fn pcap_good() {
        let v = parse_vdev("net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap,infinite_rx=1")
            .unwrap();
        assert_eq!(v.name, "net_pcap0");
        assert_eq!(
            v.kind,
            VdevKind::Pcap(PcapSpec {
                rx_pcap: Some("/tmp/in.pcap".into()),
                tx_pcap: Some("/tmp/out.pcap".into()),
                infinite_rx: true,
            })
        );
        let v = parse_vdev("net_pcap_out,tx_pcap=o.pcap").unwrap();
        assert_eq!(v.name, "net_pcap_out");
    }

    #[test]
    fn pcap_bad() {
        let e = err("net_pcap0,rx_iface=eth0");
        assert!(
            e.contains("rx_iface") && e.contains("not supported without DPDK"),
            "{e}"
        );
        let e = err("net_pcap0,tx_iface=eth0");
        assert!(e.contains("tx_iface"), "{e}");
        let e = err("net_pcap0,rx_pcap=a,infinite_rx=2");
        assert!(e.contains("infinite_rx") && e.contains("'2'"), "{e}");
        let e = err("net_pcap0,rx_pcap=a,rx_pcap=b");
        assert!(e.contains("rx_pcap") && e.contains("twice"), "{e}");
        let e = err("net_pcap0");
        assert!(e.contains("rx_pcap=FILE"), "{e}");
        let e = err("net_pcap0,rx_pcap=a,bogus=1");
        assert!(e.contains("unknown key 'bogus'"), "{e}");
        let e = err("net_pcap0,rx_pcap");
        assert!(e.contains("'rx_pcap' is not key=value"), "{e}");
    }

    #[test]
    fn null_and_ring() {
        assert_eq!(
            parse_vdev("net_null0").unwrap().kind,
            VdevKind::Null(NullSpec {
                size: 64,
                no_rx: false
            })
        );
        assert_eq!(
            parse_vdev("net_null1,no-rx=1,size=128").unwrap().kind,
            VdevKind::Null(NullSpec {
                size: 128,
                no_rx: true
            })
        );
        let e = err("net_null0,size=0");
        assert!(e.contains("'size'") && e.contains("'0'"), "{e}");
        let e = err("net_null0,no_rx=1");
        assert!(e.contains("unknown key 'no_rx'"), "{e}");
        assert_eq!(
            parse_vdev("net_ring0").unwrap().kind,
            VdevKind::Ring(RingSpec::default())
        );
        assert_eq!(
            parse_vdev("net_ring1,name=wire,size=64").unwrap().kind,
            VdevKind::Ring(RingSpec {
                name: Some("wire".into()),
                size: 64
            })
        );
        let e = err("net_ring0,nodeaction=r:0:CREATE");
        assert!(e.contains("nodeaction") && e.contains("name="), "{e}");
    }

    #[test]
    fn unknown_devices() {
        assert_eq!(err(""), "empty device string");
        let e = err("net_memif0,role=server");
        assert!(e.contains("net_memif0"), "{e}");
        let e = err("net_pcapX-1,rx_pcap=a");
        assert!(e.contains("unknown device 'net_pcapX-1'"), "{e}");
    }

    #[test]
    fn gen_good() {
        let v = parse_vdev(
            "gen0,flows=1000,size=imix,rate=2.5M,new_flow_pct=10,family=mixed,proto=tcp,\
             dist=zipf,zipf_s=1.2,src=192.168.0.0/24,dst=10.9.0.0/16,dst6=2001:db8::/48,\
             count=5000,dport=4500,esp=0x1000",
        )
        .unwrap();
        let VdevKind::Gen(g) = v.kind else {
            panic!("not gen")
        };
        assert_eq!(g.flows, 1000);
        assert_eq!(g.size, GenSize::Imix);
        assert_eq!(g.rate, 2_500_000);
        assert_eq!(g.new_flow_pct, 10.0);
        assert_eq!(g.family, GenFamily::Mixed);
        assert_eq!(g.proto, GenProto::Tcp);
        assert_eq!(g.dist, GenDist::Zipf { s: 1.2 });
        assert_eq!(g.src4.to_string(), "192.168.0.0/24");
        assert_eq!(g.dst4.to_string(), "10.9.0.0/16");
        assert_eq!(g.dst6.to_string(), "2001:db8::/48");
        assert_eq!(g.src6, GenSpec::default().src6);
        assert_eq!((g.count, g.dport, g.esp), (5000, 4500, Some(0x1000)));
        let VdevKind::Gen(g) = parse_vdev("gen1,size=128,dist=zipf").unwrap().kind else {
            panic!()
        };
        assert_eq!(g.size, GenSize::Fixed(128));
        assert_eq!(g.dist, GenDist::Zipf { s: 1.1 });
        let VdevKind::Gen(g) = parse_vdev("gen2,src=fd00:1::/64").unwrap().kind else {
            panic!()
        };
        assert_eq!(g.src6.to_string(), "fd00:1::/64");
    }

    #[test]
    fn gen_payload() {
        let payload = |s: &str| match parse_vdev(s).unwrap().kind {
            VdevKind::Gen(g) => g.payload,
            _ => panic!("not gen"),
        };
        assert_eq!(payload("gen0"), GenPayload::Zero, "default");
        assert_eq!(payload("gen0,payload=zero"), GenPayload::Zero);
        assert_eq!(payload("gen0,size=1420,payload=keep"), GenPayload::Keep);
        assert_eq!(
            err("gen0,payload=random"),
            "gen0: bad value 'random' for 'payload': expected zero or keep"
        );
        let e = err("gen0,payload=keep,payload=zero");
        assert!(e.contains("'payload' given twice"), "{e}");
    }

    #[test]
    fn gen_bad() {
        for (s, key) in [
            ("gen0,flows=0", "'flows'"),
            ("gen0,flows=abc", "'flows'"),
            ("gen0,size=63", "'size'"),
            ("gen0,size=jumbo", "'size'"),
            ("gen0,rate=fast", "'rate'"),
            ("gen0,new_flow_pct=101", "'new_flow_pct'"),
            ("gen0,family=ipx", "'family'"),
            ("gen0,proto=sctp", "'proto'"),
            ("gen0,dist=pareto", "'dist'"),
            ("gen0,dist=zipf,zipf_s=0", "'zipf_s'"),
            ("gen0,zipf_s=1.5", "'zipf_s'"),
            ("gen0,src=10.0.0.0/40", "'src'"),
            ("gen0,src6=10.0.0.0/8", "'src6'"),
            ("gen0,dport=70000", "'dport'"),
            ("gen0,esp=12", "'esp'"),
            ("gen0,payload=", "'payload'"),
            ("gen0,speed=1", "'speed'"),
        ] {
            let e = err(s);
            assert!(e.contains(key) && e.starts_with("gen0:"), "{s}: {e}");
        }
    }
}
