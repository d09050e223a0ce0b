//! `keel services …`: the commands on one service (start, stop, restart, status, logs) and the
//! listing; the graph questions are in `graph`, validation in `validate`, health in `health`.

use clap::Subcommand;
use keel_api::endpoint::{
    FollowLogs, GetLogs, GetPreflight, GetService, RestartService, StartService, StopService,
};
use keel_api::{ErrorDetails, Logs, ServiceSummary, ServiceView, Snapshot, Status};
use serde::Serialize;

use super::client::ClientError;
use super::completions;
use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{
    describe_exit, fail_mark, health_phrase, ok_mark, snapshot_line, table, uptime_secs,
};
use super::live::live_statuses;
use super::progress::{Plan, print_preflight, start_with_progress};
use super::report::{Report, Said, emit};
use crate::config::suggestion;

#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// List services with their type, category, status, deployment mode and auto-start
    List {
        /// Only services of this category
        #[arg(long, add = completions::categories())]
        category: Option<String>,
        /// Only running services
        #[arg(long)]
        running: bool,
    },
    /// Show the dependency tree, or one service's dependencies and what requires it
    Dependencies {
        /// A service name; without it, the whole startup tree
        #[arg(add = completions::services())]
        name: Option<String>,
    },
    /// Show which services an operation requires and whether they all run
    Check {
        /// An operation named in some service's `required_for`
        #[arg(add = completions::operations())]
        operation: String,
    },
    /// Check every service's configuration: schema, references, dependency graph
    Validate,
    /// Start a service (the daemon starts in the background if needed)
    Start {
        #[arg(add = completions::services())]
        name: String,
        /// Start even if pre-flight checks fail
        #[arg(long)]
        force: bool,
        /// Print nothing but errors and the final line (no pre-flight report, no progress)
        #[arg(long, short)]
        quiet: bool,
    },
    /// Stop a service: its stop signal to the whole process group, SIGKILL after the grace time
    Stop {
        #[arg(add = completions::services())]
        name: String,
        /// Stop even while services that depend on it run
        #[arg(long)]
        force: bool,
    },
    /// Stop then start a service
    Restart {
        #[arg(add = completions::services())]
        name: String,
    },
    /// Show a service's type, category, status, deployment, health, PID, uptime, restarts
    Status {
        #[arg(add = completions::services())]
        name: String,
    },
    /// Show a service's log
    Logs(LogArgs),
    /// Run the service's health check now, through its plugin (and show what monitoring saw)
    Health {
        #[arg(add = completions::services())]
        name: String,
    },
    /// Run the service's health check every few seconds and print a line each time (Ctrl-C stops)
    Monitor {
        #[arg(add = completions::services())]
        name: String,
        /// Seconds between checks
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Stop after this many checks
        #[arg(long)]
        count: Option<u64>,
    },
    /// Report what runs, what is ready to start (pre-flight passes) and what has issues
    Readiness,
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[arg(add = completions::services())]
    pub name: String,
    /// How many of the last lines to show
    #[arg(long, default_value_t = keel_api::endpoint::DEFAULT_LOG_LINES)]
    pub lines: usize,
    /// Keep printing new lines as they are written (until Ctrl-C)
    #[arg(long, short)]
    pub follow: bool,
}

pub fn run(cx: &Context, cmd: ServicesCommand) -> Result<Exit, Failure> {
    let json = cx.json;
    match cmd {
        ServicesCommand::List { category, running } => {
            list(cx, category.as_deref(), running).map(|r| emit(json, &r))
        }
        ServicesCommand::Dependencies { name } => super::graph::dependencies(cx, name.as_deref()),
        ServicesCommand::Check { operation } => {
            super::graph::check(cx, &operation).map(|r| emit(json, &r))
        }
        ServicesCommand::Validate => super::validate::validate(cx).map(|r| emit(json, &r)),
        ServicesCommand::Start { name, force, quiet } => start(cx, &name, force, quiet),
        ServicesCommand::Stop { name, force } => stop(cx, &name, force).map(|r| emit(json, &r)),
        ServicesCommand::Restart { name } => restart(cx, &name).map(|r| emit(json, &r)),
        ServicesCommand::Status { name } => status(cx, &name).map(|r| emit(json, &r)),
        ServicesCommand::Logs(a) => logs(cx, &a),
        ServicesCommand::Health { name } => {
            super::health::health(cx, &name).map(|r| emit(json, &r))
        }
        ServicesCommand::Monitor {
            name,
            interval,
            count,
        } => super::health::monitor(cx, &name, interval, count),
        ServicesCommand::Readiness => super::health::readiness(cx).map(|r| emit(json, &r)),
    }
}

