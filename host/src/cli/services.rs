//! `keel services …`: list, dependencies, check, validate.

use std::collections::BTreeMap;

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;

use super::output::{BOLD, DIM, GREEN, RED, json_ok, styled, table};
use super::{Context, Exit, Failure, block_on};
use crate::config::{self, Config, Diagnostic, suggestion};
use crate::graph::ServiceGraph;
use crate::plugins;

#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// List services with their type, category, status, deployment mode and auto-start
    List {
        /// Only services of this category
        #[arg(long)]
        category: Option<String>,
        /// Only running services
        #[arg(long)]
        running: bool,
    },
    /// Show the dependency tree, or one service's dependencies and what requires it
    Dependencies {
        /// A service name; without it, the whole startup tree
        name: Option<String>,
    },
    /// Show which services an operation requires and whether they all run
    Check {
        /// An operation named in some service's `required_for`
        operation: String,
    },
    /// Check every service's configuration: schema, references, dependency graph
    Validate,
    /// Start a service (the daemon starts in the background if needed)
    Start {
        name: String,
        /// Start even if pre-flight checks fail
        #[arg(long)]
        force: bool,
    },
    /// Stop a service: its stop signal to the whole process group, SIGKILL after the grace time
    Stop {
        name: String,
        /// Stop even while services that depend on it run
        #[arg(long)]
        force: bool,
    },
    /// Stop then start a service
    Restart { name: String },
    /// Show a service's type, category, status, deployment, health, PID, uptime, restarts
    Status { name: String },
    /// Show a service's log
    Logs(LogArgs),
    /// Run the service's health check now, through its plugin (and show what monitoring saw)
    Health { name: String },
    /// Run the service's health check every few seconds and print a line each time (Ctrl-C stops)
    Monitor {
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
    pub name: String,
    /// How many of the last lines to show
    #[arg(long, default_value_t = 50)]
    pub lines: usize,
    /// Keep printing new lines as they are written (until Ctrl-C)
    #[arg(long, short)]
    pub follow: bool,
}

pub fn run(cx: &Context, cmd: ServicesCommand) -> Result<Exit, Failure> {
    match cmd {
        ServicesCommand::List { category, running } => list(cx, category.as_deref(), running),
        ServicesCommand::Dependencies { name } => dependencies(cx, name.as_deref()),
        ServicesCommand::Check { operation } => check(cx, &operation),
        ServicesCommand::Validate => validate(cx),
        ServicesCommand::Start { name, force } => start(cx, &name, force),
        ServicesCommand::Stop { name, force } => stop(cx, &name, force),
        ServicesCommand::Restart { name } => restart(cx, &name),
        ServicesCommand::Status { name } => status(cx, &name),
        ServicesCommand::Logs(a) => logs(cx, &a),
        ServicesCommand::Health { name } => super::lifecycle::health(cx, &name),
        ServicesCommand::Monitor {
            name,
            interval,
            count,
        } => super::lifecycle::monitor(cx, &name, interval, count),
        ServicesCommand::Readiness => super::lifecycle::readiness(cx),
    }
}

/// Live status by service name from the daemon, when one runs. A listing never starts a
/// daemon: without one, the saved state tells which services' processes are still alive
/// (a daemon killed without a chance to stop them leaves them running).
fn live_statuses(cx: &Context) -> Result<BTreeMap<String, String>, Failure> {
    let (client, state) = cx.client()?;
    block_on(async {
        let list = match client
            .call("GET", "/api/v1/services/list?view=summary", None)
            .await
        {
            Err(crate::daemon::client::ClientError::NotRunning(_)) => None,
            other => Some(other?),
        };
        let Some(list) = list else {
            return Ok(state
                .saved_services()
                .into_iter()
                .filter_map(|n| {
                    let r = state.load(&n).ok()??;
                    r.process
                        .filter(|p| p.is_alive())
                        .map(|_| (n, "running (no daemon)".to_string()))
                })
                .collect());
        };
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?.to_string(),
                    s["status"].as_str()?.to_string(),
                ))
            })
            .collect())
    })
}

#[derive(Serialize, serde::Deserialize)]
struct ListRow {
    name: String,
    #[serde(rename = "type")]
    service_type: String,
    category: String,
    status: String,
    deployment_mode: String,
    auto_start: bool,
    description: String,
    dependencies: Vec<String>,
}

