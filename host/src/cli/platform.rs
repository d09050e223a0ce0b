//! `keel platform …`.

use std::fmt::Write;

use clap::Subcommand;
use keel_api::endpoint::{ListServices, PlatformBody, PlatformStart, PlatformStatus, PlatformStop};
use keel_api::{ServiceView, Snapshot, Status};
use serde::Serialize;

use super::completions;
use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{BOLD, DIM, ok_mark, plural, styled, uptime_secs};
use super::progress::{Plan, start_with_progress};
use super::report::{Report, Said, emit};
use crate::config::Config;
use crate::graph::ServiceGraph;

#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    /// Start the auto-start services, or the named ones with their dependencies, in dependency order
    Start {
        /// Services to start (with their dependencies); default: every auto_start service
        #[arg(add = completions::services())]
        names: Vec<String>,
        /// Print the start plan level by level without starting anything
        #[arg(long)]
        dry_run: bool,
        /// Start even if pre-flight checks fail
        #[arg(long)]
        force: bool,
        /// Print nothing but errors and the final line (no progress)
        #[arg(long, short)]
        quiet: bool,
    },
    /// Stop all running services, or the named ones and what depends on them, dependents first
    Stop {
        #[arg(add = completions::services())]
        names: Vec<String>,
        /// Kill at once (SIGKILL to each process group) instead of the graceful stop
        #[arg(long)]
        force: bool,
    },
    /// Restart the running services (or the named ones), keeping the dependency order
    Restart {
        #[arg(add = completions::services())]
        names: Vec<String>,
    },
    /// Re-read services.toml into the running daemon: start the added services, stop the
    /// removed ones, restart the changed ones; unchanged services keep running untouched
    Reload {
        /// Print what would change, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Show every service's status, grouped by category
    Status,
    /// Show every service's health as monitoring sees it
    Health,
    /// Show a service's log
    Logs(super::services::LogArgs),
}

pub fn run(cx: &Context, cmd: PlatformCommand) -> Result<Exit, Failure> {
    let json = cx.json;
    match cmd {
        PlatformCommand::Start {
            names,
            dry_run: true,
            ..
        } => start_plan(cx, &names),
        PlatformCommand::Start {
            names,
            dry_run: false,
            force,
            quiet,
        } => start(cx, &names, force, quiet).map(|r| emit(json, &r)),
        PlatformCommand::Stop { names, force } => stop(cx, &names, force).map(|r| emit(json, &r)),
        PlatformCommand::Restart { names } => restart(cx, &names).map(|r| emit(json, &r)),
        PlatformCommand::Reload { dry_run } => {
            super::reload::reload(cx, dry_run).map(|r| emit(json, &r))
        }
        PlatformCommand::Status => status(cx).map(|r| emit(json, &r)),
        PlatformCommand::Health => super::health::platform_health(cx).map(|r| emit(json, &r)),
        PlatformCommand::Logs(a) => super::services::logs(cx, &a),
    }
}

/// The config and graph, with every named service known.
fn load_named(cx: &Context, names: &[String]) -> Result<(Config, ServiceGraph), Failure> {
    let (config, graph) = cx.load()?;
    for n in names {
        if !graph.contains(n) {
            return Err(graph.unknown(n).into());
        }
    }
    Ok((config, graph))
}

/// `platform start [NAMES]`: the plan level by level, each service waited for until healthy,
/// with the guide's progress lines.
fn start(
    cx: &Context,
    names: &[String],
    force: bool,
    quiet: bool,
) -> Result<Said<Vec<Snapshot>>, Failure> {
    let (config, graph) = load_named(cx, names)?;
    let named: Vec<&str> = names.iter().map(String::as_str).collect();
    let targets = config.start_targets(&named);
    let planned: Vec<String> = graph
        .start_plan(&targets, config.orchestrator.auto_start_dependencies)?
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let requested: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    let client = cx.daemon()?;
    let request = PlatformStart {
        body: PlatformBody {
            services: names.to_vec(),
            force,
        },
    };
    let plan = Plan {
        config: &config,
        requested: &requested,
        planned: &planned,
        quiet,
    };
    let started = start_with_progress(cx, &client, &request, plan)?;
    // What hooks left stopped is no failure, but not ready either.
    let skipped = started
        .iter()
        .filter(|s| s.status == Status::Stopped)
        .count();
    let n = planned.len() - skipped.min(planned.len());
    let also = if skipped > 0 {
        format!(" ({skipped} not started)")
    } else {
        String::new()
    };
    let text = format!(
        "{} Platform started: {n} service{} ready{also}\n",
        ok_mark(),
        plural(n)
    );
    Ok(Said::new(started, text))
}

/// `platform stop`.
#[derive(Serialize)]
#[serde(transparent)]
struct Stopped(Vec<Snapshot>);

impl Report for Stopped {
    fn text(&self) -> String {
        // Services that were not running are not mentioned.
        let lines: String = self
            .0
            .iter()
            .filter(|s| !(s.last_exit.is_none() && s.status == Status::Stopped))
            .map(|s| format!("{} Stopped {}\n", ok_mark(), s.name))
            .collect();
        if lines.is_empty() {
            "Nothing was running.\n".into()
        } else {
            lines
        }
    }
}

fn stop(cx: &Context, names: &[String], force: bool) -> Result<Stopped, Failure> {
    load_named(cx, names)?;
    let (client, _) = cx.client()?;
    let request = PlatformStop {
        body: PlatformBody {
            services: names.to_vec(),
            force,
        },
    };
    let stopped = block_on(async {
        if !client.is_running().await {
            return Ok(Vec::new());
        }
        client.call(&request).await
    })?;
    Ok(Stopped(stopped))
}

