//! `keel platform …`.

use clap::Subcommand;
use serde_json::json;

use super::output::{BOLD, DIM, GREEN, json_ok, styled};
use super::{Context, Exit, Failure, block_on};

#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    /// Start the auto-start services, or the named ones with their dependencies, in dependency order
    Start {
        /// Services to start (with their dependencies); default: every auto_start service
        names: Vec<String>,
        /// Print the start plan level by level without starting anything
        #[arg(long)]
        dry_run: bool,
        /// Start even if pre-flight checks fail
        #[arg(long)]
        force: bool,
    },
    /// Stop all running services, or the named ones and what depends on them, dependents first
    Stop {
        names: Vec<String>,
        /// Kill at once (SIGKILL to each process group) instead of the graceful stop
        #[arg(long)]
        force: bool,
    },
    /// Restart the running services (or the named ones), keeping the dependency order
    Restart { names: Vec<String> },
    /// Show every service's status, grouped by category
    Status,
    /// Show every service's health as monitoring sees it
    Health,
    /// Show a service's log
    Logs(super::services::LogArgs),
}

pub fn run(cx: &Context, cmd: PlatformCommand) -> Result<Exit, Failure> {
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
        } => start(cx, &names, force),
        PlatformCommand::Stop { names, force } => stop(cx, &names, force),
        PlatformCommand::Restart { names } => restart(cx, &names),
        PlatformCommand::Status => status(cx),
        PlatformCommand::Health => super::lifecycle::platform_health(cx),
        PlatformCommand::Logs(a) => super::services::logs(cx, &a),
    }
}

/// `platform start [NAMES]`: the plan level by level, each service waited for until healthy,
/// with the guide's progress lines.
fn start(cx: &Context, names: &[String], force: bool) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    for n in names {
        if !graph.contains(n) {
            return Err(graph.unknown(n).into());
        }
    }
    let targets: Vec<&str> = if names.is_empty() {
        config
            .services
            .iter()
            .filter(|s| s.startup.auto_start)
            .map(|s| s.name.as_str())
            .collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let planned: Vec<String> = graph
        .start_plan(&targets, config.orchestrator.auto_start_dependencies)?
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let requested: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    let client = cx.daemon()?;
    let body = json!({ "services": names, "force": force });
    let exit = super::lifecycle::start_with_progress(
        cx,
        &config,
        &client,
        "/api/v1/platform/start",
        &body,
        &requested,
        &planned,
    )?;
    if !cx.json {
        anstream::println!(
            "{} Platform started: {} service{} ready",
            styled(GREEN, "✅"),
            planned.len(),
            plural(planned.len())
        );
    }
    Ok(exit)
}

fn stop(cx: &Context, names: &[String], force: bool) -> Result<Exit, Failure> {
    let (_, graph) = cx.load()?;
    for n in names {
        if !graph.contains(n) {
            return Err(graph.unknown(n).into());
        }
    }
    let (client, _) = cx.client()?;
    let body = json!({ "services": names, "force": force });
    let stopped = block_on(async {
        if !client.is_running().await {
            return Ok(json!([]));
        }
        client
            .call("POST", "/api/v1/platform/stop", Some(&body))
            .await
    })?;
    if cx.json {
        json_ok(&stopped);
        return Ok(Exit::Ok);
    }
    let mut any = false;
    for s in stopped.as_array().into_iter().flatten() {
        if s["last_exit"].is_null() && s["status"] == "stopped" {
            continue;
        }
        any = true;
        anstream::println!(
            "{} Stopped {}",
            styled(GREEN, "✅"),
            s["name"].as_str().unwrap_or_default()
        );
    }
    if !any {
        println!("Nothing was running.");
    }
    Ok(Exit::Ok)
}

fn restart(cx: &Context, names: &[String]) -> Result<Exit, Failure> {
    let client = cx.daemon()?;
    let list = block_on(client.call("GET", "/api/v1/services/list", None))?;
    let running: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == "running")
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .filter(|n| names.is_empty() || names.contains(n))
        .collect();
    let body = json!({ "services": running });
    block_on(async {
        if !running.is_empty() {
            client
                .call("POST", "/api/v1/platform/stop", Some(&body))
                .await?;
            client
                .call("POST", "/api/v1/platform/start", Some(&body))
                .await?;
        }
        Ok::<_, Failure>(())
    })?;
    if cx.json {
        json_ok(&json!({ "restarted": running }));
    } else if running.is_empty() {
        println!("Nothing was running.");
    } else {
        anstream::println!("{} Restarted {}", styled(GREEN, "✅"), running.join(", "));
    }
    Ok(Exit::Ok)
}

