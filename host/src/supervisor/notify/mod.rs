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
    /// Each launched process, with its notification pipe's read end, to the readiness task.
    launches: mpsc::UnboundedSender<(i32, Option<OwnedFd>)>,
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

    /// After process `pid` was spawned with `prepared`: the readiness task listens for it from
    /// now on (the write end is closed here, so that the daemon sees the pipe end when the
    /// service closes its own).
    pub fn launched(&self, pid: i32, prepared: Prepared) {
        let _ = self.launches.send((pid, prepared.read_end));
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
    let (launches, launches_rx) = mpsc::unbounded_channel();
    let task = Task {
        service: service.clone(),
        settings: settings.clone(),
        socket,
        launches: launches_rx,
        log,
        commands,
    };
    tokio::spawn(task.run(snapshots));
    Some(Endpoint {
        path,
        settings,
        unbound,
        launches,
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
    /// Each process the service's task launches, with its pipe's read end, told at spawn.
    launches: mpsc::UnboundedReceiver<(i32, Option<OwnedFd>)>,
    log: ServiceLog,
    commands: mpsc::Sender<Command>,
}

/// What woke the task.
enum Woken {
    Changed,
    Launched(Option<(i32, Option<OwnedFd>)>),
    Datagram(socket::Datagram),
    Pipe(PipeRead),
    Deadline,
}

/// A process to listen for: its PID, its notification pipe, and whether it was ready before.
struct Watched {
    pid: i32,
    pipe: Option<OwnedFd>,
    ready_before: bool,
}

impl Task {
    async fn run(mut self, mut snapshots: watch::Receiver<Snapshot>) {
        let mut next = None;
        loop {
            let watched = match next.take() {
                Some(w) => w,
                None => match self.wait(&mut snapshots).await {
                    Some(w) => w,
                    None => return,
                },
            };
            match self.watch_process(watched, &mut snapshots).await {
                Ok(launched) => next = launched,
                Err(Gone) => return,
            }
        }
    }

    /// Waits for a process: one this daemon launches (told at once, before the service's
    /// snapshot says it runs, so that nothing it says first is missed) or one it re-adopts.
    /// What arrives meanwhile, when no process of the service runs, is dropped.
    async fn wait(&mut self, snapshots: &mut watch::Receiver<Snapshot>) -> Option<Watched> {
        loop {
            {
                let s = snapshots.borrow_and_update();
                if let (Status::Running, Some(pid)) = (s.status, s.pid) {
                    let ready = s.health.as_ref().map(|h| h.state) == Some(HealthState::Healthy);
                    return Some(Watched {
                        pid,
                        pipe: None,
                        ready_before: ready,
                    });
                }
            }
            tokio::select! {
                changed = snapshots.changed() => changed.ok()?,
                launched = self.launches.recv() => {
                    let (pid, pipe) = launched?;
                    return Some(Watched { pid, pipe, ready_before: false });
                }
                _ = receive(&self.socket) => {}
            }
        }
    }

    /// Listens for one process until it no longer runs. `Ok(Some)`: the next process was
    /// launched meanwhile; `Err`: the service is gone.
    async fn watch_process(
        &mut self,
        watched: Watched,
        snapshots: &mut watch::Receiver<Snapshot>,
    ) -> Result<Option<Watched>, Gone> {
        let Watched {
            pid,
            pipe,
            ready_before,
        } = watched;
        let mut pipe = pipe.and_then(|fd| register(fd).ok());
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
                changed = snapshots.changed() => { changed.map_err(|_| Gone)?; Woken::Changed }
                launched = self.launches.recv() => Woken::Launched(launched),
                got = receive(&self.socket) => Woken::Datagram(got),
                read = read_pipe(&pipe) => Woken::Pipe(read),
                _ = sleep_until(deadline) => Woken::Deadline,
            };
            let now = Instant::now();
            let verdicts: Vec<Verdict> = match woken {
                Woken::Changed => {
                    let s = snapshots.borrow_and_update();
                    // Launched processes are watched from their spawn, before their snapshot
                    // says they run: only another process, or no process wanted, ends this.
                    if s.pid.is_some_and(|p| p != pid)
                        || !matches!(s.status, Status::Starting | Status::Running)
                    {
                        return Ok(None);
                    }
                    continue;
                }
                Woken::Launched(None) => return Err(Gone),
                Woken::Launched(Some((p, fd))) if p == pid => {
                    // This process's pipe, told after its snapshot was seen.
                    pipe = fd.and_then(|fd| register(fd).ok());
                    continue;
                }
                Woken::Launched(Some((p, fd))) => {
                    return Ok(Some(Watched {
                        pid: p,
                        pipe: fd,
                        ready_before: false,
                    }));
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
                self.commands
                    .send(Command::Health { pid, health })
                    .await
                    .map_err(|_| Gone)?;
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

/// The service's task is gone: the daemon is shutting down.
struct Gone;

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
