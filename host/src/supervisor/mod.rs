//! Supervision: one task per service (see `service`), a reaper for every child, per-service
//! logs, restart policies. The `Supervisor` is the handle the daemon and its API use; it holds
//! only channels, never a service's state.

mod files;
mod logs;
mod marks;
mod monitor;
mod policy;
mod precise_sleep;
pub mod preflight;
pub mod process;
mod reaper;
mod service;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::{BoxFuture, join_all};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::{Config, Service};
use crate::graph::ServiceGraph;
use crate::health::{CheckReport, Checker, HealthState};
use crate::state::StateDir;

pub use files::ServiceFiles;
pub use keel_api::Event;
pub use logs::{Rotation, tail};
pub use preflight::{CheckKind, Preflight, PreflightCheck};
pub use process::LaunchSpec;
pub use reaper::Reaper;
pub use service::{Snapshot, Status};

/// Turns a service's deployment into something to run: the boundary to the deployment plugins.
pub trait Deployer: Send + Sync {
    fn launch<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Result<LaunchSpec, String>>;
    /// The deployment's prerequisites (the binary exists, the engine answers, ...).
    fn prerequisites<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Vec<PreflightCheck>>;
}

/// Why a supervisor request was refused; the API maps these to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    UnknownService(#[from] crate::graph::UnknownService),
    #[error("cannot stop {service}: dependent services running: {}; use --force to stop anyway", dependents.join(", "))]
    DependentsRunning {
        service: String,
        dependents: Vec<String>,
    },
    #[error("{service}: {message}")]
    Failed { service: String, message: String },
    #[error("{service} did not become ready: {why}")]
    NotReady { service: String, why: String },
    #[error("pre-flight check failed for {}", .0.iter().map(|p| format!("{} ({})", p.service, p.failure_text())).collect::<Vec<_>>().join(", "))]
    Preflight(Vec<Preflight>),
    #[error("the supervisor is shutting down")]
    Gone,
}

/// Pre-flight checks of one start that run at once.
const PREFLIGHTS_AT_ONCE: usize = 2;

struct Handle {
    tx: mpsc::Sender<service::Command>,
    snapshot: watch::Receiver<Snapshot>,
    log: logs::ServiceLog,
}

/// The daemon's handle on every service task.
#[derive(Clone)]
pub struct Supervisor {
    services: Arc<BTreeMap<String, Handle>>,
    events: broadcast::Sender<Event>,
    graph: Arc<ServiceGraph>,
    config: Arc<Config>,
    deployer: Arc<dyn Deployer>,
    checker: Arc<dyn Checker>,
}

