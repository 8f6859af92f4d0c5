//! `EspSa`: the runtime ESP context of one SA, built once from its
//! [`SaSpec`] and shared read-only by every lcore (it is `Send + Sync`).
//!
//! It holds the keyed cipher, the salt, the SPI, mode, family and endpoints,
//! the outbound sequence counter, and for tunnel mode a prebuilt outer IP
//! header. The inbound replay window is deliberately not in here: it changes
//! per packet, so the caller owns one [`ReplayWindow`] per inbound SA and
//! serializes access per burst ([`InboundState`] bundles it with counters).

use super::cipher::{AwsLcGcm, CipherError, EspAead};
use super::hdr::{fold, put16, sum16, IpInfo};
use super::replay::{BadWindowSize, ReplayWindow, MIN_WINDOW};
use super::seq::SeqCounter;
use super::{decap, Decapped, EspError, IPPROTO_ESP, SALT_LEN};
use crate::buf::PacketBuf;
use crate::ip::{Addr, Family};
use crate::sad::SaSpec;
use crate::spd::Mode;

/// How tunnel mode sets the outer IPv4 DF bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DfMode {
    /// Copy the inner IPv4 DF bit; set it for an inner IPv6 packet (IPv6 is
    /// never fragmented on the way). Linux's default.
    #[default]
    Copy,
    /// Always set DF.
    Set,
    /// Never set DF.
    Clear,
}

/// Outer header options of tunnel mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterOpts {
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 DF bit.
    pub df: DfMode,
}

impl Default for OuterOpts {
    fn default() -> OuterOpts {
        OuterOpts {
            ttl: 64,
            df: DfMode::Copy,
        }
    }
}

/// Why an `EspSa` could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    #[error("SA {spi:#x}: {err}")]
    Cipher { spi: u32, err: CipherError },
    #[error("SA {spi:#x}: {err}")]
    Window { spi: u32, err: BadWindowSize },
    #[error("SA {spi:#x}: the cipher is keyed for another algorithm")]
    AlgMismatch { spi: u32 },
}

/// The prebuilt outer header of a tunnel-mode SA.
#[derive(Clone, Debug)]
struct OuterTemplate {
    hdr: [u8; 40],
    /// 20 (IPv4), 40 (IPv6), or 0 (transport mode: no outer header).
    len: usize,
    /// IPv4: ones' complement sum of the words that never change
    /// (TTL/protocol and the addresses).
    const_sum: u32,
}

impl OuterTemplate {
    fn new(mode: Mode, family: Family, src: Addr, dst: Addr, ttl: u8) -> OuterTemplate {
        let mut hdr = [0u8; 40];
        if mode == Mode::Transport {
            return OuterTemplate {
                hdr,
                len: 0,
                const_sum: 0,
            };
        }
        match family {
            Family::V4 => {
                hdr[0] = 0x45;
                hdr[8] = ttl;
                hdr[9] = IPPROTO_ESP;
                hdr[12..16].copy_from_slice(&(src as u32).to_be_bytes());
                hdr[16..20].copy_from_slice(&(dst as u32).to_be_bytes());
                let const_sum = sum16(&hdr[8..10]) + sum16(&hdr[12..20]);
                OuterTemplate {
                    hdr,
                    len: 20,
                    const_sum,
                }
            }
            Family::V6 => {
                hdr[0] = 0x60;
                hdr[6] = IPPROTO_ESP;
                hdr[7] = ttl;
                hdr[8..24].copy_from_slice(&src.to_be_bytes());
                hdr[24..40].copy_from_slice(&dst.to_be_bytes());
                OuterTemplate {
                    hdr,
                    len: 40,
                    const_sum: 0,
                }
            }
        }
    }
}

/// The runtime ESP context of one SA (either direction).
pub struct EspSa<C: EspAead = AwsLcGcm> {
    cipher: C,
    salt: [u8; SALT_LEN],
    spi: u32,
    mode: Mode,
    family: Family,
    src: Addr,
    dst: Addr,
    esn: bool,
    replay_window: u32,
    df: DfMode,
    outer: OuterTemplate,
    seq: SeqCounter,
    /// An empty window of the SA's size, cloned for each inbound state.
    window_proto: ReplayWindow,
}

impl EspSa<AwsLcGcm> {
    /// Build the context of `spec` with the aws-lc-rs cipher and default
    /// outer header options (TTL 64, DF copied).
    pub fn new(spec: &SaSpec) -> Result<EspSa<AwsLcGcm>, SaError> {
        EspSa::with_opts(spec, OuterOpts::default())
    }

    /// As [`EspSa::new`] with explicit outer header options.
    pub fn with_opts(spec: &SaSpec, opts: OuterOpts) -> Result<EspSa<AwsLcGcm>, SaError> {
        let cipher = AwsLcGcm::new(spec.alg, &spec.key)
            .map_err(|err| SaError::Cipher { spi: spec.spi, err })?;
        EspSa::with_cipher(spec, cipher, opts)
    }
}

