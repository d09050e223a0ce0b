//! One service's state machine, owned by one task: commands come in through a channel, state
//! changes go out as events. Nothing else touches a service's process or record.

mod recovery;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use nix::sys::signal::Signal;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::files::FilesReady;
use super::logs::ServiceLog;
use super::marks::Marks;
use super::policy::{Decision, RestartTracker};
use super::process::{self, LaunchSpec, OutputFifos};
use super::reaper::Reaper;
use super::{Deployer, Event};
use crate::config::{RestartPolicy, Service};
use crate::health::{Health, HealthState};
use crate::state::{ExitInfo, ProcessId, ServiceRecord, StateDir, now_ms};
pub use keel_api::{Snapshot, Status};

pub(super) enum Command {
    Start(oneshot::Sender<Result<Snapshot, String>>),
    Stop {
        force: bool,
        reply: oneshot::Sender<Result<Snapshot, String>>,
    },
    /// The health monitor's verdict after a check of process `pid`.
    Health {
        pid: i32,
        health: Health,
    },
}

/// How long processes left behind by an exited service may take to die after SIGKILL.
const LEFTOVER_WAIT: Duration = Duration::from_secs(2);

type ExitFuture = Pin<Box<dyn Future<Output = ExitInfo> + Send>>;

struct Running {
    id: ProcessId,
    since: Instant,
    exit: ExitFuture,
}

pub(super) struct ServiceTask {
    pub service: Arc<Service>,
    pub base_dir: PathBuf,
    pub deployer: Arc<dyn Deployer>,
    pub reaper: Reaper,
    pub state: StateDir,
    pub log: ServiceLog,
    pub fifos: OutputFifos,
    /// Whether `fifos` and the log file exist yet (see `files`).
    pub files: FilesReady,
    /// What marks the service's processes, to recognise them after a daemon restart.
    pub marks: Marks,
    pub events: broadcast::Sender<Event>,
    /// The latest snapshot, for readers that must not wait for this task (list, status, the
    /// health monitor, start gates).
    pub watch: watch::Sender<Snapshot>,
}

struct Machine {
    t: ServiceTask,
    tracker: RestartTracker,
    record: ServiceRecord,
    /// The record as it is on disk, as far as this daemon knows (`None`: unknown).
    saved: Option<ServiceRecord>,
    status: Status,
    running: Option<Running>,
    spec: Option<LaunchSpec>,
    restart_at: Option<tokio::time::Instant>,
    health: Option<Health>,
}

impl ServiceTask {
    /// Runs the service's state machine until the command channel closes. First it looks at
    /// what a previous daemon left: a live process is adopted, a dead one handled by policy.
    pub async fn run(self, mut commands: mpsc::Receiver<Command>) {
        let mut m = Machine {
            tracker: RestartTracker::new(&self.service.startup),
            record: ServiceRecord::new(&self.service.name),
            // Nothing on disk means the record of a service that never ran.
            saved: Some(ServiceRecord::new(&self.service.name)),
            status: Status::Stopped,
            running: None,
            spec: None,
            restart_at: None,
            health: None,
            t: self,
        };
        m.recover().await;
        loop {
            let restart_at = m.restart_at;
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(c) => m.handle(c).await,
                    None => return,
                },
                exit = async { (&mut m.running.as_mut().expect("guarded").exit).await }, if m.running.is_some() => {
                    m.exited(exit).await;
                }
                _ = async { tokio::time::sleep_until(restart_at.expect("guarded")).await }, if restart_at.is_some() => {
                    m.restart_at = None;
                    if let Err(e) = m.launch().await {
                        m.launch_failed(e).await;
                    }
                }
            }
        }
    }
}