/// `services list`: from the daemon when one runs (what it serves, without reading the config
/// here: this is the command people run most), else from the config and the saved state.
fn list(cx: &Context, category: Option<&str>, running: bool) -> Result<Exit, Failure> {
    let (client, _) = cx.client()?;
    let from_daemon = block_on(async {
        match client
            .call_as::<Vec<ListRow>>("GET", "/api/v1/services/list?view=summary", None)
            .await
        {
            Err(crate::daemon::client::ClientError::NotRunning(_)) => Ok(None),
            other => other.map(|rows| Some(rows.unwrap_or_default())),
        }
    })?;
    let all: Vec<ListRow> = match from_daemon {
        Some(rows) => rows,
        None => {
            let (config, _) = cx.load()?;
            let live = live_statuses(cx)?;
            config
                .services
                .iter()
                .map(|s| ListRow {
                    name: s.name.clone(),
                    service_type: s.service_type.as_str().to_string(),
                    category: s.category.clone(),
                    status: live
                        .get(&s.name)
                        .cloned()
                        .unwrap_or_else(|| "stopped".into()),
                    deployment_mode: s.deployment.mode.clone(),
                    auto_start: s.startup.auto_start,
                    description: s.description.clone(),
                    dependencies: s.dependencies.iter().map(|d| d.name.clone()).collect(),
                })
                .collect()
        }
    };
    if let Some(c) = category {
        let known: Vec<&str> = all.iter().map(|s| s.category.as_str()).collect();
        if !known.contains(&c) {
            let mut k = known.clone();
            k.sort();
            k.dedup();
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "no service has category `{c}`{}; categories: {}",
                    suggestion(c, known.iter().copied()),
                    k.join(", ")
                ),
            ));
        }
    }
    let rows: Vec<ListRow> = all
        .into_iter()
        .filter(|s| category.is_none_or(|c| s.category == c))
        .filter(|r| !running || r.status == "running")
        .collect();
    if cx.json {
        json_ok(&rows);
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        println!("No services{}.", if running { " running" } else { "" });
        return Ok(Exit::Ok);
    }
    let body = rows
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
    println!(
        "{}",
        table(
            &[
                "name",
                "type",
                "category",
                "status",
                "deployment_mode",
                "auto_start"
            ],
            body
        )
    );
    Ok(Exit::Ok)
}

fn dependencies(cx: &Context, name: Option<&str>) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let Some(name) = name else {
        return whole_tree(cx, &config, &graph);
    };
    let service = config.service(name).ok_or_else(|| graph.unknown(name))?;
    let direct = graph.dependents(name);
    let all = graph.all_dependents(name);
    if cx.json {
        json_ok(&json!({
            "name": name,
            "type": service.service_type,
            "category": service.category,
            "dependencies": graph.dependencies(name),
            "all_dependencies": graph.all_dependencies(name),
            "required_by": direct,
            "all_required_by": all,
            "start_order": graph.plan(&[name])?.concat(),
        }));
        return Ok(Exit::Ok);
    }
    anstream::println!("{}", styled(BOLD, format!("## {name}")));
    println!("- Type: {}", service.service_type.as_str());
    println!("- Category: {}", service.category);
    print_list("Depends on", &graph.dependencies(name), &[]);
    let indirect: Vec<&str> = all
        .iter()
        .copied()
        .filter(|d| !direct.contains(d))
        .collect();
    print_list("Required by", &direct, &indirect);
    println!();
    println!("Dependency tree:");
    let mut out = String::new();
    tree(
        &config,
        &graph,
        name,
        &|g, n| g.dependencies(n),
        "",
        true,
        true,
        &mut Vec::new(),
        &mut out,
    );
    print!("{out}");
    println!(
        "Start order: {}",
        graph.plan(&[name])?.concat().join(" -> ")
    );
    Ok(Exit::Ok)
}

fn print_list(title: &str, direct: &[&str], indirect: &[&str]) {
    if direct.is_empty() && indirect.is_empty() {
        println!("- {title}: none");
        return;
    }
    println!("- {title}:");
    for d in direct {
        println!("  - {d}");
    }
    for d in indirect {
        anstream::println!("  - {d} {}", styled(DIM, "(indirectly)"));
    }
}

fn whole_tree(cx: &Context, config: &Config, graph: &ServiceGraph) -> Result<Exit, Failure> {
    if cx.json {
        let map: BTreeMap<&str, serde_json::Value> = config
            .services
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    json!({
                        "dependencies": graph.dependencies(&s.name),
                        "required_by": graph.dependents(&s.name),
                        "level": graph.level(&s.name),
                        "start_order": s.startup.start_order,
                    }),
                )
            })
            .collect();
        json_ok(&json!({ "services": map, "start_levels": graph.start_levels() }));
        return Ok(Exit::Ok);
    }
    println!("Startup order (each service above the services that need it):");
    let mut out = String::new();
    let mut shown = Vec::new();
    for root in graph.start_levels().first().cloned().unwrap_or_default() {
        tree(
            config,
            graph,
            root,
            &|g, n| g.dependents(n),
            "",
            true,
            true,
            &mut shown,
            &mut out,
        );
    }
    print!("{out}");
    Ok(Exit::Ok)
}