/// `services list`.
#[derive(Serialize)]
#[serde(transparent)]
struct ServiceList {
    rows: Vec<ServiceSummary<String>>,
    #[serde(skip)]
    running_only: bool,
}

impl Report for ServiceList {
    fn text(&self) -> String {
        if self.rows.is_empty() {
            let running = if self.running_only { " running" } else { "" };
            return format!("No services{running}.\n");
        }
        let body = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.service_type.clone(),
                    r.category.clone(),
                    r.status.clone(),
                    r.deployment_mode.clone(),
                    r.auto_start.to_string(),
                ]
            })
            .collect();
        let headers = [
            "name",
            "type",
            "category",
            "status",
            "deployment_mode",
            "auto_start",
        ];
        format!("{}\n", table(&headers, body))
    }
}

/// `services list`: from the daemon when one runs (what it serves, without reading the config
/// here: this is the command people run most), else from the config and the saved state.
fn list(cx: &Context, category: Option<&str>, running: bool) -> Result<ServiceList, Failure> {
    let all = live_statuses(cx)?;
    if let Some(c) = category {
        let mut known: Vec<&str> = all.iter().map(|s| s.category.as_str()).collect();
        if !known.contains(&c) {
            let hint = suggestion(c, known.iter().copied());
            known.sort();
            known.dedup();
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "no service has category `{c}`{hint}; categories: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let rows = all
        .into_iter()
        .filter(|s| category.is_none_or(|c| s.category == c))
        .filter(|r| !running || r.status == Status::Running.as_str())
        .collect();
    Ok(ServiceList {
        rows,
        running_only: running,
    })
}

/// The answer of `services start`.
#[derive(Serialize)]
#[serde(untagged)]
enum StartAnswer {
    AlreadyRunning(ServiceView),
    Started(Option<Snapshot>),
}

/// `services start NAME`: pre-flight (printed), then the service with its dependencies, each
/// waited for until healthy.
fn start(cx: &Context, name: &str, force: bool, quiet: bool) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    if !graph.contains(name) {
        return Err(graph.unknown(name).into());
    }
    let client = cx.daemon()?;
    let current = block_on(client.call(&GetService { name: name.into() }))?;
    if current.live.status == Status::Running {
        let text = format!("{} is already running\n", snapshot_line(&current.live));
        return Ok(emit(
            cx.json,
            &Said::new(StartAnswer::AlreadyRunning(current), text),
        ));
    }
    if !force && !cx.json {
        let report = block_on(client.call(&GetPreflight { name: name.into() }))?;
        // Quiet: the report is shown only when it is the reason for refusing.
        if (!quiet || !report.passed) && !print_preflight(&report) {
            let failed: Vec<&str> = report.failed().map(|c| c.kind.as_str()).collect();
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "Pre-flight check failed: {}; use --force to start anyway",
                    failed.join(", ")
                ),
            ));
        }
    }
    let planned: Vec<String> = graph
        .start_plan(&[name], config.orchestrator.auto_start_dependencies)?
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let started = start_with_progress(
        cx,
        &client,
        &StartService {
            name: name.into(),
            force,
        },
        Plan {
            config: &config,
            requested: &[name.to_string()],
            planned: &planned,
            quiet,
        },
    )?;
    // The progress lines said it all; quiet, one line says how it ended.
    let text = match started.as_ref().and_then(|s| s.pid) {
        Some(pid) if quiet => format!("{} Started {name} with PID {pid}\n", ok_mark()),
        _ => String::new(),
    };
    Ok(emit(
        cx.json,
        &Said::new(StartAnswer::Started(started), text),
    ))
}