impl Machine {
    fn name(&self) -> &str {
        &self.t.service.name
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            name: self.t.service.name.clone(),
            status: self.status,
            pid: self.running.as_ref().map(|r| r.id.pid),
            started_at_ms: self.running.as_ref().and(self.record.started_at_ms),
            restarts: self.record.restarts,
            last_exit: self.record.last_exit.clone(),
            reason: self.record.failed.clone(),
            health: self.running.as_ref().and(self.health.clone()),
            last_hook: self.record.last_hook.clone(),
        }
    }

    /// Moves to `status`: saved (when the record changed), published to readers, announced as
    /// an event.
    async fn set(&mut self, status: Status) {
        self.persist().await;
        self.announce(status);
    }

    /// Moves to `status` without saving it: for a passing state whose saving (a file written
    /// and renamed) would only delay what comes next. A daemon that dies meanwhile finds the previous record.
    fn announce(&mut self, status: Status) {
        self.status = status;
        let snap = self.snapshot();
        // The event first: whoever waits on the watch channel (a start gate) acts only after
        // it, so the event stream shows causes before their effects.
        let _ = self.t.events.send(Event::Changed(snap.clone()));
        self.t.watch.send_replace(snap);
    }

    /// The health of a process that has just started (or been re-adopted): starting, when
    /// the service has a check.
    fn fresh_health(&self) -> Option<Health> {
        self.t
            .service
            .health_check
            .as_ref()
            .map(|_| Health::starting())
    }

    /// Saves the record if it differs from what was saved last. The writing (temp file,
    /// rename; see `state::atomic_write`) runs on the blocking pool: the service waits for it, the runtime's
    /// workers do not, so services starting together save in parallel.
    async fn persist(&mut self) {
        self.record.process = self.running.as_ref().map(|r| r.id);
        if self.saved.as_ref() == Some(&self.record) {
            return;
        }
        let (state, record) = (self.t.state.clone(), self.record.clone());
        let saved = tokio::task::spawn_blocking(move || state.save(&record).map(|()| record))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        match saved {
            Ok(record) => self.saved = Some(record),
            Err(e) => tracing::error!(service = self.name(), "cannot save state: {e}"),
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Health { pid, health } => self.on_health(pid, health).await,
            Command::Start(reply) => {
                let result = self.start().await;
                let _ = reply.send(result.map(|()| self.snapshot()));
            }
            Command::Stop { force, reply } => {
                self.stop(force).await;
                let _ = reply.send(Ok(self.snapshot()));
            }
        }
    }

    /// Starts the service if it does not run; clears `failed`.
    async fn start(&mut self) -> Result<(), String> {
        if self.running.is_some() {
            return Ok(());
        }
        self.record.wanted = true;
        self.record.failed = None;
        self.restart_at = None;
        self.tracker.reset();
        self.spec = None; // a start by hand asks the plugin again
        let launched = self.launch().await;
        if let Err(e) = &launched {
            self.launch_failed(e.clone()).await;
        }
        launched
    }

    async fn launch(&mut self) -> Result<(), String> {
        self.announce(Status::Starting);
        let spec = match &self.spec {
            Some(s) => s.clone(),
            None => {
                let s = self.t.deployer.launch(&self.t.service).await?;
                self.spec = Some(s.clone());
                s
            }
        };
        self.t
            .files
            .wait()
            .await
            .map_err(|e| format!("cannot start `{}`: {e}", self.name()))?;
        let mut marked = spec;
        marked.env.extend(self.t.marks.env(self.name()));
        let id = process::spawn(&marked, &self.t.fifos, &self.t.base_dir)
            .map_err(|e| format!("cannot start `{}`: {e}", marked.program))?;
        let exit = self
            .t
            .reaper
            .watch(id.pid)
            .map(|r| r.unwrap_or(ExitInfo::Unknown));
        self.running = Some(Running {
            id,
            since: Instant::now(),
            exit: exit.boxed(),
        });
        self.record.started_at_ms = Some(now_ms());
        self.record.stop_signal = Some(marked.stop_signal.as_str().to_string());
        self.record.stop_command = marked.stop_command.clone();
        self.health = self.fresh_health();
        self.t.log.note(format!("started pid {}", id.pid));
        tracing::info!(service = self.name(), pid = id.pid, "started");
        self.set(Status::Running).await;
        Ok(())
    }

    async fn launch_failed(&mut self, e: String) {
        tracing::warn!(service = self.name(), "start failed: {e}");
        self.t.log.note(format!("start failed: {e}"));
        self.record.failed = Some(e);
        self.record.wanted = false;
        self.set(Status::Failed).await;
    }

    async fn exited(&mut self, exit: ExitInfo) {
        let Some(running) = self.running.take() else {
            return;
        };
        self.kill_leftovers(running.id).await;
        self.exited_after(exit, running.since.elapsed()).await;
    }

    /// After the service's main process ended: ends what it left behind in its process group,
    /// before anything else (a restart) happens.
    async fn kill_leftovers(&mut self, leader: ProcessId) {
        if process::kill_leftovers(leader) {
            self.t.log.note(format!(
                "killed the processes pid {} left behind in its process group",
                leader.pid
            ));
            if !process::wait_group_empty(leader.pid, LEFTOVER_WAIT).await {
                tracing::warn!(
                    service = self.name(),
                    pgid = leader.pid,
                    "processes left behind did not end after SIGKILL"
                );
            }
        }
    }

    async fn exited_after(&mut self, exit: ExitInfo, ran: Duration) {
        self.health = None;
        let decision = self.tracker.on_exit(&exit, ran, Instant::now());
        self.record.last_exit = Some(exit.clone());
        self.apply(decision, exit.to_string()).await;
    }

    /// Carries out the restart policy's decision after the process ended (`what` says how).
    async fn apply(&mut self, decision: Decision, what: String) {
        match decision {
            Decision::Restart(delay) => {
                self.record.restarts += 1;
                self.t.log.note(format!(
                    "{what}; restarting in {}ms (restart {})",
                    delay.as_millis(),
                    self.record.restarts
                ));
                if delay.is_zero() {
                    if let Err(e) = self.launch().await {
                        self.launch_failed(e).await;
                    }
                } else {
                    self.restart_at = Some(tokio::time::Instant::now() + delay);
                    self.set(Status::Restarting).await;
                }
            }
            Decision::Exited { failed } => {
                self.record.wanted = false;
                self.t
                    .log
                    .note(format!("{what}; not restarted (restart policy)"));
                if failed {
                    self.record.failed = Some(format!(
                        "{what} (restart policy: {})",
                        self.t.service.startup.restart.as_str()
                    ));
                    self.set(Status::Failed).await;
                } else {
                    self.set(Status::Stopped).await;
                }
            }
            Decision::GiveUp(reason) => {
                self.record.wanted = false;
                self.t.log.note(format!("failed: {reason}"));
                tracing::warn!(service = self.name(), "failed: {reason}");
                self.record.failed = Some(reason);
                self.set(Status::Failed).await;
            }
        }
    }

    /// The health monitor's verdict on process `pid`. A turn to unhealthy restarts the service
    /// (unless its policy is `never`), through the same backoff and limits as a crash.
    async fn on_health(&mut self, pid: i32, health: Health) {
        if self.running.as_ref().map(|r| r.id.pid) != Some(pid) {
            return; // about a process that is gone
        }
        let before = self.health.as_ref().map(|h| h.state);
        let state = health.state;
        if let Some(report) = health
            .last
            .as_ref()
            .filter(|_| self.t.events.receiver_count() > 0)
        {
            let _ = self.t.events.send(Event::Health {
                service: self.name().to_string(),
                state,
                report: report.clone(),
            });
        }
        let message = health
            .last
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_default();
        self.health = Some(health);
        if before == Some(state) {
            // Same state, newer answer: readers see it, but nobody is woken for it (waiters
            // care about changes of state; the event above carries every answer).
            let health = self.health.clone();
            self.t.watch.send_if_modified(|s| {
                s.health = health;
                false
            });
            return;
        }
        self.t
            .log
            .note(format!("health: {} ({message})", state.as_str()));
        tracing::info!(
            service = self.name(),
            "health: {} ({message})",
            state.as_str()
        );
        self.set(self.status).await;
        if state == HealthState::Unhealthy && self.t.service.startup.restart != RestartPolicy::Never
        {
            let Some(mut running) = self.running.take() else {
                return;
            };
            let ran = running.since.elapsed();
            self.t
                .log
                .note("unhealthy: stopping it to restart".to_string());
            self.set(Status::Restarting).await;
            let exit = self.terminate(&mut running, false).await;
            self.health = None;
            self.record.last_exit = Some(exit);
            let decision = self.tracker.on_unhealthy(ran, Instant::now());
            self.apply(decision, format!("unhealthy ({message})")).await;
        }
    }

    /// Stops the service: its process group gets the stop command or signal, then SIGKILL
    /// after the grace time (at once with `force`); done only when the group is empty.
    async fn stop(&mut self, force: bool) {
        self.restart_at = None;
        self.record.wanted = false;
        let Some(mut running) = self.running.take() else {
            if self.status != Status::Failed {
                self.set(Status::Stopped).await;
            }
            return;
        };
        self.set(Status::Stopping).await;
        let exit = self.terminate(&mut running, force).await;
        self.health = None;
        self.t.log.note(format!("stopped ({exit})"));
        self.record.last_exit = Some(exit);
        self.set(Status::Stopped).await;
    }

    /// Ends a running process group and returns how its leader exited.
    async fn terminate(&mut self, running: &mut Running, force: bool) -> ExitInfo {
        let pgid = running.id.pid;
        let grace = self.t.service.startup.stop_timeout;
        // The launch spec's way, or for a re-adopted process the way its record saved.
        let (signal, stop_command) = match &self.spec {
            Some(s) => (s.stop_signal, s.stop_command.clone()),
            None => (
                self.record
                    .stop_signal
                    .as_deref()
                    .and_then(process::parse_signal)
                    .unwrap_or(Signal::SIGTERM),
                self.record.stop_command.clone(),
            ),
        };
        let stop_command = stop_command.filter(|c| !c.is_empty());
        if force {
            let _ = process::signal_group(pgid, Signal::SIGKILL);
            // A workload outside the process group (a container) goes too.
            if let Some(cmd) = &stop_command {
                self.t.log.note(format!("killed; then `{}`", cmd.join(" ")));
                run_stop_command(&self.t.reaper, cmd, &self.t.base_dir, grace).await;
            }
        } else if let Some(cmd) = stop_command.clone() {
            self.t
                .log
                .note(format!("stopping with `{}`", cmd.join(" ")));
            run_stop_command(&self.t.reaper, &cmd, &self.t.base_dir, grace).await;
        } else {
            self.t
                .log
                .note(format!("stopping with {}", signal.as_str()));
            let _ = process::signal_group(pgid, signal);
        }
        let deadline = tokio::time::Instant::now() + grace;
        let exited = tokio::time::timeout(grace, &mut running.exit).await.ok();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !process::wait_group_empty(pgid, left).await {
            self.t.log.note(format!(
                "still running after {}s; sending SIGKILL to the process group",
                grace.as_secs_f64()
            ));
            let _ = process::signal_group(pgid, Signal::SIGKILL);
            process::wait_group_empty(pgid, Duration::from_secs(5)).await;
        }
        match exited {
            Some(e) => e,
            None => tokio::time::timeout(Duration::from_secs(5), &mut running.exit)
                .await
                .unwrap_or(ExitInfo::Unknown),
        }
    }
}

/// Runs a launch spec's stop command (no shell), at most `limit`; its status goes through the
/// reaper like every other child's.
async fn run_stop_command(reaper: &Reaper, cmd: &[String], dir: &std::path::Path, limit: Duration) {
    let child = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .spawn();
    let shown = cmd.join(" ");
    let child = match child {
        Ok(c) => c,
        Err(e) => return tracing::warn!("stop command `{shown}` failed: {e}"),
    };
    let pid = child.id() as i32;
    drop(child);
    match tokio::time::timeout(limit, reaper.watch(pid)).await {
        Ok(Ok(ExitInfo::Code(0))) => {}
        Ok(Ok(other)) => tracing::warn!("stop command `{shown}`: {other}"),
        Ok(Err(_)) => {}
        Err(_) => {
            tracing::warn!("stop command `{shown}` timed out");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
