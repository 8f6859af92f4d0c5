//! A cheap cycle clock for per-burst timing on the workers: the time stamp
//! counter (`rdtsc`, no syscall, no vDSO call) on x86_64, calibrated once per
//! process against [`Instant`]; elsewhere [`Instant`] itself.
//!
//! The TSC of every x86_64 CPU this runs on in practice is invariant
//! (`constant_tsc nonstop_tsc`): it ticks at a fixed rate whatever the core
//! frequency, and the kernel keeps it in step across cores. Readings are only
//! ever subtracted from readings taken on the same worker a few microseconds
//! earlier; a difference that comes out negative (a migration between cores
//! whose counters differ) is reported as 0.
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The current tick count.
#[inline]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` reads a counter; it has no preconditions, touches
        // no memory and exists on every x86_64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        epoch().elapsed().as_nanos() as u64
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Converts tick differences to nanoseconds: `ns = ticks * scale >> 32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleClock {
    scale: u64,
}

impl CycleClock {
    /// The process-wide clock, calibrated on first use (about 10 ms, once).
    pub fn get() -> CycleClock {
        static CLOCK: OnceLock<CycleClock> = OnceLock::new();
        *CLOCK.get_or_init(CycleClock::calibrate)
    }

    #[cfg(target_arch = "x86_64")]
    fn calibrate() -> CycleClock {
        // Two measurements of 5 ms; keep the smaller ns-per-tick estimate
        // (a preemption between a pair of reads only inflates it).
        let mut best: Option<f64> = None;
        for _ in 0..2 {
            let (t0, c0) = (Instant::now(), ticks());
            while t0.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            let (c1, ns) = (ticks(), t0.elapsed().as_nanos() as f64);
            let per_tick = ns / (c1.wrapping_sub(c0).max(1) as f64);
            best = Some(best.map_or(per_tick, |b: f64| b.min(per_tick)));
        }
        CycleClock::with_ns_per_tick(best.unwrap_or(1.0))
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn calibrate() -> CycleClock {
        let _ = Duration::ZERO;
        CycleClock::with_ns_per_tick(1.0)
    }

    /// A clock of `ns_per_tick` nanoseconds per tick (tests, other sources).
    pub fn with_ns_per_tick(ns_per_tick: f64) -> CycleClock {
        let s = if ns_per_tick.is_finite() && ns_per_tick > 0.0 {
            ns_per_tick
        } else {
            1.0
        };
        CycleClock {
            scale: ((s * (1u64 << 32) as f64) as u64).max(1),
        }
    }

    /// Nanoseconds between two readings of [`ticks`] (0 if `end < start`).
    #[inline]
    pub fn ns_between(&self, start: u64, end: u64) -> u64 {
        let d = end.saturating_sub(start);
        ((d as u128 * self.scale as u128) >> 32) as u64
    }

    /// Nanoseconds per tick.
    pub fn ns_per_tick(&self) -> f64 {
        self.scale as f64 / (1u64 << 32) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion() {
        let c = CycleClock::with_ns_per_tick(0.5);
        assert_eq!(c.ns_between(1000, 3000), 1000);
        assert_eq!(c.ns_between(3000, 1000), 0, "backwards is 0");
        assert_eq!(CycleClock::with_ns_per_tick(f64::NAN).ns_per_tick(), 1.0);
    }

    #[test]
    fn ticks_advance_and_calibration_is_sane() {
        let c = CycleClock::get();
        assert!(c.ns_per_tick() > 0.0);
        let t0 = ticks();
        let i0 = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let t1 = ticks();
        assert!(t1 > t0);
        // Not a timing assertion: a sleep of 2 ms measures at least 1 ms.
        let ns = c.ns_between(t0, t1);
        assert!(ns >= 1_000_000, "{ns} ns");
        assert!(ns <= i0.elapsed().as_nanos() as u64 * 2 + 1_000_000);
    }
}