impl<C: EspAead> EspSa<C> {
    /// Build the context of `spec` around an already keyed cipher.
    ///
    /// The replay window size of the spec is taken as is (0 = off, 64..=4096);
    /// 1..=63 is raised to 64 (RFC 4303 3.4.3: "a window size of 64 is
    /// preferred and SHOULD be employed as the default").
    pub fn with_cipher(spec: &SaSpec, cipher: C, opts: OuterOpts) -> Result<EspSa<C>, SaError> {
        if cipher.alg() != spec.alg {
            return Err(SaError::AlgMismatch { spi: spec.spi });
        }
        let replay_window = match spec.replay_window {
            0 => 0,
            n if n < MIN_WINDOW => MIN_WINDOW,
            n => n,
        };
        let window_proto = ReplayWindow::new(replay_window, spec.esn)
            .map_err(|err| SaError::Window { spi: spec.spi, err })?;
        Ok(EspSa {
            cipher,
            salt: spec.salt,
            spi: spec.spi,
            mode: spec.mode,
            family: spec.family,
            src: spec.src,
            dst: spec.dst,
            esn: spec.esn,
            replay_window,
            df: opts.df,
            outer: OuterTemplate::new(spec.mode, spec.family, spec.src, spec.dst, opts.ttl),
            seq: SeqCounter::new(spec.esn),
            window_proto,
        })
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// Family of the endpoints (the outer header in tunnel mode, the packet
    /// itself in transport mode).
    pub fn family(&self) -> Family {
        self.family
    }
    pub fn src(&self) -> Addr {
        self.src
    }
    pub fn dst(&self) -> Addr {
        self.dst
    }
    pub fn esn(&self) -> bool {
        self.esn
    }
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }
    /// The keyed AEAD.
    pub fn cipher(&self) -> &C {
        &self.cipher
    }
    /// Replay window size in packets (0 = off).
    pub fn replay_window(&self) -> u32 {
        self.replay_window
    }
    /// The outbound sequence counter (reserve a block per burst).
    pub fn seq(&self) -> &SeqCounter {
        &self.seq
    }
    /// A fresh replay window for this SA.
    pub fn new_replay_window(&self) -> ReplayWindow {
        self.window_proto.clone()
    }

    /// Outer header length (0 in transport mode).
    #[inline]
    pub(crate) fn outer_len(&self) -> usize {
        self.outer.len
    }

    /// Write the outer header for an inner packet described by `inner`.
    /// `total` is the whole outer packet length; `out` is `outer_len()` long.
    ///
    /// RFC 6040 section 4.1, normal mode: the ingress copies the ECN field of
    /// the arriving (inner) header to the outer header, CE included
    /// (compatibility mode, which would write Not-ECT, is not offered).
    /// RFC 4301 section 5.1.2.1: DSCP is copied from the inner header.
    /// The IPv4 ID is the low 16 bits of the sequence number: distinct for
    /// 65536 consecutive packets of the SA without a shared counter.
    #[inline]
    pub(crate) fn write_outer(&self, out: &mut [u8], total: usize, inner: &IpInfo, seq: u64) {
        // Fixed-size copies and stores (one bounds check each family): a
        // slice of run-time length would be a `memcpy` call a packet.
        match self.family {
            Family::V4 => {
                let out = &mut out[..20];
                out.copy_from_slice(&self.outer.hdr[..20]);
                let df = match self.df {
                    DfMode::Copy => inner.df,
                    DfMode::Set => true,
                    DfMode::Clear => false,
                };
                let flags: u16 = if df { 0x4000 } else { 0 };
                let id = seq as u16;
                out[1] = inner.tos;
                put16(out, 2, total as u16);
                put16(out, 4, id);
                put16(out, 6, flags);
                let s = self.outer.const_sum
                    + (0x4500 | inner.tos as u32)
                    + total as u32
                    + id as u32
                    + flags as u32;
                put16(out, 10, fold(s));
            }
            Family::V6 => {
                let out = &mut out[..40];
                out.copy_from_slice(&self.outer.hdr);
                out[0] = 0x60 | (inner.tos >> 4);
                out[1] = inner.tos << 4;
                put16(out, 4, (total - 40) as u16);
            }
        }
    }
}

impl<C: EspAead> std::fmt::Debug for EspSa<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspSa")
            .field("spi", &format_args!("{:#x}", self.spi))
            .field("mode", &self.mode)
            .field("family", &self.family)
            .field("alg", &self.cipher.alg())
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .finish_non_exhaustive()
    }
}

