//! `quiet_library_backtraces`: with `RUST_BACKTRACE=1` in the environment, errors inside the
//! plugin runtime must not capture stack traces, and the environment seen by child processes
//! stays as the operator set it. (A test binary of its own, without the test harness's threads,
//! because it changes the process environment and std caches what it reads.)

use std::backtrace::{Backtrace, BacktraceStatus};

fn main() {
    // SAFETY: no other thread exists yet in this harness-less test binary.
    unsafe {
        std::env::set_var("RUST_BACKTRACE", "1");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
    keel_plugin_host::quiet_library_backtraces();
    assert_eq!(Backtrace::capture().status(), BacktraceStatus::Disabled);
    assert!(std::env::var_os("RUST_LIB_BACKTRACE").is_none());
    assert_eq!(std::env::var("RUST_BACKTRACE").as_deref(), Ok("1"));
    println!("library backtraces are off; RUST_BACKTRACE is unchanged");
}
