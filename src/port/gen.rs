//! The built-in traffic generator (`genN,...`, see [`GenSpec`]): a port whose
//! rx queues produce Ethernet II frames of a configured flow mix, so a
//! machine without DPDK or a NIC can drive the real gateway.
//!
//! Flows. Flow `i` maps to a 5-tuple without a table: with `D` destination
//! and `S` source addresses available in the prefixes (network and broadcast
//! offsets skipped, at most 2^32 of each), `dst = dst_prefix + 1 + i mod D`,
//! `src = src_prefix + 1 + (i / D) mod S`, `sport = 1024 + (i / (D*S)) mod
//! 64512`, `dport` fixed. The mapping is injective for `i < D*S*64512`;
//! `flows` must fit (checked at build). With `family=mixed`, even flows are
//! IPv4 and odd ones IPv6 (`i/2` indexes each family).
//!
//! Queues. Queue `q` of `n` owns the contiguous share `[q*flows/n,
//! (q+1)*flows/n)` of the flows (all of them if its share is empty) and draws
//! from it uniformly or by Zipf rank (a CDF table built at start-up, sampled
//! by binary search: O(log flows)). `count` and `rate` are split evenly.
//!
//! New flows. With probability `new_flow_pct`, a packet instead belongs to a
//! never-seen flow: index `flows + c*n + q` for the queue's counter `c`, so new
//! flows never repeat each other or the established ones until the tuple space
//! is exhausted (then they wrap).
//!
//! Sizes. Frame sizes are Ethernet frame bytes with the 4-byte FCS, as RFC
//! 2544 and IMIX quote them: the buffer holds `size - 4` bytes (the NIC adds
//! the FCS), but never fewer than the headers (62 for IPv6/UDP, 74 for
//! IPv6/TCP). IMIX cycles 64/594/1518 in a fixed pattern of 7:4:1.
//!
//! Pacing. `rate` is enforced per burst against the clock (a token count
//! since the first burst); nothing sleeps. 0 = as fast as possible. A poller
//! that falls more than 1024 packets (an rx ring) behind the rate loses the
//! excess, counted as `imissed` and against `count`, as a NIC would drop it.
//! A queue whose share of a tiny rate is 0 sends nothing.
//!
//! Payload. With `payload=zero` (the default) the payload is zeros and
//! frames carry valid IPv4 header checksums and valid UDP/TCP checksums.
//! With `payload=keep` only the headers are written; the payload is whatever
//! the reused buffer held (for a gateway benchmark, typically a previous
//! packet's ciphertext), as with a NIC, whose DMA costs the CPU nothing per
//! payload byte. The IPv4 header checksum stays valid; UDP over IPv4 carries
//! checksum 0 (RFC 768: none computed); TCP and UDP over IPv6, which must
//! carry one, carry the checksum of a zero payload, which is then not valid.
//! The frame builder here is private and minimal.
//!
//! Cost. The generator runs in the worker's poll loop, so every instruction
//! it spends per packet is the gateway's: per packet it draws the flow,
//! copies its template's head (the template chosen once per burst for one
//! family and one size), writes the flow's fields and completes the
//! checksums from precomputed sums; with `payload=zero` it also zero-fills
//! the rest of the frame. A test pins the frames a spec and seed give.
//!
//! ESP hook: a [`GenTransform`] given at build is applied to every generated
//! packet (e.g. ESP encapsulation for the inbound SA named by `esp=SPI`); it
//! returns `false` to drop the packet (counted as `imissed`). This module
//! implements no ESP.

use std::sync::Arc;
use std::time::Instant;

use super::vdev::{GenDist, GenFamily, GenPayload, GenProto, GenSize, GenSpec};
use super::{Burst, Pool, PooledBuf, QueueStats, RxQueue};
use crate::buf::{HeapBuf, PacketBuf};
use crate::ip::{Addr, Family, Prefix};
use crate::route::spec::Mac;

/// A per-packet transform applied after the frame is built; `false` drops it.
pub type GenTransform = Box<dyn FnMut(&mut HeapBuf) -> bool + Send>;

/// Source MAC of generated frames (the "peer" in front of the port).
pub const GEN_SRC_MAC: Mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const UDP_LEN: usize = 8;
const TCP_LEN: usize = 20;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const FCS_LEN: usize = 4;
const PORTS: u64 = 64512;
/// Packets a paced generator may owe its poller before the excess counts as
/// `imissed` (a typical NIC rx ring).
const RX_RING: u64 = 1024;

/// Frame sizes of the IMIX cycle: seven 64, four 594, one 1518, interleaved,
/// as the distinct sizes and the cycle of indexes into them.
const IMIX_SIZES: [usize; 3] = [64, 594, 1518];
const IMIX_IDX: [usize; 12] = [0, 1, 0, 0, 1, 0, 2, 0, 1, 0, 1, 0];

/// The 5-tuple of one generated flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    pub family: Family,
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

#[derive(Clone, Copy, Debug)]
struct AddrSpace {
    /// The first address used (the network address skipped).
    start: Addr,
    count: u64,
}

impl AddrSpace {
    fn of(p: Prefix) -> AddrSpace {
        let h = (p.family.bits() - p.len) as u32;
        let total: u64 = 1u64 << h.min(32);
        if h >= 2 {
            AddrSpace {
                start: p.addr.wrapping_add(1),
                count: total - 2,
            }
        } else {
            AddrSpace {
                start: p.addr,
                count: total,
            }
        }
    }

    /// The address at offset `off` (`off < count`).
    #[inline]
    fn at(&self, off: u64) -> Addr {
        self.start.wrapping_add(off as u128)
    }
}

/// Flow index -> 5-tuple.
#[derive(Clone, Copy, Debug)]
struct Layout {
    family: GenFamily,
    proto: u8,
    dport: u16,
    v4: (AddrSpace, AddrSpace),
    v6: (AddrSpace, AddrSpace),
}

impl Layout {
    fn new(spec: &GenSpec) -> Layout {
        Layout {
            family: spec.family,
            proto: match spec.proto {
                GenProto::Udp => PROTO_UDP,
                GenProto::Tcp => PROTO_TCP,
            },
            dport: spec.dport,
            v4: (AddrSpace::of(spec.src4), AddrSpace::of(spec.dst4)),
            v6: (AddrSpace::of(spec.src6), AddrSpace::of(spec.dst6)),
        }
    }

    fn split(&self, i: u64) -> (Family, u64) {
        match self.family {
            GenFamily::V4 => (Family::V4, i),
            GenFamily::V6 => (Family::V6, i),
            GenFamily::Mixed if i & 1 == 0 => (Family::V4, i / 2),
            GenFamily::Mixed => (Family::V6, i / 2),
        }
    }

