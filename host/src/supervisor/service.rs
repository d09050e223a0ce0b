//! One service's state machine, owned by one task: commands come in through a channel, state
//! changes go out as events. Nothing else touches a service's process or record.

mod health;
mod hooked;
mod reconfigure;
mod recovery;
mod stop;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use keel_api::{HookCause, HookOutcome, HookPhase};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::files::FilesReady;
use super::hooks::Gate;
use super::logs::ServiceLog;
use super::marks::Marks;
use super::notify::Endpoint;
use super::policy::{Decision, RestartTracker};
use super::process::{self, LaunchSpec, OutputFifos};
use super::reaper::Reaper;
use super::{Deployer, Event};
use crate::config::Service;
use crate::health::{Health, HealthState};
use crate::state::{ExitInfo, ProcessId, ServiceRecord, StateDir, now_ms};
pub(super) use hooked::ServiceHooks;
pub use keel_api::{Snapshot, Status};

pub(super) enum Command {
    /// Start the service (its `before-start` hooks have until `deadline`).
    Start {
        cause: HookCause,
        deadline: Instant,
        reply: oneshot::Sender<Result<Started, String>>,
    },
    /// Stop it; `force` kills at once, without asking its `before-stop` hooks.
    Stop {
        force: bool,
        cause: HookCause,
        reply: oneshot::Sender<Result<Snapshot, String>>,
    },
    /// The health monitor's verdict after a check of process `pid`.
    Health { pid: i32, health: Health },
    /// A reload's new settings for the service and hooks for every service: applied at once,
    /// without touching a running process (a reload that changes how the service runs stops
    /// it first and starts it after).
    Reconfigure {
        service: Arc<Service>,
        hooks: super::hooks::Hooks,
    },
    /// The service left the config (and was stopped): the task ends.
    Retire,
}

/// What a start came to.
pub(super) enum Started {
    /// It runs (or ran already).
    Running,
    /// A hook skipped it: it stays stopped, without failing.
    Skipped(Box<Snapshot>),
}

