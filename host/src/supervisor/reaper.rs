//! The reaper: the only place that waits for child processes. It collects every exit (services,
//! commands, and orphans re-parented to the daemon as a child subreaper) on SIGCHLD and hands
//! each status to whoever watches that PID. No polling: it runs when the kernel says a child
//! changed state.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::state::{ExitInfo, ProcessId};

/// Statuses nobody has claimed yet are kept this long (a child can exit before its spawner
/// registers interest).
const UNCLAIMED_TTL: Duration = Duration::from_secs(5);

/// A handle to the reaper task.
#[derive(Clone)]
pub struct Reaper {
    tx: mpsc::UnboundedSender<(i32, oneshot::Sender<ExitInfo>)>,
}

impl Reaper {
    /// Makes this process a child subreaper (orphans of services come to it instead of init)
    /// and starts the reaping task. Call once, inside the tokio runtime.
    pub fn start() -> std::io::Result<Self> {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!("cannot become a child subreaper: {e}");
        }
        let mut sigchld = signal(SignalKind::child())?;
        let (tx, mut rx) = mpsc::unbounded_channel::<(i32, oneshot::Sender<ExitInfo>)>();
        tokio::spawn(async move {
            let mut watchers: HashMap<i32, oneshot::Sender<ExitInfo>> = HashMap::new();
            let mut unclaimed: HashMap<i32, (ExitInfo, Instant)> = HashMap::new();
            loop {
                tokio::select! {
                    w = rx.recv() => match w {
                        Some((pid, reply)) => match unclaimed.remove(&pid) {
                            Some((status, _)) => { let _ = reply.send(status); }
                            None => { watchers.insert(pid, reply); }
                        },
                        None => return,
                    },
                    _ = sigchld.recv() => {}
                }
                // Reap everything that has exited; a registration may also follow an exit.
                loop {
                    match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(pid, code)) => deliver(
                            &mut watchers,
                            &mut unclaimed,
                            pid.as_raw(),
                            ExitInfo::Code(code),
                        ),
                        Ok(WaitStatus::Signaled(pid, sig, _)) => deliver(
                            &mut watchers,
                            &mut unclaimed,
                            pid.as_raw(),
                            ExitInfo::Signal(sig.as_str().to_string()),
                        ),
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
                let now = Instant::now();
                unclaimed.retain(|_, (_, at)| now.duration_since(*at) < UNCLAIMED_TTL);
            }
        });
        Ok(Self { tx })
    }

    /// The exit status of `pid`, a child of this process, when it exits.
    pub fn watch(&self, pid: i32) -> oneshot::Receiver<ExitInfo> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send((pid, tx));
        rx
    }
}

fn deliver(
    watchers: &mut HashMap<i32, oneshot::Sender<ExitInfo>>,
    unclaimed: &mut HashMap<i32, (ExitInfo, Instant)>,
    pid: i32,
    status: ExitInfo,
) {
    match watchers.remove(&pid) {
        Some(w) => {
            let _ = w.send(status);
        }
        None => {
            unclaimed.insert(pid, (status, Instant::now()));
        }
    }
}

/// Watches a process that is *not* this daemon's child (one re-adopted after a daemon
/// restart) through a pidfd: its exit is seen the moment it happens, zombie or not (whoever its
/// parent is may take its time to reap it), with no polling. `None` when `id` no longer runs.
pub fn watch_foreign(id: ProcessId) -> Option<BoxFuture<'static, ExitInfo>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open(2) takes a PID and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid, 0) } as i32;
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) || !id.is_alive() {
            return None;
        }
        tracing::warn!(
            pid = id.pid,
            "cannot watch the process through a pidfd: {e}"
        );
        return Some(poll_until_gone(id).boxed());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The pidfd refers to whichever process had the PID when it was opened; the identity
    // checked after opening it makes sure that is this one, not a process that reused the PID.
    if !id.is_alive() {
        return None;
    }
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and unchanged for
    // the AsyncFd's whole life.
    match unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    } {
        Ok(afd) => Some(
            async move {
                let _ = afd.readable().await;
                ExitInfo::Unknown
            }
            .boxed(),
        ),
        Err(e) => {
            tracing::warn!(pid = id.pid, "cannot watch the process's pidfd: {e}");
            Some(poll_until_gone(id).boxed())
        }
    }
}

/// The fallback when no pidfd can be had (a kernel before 5.3, no descriptor left).
async fn poll_until_gone(id: ProcessId) -> ExitInfo {
    while id.is_alive() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ExitInfo::Unknown
}
