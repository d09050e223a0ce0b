//! `platform reload` and SIGHUP: re-read the file the daemon serves, refuse it whole if it has
//! problems (every one listed, located), else apply the difference and serve the new config.
//! One reload at a time; a request that arrives during one waits for it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use keel_api::{ChangeKind, ReloadReport, ServiceChange};

use crate::config::diff::{self, Change};
use crate::config::{self, Config, ConfigError};
use crate::graph::ServiceGraph;
use crate::plugins;
use crate::state::StateDir;
use crate::supervisor::{ServiceFiles, Supervisor};

/// The supervisor of the config served now: a reload replaces it. Requests take the current
/// one when they begin and finish with it.
#[derive(Clone)]
pub struct LiveSupervisor(Arc<RwLock<Supervisor>>);

impl LiveSupervisor {
    pub fn new(supervisor: Supervisor) -> Self {
        Self(Arc::new(RwLock::new(supervisor)))
    }

    pub fn get(&self) -> Supervisor {
        self.0.read().expect("not poisoned").clone()
    }

    fn set(&self, supervisor: Supervisor) {
        *self.0.write().expect("not poisoned") = supervisor;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file has problems: nothing was changed.
    #[error("{} has {} problem{}; nothing was changed", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

pub struct Reloader {
    pub live: LiveSupervisor,
    pub state: StateDir,
    /// Told of each new supervisor and plugin host.
    metrics: Arc<crate::metrics::Metrics>,
    /// One reload at a time.
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        live: LiveSupervisor,
        state: StateDir,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            live,
            state,
            metrics,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub async fn reload(&self, dry_run: bool) -> Result<ReloadReport, ReloadError> {
        let _one = self.lock.lock().await;
        let current = self.live.get();
        let path = current.config().path.clone();
        let invalid = |problems: Vec<String>| ReloadError::Invalid {
            path: path.clone(),
            problems,
        };
        let config = match config::load(&path) {
            Ok(c) => Arc::new(c),
            Err(ConfigError::Invalid { diagnostics, .. }) => {
                return Err(invalid(diagnostics.iter().map(|d| d.to_string()).collect()));
            }
            Err(e) => return Err(invalid(vec![e.to_string()])),
        };
        // The graph's problems and the plugins' together, so that one reload lists them all.
        let graph = ServiceGraph::build(&config);
        let host = plugins::host(&config, &self.state)
            .await
            .map_err(ReloadError::Failed)?;
        let mut problems: Vec<String> = match &graph {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        };
        let found = plugins::problems_in(&host, &config, false).await;
        problems.extend(found.iter().map(|d| d.to_string()));
        let graph = match graph {
            Ok(g) if problems.is_empty() => g,
            _ => return Err(invalid(problems)),
        };

        let changes = diff::services(current.config(), &config);
        let report = |errors| ReloadReport {
            config: path.display().to_string(),
            dry_run,
            platform_changed: diff::platform_changed(current.config(), &config),
            services: changes
                .iter()
                .map(|(name, change)| describe(&current, &config, name, change))
                .collect(),
            errors,
        };
        if dry_run {
            return Ok(report(Vec::new()));
        }
        // What the report says is decided before anything changes.
        let planned = report(Vec::new());
        let graph = Arc::new(graph);
        let files = ServiceFiles::prepare(&graph, &self.state);
        let stats = plugins::stats_source(&host);
        let plugged = plugins::plugged(host, config.clone()).await;
        let (next, errors) = current
            .reload(config.clone(), graph, plugged, files, &changes)
            .await;
        self.metrics.reloaded(&next, Some(stats));
        self.live.set(next);
        tracing::info!(
            config = %path.display(),
            "reloaded: {}",
            summary(&planned.services)
        );
        for e in &errors {
            tracing::warn!("reload: {e}");
        }
        Ok(ReloadReport { errors, ..planned })
    }
}

/// One service in the report, with what the reload does to it.
fn describe(current: &Supervisor, new: &Config, name: &str, change: &Change) -> ServiceChange {
    let active = current.is_active(name);
    let (kind, what, action) = match change {
        Change::Added => {
            let auto = new.service(name).is_some_and(|s| s.startup.auto_start);
            (
                ChangeKind::Added,
                vec![],
                if auto { "start" } else { "none" },
            )
        }
        Change::Removed => (
            ChangeKind::Removed,
            vec![],
            if active { "stop" } else { "none" },
        ),
        Change::Changed { what } => {
            let action = match (change.needs_restart(), active) {
                (true, true) => "restart",
                _ => "update",
            };
            let what = what.iter().map(|w| w.to_string()).collect();
            (ChangeKind::Changed, what, action)
        }
        Change::Unchanged => (ChangeKind::Unchanged, vec![], "none"),
    };
    ServiceChange {
        name: name.to_string(),
        change: kind,
        what,
        action: action.to_string(),
    }
}

fn summary(services: &[ServiceChange]) -> String {
    let count = |k| services.iter().filter(|s| s.change == k).count();
    format!(
        "{} added, {} removed, {} changed, {} unchanged",
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        count(ChangeKind::Changed),
        count(ChangeKind::Unchanged)
    )
}
