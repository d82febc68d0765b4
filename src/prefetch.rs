//! A hint to the CPU to start loading a cache line that an operation will
//! need shortly, so that its miss overlaps the work in between. The
//! crate's only `unsafe`. Its callers: the shard's hints for a coming insertion
//! (`Shard::prefetch_store`), through the arena and the sketch. What they bought is measured in `docs/benchmarks.md`
//! (profile rounds 4 and 5).

/// Asks the CPU to start loading the cache line holding the start of
/// `*value` into every level of its cache. A hint: it changes nothing the
/// program can observe, and compiles to nothing except on x86-64 with SSE.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` is an `unsafe fn` for two reasons: it needs
    // the `sse` target feature, and it takes a raw pointer. The `cfg`
    // above compiles this block only where SSE is enabled (the baseline of
    // hosted x86-64 targets; where it is off, the no-op below compiles
    // instead). As for the pointer: `prefetcht0` is a hint that never
    // faults, writes nothing and changes no state the program can see,
    // whatever the address; and this address is that of a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = value;
}