/// Prints `name` and, below it, what `next` gives, recursively; a service already expanded is
/// shown once more without its subtree, so a wide graph stays readable.
#[allow(clippy::too_many_arguments)]
fn tree<'g>(
    config: &Config,
    graph: &'g ServiceGraph,
    name: &'g str,
    next: &dyn Fn(&'g ServiceGraph, &str) -> Vec<&'g str>,
    prefix: &str,
    last: bool,
    root: bool,
    shown: &mut Vec<&'g str>,
    out: &mut String,
) {
    let order = config
        .service(name)
        .map(|s| s.startup.start_order)
        .unwrap_or_default();
    let children = next(graph, name);
    let repeat = shown.contains(&name) && !children.is_empty();
    let branch = match (root, last) {
        (true, _) => "",
        (false, true) => "└─> ",
        (false, false) => "├─> ",
    };
    out.push_str(&format!(
        "{prefix}{branch}{name} (order: {order}){}\n",
        if repeat { " …see above" } else { "" }
    ));
    if repeat {
        return;
    }
    shown.push(name);
    let child_prefix = if root {
        prefix.to_string()
    } else {
        format!("{prefix}{}", if last { "    " } else { "│   " })
    };
    let n = children.len();
    for (i, c) in children.into_iter().enumerate() {
        tree(
            config,
            graph,
            c,
            next,
            &child_prefix,
            i + 1 == n,
            false,
            shown,
            out,
        );
    }
}

