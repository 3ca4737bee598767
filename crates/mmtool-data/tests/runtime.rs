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
