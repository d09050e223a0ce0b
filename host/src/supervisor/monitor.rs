//! The health monitor of one service: a task that watches the service's snapshots, runs its
//! check (through the `Checker`, i.e. its plugin) while a process runs, feeds each answer to a
//! `HealthTracker` and sends the resulting health to the service's task, which owns it. A new
//! process starts a new tracker (and its start period); a stopped service is not checked.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::precise_sleep::Sleeper;
use super::service::{Command, Snapshot, Status};
use crate::config::Service;
use crate::health::{Checker, HealthTracker};

/// The origin of the instants at which every service's checks fall (see
/// `HealthTracker::next_delay`): one for the whole daemon.
static CHECK_GRID: LazyLock<Instant> = LazyLock::new(Instant::now);

pub(super) async fn run(
    settings: watch::Receiver<Arc<Service>>,
    checker: Arc<dyn Checker>,
    mut snapshots: watch::Receiver<Snapshot>,
    commands: mpsc::Sender<Command>,
) {
    loop {
        // Wait for a process to watch.
        let pid = loop {
            {
                let s = snapshots.borrow_and_update();
                if let (Status::Running, Some(pid)) = (s.status, s.pid) {
                    break pid;
                }
            }
            if snapshots.changed().await.is_err() {
                return;
            }
        };
        // The settings of the service as this process was started (a reload that changes
        // them restarts the process).
        let service = settings.borrow().clone();
        let Some(check) = service.health_check.as_ref() else {
            // Nothing to check for this process: wait for the next.
            if wait_for_other(&mut snapshots, pid).await {
                continue;
            }
            return;
        };
        let mut tracker = HealthTracker::new(
            check.retries,
            check.interval,
            service.startup.start_timeout,
            Instant::now(),
            *CHECK_GRID,
        );
        // Precise while the checks come fast (the service is starting).
        let mut sleeper = Sleeper::default();
        'process: loop {
            let sleep = sleeper.sleep(tracker.next_delay(Instant::now()));
            tokio::pin!(sleep);
            // Sleep until the next check, unless the process goes away meanwhile.
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let s = snapshots.borrow_and_update();
                        if s.status != Status::Running || s.pid != Some(pid) {
                            break 'process;
                        }
                    }
                }
            }
            let Some(report) = checker.check(&service).await else {
                return;
            };
            let health = tracker.on_report(report, Instant::now()).clone();
            if commands
                .send(Command::Health { pid, health })
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Waits until the service no longer runs as `pid`; false when the service's task is gone.
async fn wait_for_other(snapshots: &mut watch::Receiver<Snapshot>, pid: i32) -> bool {
    loop {
        if snapshots.changed().await.is_err() {
            return false;
        }
        let s = snapshots.borrow_and_update();
        if s.status != Status::Running || s.pid != Some(pid) {
            return true;
        }
    }
}