fn check(cx: &Context, operation: &str) -> Result<Exit, Failure> {
    let (_, graph) = cx.load()?;
    let Some(required) = graph.operations().get(operation) else {
        let known: Vec<&str> = graph.operations().keys().map(|s| s.as_str()).collect();
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "no service is required for operation `{operation}`{}; operations in this config: {}",
                suggestion(operation, known.iter().copied()),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    let live = live_statuses(cx)?;
    let not_running: Vec<&str> = required
        .iter()
        .filter(|s| {
            live.get(s.as_str())
                .is_none_or(|st| !st.starts_with("running"))
        })
        .map(|s| s.as_str())
        .collect();
    let all_running = not_running.is_empty();
    if cx.json {
        json_ok(&json!({
            "operation": operation,
            "required_services": required,
            "not_running": not_running,
            "all_running": all_running,
        }));
    } else {
        println!("Operation: {operation}");
        println!("Required services: {}", required.join(", "));
        println!("All running: {all_running}");
    }
    Ok(if all_running { Exit::Ok } else { Exit::Failed })
}

#[derive(Serialize)]
struct Invalid {
    service: String,
    problems: Vec<Diagnostic>,
}

fn validate(cx: &Context) -> Result<Exit, Failure> {
    let path = cx.config_path()?;
    let (config, mut diags) = config::load_lenient(&path)?;
    // The graph is only meaningful once every service could be read.
    if let Some(c) = config.as_ref().filter(|_| diags.is_empty())
        && let Err(d) = ServiceGraph::build(c)
    {
        diags = d;
    }
    // Then each service's plugins: the mode's validation and pre-flight, the check's validation.
    if let Some(c) = config.as_ref().filter(|_| diags.is_empty()) {
        let state = cx.state_dir()?;
        let found = block_on(plugin_problems(c, &state))
            .map_err(|e| Failure::new(Exit::Failed, format!("{e:#}")))?;
        diags.0.extend(found);
    }
    let mut names: Vec<String> = config
        .iter()
        .flat_map(|c| c.services.iter().map(|s| s.name.clone()))
        .collect();
    let mut invalid: Vec<Invalid> = Vec::new();
    let mut file_problems = Vec::new();
    for d in diags.iter() {
        match &d.service {
            Some(s) => {
                if !names.contains(s) {
                    names.push(s.clone());
                }
                match invalid.iter_mut().find(|i| &i.service == s) {
                    Some(i) => i.problems.push(d.clone()),
                    None => invalid.push(Invalid {
                        service: s.clone(),
                        problems: vec![d.clone()],
                    }),
                }
            }
            None => file_problems.push(d.clone()),
        }
    }
    let total = names.len();
    let ok = invalid.is_empty() && file_problems.is_empty();
    if cx.json {
        json_ok(&json!({
            "config": path,
            "total": total,
            "valid": total - invalid.len(),
            "invalid": invalid.len(),
            "invalid_services": invalid,
            "file_problems": file_problems,
        }));
        return Ok(if ok { Exit::Ok } else { Exit::Failed });
    }
    println!("Total services: {total}");
    println!("Valid: {}", total - invalid.len());
    println!("Invalid: {}", invalid.len());
    if !invalid.is_empty() {
        println!();
        println!("Invalid services:");
        for i in &invalid {
            anstream::println!("{} {}:", styled(RED, "❌"), i.service);
            for p in &i.problems {
                println!("  - {p}");
            }
        }
    }
    if !file_problems.is_empty() {
        println!();
        println!("Problems in {}:", path.display());
        for p in &file_problems {
            anstream::println!("{} {p}", styled(RED, "❌"));
        }
    }
    if ok {
        anstream::println!("{} {} is valid", styled(GREEN, "✅"), path.display());
    }
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}

fn snapshot_line(v: &serde_json::Value) -> String {
    match v["pid"].as_i64() {
        Some(pid) => format!("{} with PID {pid}", v["name"].as_str().unwrap_or_default()),
        None => v["name"].as_str().unwrap_or_default().to_string(),
    }
}

/// `services start NAME`: pre-flight (printed), then the service with its dependencies, each
/// waited for until healthy.
fn start(cx: &Context, name: &str, force: bool) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    if !graph.contains(name) {
        return Err(graph.unknown(name).into());
    }
    let client = cx.daemon()?;
    let status = block_on(client.call("GET", &format!("/api/v1/services/{name}"), None))?;
    if status["status"] == "running" {
        if cx.json {
            json_ok(&status);
        } else {
            println!("{} is already running", snapshot_line(&status));
        }
        return Ok(Exit::Ok);
    }
    if !force && !cx.json {
        let report =
            block_on(client.call("GET", &format!("/api/v1/services/{name}/preflight"), None))?;
        if !super::lifecycle::print_preflight(&report) {
            let failed: Vec<&str> = report["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["ok"] == false)
                .filter_map(|c| c["kind"].as_str())
                .collect();
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
    super::lifecycle::start_with_progress(
        cx,
        &config,
        &client,
        &format!("/api/v1/services/{name}/start"),
        &json!({ "force": force }),
        &[name.to_string()],
        &planned,
    )
}

fn stop(cx: &Context, name: &str, force: bool) -> Result<Exit, Failure> {
    let client = cx.daemon()?;
    let body = json!({ "force": force });
    match block_on(client.call(
        "POST",
        &format!("/api/v1/services/{name}/stop"),
        Some(&body),
    )) {
        Ok(snap) => {
            if cx.json {
                json_ok(&snap);
            } else {
                anstream::println!("{} Stopped {name}", styled(GREEN, "✅"));
            }
            Ok(Exit::Ok)
        }
        Err(crate::daemon::client::ClientError::Api {
            status: 409,
            message,
            ..
        }) if !cx.json => {
            // The guide's three-line refusal.
            let running = message
                .split("dependent services running: ")
                .nth(1)
                .and_then(|r| r.split(';').next())
                .unwrap_or_default();
            anstream::println!("{} Cannot stop {name}:", styled(RED, "❌"));
            println!("Dependent services running: {running}");
            println!("Use --force to stop anyway");
            Ok(Exit::Failed)
        }
        Err(e) => Err(e.into()),
    }
}

fn restart(cx: &Context, name: &str) -> Result<Exit, Failure> {
    let client = cx.daemon()?;
    let snap = block_on(client.call("POST", &format!("/api/v1/services/{name}/restart"), None))?;
    if cx.json {
        json_ok(&snap);
    } else {
        anstream::println!("{} Restarted {}", styled(GREEN, "✅"), snapshot_line(&snap));
    }
    Ok(Exit::Ok)
}

/// Seconds since a Unix time in milliseconds.
pub(super) fn uptime_secs(started_at_ms: &serde_json::Value) -> Option<u64> {
    let started = started_at_ms.as_u64()?;
    Some(crate::state::now_ms().saturating_sub(started) / 1000)
}

fn status(cx: &Context, name: &str) -> Result<Exit, Failure> {
    let (_, graph) = cx.load()?;
    if !graph.contains(name) {
        return Err(graph.unknown(name).into());
    }
    let client = cx.daemon()?;
    let v = block_on(client.call("GET", &format!("/api/v1/services/{name}"), None))?;
    if cx.json {
        json_ok(&v);
        return Ok(Exit::Ok);
    }
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    println!("Service: {name}");
    println!("Type: {}", text("type"));
    println!("Category: {}", text("category"));
    println!("Status: {}", text("status"));
    println!("Deployment: {}", text("deployment_mode"));
    let health = match (v["health_check"].is_null(), v["health"]["state"].as_str()) {
        (true, _) => "none (no health check)".to_string(),
        (false, Some(state)) => match v["health"]["last"]["message"].as_str() {
            Some(m) => format!("{state} ({m})"),
            None => state.to_string(),
        },
        (false, None) => "unknown (not running)".to_string(),
    };
    println!("Health: {health}");
    println!("Auto-start: {}", v["auto_start"]);
    println!(
        "PID: {}",
        v["pid"]
            .as_i64()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into())
    );
    println!(
        "Uptime: {}",
        uptime_secs(&v["started_at_ms"])
            .map(|s| format!("{s}s"))
            .unwrap_or_else(|| "-".into())
    );
    let deps: Vec<String> = v["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect();
    println!("Dependencies: [{}]", deps.join(", "));
    println!("Restarts: {}", v["restarts"]);
    println!("Last exit: {}", describe_exit(&v["last_exit"]));
    if let Some(r) = v["reason"].as_str() {
        println!("Failed because: {r}");
    }
    Ok(Exit::Ok)
}

pub(super) fn describe_exit(v: &serde_json::Value) -> String {
    if let Some(c) = v.get("code") {
        format!("exit code {c}")
    } else if let Some(s) = v.get("signal").and_then(|s| s.as_str()) {
        format!("killed by {s}")
    } else if v.as_str() == Some("unknown") {
        "exited (status unknown)".into()
    } else {
        "-".into()
    }
}

/// `services logs` and `platform logs`.
pub fn logs(cx: &Context, a: &LogArgs) -> Result<Exit, Failure> {
    let (_, graph) = cx.load()?;
    if !graph.contains(&a.name) {
        return Err(graph.unknown(&a.name).into());
    }
    let client = cx.daemon()?;
    let path = format!("/api/v1/services/{}/logs?lines={}", a.name, a.lines);
    if a.follow {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        block_on(client.stream(&format!("{path}&follow=true"), |chunk| {
            out.write_all(chunk).and_then(|_| out.flush()).is_ok()
        }))?;
        return Ok(Exit::Ok);
    }
    let v = block_on(client.call("GET", &path, None))?;
    if cx.json {
        json_ok(&v);
    } else {
        for l in v["lines"].as_array().into_iter().flatten() {
            println!("{}", l.as_str().unwrap_or_default());
        }
    }
    Ok(Exit::Ok)
}

async fn plugin_problems(
    config: &Config,
    state: &crate::state::StateDir,
) -> anyhow::Result<Vec<Diagnostic>> {
    let host = plugins::host(config, state).await?;
    let mut out = Vec::new();
    for s in &config.services {
        let info = plugins::service_info(config, s);
        let table = &s.deployment.settings;
        let settings = plugins::settings(table);
        let whole = |message: String| plugins::locate_problem(config, &s.name, table, "", &message);
        match host.validate_mode(&s.deployment.mode, &settings).await {
            Err(e) => out.push(whole(e.to_string())),
            Ok(problems) if !problems.is_empty() => out.extend(
                problems
                    .iter()
                    .map(|p| plugins::locate_problem(config, &s.name, table, &p.key, &p.message)),
            ),
            Ok(_) => match host.preflight(&s.deployment.mode, &info, &settings).await {
                Err(e) => out.push(whole(e.to_string())),
                Ok(reply) => out.extend(
                    reply
                        .value
                        .iter()
                        .filter(|f| !f.ok)
                        .map(|f| whole(f.message.clone())),
                ),
            },
        }
        if let Some(check) = &s.health_check {
            let settings = plugins::settings(&check.settings);
            let at = |key: &str, message: &str| {
                plugins::locate_problem(config, &s.name, &check.settings, key, message)
            };
            match host.validate_check(&check.check_type, &settings).await {
                Err(e) => out.push(at("", &e.to_string())),
                Ok(problems) => out.extend(problems.iter().map(|p| at(&p.key, &p.message))),
            }
            if let Err(e @ plugins::PluginError::Denied { .. }) =
                host.authorize(&check.check_type, &settings, &info).await
            {
                out.push(at("", &e.to_string()));
            }
        }
    }
    Ok(out)
}
