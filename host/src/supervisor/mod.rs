//! Supervision: one task per service (see `service`), a reaper for every child, per-service
//! logs, restart policies. The `Supervisor` is the handle the daemon and its API use; it holds
//! only channels, never a service's state.

mod logs;
mod policy;
pub mod process;
mod reaper;
mod service;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use logs::{Rotation, tail};
pub use policy::{BACKOFF_BASE, BACKOFF_CAP, STABLE_RUN};
pub use process::LaunchSpec;
pub use reaper::Reaper;
pub use service::{Snapshot, Status};

use crate::config::{Config, Service};
use crate::graph::ServiceGraph;
use crate::state::StateDir;

/// Turns a service's deployment into something to run: the boundary to the deployment plugins.
pub trait Deployer: Send + Sync {
    fn launch<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Result<LaunchSpec, String>>;
}

/// A state change, as the event stream carries it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Changed(Snapshot),
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
    #[error("the supervisor is shutting down")]
    Gone,
}

struct Handle {
    tx: mpsc::Sender<service::Command>,
    log: logs::ServiceLog,
}

/// The daemon's handle on every service task.
#[derive(Clone)]
pub struct Supervisor {
    services: Arc<BTreeMap<String, Handle>>,
    events: broadcast::Sender<Event>,
    graph: Arc<ServiceGraph>,
    config: Arc<Config>,
}

impl Supervisor {
    /// Starts one task per service of `config`. Each first recovers what a previous daemon left
    /// in `state` (adopting live processes). Saved state of services no longer in the config is
    /// removed.
    pub fn new(
        config: Arc<Config>,
        graph: Arc<ServiceGraph>,
        state: StateDir,
        deployer: Arc<dyn Deployer>,
        reaper: Reaper,
    ) -> std::io::Result<Self> {
        let (events, _) = broadcast::channel(4096);
        let mut services = BTreeMap::new();
        for svc in &config.services {
            let fifos = process::OutputFifos::create(&state.fifo_dir(), &svc.name)?;
            let log = logs::ServiceLog::start(
                state.log_file(&svc.name),
                &fifos.stdout,
                &fifos.stderr,
                Rotation::default(),
            )?;
            let (tx, rx) = mpsc::channel(64);
            let task = service::ServiceTask {
                service: Arc::new(svc.clone()),
                base_dir: config.dir(),
                deployer: deployer.clone(),
                reaper: reaper.clone(),
                state: state.clone(),
                log: log.clone(),
                fifos,
                events: events.clone(),
            };
            tokio::spawn(task.run(rx));
            services.insert(svc.name.clone(), Handle { tx, log });
        }
        for stale in state.saved_services() {
            if !services.contains_key(&stale) {
                tracing::warn!(
                    "forgetting saved state of `{stale}`, which is no longer in the config"
                );
                let _ = state.forget(&stale);
            }
        }
        Ok(Self {
            services: Arc::new(services),
            events,
            graph,
            config,
        })
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
        self.ask(name, service::Command::Snapshot).await
    }

    /// Every service's snapshot, in config order.
    pub async fn list(&self) -> Vec<Snapshot> {
        let all = join_all(self.config.services.iter().map(|s| self.snapshot(&s.name))).await;
        all.into_iter().filter_map(Result::ok).collect()
    }

    /// Starts one service (not its dependencies).
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
            let mut running = Vec::new();
            for d in self.graph.all_dependents(name) {
                if self.snapshot(d).await?.status.is_active() {
                    running.push(d.to_string());
                }
            }
            if !running.is_empty() {
                return Err(SupervisorError::DependentsRunning {
                    service: name.to_string(),
                    dependents: running,
                });
            }
        }
        self.stop_now(name, force).await
    }

    async fn stop_now(&self, name: &str, kill: bool) -> Result<Snapshot, SupervisorError> {
        self.ask(name, |reply| service::Command::Stop { force: kill, reply })
            .await?
            .map_err(|message| SupervisorError::Failed {
                service: name.to_string(),
                message,
            })
    }

    pub async fn restart(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        self.stop_now(name, false).await?;
        self.start(name).await
    }

    /// Starts the named services level by level, each level in parallel. Stops at the first
    /// level with a failure, leaving what runs running.
    pub async fn start_levels(&self, names: &[&str]) -> Result<Vec<Snapshot>, SupervisorError> {
        let mut started = Vec::new();
        for level in self.graph.plan(names)? {
            let results = join_all(level.iter().map(|n| self.start(n))).await;
            for r in results {
                started.push(r?);
            }
        }
        Ok(started)
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

    /// Services with `auto_start = true`, in config order.
    pub fn auto_start(&self) -> Vec<&str> {
        self.config
            .services
            .iter()
            .filter(|s| s.startup.auto_start)
            .map(|s| s.name.as_str())
            .collect()
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