impl Supervisor {
    /// Starts one task per service of `config`. Each first recovers what a previous daemon left
    /// in `state` (adopting live processes). Saved state of services no longer in the config is
    /// removed. `files` is the preparation of their FIFOs and log files, begun earlier
    /// ([`ServiceFiles::prepare`]); a service waits for its own only when it first needs them.
    pub async fn new(
        config: Arc<Config>,
        graph: Arc<ServiceGraph>,
        state: StateDir,
        files: ServiceFiles,
        deployer: Arc<dyn Deployer>,
        checker: Arc<dyn Checker>,
        reaper: Reaper,
    ) -> Self {
        // A client of the event stream that falls this far behind is told so (`lagged`).
        let (events, _) = broadcast::channel(256);
        let marks = marks::Marks::new(&state);
        let mut services = BTreeMap::new();
        for svc in &config.services {
            let fifos = process::OutputFifos::paths(&state.fifo_dir(), &svc.name);
            let files = files
                .of(&svc.name)
                .expect("the files of every service of the config are prepared");
            let log = logs::ServiceLog::start(
                state.log_file(&svc.name),
                fifos.clone(),
                files.clone(),
                Rotation::default(),
            );
            let (tx, rx) = mpsc::channel(64);
            let (watch, snapshot) = watch::channel(Snapshot::stopped(&svc.name));
            let service = Arc::new(svc.clone());
            tokio::spawn(monitor::run(
                service.clone(),
                checker.clone(),
                snapshot.clone(),
                tx.clone(),
            ));
            let task = service::ServiceTask {
                service,
                base_dir: config.dir(),
                deployer: deployer.clone(),
                reaper: reaper.clone(),
                state: state.clone(),
                log: log.clone(),
                fifos,
                files,
                marks: marks.clone(),
                events: events.clone(),
                watch,
            };
            tokio::spawn(task.run(rx));
            services.insert(svc.name.clone(), Handle { tx, snapshot, log });
        }
        for stale in state.saved_services() {
            if !services.contains_key(&stale) {
                tracing::warn!(
                    "forgetting saved state of `{stale}`, which is no longer in the config"
                );
                let _ = state.forget(&stale);
            }
        }
        // Each task publishes once it has recovered what a previous daemon left.
        for h in services.values() {
            let _ = h.snapshot.clone().changed().await;
        }
        Self {
            services: Arc::new(services),
            events,
            graph,
            config,
            deployer,
            checker,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn graph(&self) -> &ServiceGraph {
        &self.graph
    }

    fn handle(&self, name: &str) -> Result<&Handle, SupervisorError> {
        self.services
            .get(name)
            .ok_or_else(|| self.graph.unknown(name).into())
    }

    async fn ask<T>(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> service::Command,
    ) -> Result<T, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.handle(name)?
            .tx
            .send(make(tx))
            .await
            .map_err(|_| SupervisorError::Gone)?;
        rx.await.map_err(|_| SupervisorError::Gone)
    }

    pub async fn snapshot(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        Ok(self.handle(name)?.snapshot.borrow().clone())
    }

    /// Every service's snapshot, in config order.
    pub async fn list(&self) -> Vec<Snapshot> {
        self.config
            .services
            .iter()
            .filter_map(|s| self.services.get(&s.name))
            .map(|h| h.snapshot.borrow().clone())
            .collect()
    }

    /// Starts one service (not its dependencies), without waiting for it to be healthy.
    pub async fn start(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        self.ask(name, service::Command::Start)
            .await?
            .map_err(|message| SupervisorError::Failed {
                service: name.to_string(),
                message,
            })
    }

    /// Stops one service; refused while services that depend on it run, unless `force`.
    pub async fn stop(&self, name: &str, force: bool) -> Result<Snapshot, SupervisorError> {
        self.handle(name)?;
        if !force {
            let running: Vec<String> = self
                .graph
                .all_dependents(name)
                .into_iter()
                .filter(|d| self.is_active(d))
                .map(str::to_string)
                .collect();
            if !running.is_empty() {
                return Err(SupervisorError::DependentsRunning {
                    service: name.to_string(),
                    dependents: running,
                });
            }
        }
        self.stop_now(name, force).await
    }

    fn is_active(&self, name: &str) -> bool {
        self.services
            .get(name)
            .is_some_and(|h| h.snapshot.borrow().status.is_active())
    }

    async fn stop_now(&self, name: &str, kill: bool) -> Result<Snapshot, SupervisorError> {
        self.ask(name, |reply| service::Command::Stop { force: kill, reply })
            .await?
            .map_err(|message| SupervisorError::Failed {
                service: name.to_string(),
                message,
            })
    }

    /// Stops a service and starts it again, waiting for it to be ready.
    pub async fn restart(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        self.stop_now(name, false).await?;
        self.start(name).await?;
        self.wait_ready(name).await
    }

    /// The services a start of `names` brings up, level by level: with
    /// `auto_start_dependencies` (the default) their dependencies too, else only them.
    pub fn start_plan(&self, names: &[&str]) -> Result<Vec<Vec<&str>>, SupervisorError> {
        Ok(self
            .graph
            .start_plan(names, self.config.orchestrator.auto_start_dependencies)?)
    }

    /// Brings `names` up in dependency order: first pre-flight for every service that is not
    /// running yet (refused as a whole on a failure, unless `force`), then level by level,
    /// each level in parallel, a level starting only when every service of the one before is
    /// ready (healthy, or running if it has no check), each waited for at most its
    /// `start_timeout`. A failure stops the plan there and leaves what runs running.
    pub async fn start_services(
        &self,
        names: &[&str],
        force: bool,
    ) -> Result<Vec<Snapshot>, SupervisorError> {
        let levels = self.start_plan(names)?;
        if !force {
            let planned: Vec<&str> = levels.iter().flatten().copied().collect();
            let todo = planned.iter().filter(|n| !self.is_active(n));
            // A few at a time: the checks are quick plugin calls, and each one running beside
            // the others needs a plugin instance of its own (a fresh one has to be
            // instantiated), while an engine that is slow to answer still overlaps a few.
            let checks: Vec<_> = todo.map(|n| self.preflight(n, &planned)).collect();
            let reports: Vec<Preflight> = futures_util::stream::iter(checks)
                .buffered(PREFLIGHTS_AT_ONCE)
                .collect()
                .await;
            let failed: Vec<Preflight> = reports.into_iter().filter(|p| !p.passed).collect();
            if !failed.is_empty() {
                return Err(SupervisorError::Preflight(failed));
            }
        }
        let mut ready = Vec::new();
        for level in levels {
            let results = join_all(level.iter().map(|n| async move {
                self.start(n).await?;
                self.wait_ready(n).await
            }))
            .await;
            for r in results {
                ready.push(r?);
            }
        }
        Ok(ready)
    }

    /// Waits until a started service is ready: healthy, or running when it has no health
    /// check. At most its `start_timeout`; a service that fails or stops meanwhile is not.
    pub async fn wait_ready(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        let mut rx = self.handle(name)?.snapshot.clone();
        let service = self
            .config
            .service(name)
            .expect("supervised services are in the config");
        let has_check = service.health_check.is_some();
        let timeout = service.startup.start_timeout;
        let verdict = |s: &Snapshot| -> Option<Result<(), String>> {
            match s.status {
                service::Status::Running => {
                    let healthy = s
                        .health
                        .as_ref()
                        .is_some_and(|h| h.state == HealthState::Healthy);
                    (!has_check || healthy).then_some(Ok(()))
                }
                service::Status::Failed => {
                    Some(Err(s.reason.clone().unwrap_or_else(|| "failed".into())))
                }
                service::Status::Stopped => Some(Err(match &s.last_exit {
                    Some(e) => format!("it stopped ({e})"),
                    None => "it was stopped".into(),
                })),
                _ => None,
            }
        };
        let waited = tokio::time::timeout(timeout, rx.wait_for(|s| verdict(s).is_some()))
            .await
            .map(|r| r.map(|s| s.clone()));
        let snap = match waited {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(SupervisorError::Gone),
            Err(_) => {
                let s = rx.borrow().clone();
                let last = s
                    .health
                    .as_ref()
                    .and_then(|h| h.last.as_ref())
                    .map(|r| format!(" (last check: {})", r.message))
                    .unwrap_or_default();
                return Err(SupervisorError::NotReady {
                    service: name.to_string(),
                    why: format!(
                        "not healthy within its start_timeout of {}s{last}",
                        timeout.as_secs_f64()
                    ),
                });
            }
        };
        match verdict(&snap).expect("waited for a verdict") {
            Ok(()) => Ok(snap),
            Err(why) => Err(SupervisorError::NotReady {
                service: name.to_string(),
                why,
            }),
        }
    }

    /// The pre-flight report of `name`, for a start that also starts `planned`.
    pub async fn preflight(&self, name: &str, planned: &[&str]) -> Preflight {
        let Some(service) = self.config.service(name) else {
            return Preflight::new(name, Vec::new());
        };
        let mut checks = self.deployer.prerequisites(service).await;
        let mut active = Vec::new();
        let mut unmanaged = Vec::new();
        for c in self.graph.conflicts_of(name) {
            if !self.graph.contains(c) {
                unmanaged.push(c);
            } else if self.is_active(c) {
                active.push(c.to_string());
            } else if planned.contains(&c) {
                active.push(format!("{c} (started by the same command)"));
            }
        }
        checks.push(preflight::conflicts(active, &unmanaged));
        let missing: Vec<&str> = self
            .graph
            .dependencies(name)
            .into_iter()
            .filter(|d| !self.is_active(d) && !planned.contains(d))
            .collect();
        checks.push(if missing.is_empty() {
            PreflightCheck {
                kind: CheckKind::Dependencies,
                ok: true,
                message: "All dependencies available".into(),
            }
        } else {
            PreflightCheck {
                kind: CheckKind::Dependencies,
                ok: false,
                message: format!(
                    "Dependencies not running: {} (auto_start_dependencies is off)",
                    missing.join(", ")
                ),
            }
        });
        Preflight::new(name, checks)
    }

    /// Runs a service's health check now (whether or not it runs under Keel); `None` when it
    /// has no check.
    pub async fn check_now(&self, name: &str) -> Result<Option<CheckReport>, SupervisorError> {
        self.handle(name)?;
        let service = self
            .config
            .service(name)
            .expect("supervised services are in the config");
        Ok(self.checker.check(service).await)
    }

    /// Stops services in reverse dependency order, dependents first, each level in parallel.
    /// `kill` sends SIGKILL at once instead of the stop signal.
    pub async fn stop_levels(
        &self,
        names: Option<&[&str]>,
        kill: bool,
    ) -> Vec<Result<Snapshot, SupervisorError>> {
        let levels = match names {
            Some(n) => {
                // The named services and everything that depends on them.
                let mut all: Vec<&str> = n.to_vec();
                for x in n {
                    all.extend(self.graph.all_dependents(x));
                }
                let mut levels = self.graph.start_levels();
                for l in &mut levels {
                    l.retain(|s| all.contains(s));
                }
                levels
            }
            None => self.graph.start_levels(),
        };
        let mut out = Vec::new();
        for level in levels.iter().rev() {
            out.extend(join_all(level.iter().map(|s| self.stop_now(s, kill))).await);
        }
        out
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// New lines of a service's log.
    pub fn follow(&self, name: &str) -> Result<broadcast::Receiver<Arc<str>>, SupervisorError> {
        Ok(self.handle(name)?.log.subscribe())
    }

    pub fn log_path(&self, name: &str) -> Result<std::path::PathBuf, SupervisorError> {
        Ok(self.handle(name)?.log.path().to_path_buf())
    }
}