    #[inline]
    fn spaces(&self, f: Family) -> &(AddrSpace, AddrSpace) {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// Distinct tuples available in family `f`.
    fn capacity(&self, f: Family) -> u128 {
        let (s, d) = self.spaces(f);
        s.count as u128 * d.count as u128 * PORTS as u128
    }

    #[inline]
    fn tuple(&self, i: u64) -> FlowTuple {
        let (family, j) = self.split(i);
        let (s, d) = self.spaces(family);
        let (r, dj) = divmod(j, d.count);
        let (q, si) = divmod(r, s.count);
        let (_, pi) = divmod(q, PORTS);
        let (dst, src) = (d.at(dj), s.at(si));
        let sport = 1024 + pi as u16;
        FlowTuple {
            family,
            src,
            dst,
            sport,
            dport: self.dport,
            proto: self.proto,
        }
    }
}

/// `(a / b, a % b)`, skipping the division in the common trivial cases (a
/// 64-bit division costs tens of cycles; the generator does three a packet).
#[inline]
fn divmod(a: u64, b: u64) -> (u64, u64) {
    if b == 1 {
        (a, 0)
    } else if a < b {
        (0, a)
    } else {
        (a / b, a % b)
    }
}

/// SplitMix64: small, fast, good enough for traffic mixes.
#[derive(Clone, Copy, Debug)]
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Step over one draw without computing it (the draws after it are
    /// those `next` would give).
    #[inline]
    fn skip(&mut self) {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
    }

    /// Uniform in `0..n` (Lemire's multiply-high; bias negligible here).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Why a generator queue cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    #[error("flows={flows} exceeds the {family:?} tuple space ({cap}) of the src/dst prefixes and ports")]
    TooManyFlows {
        flows: u64,
        family: Family,
        cap: u128,
    },
    #[error("size: a {frame}-byte frame does not fit a {room}-byte buffer")]
    TooBig { frame: usize, room: usize },
}

/// The flows one queue draws its packets from, and the draw's state (the
/// Zipf table apart, see [`GenRx::cdf`]).
#[derive(Clone, Copy, Debug)]
struct FlowSource {
    layout: Layout,
    queue: u64,
    nb_queues: u64,
    flows: u64,
    first: u64,
    n_local: u64,
    new_thresh: u64,
    new_all: bool,
    new_ctr: u64,
    /// Packets of never-seen flows sent so far (exact, for hit-ratio accounting).
    new_sent: u64,
    rng: Rng,
}

/// The frame sizes one queue cycles through, as indexes into its templates.
struct SizeCycle {
    imix: bool,
    pos: usize,
}

/// One rx queue of a generator port.
pub struct GenRx {
    port: u16,
    src: FlowSource,
    /// Zipf CDF over the local flows (empty: uniform).
    cdf: Vec<f64>,
    sizes: SizeCycle,
    /// Prebuilt frames, `[family][size index]` (see [`Template`]).
    templates: [Vec<Template>; 2],
    /// Packets per second of this queue; `None` = as fast as possible.
    rate: Option<u64>,
    t0: Option<Instant>,
    paced: u64,
    remaining: Option<u64>,
    ip_id: u16,
    pool: Pool,
    stats: Arc<QueueStats>,
    transform: Option<GenTransform>,
}

impl GenRx {
    /// Queue `queue` of `nb_queues` of generator port `port` (whose MAC is the
    /// destination of the frames).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        port: u16,
        mac: Mac,
        spec: &GenSpec,
        queue: usize,
        nb_queues: usize,
        pool: Pool,
        stats: Arc<QueueStats>,
        transform: Option<GenTransform>,
    ) -> Result<GenRx, GenError> {
        let layout = Layout::new(spec);
        let fams: &[(Family, u64)] = match spec.family {
            GenFamily::V4 => &[(Family::V4, spec.flows)],
            GenFamily::V6 => &[(Family::V6, spec.flows)],
            GenFamily::Mixed => &[
                (Family::V4, spec.flows.div_ceil(2)),
                (Family::V6, spec.flows / 2),
            ],
        };
        for &(family, n) in fams {
            let cap = layout.capacity(family);
            if n as u128 > cap {
                return Err(GenError::TooManyFlows {
                    flows: spec.flows,
                    family,
                    cap,
                });
            }
        }
        let room = pool.buf_size() - pool.headroom();
        let largest = match spec.size {
            GenSize::Fixed(n) => n,
            GenSize::Imix => 1518,
        };
        if frame_len(largest, Family::V6, layout.proto) > room {
            return Err(GenError::TooBig {
                frame: largest,
                room,
            });
        }

        let nq = nb_queues.max(1) as u64;
        let q = (queue as u64).min(nq - 1);
        let lo = (q as u128 * spec.flows as u128 / nq as u128) as u64;
        let hi = ((q + 1) as u128 * spec.flows as u128 / nq as u128) as u64;
        let (first, n_local) = if hi > lo {
            (lo, hi - lo)
        } else {
            (0, spec.flows)
        };
        let cdf = match spec.dist {
            GenDist::Uniform => Vec::new(),
            GenDist::Zipf { s } => zipf_cdf(n_local, s),
        };
        let p = spec.new_flow_pct / 100.0;
        let split = |total: u64| total / nq + u64::from(q < total % nq);
        let sizes: &[usize] = match spec.size {
            GenSize::Fixed(n) => &[n][..],
            GenSize::Imix => &IMIX_SIZES[..],
        };
        let tpl = |family: Family| -> Vec<Template> {
            sizes
                .iter()
                .map(|&f| {
                    let len = frame_len(f, family, layout.proto);
                    Template::new(len, family, &layout, &mac, spec.payload)
                })
                .collect()
        };
        let templates = [tpl(Family::V4), tpl(Family::V6)];
        Ok(GenRx {
            port,
            src: FlowSource {
                layout,
                queue: q,
                nb_queues: nq,
                flows: spec.flows,
                first,
                n_local,
                new_thresh: (p * 18_446_744_073_709_551_616.0) as u64,
                new_all: p >= 1.0,
                new_ctr: 0,
                new_sent: 0,
                rng: Rng(spec.seed ^ ((port as u64) << 48) ^ q.wrapping_mul(0x2545_f491_4f6c_dd1d)),
            },
            cdf,
            sizes: SizeCycle {
                imix: spec.size == GenSize::Imix,
                pos: 0,
            },
            templates,
            rate: (spec.rate > 0).then(|| split(spec.rate)),
            t0: None,
            paced: 0,
            remaining: (spec.count > 0).then(|| split(spec.count)),
            ip_id: 0,
            pool,
            stats,
            transform,
        })
    }

    /// The tuple of flow `i` (established flows are `0..flows`).
    pub fn flow_tuple(&self, i: u64) -> FlowTuple {
        self.src.layout.tuple(i)
    }