/// The inbound, per-packet-changing state of one SA: its replay window and
/// counters. The caller owns it and serializes access (per burst).
#[derive(Clone, Debug)]
pub struct InboundState {
    pub window: ReplayWindow,
    /// Packets decapsulated successfully.
    pub packets: u64,
    /// Bytes of the decapsulated packets (what is left in the buffer).
    pub bytes: u64,
}

impl InboundState {
    pub fn new<C: EspAead>(sa: &EspSa<C>) -> InboundState {
        InboundState {
            window: sa.new_replay_window(),
            packets: 0,
            bytes: 0,
        }
    }

    /// [`decap::decapsulate`] with this state's window, counting successes.
    #[inline]
    pub fn decapsulate<C: EspAead, B: PacketBuf>(
        &mut self,
        sa: &EspSa<C>,
        pkt: &mut B,
    ) -> Result<Decapped, EspError> {
        let d = decap::decapsulate(sa, &mut self.window, pkt)?;
        self.packets += 1;
        self.bytes += d.len as u64;
        Ok(d)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sad::{AeadAlg, SaLifetime};

    pub(crate) fn spec(mode: Mode, family: Family) -> SaSpec {
        let (src, dst) = match family {
            Family::V4 => (0xc000_0201, 0xc633_6407),
            Family::V6 => (
                0x2001_0db8_ffff_0000_0000_0000_0000_0001,
                0x2001_0db8_eeee_0000_0000_0000_0000_0001,
            ),
        };
        SaSpec {
            spi: 0x1234_5678,
            mode,
            family,
            src,
            dst,
            reqid: 1,
            alg: AeadAlg::Aes128Gcm,
            key: (1..=16).collect(),
            salt: [0xa, 0xb, 0xc, 0xd],
            replay_window: 64,
            esn: false,
            lifetime: SaLifetime::default(),
        }
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EspSa>();
    }

    #[test]
    fn build_and_validate() {
        let s = spec(Mode::Tunnel, Family::V4);
        let sa = EspSa::new(&s).unwrap();
        assert_eq!(sa.outer_len(), 20);
        assert_eq!(sa.seq().peek(), 1);
        let mut bad = s.clone();
        bad.key.pop();
        assert!(matches!(EspSa::new(&bad), Err(SaError::Cipher { .. })));
        let mut bad = s.clone();
        bad.replay_window = 5000;
        assert!(matches!(EspSa::new(&bad), Err(SaError::Window { .. })));
        let mut small = s.clone();
        small.replay_window = 32;
        assert_eq!(EspSa::new(&small).unwrap().replay_window(), 64);
        let t = spec(Mode::Transport, Family::V6);
        assert_eq!(EspSa::new(&t).unwrap().outer_len(), 0);
    }

    #[test]
    fn outer_v4_header() {
        let s = spec(Mode::Tunnel, Family::V4);
        let sa = EspSa::new(&s).unwrap();
        let inner = IpInfo {
            family: Family::V4,
            total: 46,
            hdr_len: 20,
            nh_off: 9,
            tos: 0xb9, // DSCP 46 (EF), ECN ECT(1)
            df: true,
            fragment: false,
        };
        let mut out = [0u8; 20];
        sa.write_outer(&mut out, 100, &inner, 0x1_0007);
        assert_eq!(out[0], 0x45);
        assert_eq!(out[1], 0xb9);
        assert_eq!(&out[2..4], &[0, 100]);
        assert_eq!(&out[4..6], &[0, 7]);
        assert_eq!(&out[6..8], &[0x40, 0]);
        assert_eq!(out[8], 64);
        assert_eq!(out[9], 50);
        assert_eq!(&out[12..16], &[192, 0, 2, 1]);
        assert_eq!(&out[16..20], &[198, 51, 100, 7]);
        // The checksum verifies: the folded sum of the header is 0xffff.
        assert_eq!(fold(sum16(&out)), 0);
        let sa = EspSa::with_opts(
            &s,
            OuterOpts {
                ttl: 9,
                df: DfMode::Clear,
            },
        )
        .unwrap();
        sa.write_outer(&mut out, 100, &inner, 1);
        assert_eq!((out[6], out[8]), (0, 9));
        assert_eq!(fold(sum16(&out)), 0);
    }

    #[test]
    fn outer_v6_header() {
        let sa = EspSa::new(&spec(Mode::Tunnel, Family::V6)).unwrap();
        let inner = IpInfo {
            family: Family::V4,
            total: 46,
            hdr_len: 20,
            nh_off: 9,
            tos: 0xb9,
            df: false,
            fragment: false,
        };
        let mut out = [0u8; 40];
        sa.write_outer(&mut out, 140, &inner, 1);
        assert_eq!(&out[..8], &[0x6b, 0x90, 0, 0, 0, 100, 50, 64]);
        assert_eq!(&out[8..10], &[0x20, 0x01]);
        assert_eq!(out[39], 1);
    }
}
