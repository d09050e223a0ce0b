//! Applying a reload: from the supervisor of the config served to the supervisor of the file
//! re-read, keeping the task (and the process) of every service that stays.
//!
//! The order: the services that leave and those that must restart stop first, dependents
//! first; then every service that stays takes its new settings and the new hooks, the
//! services added get tasks, the plugins are replaced; last, the restarted services that ran
//! and the added `auto_start` ones start, in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::future::join_all;
use keel_api::HookCause;

use super::hooks::Hooks;
use super::{Plugged, ServiceFiles, Supervisor, SupervisorError, service};
use crate::config::Config;
use crate::config::diff::Change;
use crate::graph::ServiceGraph;

impl Supervisor {
    /// Applies `config` (already checked, with its `graph`, its plugins and its services'
    /// files being prepared), given what `changes` found. Returns the supervisor of the new
    /// config and what went wrong on the way, one line each (the rest is still applied).
    pub async fn reload(
        &self,
        config: Arc<Config>,
        graph: Arc<ServiceGraph>,
        plugged: Plugged,
        files: ServiceFiles,
        changes: &[(String, Change)],
    ) -> (Supervisor, Vec<String>) {
        let mut errors = Vec::new();
        // A service whose readiness moves to or from `notify`, or whose notify settings change,
        // gets a new task: what listens for its readiness is chosen when its task starts.
        let notify_of = |c: &Config, n: &str| {
            c.service(n)
                .and_then(|s| s.health_check.as_ref())
                .and_then(|h| h.notify.clone())
        };
        let mut replaced: BTreeSet<&str> = changes
            .iter()
            .filter(|(n, c)| {
                matches!(c, Change::Changed { what } if what.contains(&"health_check"))
                    && (notify_of(&self.config, n).is_some() || notify_of(&config, n).is_some())
            })
            .map(|(n, _)| n.as_str())
            .collect();
        let removed: BTreeSet<&str> = names(changes, |c| *c == Change::Removed);
        let restarted: BTreeSet<&str> = names(changes, Change::needs_restart);
        let was_active: BTreeSet<&str> = restarted
            .iter()
            .copied()
            .filter(|n| self.is_active(n))
            .collect();

        // Dependents first, in the order of the config served; only the services named (a
        // service that stays does not depend on one that leaves: the new file would not
        // have been taken).
        for level in self.graph.start_levels().iter().rev() {
            let stopping = level
                .iter()
                .filter(|s| removed.contains(*s) || was_active.contains(*s));
            let results =
                join_all(stopping.map(|s| async move {
                    (*s, self.stop_now(s, false, HookCause::Operator).await)
                }))
                .await;
            for (name, result) in results {
                match result {
                    Ok(_) => {}
                    Err(e @ SupervisorError::Refused { .. }) if removed.contains(name) => {
                        errors.push(format!("{e}; killed, as it is no longer in the config"));
                        if let Err(e) = self.stop_now(name, true, HookCause::Operator).await {
                            errors.push(e.to_string());
                        }
                    }
                    Err(e) => {
                        // Still running: it keeps its task.
                        replaced.remove(name);
                        errors.push(format!(
                            "{e}; {name} keeps running as it was, its new settings apply at its next start"
                        ))
                    }
                }
            }
        }

        // The tasks that end hand their logs over, for a task of the same name (now or later).
        for name in removed.iter().chain(&replaced) {
            if let Some(h) = self.services.get(*name) {
                let _ = h.tx.send(service::Command::Retire).await;
                let mut retired = self.parts.retired_logs.lock().expect("not poisoned");
                retired.insert(name.to_string(), h.log.clone());
            }
        }
        let hooks = Hooks::new(plugged.hooks.clone(), config.hooks.clone());
        let mut services = BTreeMap::new();
        let mut added = Vec::new();
        let mut spawned = Vec::new();
        for svc in &config.services {
            let kept = self
                .services
                .get(&svc.name)
                .filter(|_| !replaced.contains(svc.name.as_str()));
            let handle = match kept {
                Some(h) => {
                    let _ =
                        h.tx.send(service::Command::Reconfigure {
                            service: Arc::new(svc.clone()),
                            hooks: hooks.clone(),
                        })
                        .await;
                    h.clone()
                }
                None => {
                    let files = files
                        .of(&svc.name)
                        .expect("the files of every service of the config are prepared");
                    if !replaced.contains(svc.name.as_str()) {
                        added.push(svc.name.clone());
                    }
                    spawned.push(svc.name.clone());
                    self.parts
                        .spawn(svc, config.dir(), files, &hooks, &self.events)
                }
            };
            services.insert(svc.name.clone(), handle);
        }
        for name in &removed {
            let _ = self.parts.state.forget(name);
        }
        self.parts
            .plugins
            .replace(plugged.deployer.clone(), plugged.checker.clone());
        // Each new task publishes once it has looked for what a previous daemon left.
        for name in &spawned {
            let _ = services[name].snapshot.clone().changed().await;
        }
        let next = Supervisor {
            services: Arc::new(services),
            events: self.events.clone(),
            graph,
            config: config.clone(),
            deployer: self.deployer.clone(),
            checker: self.checker.clone(),
            parts: self.parts.clone(),
        };
        plugged.hooks.watch_services(next.watch_all());

        let starting: Vec<&str> = config
            .services
            .iter()
            .filter(|s| {
                was_active.contains(s.name.as_str())
                    || (added.contains(&s.name) && s.startup.auto_start)
            })
            .map(|s| s.name.as_str())
            .collect();
        if !starting.is_empty()
            && let Err(e) = next
                .start_services(&starting, false, HookCause::Operator)
                .await
        {
            errors.push(e.to_string());
        }
        (next, errors)
    }
}

fn names(changes: &[(String, Change)], which: impl Fn(&Change) -> bool) -> BTreeSet<&str> {
    changes
        .iter()
        .filter(|(_, c)| which(c))
        .map(|(n, _)| n.as_str())
        .collect()
}