/// `services stop NAME`; a stop refused because dependents run is told in the guide's words.
fn stop(cx: &Context, name: &str, force: bool) -> Result<Said<Snapshot>, Failure> {
    let client = cx.daemon()?;
    match block_on(client.call(&StopService {
        name: name.into(),
        force,
    })) {
        Ok(snap) => Ok(Said::new(snap, format!("{} Stopped {name}\n", ok_mark()))),
        Err(e) => {
            let dependents = match &e {
                ClientError::Api {
                    details: Some(ErrorDetails::DependentsRunning { dependents, .. }),
                    ..
                } => Some(dependents.join(", ")),
                _ => None,
            };
            let mut failure = Failure::from(e);
            failure.text = dependents.map(|running| {
                format!(
                    "{} Cannot stop {name}:\nDependent services running: {running}\nUse --force to stop anyway\n",
                    fail_mark()
                )
            });
            Err(failure)
        }
    }
}

fn restart(cx: &Context, name: &str) -> Result<Said<Snapshot>, Failure> {
    let client = cx.daemon()?;
    let snap = block_on(client.call(&RestartService { name: name.into() }))?;
    let text = format!("{} Restarted {}\n", ok_mark(), snapshot_line(&snap));
    Ok(Said::new(snap, text))
}

/// `services status NAME`.
#[derive(Serialize)]
#[serde(transparent)]
struct ServiceStatus(ServiceView);

impl Report for ServiceStatus {
    fn text(&self) -> String {
        let v = &self.0;
        let s = &v.live;
        let mut out = format!("Service: {}\n", s.name);
        out += &format!("Type: {}\n", v.service_type);
        out += &format!("Category: {}\n", v.category);
        out += &format!("Status: {}\n", s.status);
        out += &format!("Deployment: {}\n", v.deployment_mode);
        out += &format!("Health: {}\n", health_phrase(v));
        out += &format!("Auto-start: {}\n", v.auto_start);
        let pid = s.pid.map_or_else(|| "-".into(), |p| p.to_string());
        out += &format!("PID: {pid}\n");
        let uptime = uptime_secs(s.started_at_ms).map_or_else(|| "-".into(), |u| format!("{u}s"));
        out += &format!("Uptime: {uptime}\n");
        out += &format!("Dependencies: [{}]\n", v.dependencies.join(", "));
        out += &format!("Restarts: {}\n", s.restarts);
        out += &format!("Last exit: {}\n", describe_exit(s.last_exit.as_ref()));
        if let Some(r) = &s.reason {
            out += &format!("Failed because: {r}\n");
        }
        if let Some(h) = &s.last_hook {
            let why = h.reason.as_deref().unwrap_or_default();
            out += &format!(
                "Last hook refusal: {} by {} in {}: {why}\n",
                h.outcome, h.hook, h.phase
            );
        }
        out
    }
}

fn status(cx: &Context, name: &str) -> Result<ServiceStatus, Failure> {
    // A running daemon knows its services, and answers an unknown name with the same
    // did-you-mean as the graph: the config is read only when no daemon runs (to refuse a
    // broken config or an unknown name before starting one), since this is the command
    // scripts run in loops.
    let (client, _) = cx.client()?;
    match block_on(client.call(&GetService { name: name.into() })) {
        Err(ClientError::NotRunning(_)) => {}
        answer => return answer.map(ServiceStatus).map_err(Failure::from),
    }
    let (_, graph) = cx.load()?;
    if !graph.contains(name) {
        return Err(graph.unknown(name).into());
    }
    let client = cx.daemon()?;
    Ok(ServiceStatus(block_on(
        client.call(&GetService { name: name.into() }),
    )?))
}

impl Report for Logs {
    fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// `services logs` and `platform logs`.
pub fn logs(cx: &Context, a: &LogArgs) -> Result<Exit, Failure> {
    let (_, graph) = cx.load()?;
    if !graph.contains(&a.name) {
        return Err(graph.unknown(&a.name).into());
    }
    let client = cx.daemon()?;
    if a.follow {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let follow = FollowLogs {
            name: a.name.clone(),
            lines: a.lines,
        };
        block_on(client.stream(&follow, |chunk| {
            out.write_all(chunk).and_then(|_| out.flush()).is_ok()
        }))?;
        return Ok(Exit::Ok);
    }
    let logs = block_on(client.call(&GetLogs {
        name: a.name.clone(),
        lines: a.lines,
    }))?;
    Ok(emit(cx.json, &logs))
}
