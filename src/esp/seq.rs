//! The outbound sequence counter of one SA, shared by every lcore that
//! sends on it.
//!
//! RFC 4303 section 3.3.3:
//! > The sender's counter is initialized to 0 when an SA is established.
//! > The sender increments the sequence number (or ESN) counter for this
//! > SA and inserts the low-order 32 bits of the value into the Sequence
//! > Number field.  Thus, the first packet sent using a given SA will
//! > contain a sequence number of 1.
//! > [...] If anti-replay is enabled (the default), the transmitted
//! > sequence number must never be allowed to cycle.  Thus, the sender's
//! > counter and the receiver's counter MUST be reset (by establishing a
//! > new SA and thus a new key) prior to the transmission of the 2^32nd
//! > packet on an SA.
//!
//! Since the explicit IV is the sequence number (RFC 4106 section 3.1: "the
//! same IV value is used only once for a given key"), a number is never
//! handed out twice, whether or not the receiver checks replays.
//!
//! An lcore reserves a block for its whole burst with one atomic add.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counter would pass its limit: the SA reached hard expiry and must not
/// send again (report it to mgmt, which kills the SA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outbound sequence numbers exhausted (hard expiry)")]
pub struct SeqExhausted;

/// Next outbound sequence number of an SA.
#[derive(Debug)]
pub struct SeqCounter {
    /// The next number to hand out; starts at 1.
    next: AtomicU64,
    /// Highest number that may be sent: 2^32 - 1, or 2^64 - 1 with ESN.
    limit: u64,
}

impl SeqCounter {
    /// A fresh counter: the first packet gets 1.
    pub fn new(esn: bool) -> SeqCounter {
        SeqCounter::starting_at(esn, 1)
    }

    /// A counter whose next number is `next` (tests, SA migration).
    pub fn starting_at(esn: bool, next: u64) -> SeqCounter {
        SeqCounter {
            next: AtomicU64::new(next),
            limit: if esn { u64::MAX } else { u32::MAX as u64 },
        }
    }

    /// Reserve `n` consecutive numbers; returns the first. One atomic add.
    ///
    /// Refuses the whole block if its last number would pass the limit; from
    /// then on every call refuses (the counter only grows). The numbers of a
    /// refused block are never handed out. `n = 0` reserves nothing and
    /// returns the next number.
    ///
    /// With ESN the counter is 64 bits: at 10^9 packets per second it lasts
    /// 584 years, so its own wrap is not guarded beyond `checked_add`.
    #[inline]
    pub fn reserve(&self, n: u32) -> Result<u64, SeqExhausted> {
        if n == 0 {
            return Ok(self.next.load(Ordering::Relaxed));
        }
        // Relaxed: uniqueness comes from the read-modify-write itself; the
        // numbers order nothing else.
        let first = self.next.fetch_add(n as u64, Ordering::Relaxed);
        match first.checked_add(n as u64 - 1) {
            Some(last) if first != 0 && last <= self.limit => Ok(first),
            _ => Err(SeqExhausted),
        }
    }

    /// The next number that `reserve` would hand out (may be past the limit).
    pub fn peek(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Has the counter passed its limit?
    pub fn is_exhausted(&self) -> bool {
        self.peek() > self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn starts_at_one_and_blocks_are_consecutive() {
        let c = SeqCounter::new(false);
        assert_eq!(c.reserve(32), Ok(1));
        assert_eq!(c.reserve(1), Ok(33));
        assert_eq!(c.reserve(0), Ok(34));
        assert_eq!(c.reserve(5), Ok(34));
        assert_eq!(c.peek(), 39);
    }

    #[test]
    fn no_esn_never_cycles() {
        let c = SeqCounter::starting_at(false, u32::MAX as u64 - 9);
        // 2^32 - 10 ..= 2^32 - 1: exactly ten numbers left.
        assert_eq!(c.reserve(10), Ok(u32::MAX as u64 - 9));
        // Every number is used: the next reservation must fail.
        assert!(c.is_exhausted());
        assert_eq!(c.reserve(1), Err(SeqExhausted));
        assert!(c.is_exhausted());
        assert_eq!(c.reserve(1), Err(SeqExhausted));

        // A block that would straddle the limit is refused whole.
        let c = SeqCounter::starting_at(false, u32::MAX as u64 - 3);
        assert_eq!(c.reserve(8), Err(SeqExhausted));
        assert_eq!(c.reserve(1), Err(SeqExhausted));
    }

    #[test]
    fn esn_passes_2_32() {
        let c = SeqCounter::starting_at(true, u32::MAX as u64 - 1);
        assert_eq!(c.reserve(4), Ok(u32::MAX as u64 - 1));
        assert_eq!(c.reserve(1), Ok(u32::MAX as u64 + 3));
        let c = SeqCounter::starting_at(true, u64::MAX - 1);
        assert_eq!(c.reserve(2), Ok(u64::MAX - 1));
        assert_eq!(c.reserve(1), Err(SeqExhausted));
    }

    #[test]
    fn concurrent_reservations_never_overlap() {
        let c = Arc::new(SeqCounter::new(false));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..1000 {
                        let first = c.reserve(32).unwrap();
                        got.extend(first..first + 32);
                    }
                    got
                })
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for s in h.join().unwrap() {
                assert!(all.insert(s), "sequence number {s} handed out twice");
            }
        }
        assert_eq!(all.len(), 4 * 1000 * 32);
        assert_eq!(*all.iter().min().unwrap(), 1);
        assert_eq!(*all.iter().max().unwrap(), 4 * 1000 * 32);
    }
}
