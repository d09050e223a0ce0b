//! Supervision: one task per service (see `service`), a reaper for every child, per-service
//! logs, restart policies. The `Supervisor` is the handle the daemon and its API use; it holds
//! only channels, never a service's state.

mod files;
pub mod hooks;
mod live;
mod logs;
mod marks;
mod monitor;
mod notify;
mod policy;
mod precise_sleep;
pub mod preflight;
pub mod process;
mod reaper;
mod reload;
mod service;
mod start;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, join_all};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::{Config, Service};
use crate::graph::ServiceGraph;
use crate::health::{CheckReport, Checker};
use crate::state::StateDir;
use hooks::{HookRunner, Hooks};
use keel_api::HookCause;

pub use files::ServiceFiles;
pub use keel_api::Event;
pub use logs::{Rotation, tail};
pub use preflight::{CheckKind, Preflight, PreflightCheck};
pub use process::LaunchSpec;
pub use reaper::Reaper;
pub use service::{Snapshot, Status};

/// A read-only view of every service's latest snapshot: what hooks granted `services` see.
/// It holds no service's command channel, so it keeps nothing alive.
#[derive(Clone)]
pub struct ServicesWatch {
    services: Vec<(String, watch::Receiver<Snapshot>)>,
}

impl ServicesWatch {
    pub fn get(&self, name: &str) -> Option<Snapshot> {
        self.services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, rx)| rx.borrow().clone())
    }

    /// Every service, in config order.
    pub fn all(&self) -> Vec<Snapshot> {
        self.map(Snapshot::clone)
    }

    /// What `f` takes from each service's snapshot, in config order, without copying the
    /// snapshots.
    pub fn map<T>(&self, f: impl FnMut(&Snapshot) -> T) -> Vec<T> {
        let mut f = f;
        self.services
            .iter()
            .map(|(_, rx)| f(&rx.borrow()))
            .collect()
    }
}

/// What the supervisor asks of plugins: deployment, health checks and hooks.
#[derive(Clone)]
pub struct Plugged {
    pub deployer: Arc<dyn Deployer>,
    pub checker: Arc<dyn Checker>,
    pub hooks: Arc<dyn HookRunner>,
}

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
    /// A hook refused the operation.
    #[error("{message}; use --force to override")]
    Refused { service: String, message: String },
    #[error("{service} did not become ready: {why}")]
    NotReady { service: String, why: String },
    #[error("pre-flight check failed for {}", .0.iter().map(|p| format!("{} ({})", p.service, p.failure_text())).collect::<Vec<_>>().join(", "))]
    Preflight(Vec<Preflight>),
    #[error("the supervisor is shutting down")]
    Gone,
}

/// Room in the event channel, per service (at least 256 events in all).
const EVENTS_PER_SERVICE: usize = 4;

/// Pre-flight checks of one start that run at once.
const PREFLIGHTS_AT_ONCE: usize = 2;

#[derive(Clone)]
struct Handle {
    tx: mpsc::Sender<service::Command>,
    snapshot: watch::Receiver<Snapshot>,
    log: logs::ServiceLog,
}

/// The daemon's handle on every service task, for one config: a reload makes a new one (see
/// `reload`), which keeps the tasks of the services that stay.
#[derive(Clone)]
pub struct Supervisor {
    services: Arc<BTreeMap<String, Handle>>,
    events: broadcast::Sender<Event>,
    graph: Arc<ServiceGraph>,
    config: Arc<Config>,
    deployer: Arc<dyn Deployer>,
    checker: Arc<dyn Checker>,
    parts: Arc<Parts>,
}

/// What every config's supervisor of one daemon shares.
struct Parts {
    state: StateDir,
    reaper: Reaper,
    marks: marks::Marks,
    /// The plugins every service calls, replaced as a whole by a reload.
    plugins: Arc<live::LivePlugins>,
    /// The logs of services a reload removed: a service of the same name added back later
    /// takes its log over, since that log's task still drains the service's FIFOs.
    retired_logs: Mutex<HashMap<String, logs::ServiceLog>>,
}

