//! In a test binary of its own: changing the environment while other tests
//! read it from other threads would be a data race.
use mmtool_data::runtime::{fix_thread_count, THREADS_ENV};

#[test]
fn sets_a_positive_count_and_keeps_a_user_choice() {
    std::env::remove_var(THREADS_ENV);
    let n = fix_thread_count();
    assert!(n >= 1);
    assert_eq!(std::env::var(THREADS_ENV).unwrap(), n.to_string());
    std::env::set_var(THREADS_ENV, "3");
    assert_eq!(fix_thread_count(), 3);
    std::env::set_var(THREADS_ENV, "0");
    assert!(fix_thread_count() >= 1, "0 is not a choice");
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_takes_the_allocator_settings() {
    // mallopt refuses values it cannot use (e.g. an mmap threshold over
    // 32 MiB), which would silently leave the slow default in place.
    assert!(mmtool_data::runtime::keep_freed_memory());
}
