//! `run-command` inside a process that reaps every child itself, as Keel's daemon does (a child
//! subreaper calling `waitpid(-1)` on SIGCHLD): the command's exit status must still reach the
//! plugin. One test per file: the reaping thread would disturb other tests' children.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use keel_plugin_host::{Settings, Value};

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_survive_a_reaper_that_waits_for_every_child() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reaped = Arc::new(AtomicUsize::new(0));
    let reaper = {
        let (stop, reaped) = (stop.clone(), reaped.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut status = 0;
                // SAFETY: waitpid with a valid out-pointer.
                if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {
                    reaped.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::yield_now();
            }
        })
    };
    // Several rounds, so that the reaping thread wins the race for some of them.
    for code in [0, 3, 42].repeat(4) {
        let settings = Settings::new()
            .with(
                "command",
                Value::Text(format!("sh -c 'sleep 0.05; echo out; exit {code}'")),
            )
            .with("expected_exit_code", Value::Integer(code));
        let outcome = host
            .check("command", &service(), &settings, Duration::from_secs(3))
            .await
            .expect("check");
        assert!(outcome.healthy, "exit {code}: {outcome:?}");
        assert!(
            outcome
                .message
                .contains(&format!("exited with {code}: out")),
            "{outcome:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    reaper.join().unwrap();
    // The reaper did take children (the watchers), yet every status arrived.
    assert!(
        reaped.load(Ordering::Relaxed) >= 1,
        "the reaper reaped nothing"
    );
}