    /// The flows this queue draws its established traffic from.
    pub fn local_flows(&self) -> std::ops::Range<u64> {
        self.src.first..self.src.first + self.src.n_local
    }

    /// Build the next frames into `pkts` (fresh from the pool); returns their
    /// bytes, and `false` if a packet could not hold its frame (it is left
    /// empty). The template choice is made once for a queue of one family
    /// and one size.
    fn fill(&mut self, pkts: &mut [PooledBuf]) -> (u64, bool) {
        // The draw works on a copy, kept in registers: as far as the
        // compiler knows, the frames' stores could alias the queue's fields,
        // which it would then reload for every packet.
        let mut src = self.src;
        let (cdf, sizes, tpl) = (&self.cdf[..], &mut self.sizes, &self.templates);
        let single = match src.layout.family {
            _ if sizes.imix => None,
            GenFamily::V4 => tpl[0].first(),
            GenFamily::V6 => tpl[1].first(),
            GenFamily::Mixed => None,
        };
        let r = match single {
            Some(one) => build(pkts, &mut src, cdf, self.port, &mut self.ip_id, |_| one),
            None => build(pkts, &mut src, cdf, self.port, &mut self.ip_id, |f| {
                &tpl[slot(f)][sizes.next()]
            }),
        };
        self.src = src;
        r
    }

    /// Apply the transform to the built packets and move the good ones to
    /// the front, in order; the others (no frame, or dropped by the
    /// transform) count as `imissed`. Returns how many are good and their
    /// bytes.
    fn transform_and_compact(&mut self, pkts: &mut [PooledBuf]) -> (usize, u64) {
        let (mut got, mut bytes) = (0, 0u64);
        for r in 0..pkts.len() {
            let b = &mut pkts[r];
            let good = !b.is_empty() && self.transform.as_mut().is_none_or(|f| f(b));
            if good {
                bytes += b.len() as u64;
                pkts.swap(got, r);
                got += 1;
            }
        }
        self.stats.add_imissed((pkts.len() - got) as u64);
        (got, bytes)
    }
}

/// Index of family `f` in a queue's templates.
#[inline]
fn slot(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

/// Build a frame into each of `pkts`, the flows from `src`, each frame's
/// template by `template(family)`; see [`GenRx::fill`].
#[inline(always)]
fn build<'t>(
    pkts: &mut [PooledBuf],
    src: &mut FlowSource,
    cdf: &[f64],
    port: u16,
    ip_id: &mut u16,
    mut template: impl FnMut(Family) -> &'t Template,
) -> (u64, bool) {
    let (mut id, mut bytes, mut all) = (*ip_id, 0u64, true);
    for b in pkts {
        let t = src.next(cdf);
        let tpl = template(t.family);
        let Some(d) = b.append(tpl.len) else {
            // Sizes are checked against the pool at build.
            all = false;
            continue;
        };
        tpl.write(d, &t, id);
        id = id.wrapping_add(1);
        b.set_port(port);
        bytes += tpl.len as u64;
    }
    *ip_id = id;
    (bytes, all)
}

impl FlowSource {
    /// The next packet's flow (`cdf`: see [`GenRx::cdf`]).
    #[inline]
    fn next(&mut self, cdf: &[f64]) -> FlowTuple {
        let i = self.pick(cdf);
        self.new_sent += u64::from(i >= self.flows);
        self.layout.tuple(i)
    }

    /// Does the next packet belong to a never-seen flow? Without new flows
    /// the draw is stepped over rather than computed: the same draws follow.
    #[inline]
    fn draw_new(&mut self) -> bool {
        if self.new_thresh == 0 {
            self.rng.skip();
            return false;
        }
        self.rng.next() < self.new_thresh
    }

    #[inline(always)]
    fn pick(&mut self, cdf: &[f64]) -> u64 {
        if self.new_all || self.draw_new() {
            let c = self.new_ctr;
            self.new_ctr += 1;
            return match self.layout.family {
                GenFamily::Mixed => {
                    let base = self.flows + self.flows % 2;
                    base + 2 * ((c / 2) * self.nb_queues + self.queue) + (c & 1)
                }
                _ => self.flows + c * self.nb_queues + self.queue,
            };
        }
        let k = if cdf.is_empty() {
            self.rng.below(self.n_local)
        } else {
            let u = self.rng.unit();
            (cdf.partition_point(|&c| c <= u) as u64).min(self.n_local - 1)
        };
        self.first + k
    }
}

impl SizeCycle {
    /// Index of the next frame's size in the templates.
    #[inline]
    fn next(&mut self) -> usize {
        if !self.imix {
            return 0;
        }
        let k = IMIX_IDX[self.pos];
        self.pos = if self.pos + 1 == IMIX_IDX.len() {
            0
        } else {
            self.pos + 1
        };
        k
    }
}

/// Normalized cumulative Zipf weights `1/(k+1)^s`, the last entry exactly 1.
fn zipf_cdf(n: u64, s: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n as usize);
    let mut acc = 0.0;
    for k in 0..n {
        acc += ((k + 1) as f64).powf(-s);
        cdf.push(acc);
    }
    for c in cdf.iter_mut() {
        *c /= acc;
    }
    if let Some(last) = cdf.last_mut() {
        *last = 1.0;
    }
    cdf
}

/// Buffer length of a `frame`-byte frame (FCS excluded), at least the headers.
fn frame_len(frame: usize, family: Family, proto: u8) -> usize {
    let l3 = match family {
        Family::V4 => IPV4_LEN,
        Family::V6 => IPV6_LEN,
    };
    let l4 = if proto == PROTO_TCP { TCP_LEN } else { UDP_LEN };
    (frame.saturating_sub(FCS_LEN)).max(ETH_LEN + l3 + l4)
}

