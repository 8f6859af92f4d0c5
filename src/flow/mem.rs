//! The flow cache's two measured hot spots that need the machine directly:
//! software prefetch (the burst pipeline hides memory latency with it) and
//! transparent huge pages for the shard's tables (a 1M-flow shard spans
//! hundreds of MiB; with 4 KiB pages nearly every lookup misses the TLB).
#![allow(unsafe_code)]

/// Hint the CPU to bring the cache line at `p` into L1. Never faults.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it does not fault or change memory for any
    // address (valid or not), and SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Ask the kernel to back `mem` with transparent huge pages where it can
/// (`madvise(MADV_HUGEPAGE)`; effective when THP is `madvise` or `always`).
/// Advisory: failure changes nothing but speed.
pub fn advise_huge_pages<T>(mem: &mut [T]) {
    const HUGE: usize = 2 << 20;
    let start = mem.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let (a, b) = ((start + HUGE - 1) & !(HUGE - 1), end & !(HUGE - 1));
    if b > a {
        // SAFETY: [a, b) lies inside `mem`, which we own mutably for the call;
        // MADV_HUGEPAGE only changes how the range is backed, never its contents.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE);
        }
    }
}

/// A boxed slice of `n` copies of `v`, advised for huge pages before its
/// memory is first touched (so the kernel can fault in 2 MiB pages directly).
pub fn huge_boxed_slice<T: Clone>(n: usize, v: T) -> Box<[T]> {
    let mut vec: Vec<T> = Vec::with_capacity(n);
    advise_huge_pages(vec.spare_capacity_mut());
    vec.resize(n, v);
    vec.into_boxed_slice()
}