/// What a launch came to, when it did not fail.
enum Launch {
    Started,
    Skipped,
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
    pub hooks: ServiceHooks,
    /// A notify check's socket and pipe, handed to each process it launches.
    pub notify: Option<Endpoint>,
    pub events: broadcast::Sender<Event>,
    /// The latest snapshot, for readers that must not wait for this task (list, status, the
    /// health monitor, start gates).
    pub watch: watch::Sender<Snapshot>,
    /// The service's settings as its health monitor reads them (a reload replaces them).
    pub settings: watch::Sender<Arc<Service>>,
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
    /// What the restart waiting at `restart_at` is for (a crash, health, recovery).
    restart_cause: HookCause,
    health: Option<Health>,
    /// The process that ran last, with how long it ran: what hooks told after it ended
    /// (`after-stop`, `on-failed`) learn of it. Cleared when a new launch begins.
    last_run: Option<(i32, Duration)>,
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
            restart_cause: HookCause::RestartPolicy,
            health: None,
            last_run: None,
            t: self,
        };
        m.recover().await;
        loop {
            let restart_at = m.restart_at;
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Retire) | None => return,
                    Some(c) => m.handle(c).await,
                },
                exit = async { (&mut m.running.as_mut().expect("guarded").exit).await }, if m.running.is_some() => {
                    m.exited(exit).await;
                }
                _ = async { tokio::time::sleep_until(restart_at.expect("guarded")).await }, if restart_at.is_some() => {
                    m.restart_at = None;
                    m.relaunch(m.restart_cause).await;
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
    /// the service has a check; healthy for a re-adopted notify service that said it was
    /// ready to the previous daemon (it will not say so again).
    fn fresh_health(&self) -> Option<Health> {
        let check = self.t.service.health_check.as_ref()?;
        if check.notify.is_some() && self.record.ready {
            return Some(Health {
                state: HealthState::Healthy,
                failures: 0,
                last: Some(crate::health::CheckReport {
                    healthy: true,
                    message: "ready before the daemon restarted".to_string(),
                    duration_ms: 0,
                    at_ms: now_ms(),
                }),
            });
        }
        Some(Health::starting())
    }

    /// Saves the record if it differs from what was saved last. The writing (temp file,
    /// rename; see `state::atomic_write`) runs on the blocking pool: the service waits for it, the runtime's
    /// workers do not, so services starting together save in parallel.
    async fn persist(&mut self) {
        self.record.process = self.running.as_ref().map(|r| r.id);
        self.record.ready &= self.running.is_some();
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
            Command::Start {
                cause,
                deadline,
                reply,
            } => {
                let result = self.start(cause, deadline).await;
                let _ = reply.send(result.map(|launch| match launch {
                    Launch::Started => Started::Running,
                    Launch::Skipped => Started::Skipped(Box::new(self.snapshot())),
                }));
            }
            Command::Stop {
                force,
                cause,
                reply,
            } => {
                let result = self.stop(force, cause).await;
                let _ = reply.send(result.map(|()| self.snapshot()));
            }
            Command::Reconfigure { service, hooks } => self.reconfigure(service, hooks),
            Command::Retire => unreachable!("the task's loop ends on Retire"),
        }
    }

    /// Starts the service if it does not run; clears `failed`.
    async fn start(&mut self, cause: HookCause, deadline: Instant) -> Result<Launch, String> {
        if self.running.is_some() {
            return Ok(Launch::Started);
        }
        self.record.wanted = true;
        self.record.failed = None;
        self.restart_at = None;
        self.tracker.reset();
        self.spec = None; // a start by hand asks the plugin again
        let launched = self.launch(cause, deadline).await;
        if let Err(e) = &launched {
            self.launch_failed(e.clone(), cause).await;
        }
        launched
    }

    /// A start by the restart policy (after its backoff): its hooks have the start's time.
    async fn relaunch(&mut self, cause: HookCause) {
        if let Err(e) = self.launch(cause, self.start_deadline()).await {
            self.launch_failed(e, cause).await;
        }
    }

    /// Asks the `before-start` hooks, then launches a process.
    async fn launch(&mut self, cause: HookCause, deadline: Instant) -> Result<Launch, String> {
        self.announce(Status::Starting);
        self.last_run = None;
        let hook_env = match self
            .gate(HookPhase::BeforeStart, cause, "starting", deadline)
            .await
        {
            Gate::Proceed { env } => env,
            Gate::Refused {
                outcome: HookOutcome::Skip,
                hook,
                reason,
            } => {
                let text = hooked::refusal_text(HookOutcome::Skip, &hook, &reason);
                self.t.log.note(format!("not started: {text}"));
                self.record.wanted = false;
                self.set(Status::Stopped).await;
                return Ok(Launch::Skipped);
            }
            Gate::Refused {
                outcome,
                hook,
                reason,
            } => return Err(hooked::refusal_text(outcome, &hook, &reason)),
        };
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
        // The hooks' variables come after the deployment's, so a site's policy has the last
        // word; the marks come last of all, so nothing hides a service from recovery.
        marked.env.extend(hook_env);
        let notify = match &self.t.notify {
            Some(n) => Some(
                n.prepare()
                    .map_err(|e| format!("cannot start `{}`: {e}", self.name()))?,
            ),
            None => None,
        };
        if let Some(n) = &notify {
            marked.env.extend(n.env.iter().cloned());
        }
        marked.env.extend(self.t.marks.env(self.name()));
        let descriptor = notify.as_ref().and_then(|n| n.descriptor.as_ref());
        let id = process::spawn(&marked, &self.t.fifos, &self.t.base_dir, descriptor)
            .map_err(|e| format!("cannot start `{}`: {e}", marked.program))?;
        if let (Some(endpoint), Some(prepared)) = (&self.t.notify, notify) {
            endpoint.launched(id.pid, prepared);
        }
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
        self.record.ready = false;
        self.health = self.fresh_health();
        self.t.log.note(format!("started pid {}", id.pid));
        tracing::info!(service = self.name(), pid = id.pid, "started");
        self.set(Status::Running).await;
        self.notify(
            HookPhase::AfterStart,
            cause,
            format!("started pid {}", id.pid),
        );
        Ok(Launch::Started)
    }

    async fn launch_failed(&mut self, e: String, cause: HookCause) {
        tracing::warn!(service = self.name(), "start failed: {e}");
        self.t.log.note(format!("start failed: {e}"));
        self.record.failed = Some(e.clone());
        self.record.wanted = false;
        self.set(Status::Failed).await;
        self.notify(HookPhase::AfterStop, cause, format!("start failed: {e}"));
        self.notify(HookPhase::OnFailed, cause, e);
    }

    async fn exited(&mut self, exit: ExitInfo) {
        let Some(running) = self.running.take() else {
            return;
        };
        self.last_run = Some((running.id.pid, running.since.elapsed()));
        self.kill_leftovers(running.id).await;
        self.exited_after(exit, running.since.elapsed(), HookCause::RestartPolicy)
            .await;
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

    async fn exited_after(&mut self, exit: ExitInfo, ran: Duration, cause: HookCause) {
        self.health = None;
        let decision = self.tracker.on_exit(&exit, ran, Instant::now());
        self.record.last_exit = Some(exit.clone());
        self.notify(HookPhase::AfterStop, cause, exit.to_string());
        self.apply(decision, exit.to_string(), cause).await;
    }

    /// Carries out the restart policy's decision after the process ended (`what` says how),
    /// once the `before-restart` hooks agree.
    async fn apply(&mut self, decision: Decision, what: String, cause: HookCause) {
        let decision = match decision {
            Decision::Restart(delay) => {
                let reason = format!("{what}; restart {}", self.record.restarts + 1);
                match self
                    .gate(
                        HookPhase::BeforeRestart,
                        cause,
                        reason,
                        self.start_deadline(),
                    )
                    .await
                {
                    Gate::Proceed { .. } => Decision::Restart(delay),
                    Gate::Refused {
                        outcome: HookOutcome::Skip,
                        hook,
                        reason,
                    } => {
                        let text = hooked::refusal_text(HookOutcome::Skip, &hook, &reason);
                        self.record.wanted = false;
                        self.t.log.note(format!("{what}; not restarted: {text}"));
                        return self.set(Status::Stopped).await;
                    }
                    Gate::Refused {
                        outcome,
                        hook,
                        reason,
                    } => Decision::GiveUp(format!(
                        "{what}; restart {}",
                        hooked::refusal_text(outcome, &hook, &reason)
                    )),
                }
            }
            other => other,
        };
        match decision {
            Decision::Restart(delay) => {
                self.record.restarts += 1;
                self.t.log.note(format!(
                    "{what}; restarting in {}ms (restart {})",
                    delay.as_millis(),
                    self.record.restarts
                ));
                if delay.is_zero() {
                    self.relaunch(cause).await;
                } else {
                    self.restart_at = Some(tokio::time::Instant::now() + delay);
                    self.restart_cause = cause;
                    self.set(Status::Restarting).await;
                }
            }
            Decision::Exited { failed } => {
                self.record.wanted = false;
                self.t
                    .log
                    .note(format!("{what}; not restarted (restart policy)"));
                if failed {
                    let reason = format!(
                        "{what} (restart policy: {})",
                        self.t.service.startup.restart.as_str()
                    );
                    self.record.failed = Some(reason.clone());
                    self.set(Status::Failed).await;
                    self.notify(HookPhase::OnFailed, cause, reason);
                } else {
                    self.set(Status::Stopped).await;
                }
            }
            Decision::GiveUp(reason) => {
                self.record.wanted = false;
                self.t.log.note(format!("failed: {reason}"));
                tracing::warn!(service = self.name(), "failed: {reason}");
                self.record.failed = Some(reason.clone());
                self.set(Status::Failed).await;
                self.notify(HookPhase::OnFailed, cause, reason);
            }
        }
    }
}
