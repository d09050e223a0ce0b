//! Starting: one service, a restart, and the dependency-ordered start of a plan (pre-flight for
//! all, then level by level, each service waited for until ready within its `start_timeout`,
//! which its `before-start` hooks' time counts in).

use std::collections::BTreeSet;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::future::join_all;
use keel_api::{HookCause, HookOutcome, HookRun};

use super::service::{self, Started};
use super::{
    CheckKind, PREFLIGHTS_AT_ONCE, Preflight, PreflightCheck, Snapshot, Supervisor,
    SupervisorError, preflight,
};
use crate::health::HealthState;

/// What a start of one service in a plan came to.
enum Outcome {
    Ready(Snapshot),
    /// Skipped by a hook, or not started because a dependency was.
    Skipped(Snapshot),
}

impl Supervisor {
    /// Starts one service (not its dependencies), without waiting for it to be healthy. Its
    /// `before-start` hooks have until `deadline`.
    pub(super) async fn start(
        &self,
        name: &str,
        cause: HookCause,
        deadline: Instant,
    ) -> Result<Started, SupervisorError> {
        self.ask(name, |reply| service::Command::Start {
            cause,
            deadline,
            reply,
        })
        .await?
        .map_err(|message| SupervisorError::Failed {
            service: name.to_string(),
            message,
        })
    }

    /// Stops a service and starts it again, waiting for it to be ready.
    pub async fn restart(&self, name: &str) -> Result<Snapshot, SupervisorError> {
        self.stop_now(name, false, HookCause::Operator).await?;
        let deadline = self.start_deadline(name)?;
        match self.start(name, HookCause::Operator, deadline).await? {
            Started::Running => self.wait_ready(name, deadline).await,
            Started::Skipped(snap) => Ok(*snap),
        }
    }

    /// When a start of `name` begun now must be ready.
    fn start_deadline(&self, name: &str) -> Result<Instant, SupervisorError> {
        let service = self
            .config
            .service(name)
            .ok_or_else(|| SupervisorError::from(self.graph.unknown(name)))?;
        Ok(Instant::now() + service.startup.start_timeout)
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
    /// `start_timeout`. A failure stops the plan there and leaves what runs running. A service
    /// a hook skips stays stopped, and so do the services of the plan that depend on it; the
    /// rest goes on. `cause` is what the hooks of the named services are told (their
    /// dependencies are started as `dependency`).
    pub async fn start_services(
        &self,
        names: &[&str],
        force: bool,
        cause: HookCause,
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
        let mut done = Vec::new();
        let mut skipped: BTreeSet<&str> = BTreeSet::new();
        for level in levels {
            let results = join_all(level.iter().map(|n| {
                let cause = if names.contains(n) {
                    cause
                } else {
                    HookCause::Dependency
                };
                let blocked = self
                    .graph
                    .dependencies(n)
                    .into_iter()
                    .find(|d| skipped.contains(d));
                async move {
                    if let Some(dependency) = blocked {
                        return self.not_started(n, dependency).map(Outcome::Skipped);
                    }
                    let deadline = self.start_deadline(n)?;
                    match self.start(n, cause, deadline).await? {
                        Started::Running => self.wait_ready(n, deadline).await.map(Outcome::Ready),
                        Started::Skipped(snap) => Ok(Outcome::Skipped(*snap)),
                    }
                }
            }))
            .await;
            for (name, r) in level.iter().zip(results) {
                match r? {
                    Outcome::Ready(snap) => done.push(snap),
                    Outcome::Skipped(snap) => {
                        skipped.insert(name);
                        done.push(snap);
                    }
                }
            }
        }
        Ok(done)
    }

    /// A service of a plan left stopped because `dependency` was skipped: its snapshot says so.
    fn not_started(&self, name: &str, dependency: &str) -> Result<Snapshot, SupervisorError> {
        let mut snap = self.handle(name)?.snapshot.borrow().clone();
        snap.last_hook = Some(HookRun {
            hook: "-".into(),
            phase: keel_api::HookPhase::BeforeStart,
            outcome: HookOutcome::Skip,
            reason: Some(format!("its dependency {dependency} was skipped")),
            duration_ms: 0,
            at_ms: crate::state::now_ms(),
        });
        Ok(snap)
    }

    /// Waits until a started service is ready: healthy, or running when it has no health
    /// check, by `deadline`; a service that fails or stops meanwhile is not.
    pub async fn wait_ready(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Snapshot, SupervisorError> {
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
        let waited =
            tokio::time::timeout_at(deadline.into(), rx.wait_for(|s| verdict(s).is_some()))
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
}
