//! Readiness that a service reports itself (`type = "notify"`), in place of a polled check:
//! sd_notify datagrams on the service's `NOTIFY_SOCKET` (`READY=1`, `STATUS=`, `WATCHDOG=1`)
//! and s6's notification descriptor (a newline once ready).
//!
//! This is the one check that is not a plugin, because its answer is not something a check
//! can go and look at: the process tells the supervisor, over a socket and a pipe that the
//! supervisor creates before the process exists and hands it at spawn. A sandboxed plugin
//! runs only when called and holds nothing between calls, so it could neither own the socket
//! for the process's lifetime nor place a descriptor in the process. What the notifications
//! mean is still the health state machine every check feeds: this task turns them into
//! answers for a `HealthTracker` (a missed watchdog is a failed answer that counts at once)
//! and sends the health to the service's task exactly as the polling monitor does, so
//! gating dependents, unhealthy restarts, hooks and events work unchanged.

mod readiness;
mod socket;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};

use super::logs::ServiceLog;
use super::service::{Command, Snapshot, Status};
use crate::config::{NotifyCheck, Service};
use crate::health::{CheckReport, Health, HealthState, HealthTracker};
use crate::state::{StateDir, now_ms};
use readiness::{Readiness, Verdict};
use socket::{PipeRead, Sender};

/// The service task's side of a notify check: what a launch hands the process.
pub(super) struct Endpoint {
    path: PathBuf,
    settings: NotifyCheck,
    /// Why the socket could not be bound (a start then fails with it).
    unbound: Option<String>,
    /// The read end of each launched process's notification pipe, to the readiness task.
    pipes: mpsc::UnboundedSender<(i32, OwnedFd)>,
}

/// What one launch gives the process: variables, and the write end of its notification pipe
/// with the descriptor number it goes to.
pub(super) struct Prepared {
    pub env: Vec<(String, String)>,
    pub descriptor: Option<(OwnedFd, i32)>,
    read_end: Option<OwnedFd>,
}

impl Endpoint {
    /// Before a launch: `NOTIFY_SOCKET`, `WATCHDOG_USEC` and the notification pipe.
    pub fn prepare(&self) -> Result<Prepared, String> {
        if let Some(e) = &self.unbound {
            return Err(e.clone());
        }
        let mut env = vec![(
            "NOTIFY_SOCKET".to_string(),
            self.path.to_string_lossy().into_owned(),
        )];
        if let Some(w) = self.settings.watchdog {
            env.push(("WATCHDOG_USEC".to_string(), w.as_micros().to_string()));
        }
        let (read_end, descriptor) = match self.settings.notification_fd {
            Some(n) => {
                let (r, w) = socket::notification_pipe()
                    .map_err(|e| format!("cannot make the notification pipe: {e}"))?;
                (Some(r), Some((w, n)))
            }
            None => (None, None),
        };
        Ok(Prepared {
            env,
            descriptor,
            read_end,
        })
    }

    /// After process `pid` was spawned with `prepared` (its write end is closed here, so
    /// that the daemon sees the pipe end when the service closes its own).
    pub fn launched(&self, pid: i32, prepared: Prepared) {
        if let Some(r) = prepared.read_end {
            let _ = self.pipes.send((pid, r));
        }
    }
}

/// Sets up a notify check for `service` (its socket, bound now, at a path that stays the same
/// across daemon restarts) and starts its readiness task. `None` for other checks.
pub(super) fn start(
    service: &Arc<Service>,
    state: &StateDir,
    log: ServiceLog,
    snapshots: watch::Receiver<Snapshot>,
    commands: mpsc::Sender<Command>,
) -> Option<Endpoint> {
    let settings = service.health_check.as_ref()?.notify.clone()?;
    let path = state.notify_socket(&service.name);
    let bound = std::fs::create_dir_all(state.notify_dir())
        .and_then(|()| socket::bind_socket(&path))
        .and_then(register);
    let (socket, unbound) = match bound {
        Ok(s) => (Some(s), None),
        Err(e) => {
            let e = format!("cannot bind the notify socket {}: {e}", path.display());
            tracing::error!(service = service.name, "{e}");
            (None, Some(e))
        }
    };
    let (pipes, pipes_rx) = mpsc::unbounded_channel();
    let task = Task {
        service: service.clone(),
        settings: settings.clone(),
        socket,
        pipes: pipes_rx,
        log,
        commands,
    };
    tokio::spawn(task.run(snapshots));
    Some(Endpoint {
        path,
        settings,
        unbound,
        pipes,
    })
}

/// The answer a notify check gives when asked now (`services health`): what the service
/// last said, as monitoring holds it.
pub(super) fn answer_now(snapshot: &Snapshot) -> CheckReport {
    let health = snapshot.health.as_ref();
    let last = health.and_then(|h| h.last.as_ref());
    CheckReport {
        healthy: health.is_some_and(|h| h.state == HealthState::Healthy),
        message: match (last, snapshot.status) {
            (Some(l), _) => l.message.clone(),
            (None, Status::Running) => "waiting for the service to say it is ready".into(),
            (None, status) => format!("{status}: nothing to hear from"),
        },
        duration_ms: 0,
        at_ms: last.map_or_else(now_ms, |l| l.at_ms),
    }
}

