//! A fixed-size latency histogram for the workers: log-linear buckets in one
//! flat array, allocated once, recorded with a few integer instructions and
//! copied with one `memcpy` (publication every few hundred loops must not
//! cost the worker more than the packets it forwards).
//!
//! Buckets: values below 64 ns have a bucket each; above, every power of two
//! `[2^e, 2^(e+1))` is split into 64 equal buckets, so a bucket is at most
//! 1/64 (1.6 %) of its values wide. Values at or above 2^41 ns (about 36
//! minutes) saturate into the last bucket. Percentiles report the highest
//! value of the bucket they fall in, capped at the largest recorded value
//! (as hdrhistogram's `value_at_quantile` reports the highest equivalent
//! value).

/// Sub-buckets per power of two (and exact buckets below `SUB`).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Largest exponent with buckets: values `>= 2^(MAX_EXP + 1)` saturate.
const MAX_EXP: u32 = 40;
/// Number of buckets.
pub const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) << SUB_BITS;

/// Bucket index of `v` (saturating).
#[inline]
fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    if e > MAX_EXP {
        return BUCKETS - 1;
    }
    let m = v >> (e - SUB_BITS); // in [SUB, 2 * SUB)
    (((e - SUB_BITS + 1) as usize) << SUB_BITS) + (m - SUB) as usize
}

/// Highest value that falls into bucket `i`.
#[inline]
fn highest(i: usize) -> u64 {
    if (i as u64) < SUB {
        return i as u64;
    }
    let e = (i >> SUB_BITS) as u32 + SUB_BITS - 1;
    let m = SUB + (i as u64 & (SUB - 1));
    ((m + 1) << (e - SUB_BITS)) - 1
}

/// A latency histogram in nanoseconds (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct LatencyHist {
    counts: Box<[u64]>,
    total: u64,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for LatencyHist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHist")
            .field("len", &self.total)
            .field("min", &self.min())
            .field("max", &self.max)
            .finish()
    }
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    /// An empty histogram (allocates its buckets: call at start-up).
    pub fn new() -> LatencyHist {
        LatencyHist {
            counts: vec![0u64; BUCKETS].into_boxed_slice(),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Record one value (ns). Never fails: huge values saturate.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest recorded value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest recorded value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// The value below or at which a share `q` (0..=1) of the samples lie:
    /// the highest value of that sample's bucket, capped at the maximum.
    /// 0 when empty.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                if i == BUCKETS - 1 {
                    return self.max; // the saturating bucket has no top
                }
                return highest(i).min(self.max).max(self.min());
            }
        }
        self.max
    }

    /// Forget every sample (no allocation).
    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// Become a copy of `o` without allocating (one `memcpy`).
    pub fn copy_from(&mut self, o: &LatencyHist) {
        self.counts.copy_from_slice(&o.counts);
        self.total = o.total;
        self.min = o.min;
        self.max = o.max;
    }

    /// Add every sample of `o`.
    pub fn add(&mut self, o: &LatencyHist) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.total += o.total;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// The samples of `self` that are not in `earlier` (an older copy of the
    /// same cumulative histogram), or `None` if `earlier` is not contained in
    /// `self`. Min and max of the difference are bucket bounds (the exact
    /// values are not kept), capped by `self`'s.
    pub fn since(&self, earlier: &LatencyHist) -> Option<LatencyHist> {
        let mut d = LatencyHist::new();
        let (mut lo, mut hi) = (None, None);
        for (i, (a, b)) in self.counts.iter().zip(earlier.counts.iter()).enumerate() {
            let c = a.checked_sub(*b)?;
            d.counts[i] = c;
            if c > 0 {
                lo.get_or_insert(i);
                hi = Some(i);
            }
        }
        d.total = self.total.checked_sub(earlier.total)?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let low_of = |i: usize| if i == 0 { 0 } else { highest(i - 1) + 1 };
            d.min = low_of(lo).max(self.min());
            d.max = highest(hi).min(self.max);
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        // Every bucket starts right after the previous one ends.
        for i in 1..BUCKETS {
            assert_eq!(index(highest(i - 1) + 1), i, "bucket {i}");
            assert_eq!(index(highest(i)), i);
        }
        // Exact below 64, at most 1/64 wide above.
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456, 1 << 40] {
            let i = index(v);
            let lo = if i == 0 { 0 } else { highest(i - 1) + 1 };
            assert!(lo <= v && v <= highest(i), "{v}");
            assert!(
                (highest(i) - lo) * 64 <= v.max(64),
                "{v}: {lo}..{}",
                highest(i)
            );
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_min_max() {
        let mut h = LatencyHist::new();
        assert_eq!(h.value_at_quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000); // 1 µs .. 1 ms
        }
        assert_eq!(h.len(), 1000);
        assert_eq!((h.min(), h.max()), (1000, 1_000_000));
        for (q, want) in [(0.5, 500_000u64), (0.99, 990_000), (0.999, 999_000)] {
            let got = h.value_at_quantile(q);
            assert!(got >= want && got <= want + want / 64, "q {q}: {got}");
        }
        assert_eq!(h.value_at_quantile(1.0), 1_000_000);
        h.record(u64::MAX);
        assert_eq!(h.value_at_quantile(1.0), u64::MAX);
    }

    #[test]
    fn copy_add_since() {
        let mut a = LatencyHist::new();
        for v in [100u64, 200, 300] {
            a.record(v);
        }
        let mut snap = LatencyHist::new();
        snap.copy_from(&a);
        assert_eq!(snap, a);
        a.record(50_000);
        a.record(60_000);
        let d = a.since(&snap).unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.min() <= 50_000 && d.min() > 49_000, "{}", d.min());
        assert_eq!(d.max(), 60_000);
        assert!(snap.since(&a).is_none(), "not contained");
        let mut sum = LatencyHist::new();
        sum.add(&snap);
        sum.add(&d);
        assert_eq!(sum.len(), a.len());
        assert_eq!(sum.value_at_quantile(0.5), a.value_at_quantile(0.5));
        sum.reset();
        assert!(sum.is_empty());
        assert_eq!(sum.max(), 0);
    }
}