fn status(cx: &Context) -> Result<Exit, Failure> {
    let (config, _) = cx.load()?;
    let client = cx.daemon()?;
    let list = block_on(client.call("GET", "/api/v1/platform/status", None))?;
    if cx.json {
        json_ok(&list);
        return Ok(Exit::Ok);
    }
    let all: Vec<&serde_json::Value> = list.as_array().into_iter().flatten().collect();
    let running = all.iter().filter(|s| s["status"] == "running").count();
    anstream::println!("{}", styled(BOLD, "Platform Services Status"));
    println!("Running: {running}/{}", all.len());
    let mut categories: Vec<&str> = Vec::new();
    for s in &config.services {
        if !categories.contains(&s.category.as_str()) {
            categories.push(&s.category);
        }
    }
    for cat in categories {
        println!("=== {} ===", cat.to_uppercase());
        for s in all.iter().filter(|s| s["category"] == cat) {
            let st = s["status"].as_str().unwrap_or_default();
            let icon = match st {
                "running" => "🟢",
                "failed" => "🔴",
                "stopped" => "⚪",
                _ => "🟡",
            };
            let uptime = super::services::uptime_secs(&s["started_at_ms"])
                .filter(|_| st == "running")
                .map(|u| format!(" (uptime: {u}s)"))
                .unwrap_or_default();
            let health = match s["health"]["state"].as_str() {
                Some("healthy") => "✅",
                Some("unhealthy") => "❌",
                Some(_) => "⏳",
                // Running without a check: nothing to show but that it runs.
                None if st == "running" && s["health_check"].is_null() => "➖",
                None => "❓",
            };
            println!(
                "{icon} {} - {st}{uptime} {health}",
                s["name"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(Exit::Ok)
}

fn start_plan(cx: &Context, names: &[String]) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let targets: Vec<&str> = if names.is_empty() {
        config
            .services
            .iter()
            .filter(|s| s.startup.auto_start)
            .map(|s| s.name.as_str())
            .collect()
    } else {
        names.iter().map(|s| s.as_str()).collect()
    };
    let levels = graph.start_plan(&targets, config.orchestrator.auto_start_dependencies)?;
    let count: usize = levels.iter().map(|l| l.len()).sum();
    if cx.json {
        let levels: Vec<Vec<serde_json::Value>> = levels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|n| {
                        let s = config.service(n).expect("planned services exist");
                        json!({
                            "name": n,
                            "mode": s.deployment.mode,
                            "health_check": s.health_check.as_ref().map(|h| &h.check_type),
                            "requested": targets.contains(n),
                            "dependencies": graph.dependencies(n),
                        })
                    })
                    .collect()
            })
            .collect();
        json_ok(&json!({ "dry_run": true, "services": count, "levels": levels }));
        return Ok(Exit::Ok);
    }
    if count == 0 {
        println!("Nothing to start: no service has auto_start = true.");
        return Ok(Exit::Ok);
    }
    anstream::println!(
        "{}",
        styled(
            BOLD,
            format!(
                "Start plan: {count} service{} in {} level{} (dry run, nothing started)",
                plural(count),
                levels.len(),
                plural(levels.len())
            )
        )
    );
    for (i, level) in levels.iter().enumerate() {
        let together = if level.len() > 1 { ", in parallel" } else { "" };
        println!("Level {}{together}:", i + 1);
        for n in level {
            let s = config.service(n).expect("planned services exist");
            let check = s
                .health_check
                .as_ref()
                .map(|h| format!("waits for {} check", h.check_type))
                .unwrap_or_else(|| "no health check".into());
            let why = if targets.contains(n) {
                String::new()
            } else {
                format!(" {}", styled(DIM, "(dependency)"))
            };
            let deps = graph.dependencies(n);
            let after = if deps.is_empty() {
                String::new()
            } else {
                format!(", after {}", deps.join(", "))
            };
            anstream::println!("  {n} [{}; {check}{after}]{why}", s.deployment.mode);
        }
    }
    Ok(Exit::Ok)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
