//! The live SA object, owned by the management core and read by workers
//! through [`lcore::Slots`] handles.

use super::spec::SaSpec;
use crate::ip::{Addr, Family};
use crate::spd::{Mode, Template};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Per-SA traffic counters, updated once per burst per SA.
#[derive(Debug, Default)]
pub struct SaCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

/// An SA in the SAD.
#[derive(Debug)]
pub struct Sa {
    pub spec: SaSpec,
    pub added: Instant,
    pub counters: SaCounters,
    /// Outbound sequence number: the last one handed out (RFC 4303: starts at 1).
    pub seq: AtomicU64,
    /// Set by the first worker that reported a soft/hard expiry, so it is reported once.
    pub expire_reported: AtomicU64,
    /// Per-SA inbound state (anti-replay window), locked once per burst, not per packet.
    pub inbound: Mutex<SaInbound>,
}

/// Inbound per-SA state. Filled by the ESP layer.
#[derive(Debug, Default)]
pub struct SaInbound {
    /// Highest sequence number accepted so far (the replay window lives in `esp`).
    pub last_seq: u64,
}

impl Sa {
    pub fn new(spec: SaSpec) -> Sa {
        Sa {
            spec,
            added: Instant::now(),
            counters: SaCounters::default(),
            seq: AtomicU64::new(0),
            expire_reported: AtomicU64::new(0),
            inbound: Mutex::new(SaInbound::default()),
        }
    }

    /// Account one burst of traffic; returns the totals after it.
    #[inline]
    pub fn account(&self, packets: u64, bytes: u64) -> (u64, u64) {
        let p = self.counters.packets.fetch_add(packets, Ordering::Relaxed) + packets;
        let b = self.counters.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (p, b)
    }

    /// Does this SA satisfy `t` for a flow between `src` and `dst` (transport mode
    /// takes the flow's addresses)? As Linux's `xfrm_state_ok`/`xfrm_tmpl_resolve`.
    pub fn matches_template(&self, t: &Template, family: Family, src: Addr, dst: Addr) -> bool {
        let s = &self.spec;
        if t.mode != s.mode {
            return false;
        }
        if let Some(spi) = t.spi {
            if spi != s.spi {
                return false;
            }
        }
        if t.reqid != 0 && t.reqid != s.reqid {
            return false;
        }
        let (fam, ts, td) = match t.mode {
            Mode::Tunnel => (t.family, t.src, t.dst),
            Mode::Transport => (family, Some(src), Some(dst)),
        };
        if t.spi.is_some() && t.mode == Mode::Tunnel && t.src.is_none() && t.dst.is_none() {
            // An SPI-bound template (ipsec-secgw `protect SPI`): the SA names its own endpoints.
            return true;
        }
        fam == s.family && ts.is_none_or(|a| a == s.src) && td.is_none_or(|a| a == s.dst)
    }
}