impl Parts {
    /// Starts the task and the health monitor of `svc`.
    fn spawn(
        &self,
        svc: &Service,
        base_dir: std::path::PathBuf,
        files: files::FilesReady,
        hooks: &Hooks,
        events: &broadcast::Sender<Event>,
    ) -> Handle {
        let fifos = process::OutputFifos::paths(&self.state.fifo_dir(), &svc.name);
        let retired = self
            .retired_logs
            .lock()
            .expect("not poisoned")
            .remove(&svc.name);
        let log = retired.unwrap_or_else(|| {
            logs::ServiceLog::start(
                self.state.log_file(&svc.name),
                fifos.clone(),
                files.clone(),
                Rotation::default(),
            )
        });
        let (tx, rx) = mpsc::channel(64);
        let (watch, snapshot) = watch::channel(Snapshot::stopped(&svc.name));
        let service = Arc::new(svc.clone());
        let (settings, settings_rx) = watch::channel(service.clone());
        let service_hooks = service::ServiceHooks::new(hooks.clone(), &service, &log, events);
        // A notify check listens for the service's word; every other check is polled.
        let notify = notify::start(
            &service,
            &self.state,
            log.clone(),
            snapshot.clone(),
            tx.clone(),
        );
        if notify.is_none() {
            let checker: Arc<dyn Checker> = self.plugins.clone();
            tokio::spawn(monitor::run(
                settings_rx,
                checker,
                snapshot.clone(),
                tx.clone(),
            ));
        }
        let task = service::ServiceTask {
            service,
            base_dir,
            deployer: self.plugins.clone(),
            reaper: self.reaper.clone(),
            state: self.state.clone(),
            log: log.clone(),
            fifos,
            files,
            marks: self.marks.clone(),
            hooks: service_hooks,
            notify,
            events: events.clone(),
            watch,
            settings,
        };
        tokio::spawn(task.run(rx));
        Handle { tx, snapshot, log }
    }
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
        plugged: Plugged,
        reaper: Reaper,
    ) -> Self {
        let Plugged {
            deployer,
            checker,
            hooks,
        } = plugged;
        let hooks = Hooks::new(hooks, config.hooks.clone());
        // A client of the event stream that falls this far behind is told so (`lagged`). The
        // changes of a platform's start, and the check answers of one wake-up of the check grid,
        // come in bursts of a few per service: room for four per service keeps the daemon's own
        // follower (metrics) from missing any while it waits for a turn on a busy runtime.
        let (events, _) = broadcast::channel(EVENTS_PER_SERVICE * config.services.len().max(64));
        let parts = Arc::new(Parts {
            marks: marks::Marks::new(&state),
            state: state.clone(),
            reaper,
            plugins: Arc::new(live::LivePlugins::new(deployer, checker)),
            retired_logs: Mutex::default(),
        });
        let mut services = BTreeMap::new();
        for svc in &config.services {
            let files = files
                .of(&svc.name)
                .expect("the files of every service of the config are prepared");
            let handle = parts.spawn(svc, config.dir(), files, &hooks, &events);
            services.insert(svc.name.clone(), handle);
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
            deployer: parts.plugins.clone(),
            checker: parts.plugins.clone(),
            parts,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The config, to keep beside this supervisor.
    pub fn shared_config(&self) -> Arc<Config> {
        self.config.clone()
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

    /// Stops one service; refused while services that depend on it run, unless `force`.
    pub async fn stop(&self, name: &str, force: bool) -> Result<Snapshot, SupervisorError> {
        self.stop_because(name, force, HookCause::Operator).await
    }

    /// [`Supervisor::stop`], telling its hooks why.
    pub async fn stop_because(
        &self,
        name: &str,
        force: bool,
        cause: HookCause,
    ) -> Result<Snapshot, SupervisorError> {
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
        self.stop_now(name, force, cause).await
    }

    /// Whether `name` runs or is on its way up or down.
    pub fn is_active(&self, name: &str) -> bool {
        self.services
            .get(name)
            .is_some_and(|h| h.snapshot.borrow().status.is_active())
    }

    async fn stop_now(
        &self,
        name: &str,
        kill: bool,
        cause: HookCause,
    ) -> Result<Snapshot, SupervisorError> {
        self.ask(name, |reply| service::Command::Stop {
            force: kill,
            cause,
            reply,
        })
        .await?
        .map_err(|message| SupervisorError::Refused {
            service: name.to_string(),
            message,
        })
    }

    /// Runs a service's health check now (whether or not it runs under Keel); `None` when it
    /// has no check. A notify check cannot be run: its answer is what the service last said.
    pub async fn check_now(&self, name: &str) -> Result<Option<CheckReport>, SupervisorError> {
        let handle = self.handle(name)?;
        let service = self
            .config
            .service(name)
            .expect("supervised services are in the config");
        if service
            .health_check
            .as_ref()
            .is_some_and(|c| !c.by_plugin())
        {
            return Ok(Some(notify::answer_now(&handle.snapshot.borrow())));
        }
        Ok(self.checker.check(service).await)
    }

    /// Stops services in reverse dependency order, dependents first, each level in parallel.
    /// `kill` sends SIGKILL at once instead of the stop signal (and asks no hook).
    pub async fn stop_levels(
        &self,
        names: Option<&[&str]>,
        kill: bool,
        cause: HookCause,
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
        // A service whose stop a hook refused keeps what it depends on running too.
        let mut kept: Vec<&str> = Vec::new();
        for level in levels.iter().rev() {
            let results = join_all(level.iter().map(|s| {
                let needed_by = self
                    .graph
                    .all_dependents(s)
                    .into_iter()
                    .find(|d| kept.contains(d));
                async move {
                    match needed_by {
                        Some(d) => Err(SupervisorError::Refused {
                            service: s.to_string(),
                            message: format!(
                                "{s} kept running: {d} depends on it and was not stopped"
                            ),
                        }),
                        None => self.stop_now(s, kill, cause).await,
                    }
                }
            }))
            .await;
            for (s, r) in level.iter().zip(results) {
                if matches!(r, Err(SupervisorError::Refused { .. })) {
                    kept.push(s);
                }
                out.push(r);
            }
        }
        out
    }

    /// Every service's latest snapshot, readable without asking any task.
    pub fn watch_all(&self) -> ServicesWatch {
        ServicesWatch {
            services: self
                .config
                .services
                .iter()
                .filter_map(|s| {
                    Some((s.name.clone(), self.services.get(&s.name)?.snapshot.clone()))
                })
                .collect(),
        }
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
