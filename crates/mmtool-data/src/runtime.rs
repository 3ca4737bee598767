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
