//! The live SA object, owned by the management core and read by workers
//! through [`lcore::Slots`] handles.

use super::spec::SaSpec;
use crate::esp::{EspSa, InboundState, SaError, SeqCounter};
use crate::ip::{Addr, Family};
use crate::spd::{Mode, Template};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Per-SA traffic counters, updated once per burst per SA.
#[derive(Debug, Default)]
pub struct SaCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

/// Expiry bits in [`Sa::expired`].
pub const EXPIRE_SOFT: u8 = 1;
pub const EXPIRE_HARD: u8 = 2;

/// An SA in the SAD.
pub struct Sa {
    pub spec: SaSpec,
    pub added: Instant,
    /// The keyed ESP transform and prebuilt outer header.
    pub esp: EspSa,
    /// Outbound sequence numbers, reserved per burst (one atomic add per SA per
    /// burst). Shared with the object an update replaces, so no number repeats.
    pub seq: Arc<SeqCounter>,
    /// Inbound replay window and counters, locked once per SA per burst.
    pub inbound: Mutex<InboundState>,
    pub counters: SaCounters,
    /// Which expiries a worker already reported (so each is reported once).
    pub expired: AtomicU8,
    /// Engine clock (seconds) + 1 of the first use, 0 = never used.
    pub first_use: AtomicU64,
}

impl std::fmt::Debug for Sa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sa")
            .field("spi", &self.spec.spi)
            .field("dst", &self.spec.dst)
            .finish()
    }
}

impl Sa {
    pub fn new(spec: SaSpec) -> Result<Sa, SaError> {
        let seq = Arc::new(SeqCounter::new(spec.esn));
        Self::with_seq(spec, seq)
    }

    /// An SA that continues `seq` (an update replaces the object, not the counter).
    pub fn with_seq(spec: SaSpec, seq: Arc<SeqCounter>) -> Result<Sa, SaError> {
        let esp = EspSa::new(&spec)?;
        let inbound = Mutex::new(InboundState::new(&esp));
        Ok(Sa {
            seq,
            spec,
            added: Instant::now(),
            esp,
            inbound,
            counters: SaCounters::default(),
            expired: AtomicU8::new(0),
            first_use: AtomicU64::new(0),
        })
    }

    /// Account one burst of traffic; returns which expiry (if any) this burst
    /// crossed for the first time: `EXPIRE_HARD`, `EXPIRE_SOFT` or 0.
    #[inline]
    pub fn account(&self, packets: u64, bytes: u64, now_secs: u64) -> u8 {
        if self.first_use.load(Ordering::Relaxed) == 0 {
            self.first_use.store(now_secs + 1, Ordering::Relaxed);
        }
        let p = self.counters.packets.fetch_add(packets, Ordering::Relaxed) + packets;
        let b = self.counters.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let lt = &self.spec.lifetime;
        let over = |limit: u64, v: u64| limit != 0 && v >= limit;
        let want = if over(lt.hard_packets, p) || over(lt.hard_bytes, b) {
            EXPIRE_HARD | EXPIRE_SOFT
        } else if over(lt.soft_packets, p) || over(lt.soft_bytes, b) {
            EXPIRE_SOFT
        } else {
            return 0;
        };
        let had = self.expired.load(Ordering::Relaxed);
        if had & want == want {
            return 0;
        }
        let had = self.expired.fetch_or(want, Ordering::Relaxed);
        let new = want & !had;
        if new & EXPIRE_HARD != 0 {
            EXPIRE_HARD
        } else {
            new & EXPIRE_SOFT
        }
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
        if t.spi.is_some() && t.mode == Mode::Tunnel && t.src.is_none() && t.dst.is_none() {
            // An SPI-bound template (ipsec-secgw `protect SPI`): the SA names its own endpoints.
            return true;
        }
        let (fam, ts, td) = match t.mode {
            Mode::Tunnel => (t.family, t.src, t.dst),
            Mode::Transport => (family, Some(src), Some(dst)),
        };
        fam == s.family && ts.is_none_or(|a| a == s.src) && td.is_none_or(|a| a == s.dst)
    }
}