/// RFC 1071 one's-complement sum of 16-bit words (odd byte padded with 0).
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for w in &mut it {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = it.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

/// Fold a 32-bit one's-complement sum to 16 bits. Two rounds always do:
/// after the first the sum is at most `0xffff + 0xffff`, after the second at
/// most `0xfffe + 1` (no loop, no data-dependent branch).
#[inline]
fn fold(acc: u32) -> u16 {
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Write an Ethernet II + IPv4/IPv6 + UDP/TCP frame for `t` filling all of
/// `d`; the payload is zeros.
fn build_frame(d: &mut [u8], dst_mac: &Mac, t: &FlowTuple, ip_id: u16) {
    d.fill(0);
    d[0..6].copy_from_slice(dst_mac);
    d[6..12].copy_from_slice(&GEN_SRC_MAC);
    let l4_len = match t.family {
        Family::V4 => d.len() - ETH_LEN - IPV4_LEN,
        Family::V6 => d.len() - ETH_LEN - IPV6_LEN,
    };
    let (l4, pseudo) = match t.family {
        Family::V4 => {
            d[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let (src, dst) = ((t.src as u32).to_be_bytes(), (t.dst as u32).to_be_bytes());
            let ip = &mut d[ETH_LEN..ETH_LEN + IPV4_LEN];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((IPV4_LEN + l4_len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = t.proto;
            ip[12..16].copy_from_slice(&src);
            ip[16..20].copy_from_slice(&dst);
            // RFC 791 3.1: the one's complement of the one's complement sum
            // of the header's 16-bit words, computed with the field zero.
            let c = !fold(sum16(0, ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            // RFC 768 / RFC 793 pseudo header: src, dst, zero, proto, length.
            let mut p = sum16(0, &src);
            p = sum16(p, &dst);
            p += u32::from(t.proto) + l4_len as u32;
            (ETH_LEN + IPV4_LEN, p)
        }
        Family::V6 => {
            d[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            let (src, dst) = (t.src.to_be_bytes(), t.dst.to_be_bytes());
            let ip = &mut d[ETH_LEN..ETH_LEN + IPV6_LEN];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            ip[6] = t.proto;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&src);
            ip[24..40].copy_from_slice(&dst);
            // RFC 8200 8.1 pseudo header: src, dst, upper-layer length, next header.
            let mut p = sum16(0, &src);
            p = sum16(p, &dst);
            p += u32::from(t.proto) + l4_len as u32;
            (ETH_LEN + IPV6_LEN, p)
        }
    };
    let seg = &mut d[l4..];
    seg[0..2].copy_from_slice(&t.sport.to_be_bytes());
    seg[2..4].copy_from_slice(&t.dport.to_be_bytes());
    let (hdr, csum_at) = if t.proto == PROTO_TCP {
        seg[12] = 0x50; // data offset 5
        seg[13] = 0x10; // ACK
        seg[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
        (TCP_LEN, 16)
    } else {
        seg[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        (UDP_LEN, 6)
    };
    // The payload is zeros and adds nothing to the sum: sum the header only.
    let mut c = !fold(sum16(pseudo, &seg[..hdr]));
    if c == 0 && t.proto == PROTO_UDP {
        c = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The frame bytes a template copies with `payload=zero`: at least this many
/// (the whole of a 64-byte frame's buffer), so that a minimum-size frame is
/// one fixed-size copy and needs no separate zero fill.
const ZERO_HEAD: usize = 60;

/// A prebuilt frame of one family and length: every byte that does not
/// depend on the flow (MACs, EtherType, version, lengths, TTL, protocol,
/// destination port), with the flow's fields and the checksums zero. A
/// packet is a copy of the template's head (the headers, and with
/// `payload=zero` the zeros up to [`ZERO_HEAD`]) and a zero fill of the rest
/// (whatever the reused buffer held before; with `payload=keep`, the headers
/// only), the flow's fields written in, and the checksums completed from the
/// precomputed sums of the constant words (a zero payload adds nothing).
#[derive(Clone, Debug)]
struct Template {
    /// The first bytes of every frame of this template.
    head: Box<[u8]>,
    /// Frame length (buffer bytes, FCS excluded).
    len: usize,
    family: Family,
    /// Offset of the L4 checksum.
    csum_at: usize,
    /// What a computed L4 checksum of zero is sent as: all ones for UDP
    /// (RFC 768), zero for TCP.
    csum_zero: u16,
    /// Compute the L4 checksum (not for UDP over IPv4 with `payload=keep`:
    /// RFC 768 zero, "none").
    l4_csum: bool,
    /// Zero the bytes behind the head (`payload=zero`).
    zero_tail: bool,
    /// One's-complement sum of the IPv4 header's constant words.
    ip_sum: u32,
    /// Sum of the pseudo header's and L4 header's constant words.
    l4_sum: u32,
}

impl Template {
    fn new(
        len: usize,
        family: Family,
        layout: &Layout,
        dst_mac: &Mac,
        payload: GenPayload,
    ) -> Template {
        let zero = FlowTuple {
            family,
            src: 0,
            dst: 0,
            sport: 0,
            dport: layout.dport,
            proto: layout.proto,
        };
        let mut bytes = vec![0u8; len];
        build_frame(&mut bytes, dst_mac, &zero, 0);
        let l4 = ETH_LEN
            + match family {
                Family::V4 => IPV4_LEN,
                Family::V6 => IPV6_LEN,
            };
        let udp = layout.proto == PROTO_UDP;
        let csum_at = l4 + if udp { 6 } else { 16 };
        bytes[csum_at..csum_at + 2].fill(0);
        let hdr = if udp { UDP_LEN } else { TCP_LEN };
        let l4_len = (len - l4) as u32;
        let l4_sum = sum16(u32::from(layout.proto) + l4_len, &bytes[l4..l4 + hdr]);
        let ip_sum = match family {
            Family::V4 => {
                bytes[ETH_LEN + 10..ETH_LEN + 12].fill(0);
                sum16(0, &bytes[ETH_LEN..ETH_LEN + IPV4_LEN])
            }
            Family::V6 => 0,
        };
        debug_assert!(bytes[l4 + hdr..].iter().all(|&b| b == 0));
        // `write` relies on it (`frame_len`): every frame holds its headers.
        debug_assert!(len >= l4 + hdr);
        let keep = payload == GenPayload::Keep;
        let head = if keep {
            l4 + hdr
        } else {
            len.min(ZERO_HEAD.max(l4 + hdr))
        };
        bytes.truncate(head);
        Template {
            head: bytes.into_boxed_slice(),
            len,
            family,
            csum_at,
            csum_zero: if udp { 0xffff } else { 0 },
            l4_csum: !(keep && udp && family == Family::V4),
            zero_tail: !keep && len > head,
            ip_sum,
            l4_sum,
        }
    }

    /// Write the frame of flow `t` (of this template's family) into `d`
    /// (exactly the template's length).
    #[inline(always)]
    fn write(&self, d: &mut [u8], t: &FlowTuple, ip_id: u16) {
        copy_head(d, &self.head);
        if self.zero_tail {
            // A store-only fill, half the memory traffic of a copy.
            d[self.head.len()..].fill(0);
        }
        // The flow's fields, at fixed offsets of a fixed-size view (the frame
        // holds at least the headers: checked at build).
        let addr_sum = match self.family {
            Family::V4 => {
                let Some(h) = d.first_chunk_mut::<{ ETH_LEN + IPV4_LEN + 2 }>() else {
                    return;
                };
                let (src, dst) = (t.src as u32, t.dst as u32);
                h[18..20].copy_from_slice(&ip_id.to_be_bytes());
                h[26..30].copy_from_slice(&src.to_be_bytes());
                h[30..34].copy_from_slice(&dst.to_be_bytes());
                h[34..36].copy_from_slice(&t.sport.to_be_bytes());
                let a = words32(src) + words32(dst);
                // RFC 791 3.1 / RFC 1071: the constant words' sum plus the
                // changed ones, folded and complemented.
                let c = !fold(self.ip_sum + a + u32::from(ip_id));
                h[24..26].copy_from_slice(&c.to_be_bytes());
                a
            }
            Family::V6 => {
                let Some(h) = d.first_chunk_mut::<{ ETH_LEN + IPV6_LEN + 2 }>() else {
                    return;
                };
                h[22..38].copy_from_slice(&t.src.to_be_bytes());
                h[38..54].copy_from_slice(&t.dst.to_be_bytes());
                h[54..56].copy_from_slice(&t.sport.to_be_bytes());
                words128(t.src) + words128(t.dst)
            }
        };
        if self.l4_csum {
            // With `payload=keep`, the checksum of a zero payload (not valid
            // for the payload sent): TCP and UDP over IPv6 must carry one.
            let mut c = !fold(self.l4_sum + addr_sum + u32::from(t.sport));
            if c == 0 {
                c = self.csum_zero;
            }
            if let Some(f) = d.get_mut(self.csum_at..self.csum_at + 2) {
                f.copy_from_slice(&c.to_be_bytes());
            }
        }
    }
}

/// `d[..head.len()] = head`. Templates' heads are 42 to 74 bytes: two or
/// three overlapping fixed 32-byte moves (as `memcpy` does for such lengths,
/// without the call, which costs more than the copy).
#[inline]
fn copy_head(d: &mut [u8], head: &[u8]) {
    const C: usize = 32;
    #[inline(always)]
    fn chunk(d: &mut [u8], head: &[u8], at: usize) {
        if let (Some(d), Some(h)) = (
            d[at..].first_chunk_mut::<C>(),
            head[at..].first_chunk::<C>(),
        ) {
            *d = *h;
        }
    }
    let n = head.len();
    if !(C..=3 * C).contains(&n) || d.len() < n {
        d[..n].copy_from_slice(head);
        return;
    }
    chunk(d, head, 0);
    if n > 2 * C {
        chunk(d, head, C);
    }
    chunk(d, head, n - C);
}

/// Sum of the two 16-bit words of `x`'s big-endian bytes (an IPv4 address).
#[inline]
fn words32(x: u32) -> u32 {
    (x >> 16) + (x & 0xffff)
}

/// Sum of the eight 16-bit words of `x`'s big-endian bytes (an IPv6
/// address): the words added pairwise in 32-bit lanes (at most 4 * 0xffff
/// each, no carry between lanes), then the lanes.
#[inline]
fn words128(x: u128) -> u32 {
    const LANES: u64 = 0x0000_ffff_0000_ffff;
    let (hi, lo) = ((x >> 64) as u64, x as u64);
    let s = (hi & LANES) + ((hi >> 16) & LANES) + (lo & LANES) + ((lo >> 16) & LANES);
    (s as u32) + (s >> 32) as u32
}

impl RxQueue<PooledBuf> for GenRx {
    fn rx_burst(&mut self, out: &mut Burst<PooledBuf>, max: usize) -> usize {
        let mut want = max.min(out.room()) as u64;
        if let Some(rem) = self.remaining {
            want = want.min(rem);
        }
        if want == 0 {
            return 0;
        }
        let mut missed = 0;
        if let Some(rate) = self.rate {
            let now = Instant::now();
            let t0 = *self.t0.get_or_insert(now);
            let due = (now.duration_since(t0).as_nanos() * rate as u128 / 1_000_000_000) as u64;
            // Packets the source has sent and the poller not yet taken.
            let mut backlog = due
                .saturating_sub(self.paced)
                .min(self.remaining.unwrap_or(u64::MAX));
            if backlog > RX_RING {
                // The poller fell behind by more than a NIC rx ring holds:
                // all but the newest RX_RING are lost, counted as `imissed`.
                missed = backlog - RX_RING;
                self.paced += missed;
                backlog = RX_RING;
                self.stats.add_imissed(missed);
            }
            if let Some(rem) = self.remaining.as_mut() {
                *rem -= missed;
            }
            want = want.min(backlog);
        }
        let start = out.len();
        let made = self.pool.alloc_bulk(out, want as usize);
        if (made as u64) < want {
            self.stats.add_rx_nombuf(1);
        }
        // Fill the new packets in place; with a transform (which may drop
        // one) or a packet without a frame, keep the good ones at the front,
        // in order.
        let pkts = &mut out.as_mut_slice()[start..];
        let (mut bytes, all) = self.fill(pkts);
        let mut got = pkts.len();
        if !all || self.transform.is_some() {
            (got, bytes) = self.transform_and_compact(pkts);
        }
        // Dropped ones (at the back) go back to the pool.
        out.truncate(start + got);
        let made = made as u64;
        self.paced += made;
        if let Some(rem) = self.remaining.as_mut() {
            *rem -= made;
        }
        self.stats.add_rx(got as u64, bytes);
        got
    }

    fn is_done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Packets of never-seen flows this queue has sent (each new flow sends
    /// one packet, so every one of them is a flow-cache miss).
    fn new_flow_packets(&self) -> u64 {
        self.src.new_sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::vdev::{parse_vdev, VdevKind};
    use std::collections::{HashMap, HashSet};

    fn spec(s: &str) -> GenSpec {
        match parse_vdev(s).unwrap().kind {
            VdevKind::Gen(g) => g,
            _ => unreachable!(),
        }
    }

    fn queue(s: &str, q: usize, nq: usize, pool: &Pool) -> GenRx {
        GenRx::new(
            0,
            [2, 0, 0, 0, 0, 9],
            &spec(s),
            q,
            nq,
            pool.clone(),
            Arc::new(QueueStats::default()),
            None,
        )
        .unwrap()
    }

    /// Parse a generated frame back into its tuple, checking every checksum.
    fn parse(d: &[u8]) -> FlowTuple {
        let ethertype = u16::from_be_bytes([d[12], d[13]]);
        let (family, src, dst, proto, l4, pseudo) = match ethertype {
            0x0800 => {
                let ip = &d[14..34];
                assert_eq!(ip[0], 0x45);
                assert_eq!(fold(sum16(0, ip)), 0xffff, "IPv4 header checksum");
                assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, d.len() - 14);
                let mut p = sum16(0, &ip[12..20]);
                p += u32::from(ip[9]) + (d.len() - 34) as u32;
                let a = |o: usize| u32::from_be_bytes([ip[o], ip[o + 1], ip[o + 2], ip[o + 3]]);
                (Family::V4, a(12) as u128, a(16) as u128, ip[9], 34, p)
            }
            0x86dd => {
                let ip = &d[14..54];
                assert_eq!(ip[0] >> 4, 6);
                assert_eq!(u16::from_be_bytes([ip[4], ip[5]]) as usize, d.len() - 54);
                let mut p = sum16(0, &ip[8..40]);
                p += u32::from(ip[6]) + (d.len() - 54) as u32;
                let a = |o: usize| u128::from_be_bytes(ip[o..o + 16].try_into().unwrap());
                (Family::V6, a(8), a(24), ip[6], 54, p)
            }
            e => panic!("ethertype {e:#x}"),
        };
        let seg = &d[l4..];
        assert_eq!(fold(sum16(pseudo, seg)), 0xffff, "L4 checksum");
        FlowTuple {
            family,
            src,
            dst,
            sport: u16::from_be_bytes([seg[0], seg[1]]),
            dport: u16::from_be_bytes([seg[2], seg[3]]),
            proto,
        }
    }

    /// Length of a generated frame's headers (Ethernet, IP, L4).
    fn hdr_len(d: &[u8]) -> usize {
        let (l4, proto) = match u16::from_be_bytes([d[12], d[13]]) {
            0x0800 => (34, d[23]),
            _ => (54, d[20]),
        };
        l4 + if proto == PROTO_TCP { TCP_LEN } else { UDP_LEN }
    }

    /// Parse a `payload=keep` frame: UDP over IPv4 must carry checksum 0,
    /// every other checksum must be the one of a zero payload.
    fn parse_keep(d: &[u8]) -> FlowTuple {
        let hdr = hdr_len(d);
        let mut z = d.to_vec();
        z[hdr..].fill(0);
        if d[12..14] == [0x08, 0x00] && d[23] == PROTO_UDP {
            assert_eq!(d[40..42], [0, 0], "UDP/IPv4 checksum");
            // Complete the zero-payload frame's checksum to parse it.
            let (ip, seg) = z[14..].split_at_mut(20);
            let p = sum16(sum16(0, &ip[12..20]), &seg[..8]) + 17 + seg.len() as u32;
            seg[6..8].copy_from_slice(&(!fold(p)).to_be_bytes());
        }
        parse(&z)
    }

    fn run(g: &mut GenRx, n: usize, mut f: impl FnMut(&PooledBuf)) {
        let mut b = Burst::new();
        let mut seen = 0;
        while seen < n {
            let got = g.rx_burst(&mut b, (n - seen).min(MAX));
            assert!(got > 0);
            seen += got;
            b.iter().for_each(&mut f);
            b.clear();
        }
    }
    const MAX: usize = crate::port::MAX_BURST;

    #[test]
    fn flow_count_and_checksums() {
        let pool = Pool::with_defaults(64);
        let mut g = queue("gen0,flows=1000,seed=7", 0, 1, &pool);
        let mut flows = HashSet::new();
        run(&mut g, 100_000, |p| {
            assert_eq!(p.len(), 60);
            assert_eq!(&p.data()[0..6], &[2, 0, 0, 0, 0, 9]);
            flows.insert(parse(p.data()));
        });
        assert_eq!(flows.len(), 1000);
        let want: HashSet<FlowTuple> = (0..1000).map(|i| g.flow_tuple(i)).collect();
        assert_eq!(flows, want);
        let t = g.flow_tuple(0);
        assert_eq!(
            Prefix::new(Family::V4, t.src, 16).to_string(),
            "10.0.0.0/16"
        );
        assert_eq!(
            Prefix::new(Family::V4, t.dst, 16).to_string(),
            "10.1.0.0/16"
        );
        assert_eq!((t.proto, t.dport), (17, 9));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn template_frames_equal_built_frames() {
        // A frame from a template is byte for byte the frame built from
        // scratch, for both families, both protocols and several sizes
        // (frames of just the head and longer ones, zero-filled behind it).
        for (s, sizes) in [
            ("gen0,family=mixed,flows=5000", [64usize, 594, 1518]),
            ("gen0,family=mixed,proto=tcp,flows=5000", [64, 200, 1420]),
        ] {
            let sp = spec(s);
            let layout = Layout::new(&sp);
            let mac = [2, 0, 0, 0, 0, 9];
            for size in sizes {
                for i in [0u64, 1, 2, 3, 777, 4998, 4999] {
                    let t = layout.tuple(i);
                    let len = frame_len(size, t.family, t.proto);
                    let tpl = Template::new(len, t.family, &layout, &mac, GenPayload::Zero);
                    for id in [0u16, 1, 0xfffe, 0xffff] {
                        let mut a = vec![0xeeu8; len];
                        let mut b = vec![0x11u8; len];
                        tpl.write(&mut a, &t, id);
                        build_frame(&mut b, &mac, &t, id);
                        assert_eq!(a, b, "{s} size {size} flow {i} id {id}");
                        assert_eq!(parse(&a), t);
                        // A reused buffer (here: holding an encrypted-looking
                        // frame of another flow) gives the same frame again.
                        let mut c: Vec<u8> = (0..len).map(|k| (k * 7 + 3) as u8).collect();
                        tpl.write(&mut c, &layout.tuple(i + 2), id ^ 0x5a5a);
                        c.iter_mut().skip(60).for_each(|x| *x ^= 0xa5);
                        tpl.write(&mut c, &t, id);
                        assert_eq!(c, b, "reused: {s} size {size} flow {i} id {id}");
                    }
                }
            }
        }
    }

    #[test]
    fn keep_payload_of_reused_buffers() {
        // Dirty every buffer of the pool, then generate from it twice over
        // (the second round reuses buffers that held other frames): each
        // frame's headers are right and its payload is exactly the bytes its
        // buffer held before.
        for s in [
            "gen0,payload=keep,flows=500,size=imix,family=mixed,seed=4",
            "gen0,payload=keep,flows=500,size=imix,family=mixed,proto=tcp",
            "gen0,payload=keep,flows=500,size=1420",
        ] {
            let pool = Pool::with_defaults(64);
            let room = pool.buf_size() - pool.headroom();
            // Buffer (by address) -> the bytes it holds from the headroom on.
            let mut held: HashMap<usize, Vec<u8>> = HashMap::new();
            let dirty: Vec<PooledBuf> = (0..64)
                .map(|k| {
                    let mut b = pool.alloc().unwrap();
                    let d = b.append(room).unwrap();
                    d.iter_mut()
                        .enumerate()
                        .for_each(|(j, x)| *x = (j * 7 + k * 13 + 1) as u8);
                    held.insert(d.as_ptr() as usize, d.to_vec());
                    b
                })
                .collect();
            drop(dirty);
            let mut g = queue(s, 0, 1, &pool);
            let flows: HashSet<FlowTuple> = (0..500).map(|i| g.flow_tuple(i)).collect();
            run(&mut g, 2000, |p| {
                let d = p.data();
                assert!(flows.contains(&parse_keep(d)), "{s}: a flow of the spec");
                let old = held.get_mut(&(d.as_ptr() as usize)).expect("a pool buffer");
                let hdr = hdr_len(d);
                assert_eq!(d[hdr..], old[hdr..d.len()], "{s}: payload untouched");
                old[..d.len()].copy_from_slice(d);
            });
        }
    }

    #[test]
    fn keep_template_writes_headers_only() {
        // Against the frame built from scratch: the same headers (but the
        // UDP/IPv4 checksum, 0), the reused buffer's payload.
        for s in [
            "gen0,payload=keep,family=mixed,flows=5000",
            "gen0,payload=keep,family=mixed,proto=tcp,flows=5000",
        ] {
            let sp = spec(s);
            let layout = Layout::new(&sp);
            let mac = [2, 0, 0, 0, 0, 9];
            for size in [64usize, 594, 1420] {
                for i in [0u64, 1, 2, 3, 4998, 4999] {
                    let t = layout.tuple(i);
                    let len = frame_len(size, t.family, t.proto);
                    let tpl = Template::new(len, t.family, &layout, &mac, GenPayload::Keep);
                    let mut want = vec![0u8; len];
                    build_frame(&mut want, &mac, &t, 77);
                    let hdr = hdr_len(&want);
                    if t.family == Family::V4 && t.proto == PROTO_UDP {
                        want[40..42].fill(0);
                    }
                    let old: Vec<u8> = (0..len).map(|k| (k * 5 + 1) as u8).collect();
                    let mut d = old.clone();
                    tpl.write(&mut d, &t, 77);
                    assert_eq!(d[..hdr], want[..hdr], "{s} size {size} flow {i}");
                    assert_eq!(d[hdr..], old[hdr..], "{s} size {size} flow {i}");
                    assert_eq!(parse_keep(&d), t);
                }
            }
        }
    }

    /// FNV-1a over every frame's length and bytes, in order, taken in
    /// bursts of varying size (1, 2, ... 32, 1, ...): frames do not depend on
    /// where bursts start.
    fn frames_hash(s: &str, q: usize, nq: usize, n: usize) -> u64 {
        let pool = Pool::with_defaults(256);
        let mut g = queue(s, q, nq, &pool);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        let (mut b, mut seen, mut k) = (Burst::new(), 0, 0);
        while seen < n {
            let got = g.rx_burst(&mut b, (n - seen).min(k % MAX + 1));
            assert!(got > 0);
            seen += got;
            k += 1;
            for p in b.drain() {
                (p.len() as u32)
                    .to_be_bytes()
                    .into_iter()
                    .for_each(&mut eat);
                p.data().iter().copied().for_each(&mut eat);
            }
        }
        h
    }

    #[test]
    fn frame_sequence_is_pinned() {
        // The exact frames (flows, sizes, IP ids, checksums, zero payloads)
        // a seed gives, as the generator produced them before its per-packet
        // work was trimmed: a faster builder must not change the traffic.
        // Buffers are reused from a small pool, so stale bytes would show.
        // (gen0,flows=..., queue, of queues, hash)
        let cases: [(&str, usize, usize, u64); 8] = [
            (
                "10000,size=64,src=10.0.0.0/8,dst=172.16.0.1/32",
                0,
                1,
                0x0323741409e130a4,
            ),
            (
                "10000,size=1420,src=10.0.0.0/8,dst=172.16.0.1/32",
                0,
                1,
                0xba05b48f278a1b73,
            ),
            (
                "5000,size=imix,family=mixed,new_flow_pct=10,seed=3",
                0,
                1,
                0x47a674f971b71e3f,
            ),
            (
                "5000,size=imix,family=mixed,proto=tcp,seed=9",
                1,
                3,
                0x3a4652b0dcc70d17,
            ),
            (
                "300,size=200,family=ipv6,dist=zipf,seed=5",
                0,
                1,
                0xb41da09f78c695d0,
            ),
            (
                "70000,size=594,proto=tcp,new_flow_pct=100",
                0,
                2,
                0x67d822ada509dfc5,
            ),
            (
                "1000,size=1518,family=ipv6,proto=tcp,seed=2",
                0,
                1,
                0x15b33b50cbe04f65,
            ),
            (
                "100000,size=128,src=10.0.0.0/30,dst=10.1.0.0/24",
                0,
                1,
                0xcc6d5d6454078de1,
            ),
        ];
        for (s, q, nq, want) in cases {
            let s = format!("gen0,flows={s}");
            let got = frames_hash(&s, q, nq, 3000);
            assert_eq!(got, want, "{s} queue {q}/{nq}: {got:#x}");
        }
    }

    #[test]
    fn new_flow_share() {
        let pool = Pool::with_defaults(64);
        let mut g = queue(
            "gen0,flows=500,new_flow_pct=20,proto=tcp,seed=3",
            0,
            1,
            &pool,
        );
        let est: HashSet<FlowTuple> = (0..500).map(|i| g.flow_tuple(i)).collect();
        let mut new = HashSet::new();
        let mut n_new = 0;
        run(&mut g, 100_000, |p| {
            let t = parse(p.data());
            assert_eq!(t.proto, 6);
            if !est.contains(&t) {
                n_new += 1;
                assert!(new.insert(t), "a new flow repeated");
            }
        });
        assert_eq!(
            g.new_flow_packets(),
            n_new,
            "exact count of new-flow packets"
        );
        let share = n_new as f64 / 100_000.0;
        assert!((share - 0.20).abs() < 0.01, "new-flow share {share}");
    }

    #[test]
    fn imix_mix() {
        let pool = Pool::with_defaults(64);
        let mut g = queue("gen0,size=imix", 0, 1, &pool);
        let mut by_len: HashMap<usize, usize> = HashMap::new();
        run(&mut g, 1200, |p| {
            parse(p.data());
            *by_len.entry(p.len()).or_default() += 1;
        });
        assert_eq!(by_len, HashMap::from([(60, 700), (590, 400), (1514, 100)]));
        // Minimum sizes: IPv6/TCP headers do not fit 60 bytes.
        let mut g = queue("gen0,family=ipv6,proto=tcp,size=64", 0, 1, &pool);
        run(&mut g, 10, |p| {
            assert_eq!(p.len(), 74);
            parse(p.data());
        });
        let mut g = queue("gen0,size=1000", 0, 1, &pool);
        run(&mut g, 10, |p| assert_eq!(p.len(), 996));
    }

    #[test]
    fn zipf_skew() {
        let pool = Pool::with_defaults(64);
        let mut g = queue("gen0,flows=1000,dist=zipf,zipf_s=1.1,seed=11", 0, 1, &pool);
        let mut count: HashMap<FlowTuple, usize> = HashMap::new();
        let n = 100_000;
        run(&mut g, n, |p| {
            *count.entry(parse(p.data())).or_default() += 1
        });
        let h: f64 = (1..=1000).map(|k| (k as f64).powf(-1.1)).sum();
        for rank in [0u64, 1, 9] {
            let want = ((rank + 1) as f64).powf(-1.1) / h;
            let got = count[&g.flow_tuple(rank)] as f64 / n as f64;
            assert!(
                (got - want).abs() < want * 0.1,
                "rank {rank}: {got} vs {want}"
            );
        }
        // The top 10 % of flows carry most packets (uniform would give 10 %).
        let top: usize = (0..100)
            .map(|i| count.get(&g.flow_tuple(i)).copied().unwrap_or(0))
            .sum();
        assert!(
            top as f64 / n as f64 > 0.6,
            "top share {}",
            top as f64 / n as f64
        );
    }

    #[test]
    fn mixed_families_and_prefixes() {
        let pool = Pool::with_defaults(64);
        let mut g = queue(
            "gen0,family=mixed,flows=64,src=192.0.2.0/24,dst6=2001:db8::/64,new_flow_pct=50",
            0,
            1,
            &pool,
        );
        let (src4, dst6): (Prefix, Prefix) = (
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/64".parse().unwrap(),
        );
        let (mut v4, mut v6) = (0, 0);
        run(&mut g, 4000, |p| {
            let t = parse(p.data());
            match t.family {
                Family::V4 => {
                    v4 += 1;
                    assert!(src4.contains(t.src));
                    assert_ne!(t.src, src4.addr, "network address skipped");
                }
                Family::V6 => {
                    v6 += 1;
                    assert!(dst6.contains(t.dst));
                }
            }
        });
        assert!(v4 > 1600 && v6 > 1600, "v4 {v4} v6 {v6}");
    }

    #[test]
    fn queues_share_flows_and_count() {
        let pool = Pool::with_defaults(256);
        let s = "gen0,flows=100,count=1001";
        let mut all = HashSet::new();
        let mut total = 0;
        for q in 0..3 {
            let mut g = queue(s, q, 3, &pool);
            let local = g.local_flows();
            let mut b = Burst::new();
            while !g.is_done() {
                total += g.rx_burst(&mut b, 32);
                for p in b.drain() {
                    let t = parse(p.data());
                    assert!(local.clone().any(|i| g.flow_tuple(i) == t));
                    all.insert(t);
                }
            }
            assert_eq!(g.rx_burst(&mut b, 32), 0, "done stays done");
        }
        assert_eq!(total, 1001);
        assert_eq!(all.len(), 100);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn new_flows_distinct_across_queues() {
        let pool = Pool::with_defaults(64);
        let mut seen = HashSet::new();
        for q in 0..2 {
            let mut g = queue("gen0,flows=10,new_flow_pct=100,family=mixed", q, 2, &pool);
            run(&mut g, 2000, |p| assert!(seen.insert(parse(p.data()))));
        }
    }

    #[test]
    fn pacing_is_per_burst() {
        let pool = Pool::with_defaults(64);
        let mut g = queue("gen0,rate=1", 0, 1, &pool);
        let mut b = Burst::new();
        let n: usize = (0..3).map(|_| g.rx_burst(&mut b, 32)).sum();
        // One packet per second: three immediate bursts cannot get 32 each.
        assert!(n <= 2, "{n}");
        // A share of 0 pps (rate 1 over 2 queues) sends nothing, ever.
        let mut idle = queue("gen0,rate=1", 1, 2, &pool);
        assert_eq!(idle.rx_burst(&mut b, 32), 0);
        b.clear();
    }

    #[test]
    fn falling_behind_counts_imissed() {
        let pool = Pool::with_defaults(64);
        let st = Arc::new(QueueStats::default());
        let mut g = GenRx::new(
            0,
            [0; 6],
            &spec("gen0,rate=1G,count=100000"),
            0,
            1,
            pool,
            st.clone(),
            None,
        )
        .unwrap();
        let mut b = Burst::new();
        g.rx_burst(&mut b, 32); // starts the clock
        b.clear();
        // At 1 Gpps, 10 ms owe 10 M packets: far more than the ring holds.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let n = g.rx_burst(&mut b, 32);
        b.clear();
        let s = st.snapshot();
        assert_eq!(n, 32);
        assert!(s.imissed > 0);
        // Every packet of `count` is either delivered, missed or still owed.
        let delivered = s.rx_packets;
        let owed = g.remaining.unwrap();
        assert_eq!(delivered + s.imissed + owed, 100_000);
    }

    #[test]
    fn transform_hook_and_errors() {
        let pool = Pool::with_defaults(64);
        let mut k = 0u32;
        let tf: GenTransform = Box::new(move |b: &mut HeapBuf| {
            k += 1;
            if k & 1 == 0 {
                return false;
            }
            b.prepend(4).unwrap()[..4].copy_from_slice(&k.to_be_bytes());
            true
        });
        let st = Arc::new(QueueStats::default());
        let mut g = GenRx::new(
            0,
            [0; 6],
            &spec("gen0,count=10"),
            0,
            1,
            pool.clone(),
            st.clone(),
            Some(tf),
        )
        .unwrap();
        let mut b = Burst::new();
        assert_eq!(g.rx_burst(&mut b, 32), 5);
        let tags: Vec<u32> = b
            .iter()
            .map(|p| u32::from_be_bytes(p.data()[..4].try_into().unwrap()))
            .collect();
        assert_eq!(tags, vec![1, 3, 5, 7, 9]);
        assert!(g.is_done());
        assert_eq!(st.snapshot().imissed, 5);
        b.clear();
        assert_eq!(pool.in_use(), 0);

        let e = GenRx::new(
            0,
            [0; 6],
            &spec("gen0,src=10.0.0.1/32,dst=10.0.0.2/32,flows=70000"),
            0,
            1,
            pool.clone(),
            st.clone(),
            None,
        )
        .err()
        .unwrap();
        assert!(
            matches!(e, GenError::TooManyFlows { cap: 64512, .. }),
            "{e}"
        );
        let small = Pool::new(4, 1024, 128);
        let e = GenRx::new(0, [0; 6], &spec("gen0,size=imix"), 0, 1, small, st, None)
            .err()
            .unwrap();
        assert!(matches!(e, GenError::TooBig { .. }), "{e}");
    }
}