/// The readiness task of one service: listens while a process runs, and answers for it.
struct Task {
    service: Arc<Service>,
    settings: NotifyCheck,
    socket: Option<AsyncFd<OwnedFd>>,
    pipes: mpsc::UnboundedReceiver<(i32, OwnedFd)>,
    log: ServiceLog,
    commands: mpsc::Sender<Command>,
}

/// What woke the task.
enum Woken {
    Changed,
    Datagram(socket::Datagram),
    Pipe(PipeRead),
    Deadline,
    Gone,
}

impl Task {
    async fn run(mut self, mut snapshots: watch::Receiver<Snapshot>) {
        loop {
            // Wait for a process; what arrives meanwhile (a stray process's words) is dropped.
            let (pid, ready_before) = loop {
                {
                    let s = snapshots.borrow_and_update();
                    if let (Status::Running, Some(pid)) = (s.status, s.pid) {
                        let ready =
                            s.health.as_ref().map(|h| h.state) == Some(HealthState::Healthy);
                        break (pid, ready);
                    }
                }
                tokio::select! {
                    changed = snapshots.changed() => if changed.is_err() { return },
                    _ = receive(&self.socket) => {}
                }
            };
            if !self.watch_process(pid, ready_before, &mut snapshots).await {
                return;
            }
        }
    }

    /// Listens for process `pid` until it no longer runs; false when the service is gone.
    async fn watch_process(
        &mut self,
        pid: i32,
        ready_before: bool,
        snapshots: &mut watch::Receiver<Snapshot>,
    ) -> bool {
        let mut pipe = None;
        while let Ok((p, fd)) = self.pipes.try_recv() {
            if p == pid {
                pipe = register(fd).ok();
            }
        }
        let start_timeout = self.service.startup.start_timeout;
        let now = Instant::now();
        let mut readiness =
            Readiness::new(now, start_timeout, self.settings.watchdog, ready_before);
        // One failure counts: a missed watchdog or a start without READY=1 is unhealthy.
        let mut tracker = HealthTracker::new(1, start_timeout, start_timeout, now, now);
        if ready_before {
            tracker.on_report(report(true, "ready before the daemon restarted"), now);
        }
        loop {
            let deadline = readiness.deadline();
            let woken = tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { Woken::Gone } else { Woken::Changed },
                got = receive(&self.socket) => Woken::Datagram(got),
                read = read_pipe(&pipe) => Woken::Pipe(read),
                _ = sleep_until(deadline) => Woken::Deadline,
            };
            let now = Instant::now();
            let verdicts: Vec<Verdict> = match woken {
                Woken::Gone => return false,
                Woken::Changed => {
                    let s = snapshots.borrow_and_update();
                    if s.status != Status::Running || s.pid != Some(pid) {
                        return true;
                    }
                    continue;
                }
                Woken::Datagram(d) => match socket::place(d.sender.as_ref(), pid) {
                    Sender::Outsider => {
                        let from = d.sender.map(|c| c.pid()).unwrap_or(0);
                        self.log.note(format!(
                            "ignored a notification from pid {from}: not in the service's process group"
                        ));
                        continue;
                    }
                    Sender::Member | Sender::Unplaced => readiness::parse(&d.data)
                        .into_iter()
                        .filter_map(|n| readiness.on_notice(n, now))
                        .collect(),
                },
                Woken::Pipe(PipeRead::Newline) => readiness.on_newline(now).into_iter().collect(),
                Woken::Pipe(PipeRead::Other) => continue,
                Woken::Pipe(PipeRead::Closed) => {
                    pipe = None;
                    if !readiness.is_ready() {
                        self.log.note(
                            "closed its notification descriptor without a newline".to_string(),
                        );
                    }
                    continue;
                }
                Woken::Deadline => readiness.on_deadline(now).into_iter().collect(),
            };
            for v in verdicts {
                let health: Health = tracker
                    .on_report(report(v.healthy, &v.message), now)
                    .clone();
                if self
                    .commands
                    .send(Command::Health { pid, health })
                    .await
                    .is_err()
                {
                    return false;
                }
            }
        }
    }
}

/// Watches `fd` for reading on the runtime's reactor.
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and refers to the
    // same file for the AsyncFd's whole life.
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

fn report(healthy: bool, message: &str) -> CheckReport {
    CheckReport {
        healthy,
        message: message.to_string(),
        duration_ms: 0,
        at_ms: now_ms(),
    }
}

/// The next datagram on the socket; never, without one.
async fn receive(socket: &Option<AsyncFd<OwnedFd>>) -> socket::Datagram {
    let Some(s) = socket else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = s.readable().await else {
            return std::future::pending().await;
        };
        match guard.try_io(|fd| socket::receive(fd.get_ref())) {
            Ok(Ok(d)) => return d,
            Ok(Err(e)) => {
                tracing::warn!("notify socket: {e}");
                guard.clear_ready();
            }
            Err(_would_block) => {}
        }
    }
}

/// What the notification pipe has next; never, without one.
async fn read_pipe(pipe: &Option<AsyncFd<OwnedFd>>) -> PipeRead {
    let Some(p) = pipe else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = p.readable().await else {
            return std::future::pending().await;
        };
        match guard.try_io(|fd| socket::read_pipe(fd.get_ref())) {
            Ok(Ok(r)) => return r,
            Ok(Err(_)) => return PipeRead::Closed,
            Err(_would_block) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
