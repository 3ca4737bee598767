//! Process-wide settings every mmtool binary applies at start-up.

/// The environment variable candle and rayon read for their thread count.
pub const THREADS_ENV: &str = "RAYON_NUM_THREADS";

/// Fixes the thread count candle uses, unless the user already chose one.
///
/// candle looks the count up on every matrix product, and with the variable
/// unset that means parsing `/proc/cpuinfo` each time: measured at 4-5 ms of
/// a 22 ms MiniLM query here (BENCHMARKS.md). Call this first thing in
/// `main`, before any thread starts: changing the environment is only sound
/// while the process has a single thread.
pub fn fix_thread_count() -> usize {
    if let Some(n) = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::set_var(THREADS_ENV, n.to_string());
    n
}

/// Set to `1` to leave the allocator's defaults alone.
pub const MALLOC_DEFAULTS_ENV: &str = "MMTOOL_MALLOC_DEFAULTS";

/// Keeps freed memory in the process instead of handing it back to the
/// kernel after every free (glibc only; elsewhere a no-op). Returns whether
/// the allocator took the settings.
///
/// Training allocates and frees tensors of the same few sizes thousands of
/// times a step. By default glibc maps large blocks fresh and trims freed
/// memory, so each step pays page faults for the same sizes again: LoRA
/// training of the encoder runs 1.45x faster without them (BENCHMARKS.md). The cost is a
/// process that keeps its peak heap until it exits. Call it first thing in
/// `main`, before any thread starts. Setting [`MALLOC_DEFAULTS_ENV`] to `1`
/// keeps glibc's defaults (for measuring the difference).
pub fn keep_freed_memory() -> bool {
    if std::env::var(MALLOC_DEFAULTS_ENV).is_ok_and(|v| v == "1") {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator thresholds; glibc caps the
        // mmap threshold at 32 MiB on 64-bit targets, the value set here.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
                && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
