//! The RFC 4303 anti-replay window, with ESN (RFC 4303 Appendix A).
//!
//! RFC 4303 section 3.4.3:
//! > Duplicates are rejected through the use of a sliding receive window.
//! > How the window is implemented is a local matter, but the following
//! > text describes the functionality that the implementation must exhibit.
//! >
//! > The "right" edge of the window represents the highest, validated
//! > Sequence Number value received on this SA.  Packets that contain
//! > sequence numbers lower than the "left" edge of the window are
//! > rejected.  Packets falling within the window are checked against a
//! > list of received packets within the window.
//!
//! > If the received packet falls within the window and is not a
//! > duplicate, or if the packet is to the right of the window, and if a
//! > separate integrity algorithm is employed, then the receiver proceeds
//! > to integrity verification. [...] The receive window is updated only
//! > if the integrity verification succeeds.
//!
//! Hence [`ReplayWindow::check`] (before decryption, changes nothing) and
//! [`ReplayWindow::update`] (after the ICV verified) are separate.
//!
//! The bitmap is a ring of 64-bit blocks, as RFC 6479 describes: moving the
//! right edge clears whole blocks instead of shifting bits. It holds at least
//! one block more than the window, so the window never shares a block with
//! the sequence numbers that just left it.
//!
//! One window belongs to one SA; the caller serializes access (per burst).

/// Smallest window accepted (RFC 4303 3.4.3: "a window size of 64 is
/// preferred and SHOULD be employed as the default").
pub const MIN_WINDOW: u32 = 64;
/// Largest window accepted.
pub const MAX_WINDOW: u32 = 4096;

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Already received (its bit in the window is set).
    #[error("duplicate sequence number")]
    Duplicate,
    /// Left of the window (or 0, which a sender never uses, RFC 4303 3.3.3).
    #[error("sequence number left of the window")]
    TooOld,
}

/// A window size that is neither 0 (off) nor within 64..=4096.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replay window of {0} packets: must be 0 (off) or {MIN_WINDOW}..={MAX_WINDOW}")]
pub struct BadWindowSize(pub u32);