#[derive(Serialize)]
struct Restarted {
    restarted: Vec<String>,
}

fn restart(cx: &Context, names: &[String]) -> Result<Said<Restarted>, Failure> {
    let client = cx.daemon()?;
    let list = block_on(client.call(&ListServices))?;
    let running: Vec<String> = list
        .into_iter()
        .filter(|s| s.live.status == Status::Running)
        .map(|s| s.live.name)
        .filter(|n| names.is_empty() || names.contains(n))
        .collect();
    if !running.is_empty() {
        let body = PlatformBody {
            services: running.clone(),
            force: false,
        };
        block_on(async {
            client.call(&PlatformStop { body: body.clone() }).await?;
            client.call(&PlatformStart { body }).await
        })?;
    }
    let text = if running.is_empty() {
        "Nothing was running.\n".to_string()
    } else {
        format!("{} Restarted {}\n", ok_mark(), running.join(", "))
    };
    Ok(Said::new(Restarted { restarted: running }, text))
}

/// `platform status`: every service by category, in the config's order of categories.
#[derive(Serialize)]
#[serde(transparent)]
struct PlatformState {
    services: Vec<ServiceView>,
    #[serde(skip)]
    categories: Vec<String>,
}

impl Report for PlatformState {
    fn text(&self) -> String {
        let running = self
            .services
            .iter()
            .filter(|s| s.live.status == Status::Running)
            .count();
        let mut out = format!("{}\n", styled(BOLD, "Platform Services Status"));
        let _ = writeln!(out, "Running: {running}/{}", self.services.len());
        for cat in &self.categories {
            let _ = writeln!(out, "=== {} ===", cat.to_uppercase());
            for v in self.services.iter().filter(|s| &s.category == cat) {
                let s = &v.live;
                let icon = match s.status {
                    Status::Running => "🟢",
                    Status::Failed => "🔴",
                    Status::Stopped => "⚪",
                    _ => "🟡",
                };
                let uptime = uptime_secs(s.started_at_ms)
                    .filter(|_| s.status == Status::Running)
                    .map(|u| format!(" (uptime: {u}s)"))
                    .unwrap_or_default();
                let health = match s.health.as_ref().map(|h| h.state) {
                    Some(keel_api::HealthState::Healthy) => "✅",
                    Some(keel_api::HealthState::Unhealthy) => "❌",
                    Some(_) => "⏳",
                    // Running without a check: nothing to show but that it runs.
                    None if s.status == Status::Running && v.health_check.is_none() => "➖",
                    None => "❓",
                };
                let _ = writeln!(out, "{icon} {} - {}{uptime} {health}", s.name, s.status);
            }
        }
        out
    }
}

fn status(cx: &Context) -> Result<PlatformState, Failure> {
    let (config, _) = cx.load()?;
    let client = cx.daemon()?;
    let services = block_on(client.call(&PlatformStatus))?;
    let mut categories: Vec<String> = Vec::new();
    for s in &config.services {
        if !categories.contains(&s.category) {
            categories.push(s.category.clone());
        }
    }
    Ok(PlatformState {
        services,
        categories,
    })
}

/// A service in `platform start --dry-run --json`.
#[derive(Serialize)]
struct Planned<'a> {
    name: &'a str,
    mode: &'a str,
    health_check: Option<&'a str>,
    requested: bool,
    dependencies: Vec<&'a str>,
}

/// `platform start --dry-run`.
#[derive(Serialize)]
struct StartPlan<'a> {
    dry_run: bool,
    services: usize,
    levels: Vec<Vec<Planned<'a>>>,
}

impl Report for StartPlan<'_> {
    fn text(&self) -> String {
        let count = self.services;
        if count == 0 {
            return "Nothing to start: no service has auto_start = true.\n".into();
        }
        let levels = self.levels.len();
        let title = format!(
            "Start plan: {count} service{} in {levels} level{} (dry run, nothing started)",
            plural(count),
            plural(levels)
        );
        let mut out = format!("{}\n", styled(BOLD, title));
        for (i, level) in self.levels.iter().enumerate() {
            let together = if level.len() > 1 { ", in parallel" } else { "" };
            let _ = writeln!(out, "Level {}{together}:", i + 1);
            for p in level {
                let check = p
                    .health_check
                    .map(|h| format!("waits for {h} check"))
                    .unwrap_or_else(|| "no health check".into());
                let why = if p.requested {
                    String::new()
                } else {
                    format!(" {}", styled(DIM, "(dependency)"))
                };
                let after = if p.dependencies.is_empty() {
                    String::new()
                } else {
                    format!(", after {}", p.dependencies.join(", "))
                };
                let _ = writeln!(out, "  {} [{}; {check}{after}]{why}", p.name, p.mode);
            }
        }
        out
    }
}

fn start_plan(cx: &Context, names: &[String]) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let named: Vec<&str> = names.iter().map(String::as_str).collect();
    let targets = config.start_targets(&named);
    let levels = graph.start_plan(&targets, config.orchestrator.auto_start_dependencies)?;
    let plan = StartPlan {
        dry_run: true,
        services: levels.iter().map(Vec::len).sum(),
        levels: levels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|n| {
                        let s = config.service(n).expect("planned services exist");
                        Planned {
                            name: n,
                            mode: &s.deployment.mode,
                            health_check: s.health_check.as_ref().map(|h| h.check_type.as_str()),
                            requested: targets.contains(n),
                            dependencies: graph.dependencies(n),
                        }
                    })
                    .collect()
            })
            .collect(),
    };
    Ok(emit(cx.json, &plan))
}