/// The anti-replay state of one inbound SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// W, in packets; 0 = anti-replay off.
    size: u32,
    esn: bool,
    /// T: the highest authenticated sequence number (0 = none yet).
    top: u64,
    /// Ring of 64-bit blocks; bit `s % 64` of block `(s / 64) % len` is `s`.
    bitmap: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets (0 = off, else 64..=4096). `esn`: the SA
    /// uses 64-bit extended sequence numbers and only the low 32 bits travel.
    pub fn new(size: u32, esn: bool) -> Result<ReplayWindow, BadWindowSize> {
        if size != 0 && !(MIN_WINDOW..=MAX_WINDOW).contains(&size) {
            return Err(BadWindowSize(size));
        }
        let blocks = if size == 0 {
            0
        } else {
            (size as usize / 64 + 1).next_power_of_two()
        };
        Ok(ReplayWindow {
            size,
            esn,
            top: 0,
            bitmap: vec![0u64; blocks].into_boxed_slice(),
        })
    }

    /// Window size in packets (0 = off).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Does the SA use ESN?
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The right edge: the highest authenticated sequence number (0 = none).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Forget everything (a fresh SA).
    pub fn reset(&mut self) {
        self.top = 0;
        self.bitmap.iter_mut().for_each(|b| *b = 0);
    }

    /// RFC 4303 Appendix A2.2: infer the high-order 32 bits of an ESN.
    ///
    /// > Under Case A (Figure 1) [Tl >= W - 1, the window lies within one
    /// > sequence number subspace]:
    /// >   If Seql >= Bl (where Bl = Tl - W + 1), then Seqh = Th
    /// >   If Seql < Bl (where Bl = Tl - W + 1), then Seqh = Th + 1
    /// > Under Case B (Figure 2) [Tl < W - 1, the window spans two subspaces]:
    /// >   If Seql >= Bl (where Bl = Tl - W + 1), then Seqh = Th - 1
    /// >   If Seql < Bl (where Bl = Tl - W + 1), then Seqh = Th
    ///
    /// `None` when Seqh would leave 0..=2^32-1 (before the first subspace:
    /// necessarily too old). With the window off, RFC 4303 gives no W; we
    /// infer with W = 2^31 (the full sequence number nearest to T).
    /// Recovery from extreme loss (Appendix A3) is not done: a packet more
    /// than 2^32 - W ahead is taken for an old one and fails its ICV.
    #[inline]
    fn infer(&self, seql: u32) -> Option<u64> {
        if !self.esn {
            return Some(seql as u64);
        }
        let w: u32 = if self.size == 0 { 1 << 31 } else { self.size };
        let th = (self.top >> 32) as u32;
        let tl = self.top as u32;
        let bl = tl.wrapping_sub(w - 1); // Tl - W + 1 (mod 2^32)
        let seqh = if tl >= w - 1 {
            // Case A.
            if seql >= bl {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B.
            if seql >= bl {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some(((seqh as u64) << 32) | seql as u64)
    }

    #[inline]
    fn slot(&self, seq: u64) -> (usize, u64) {
        let mask = self.bitmap.len() - 1;
        (((seq >> 6) as usize) & mask, 1u64 << (seq & 63))
    }

    /// Check a received sequence number (the low 32 bits as carried in the
    /// packet; with ESN the high bits are inferred) before decryption.
    /// Returns the full sequence number for the AAD and [`Self::update`].
    /// Changes nothing.
    #[inline]
    pub fn check(&self, seq_low: u32) -> Result<u64, ReplayError> {
        let seq = self.infer(seq_low).ok_or(ReplayError::TooOld)?;
        // RFC 4303 3.3.3: "The first packet sent using a given SA will have
        // a sequence number of 1"; 0 is never sent.
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        // RFC 4303 3.4.3: "If the receiver does not enable anti-replay for
        // an SA, no inbound checks are performed on the Sequence Number."
        if self.size == 0 || seq > self.top {
            return Ok(seq);
        }
        // "Packets that contain sequence numbers lower than the "left" edge
        // of the window are rejected." Window = [T - W + 1, T].
        if self.top - seq >= self.size as u64 {
            return Err(ReplayError::TooOld);
        }
        let (i, bit) = self.slot(seq);
        if self.bitmap[i] & bit != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(seq)
    }

    /// Record an authenticated sequence number (the value [`Self::check`]
    /// returned), moving the right edge if it is new. Checks again, so a
    /// caller that checked several packets before updating any still never
    /// accepts a duplicate.
    #[inline]
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        if self.size == 0 {
            // Keep T for ESN inference.
            self.top = self.top.max(seq);
            return Ok(());
        }
        if seq > self.top {
            // RFC 6479: clear the blocks the right edge moves into.
            let old_blk = self.top >> 6;
            let new_blk = seq >> 6;
            let n = (new_blk - old_blk).min(self.bitmap.len() as u64);
            let mask = self.bitmap.len() as u64 - 1;
            for k in 1..=n {
                self.bitmap[((old_blk + k) & mask) as usize] = 0;
            }
            self.top = seq;
        } else if self.top - seq >= self.size as u64 {
            return Err(ReplayError::TooOld);
        }
        let (i, bit) = self.slot(seq);
        if self.bitmap[i] & bit != 0 {
            return Err(ReplayError::Duplicate);
        }
        self.bitmap[i] |= bit;
        Ok(())
    }

    /// `check` then `update`, for tests and callers without a cipher step.
    pub fn accept(&mut self, seq_low: u32) -> Result<u64, ReplayError> {
        let s = self.check(seq_low)?;
        self.update(s)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert!(ReplayWindow::new(0, false).is_ok());
        assert_eq!(ReplayWindow::new(32, false).unwrap_err(), BadWindowSize(32));
        assert_eq!(
            ReplayWindow::new(4097, false).unwrap_err(),
            BadWindowSize(4097)
        );
        assert_eq!(ReplayWindow::new(64, false).unwrap().bitmap.len(), 2);
        assert_eq!(ReplayWindow::new(4096, false).unwrap().bitmap.len(), 128);
        assert_eq!(ReplayWindow::new(100, false).unwrap().bitmap.len(), 2);
    }

    #[test]
    fn in_order_duplicates_and_zero() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        for s in 1..=200u32 {
            assert_eq!(w.accept(s), Ok(s as u64));
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.top(), 200);
    }

    /// Window 64, T = 100: the window is [37, 100].
    #[test]
    fn window_64_edges() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        w.accept(100).unwrap();
        assert_eq!(w.check(37), Ok(37)); // left edge: inside
        assert_eq!(w.check(36), Err(ReplayError::TooOld));
        assert_eq!(w.check(1), Err(ReplayError::TooOld));
        assert_eq!(w.check(100), Err(ReplayError::Duplicate));
        // Out of order within the window is accepted once.
        assert_eq!(w.accept(50), Ok(50));
        assert_eq!(w.accept(50), Err(ReplayError::Duplicate));
        assert_eq!(w.accept(99), Ok(99));
        assert_eq!(w.accept(37), Ok(37));
        // Move the right edge by 63: the window becomes [100, 163].
        w.accept(163).unwrap();
        assert_eq!(w.check(100), Err(ReplayError::Duplicate));
        assert_eq!(w.check(101), Ok(101));
        assert_eq!(w.check(99), Err(ReplayError::TooOld));
        assert_eq!(w.check(50), Err(ReplayError::TooOld));
        assert_eq!(w.check(162), Ok(162));
    }

    #[test]
    fn check_changes_nothing() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        w.accept(10).unwrap();
        let before = w.clone();
        assert_eq!(w.check(500), Ok(500));
        assert_eq!(w.check(5), Ok(5));
        assert_eq!(w.top(), before.top());
        assert_eq!(w.bitmap, before.bitmap);
    }

    #[test]
    fn big_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        for s in 1..=128u32 {
            w.accept(s).unwrap();
        }
        // Jump by far more than the ring: every old bit must be gone.
        w.accept(10_000).unwrap();
        for s in (10_000 - 63)..10_000u32 {
            assert_eq!(w.check(s), Ok(s as u64), "seq {s}");
        }
        assert_eq!(w.check(10_000 - 64), Err(ReplayError::TooOld));
        // A jump of exactly one ring length.
        let mut w = ReplayWindow::new(64, false).unwrap();
        w.accept(64).unwrap();
        w.accept(64 + 128).unwrap();
        assert_eq!(w.check(64 + 128 - 63), Ok(64 + 128 - 63));
    }

    #[test]
    fn window_4096() {
        let mut w = ReplayWindow::new(4096, false).unwrap();
        // Every other packet, then the gaps, all within the window.
        for s in (2..=8192u32).step_by(2) {
            w.accept(s).unwrap();
        }
        assert_eq!(w.top(), 8192);
        // Window is [4097, 8192].
        assert_eq!(w.check(4096), Err(ReplayError::TooOld));
        assert_eq!(w.check(4098), Err(ReplayError::Duplicate));
        for s in (4097..8192u32).step_by(2) {
            assert_eq!(w.accept(s), Ok(s as u64));
        }
        for s in 4097..=8192u32 {
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        w.accept(8192 + 4095).unwrap();
        assert_eq!(w.check(8192), Err(ReplayError::Duplicate));
        assert_eq!(w.check(8191), Err(ReplayError::TooOld));
    }

    #[test]
    fn disabled_accepts_everything_but_zero() {
        let mut w = ReplayWindow::new(0, false).unwrap();
        assert_eq!(w.accept(5), Ok(5));
        assert_eq!(w.accept(5), Ok(5));
        assert_eq!(w.accept(1), Ok(1));
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        assert_eq!(w.top(), 5);
    }

    #[test]
    fn update_rechecks() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        let a = w.check(7).unwrap();
        let b = w.check(7).unwrap();
        assert_eq!(w.update(a), Ok(()));
        assert_eq!(w.update(b), Err(ReplayError::Duplicate));
        w.accept(1000).unwrap();
        assert_eq!(w.update(8), Err(ReplayError::TooOld));
    }

    /// RFC 4303 A2.2 Case A: Tl >= W - 1.
    #[test]
    fn esn_case_a() {
        let mut w = ReplayWindow::new(64, true).unwrap();
        let t = (5u64 << 32) | 1000;
        w.top = t;
        // Seql >= Bl = 1000 - 63 = 937: Seqh = Th.
        assert_eq!(w.check(937), Ok((5 << 32) | 937));
        assert_eq!(w.check(2000), Ok((5 << 32) | 2000));
        assert_eq!(w.check(u32::MAX), Ok((5 << 32) | u32::MAX as u64));
        // Seql < Bl: Seqh = Th + 1 (ahead, in the next subspace).
        assert_eq!(w.check(936), Ok((6 << 32) | 936));
        assert_eq!(w.check(0), Ok(6 << 32));
    }

    /// RFC 4303 A2.2 Case B: Tl < W - 1, the window spans two subspaces.
    #[test]
    fn esn_case_b() {
        let mut w = ReplayWindow::new(64, true).unwrap();
        w.top = (5u64 << 32) | 10;
        // Bl = 10 - 63 mod 2^32 = 2^32 - 53.
        let bl = 10u32.wrapping_sub(63);
        assert_eq!(bl, u32::MAX - 52);
        assert_eq!(w.check(bl), Ok((4 << 32) | bl as u64));
        assert_eq!(w.check(u32::MAX), Ok((4 << 32) | u32::MAX as u64));
        assert_eq!(w.check(bl - 1), Ok((5 << 32) | (bl - 1) as u64));
        assert_eq!(w.check(11), Ok((5 << 32) | 11));
        assert_eq!(w.check(3), Ok((5 << 32) | 3));
    }

    /// ESN across the low 32-bit wrap, with packets late from before it.
    #[test]
    fn esn_wraparound() {
        for size in [64u32, 4096] {
            let mut w = ReplayWindow::new(size, true).unwrap();
            let start = u32::MAX - 20;
            w.top = start as u64 - 1;
            // Send start..=MAX, 0..=20 (full 2^32 + k), skipping odd ones.
            let mut skipped = Vec::new();
            for k in 0..42u64 {
                let full = start as u64 + k;
                if full % 2 == 1 {
                    skipped.push(full);
                    continue;
                }
                assert_eq!(
                    w.accept(full as u32),
                    Ok(full),
                    "size {size} full {full:#x}"
                );
            }
            assert_eq!(w.top() >> 32, 1);
            // Late packets from before the wrap: Case B, Seqh = Th - 1.
            for full in skipped {
                assert_eq!(w.accept(full as u32), Ok(full));
                assert_eq!(w.accept(full as u32), Err(ReplayError::Duplicate));
            }
            // Far older than the window, from before the wrap: A2.2 takes it
            // for a packet of the current subspace (far ahead), so its AAD
            // carries Seqh = 1 and the ICV check rejects it.
            let old = (u32::MAX - size - 100) as u64;
            assert_eq!(w.check(old as u32), Ok((1 << 32) | old));
            // Next packets continue in subspace 1.
            let next = (1u64 << 32) | 21;
            assert_eq!(w.accept(21), Ok(next));
        }
    }

    #[test]
    fn esn_first_subspace_has_no_predecessor() {
        let w = ReplayWindow::new(64, true).unwrap();
        // T = 0, Case B: a Seql near 2^32 would be in subspace -1.
        assert_eq!(w.check(u32::MAX), Err(ReplayError::TooOld));
        assert_eq!(w.check(1), Ok(1));
    }

    #[test]
    fn esn_disabled_window_infers_nearest() {
        let mut w = ReplayWindow::new(0, true).unwrap();
        w.update((3u64 << 32) | 0xffff_fff0).unwrap();
        assert_eq!(w.check(5), Ok((4 << 32) | 5));
        assert_eq!(w.check(0xffff_ff00), Ok((3 << 32) | 0xffff_ff00));
    }
}
