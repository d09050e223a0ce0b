//! What the CLI shows while services start (progress read from the daemon's event stream,
//! pre-flight reports) and of their health (`platform health`, `services health`,
//! `services monitor`, `services readiness`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::output::{DIM, GREEN, RED, YELLOW, json_ok, styled};
use super::{Context, Exit, Failure, block_on};
use crate::config::Config;
use crate::daemon::client::{Client, ClientError};
use crate::plugins;

/// Sends a start request (`path`, `body`) and, unless `--json`, prints the guide's progress
/// lines as the daemon's events arrive: "Starting dependency: …", "✅ Started … with PID …",
/// "Waiting for … to become healthy...", "✅ Service … is healthy".
pub fn start_with_progress(
    cx: &Context,
    config: &Config,
    client: &Client,
    path: &str,
    body: &Value,
    requested: &[String],
    planned: &[String],
) -> Result<Exit, Failure> {
    if cx.json {
        let result = block_on(client.call("POST", path, Some(body)));
        return match result {
            Ok(v) => {
                json_ok(&v);
                Ok(Exit::Ok)
            }
            Err(e) => Err(refusal(e, true)),
        };
    }
    let mut progress = Progress {
        config,
        requested,
        planned,
        already: BTreeSet::new(),
        said: BTreeMap::new(),
        buffer: Vec::new(),
        seen_snapshot: false,
    };
    let result = block_on(async {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let mut ready_tx = Some(ready_tx);
        let subscribed = std::cell::Cell::new(false);
        // States only: the progress lines follow transitions, not every check's answer.
        let events = client.stream("/api/v1/events?events=changed", |chunk| {
            progress.feed(chunk);
            if progress.seen_snapshot
                && let Some(tx) = ready_tx.take()
            {
                subscribed.set(true);
                let _ = tx.send(());
            }
            true
        });
        // Subscribe first, so no event of this start is missed.
        let request = async {
            let _ = ready_rx.await;
            // What the stream has not shown by the time this returns is printed from the
            // answer below.
            client.call("POST", path, Some(body)).await
        };
        tokio::pin!(request);
        tokio::select! {
            r = &mut request => r,
            ended = events => match ended {
                // Nothing was asked yet (the request waits for the subscription), so nothing
                // was started: say why the stream failed (the daemon failed its start, say).
                Err(e) if !subscribed.get() => Err(e),
                Ok(()) if !subscribed.get() => Err(ClientError::Transport(
                    "the daemon closed the event stream before it showed any state".into(),
                )),
                _ => request.await,
            },
        }
    });
    match result {
        Ok(done) => {
            // Whatever the stream did not show (it is best effort), from the final answer.
            for s in done.as_array().into_iter().flatten() {
                progress.on_snapshot(s);
            }
            if done.is_object() {
                progress.on_snapshot(&done);
            }
            Ok(Exit::Ok)
        }
        Err(e) => Err(refusal(e, false)),
    }
}

/// A refused or failed start as the user sees it: pre-flight failures in the guide's words.
fn refusal(e: ClientError, json: bool) -> Failure {
    if let ClientError::Api {
        status: 412,
        details,
        message,
    } = &e
    {
        if !json {
            for report in details.as_array().into_iter().flatten() {
                print_preflight_failure(report);
            }
            return Failure::new(
                Exit::Failed,
                format!("{message}; use --force to start anyway"),
            );
        }
        return Failure {
            exit: Exit::Failed,
            message: message.clone(),
            details: Some(details.clone()),
        };
    }
    e.into()
}

fn print_preflight_failure(report: &Value) {
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == false)
        .collect();
    let kinds: Vec<&str> = failed.iter().filter_map(|c| c["kind"].as_str()).collect();
    anstream::println!(
        "{} Pre-flight check failed: {} ({})",
        styled(RED, "❌"),
        kinds.join(", "),
        report["service"].as_str().unwrap_or_default()
    );
    for c in failed {
        println!("{}", c["message"].as_str().unwrap_or_default());
    }
}

/// Prints a pre-flight report the way the guide does; returns whether it passed.
pub fn print_preflight(report: &Value) -> bool {
    println!(
        "Running pre-flight checks for {}...",
        report["service"].as_str().unwrap_or_default()
    );
    for c in report["checks"].as_array().into_iter().flatten() {
        let icon = if c["ok"] == true {
            styled(GREEN, "✅")
        } else {
            styled(RED, "❌")
        };
        anstream::println!("{icon} {}", c["message"].as_str().unwrap_or_default());
    }
    report["passed"] == true
}

#[derive(Default, Clone, Copy)]
struct Said {
    starting: bool,
    started: bool,
    healthy: bool,
}

struct Progress<'a> {
    config: &'a Config,
    requested: &'a [String],
    planned: &'a [String],
    /// Planned services that were already active when the start began.
    already: BTreeSet<String>,
    said: BTreeMap<String, Said>,
    buffer: Vec<u8>,
    seen_snapshot: bool,
}

impl Progress<'_> {
    /// Takes a chunk of the event stream (JSON lines).
    fn feed(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            match v["event"].as_str() {
                Some("snapshot") => {
                    for s in v["services"].as_array().into_iter().flatten() {
                        let name = s["name"].as_str().unwrap_or_default();
                        let active = !matches!(s["status"].as_str(), Some("stopped" | "failed"));
                        if active && self.planned.iter().any(|p| p == name) {
                            self.already.insert(name.to_string());
                            anstream::println!(
                                "{}",
                                styled(DIM, format!("{name} is already running"))
                            );
                        }
                    }
                    self.seen_snapshot = true;
                }
                Some("changed") => self.on_snapshot(&v),
                _ => {}
            }
        }
    }

    fn on_snapshot(&mut self, s: &Value) {
        let Some(name) = s["name"].as_str() else {
            return;
        };
        if !self.planned.iter().any(|p| p == name) || self.already.contains(name) {
            return;
        }
        let has_check = self
            .config
            .service(name)
            .is_some_and(|x| x.health_check.is_some());
        let said = self.said.entry(name.to_string()).or_default();
        let status = s["status"].as_str().unwrap_or_default();
        if !said.starting && matches!(status, "starting" | "running") {
            said.starting = true;
            if self.requested.iter().any(|r| r == name) {
                println!("Starting service: {name}");
            } else {
                println!("Starting dependency: {name}");
            }
        }
        if !said.started
            && status == "running"
            && let Some(pid) = s["pid"].as_i64()
        {
            said.started = true;
            anstream::println!("{} Started {name} with PID {pid}", styled(GREEN, "✅"));
            if has_check && s["health"]["state"] != "healthy" {
                println!("Waiting for {name} to become healthy...");
            }
        }
        if !said.healthy && status == "running" && s["health"]["state"] == "healthy" {
            said.healthy = true;
            anstream::println!("{} Service {name} is healthy", styled(GREEN, "✅"));
        }
        match status {
            "restarting" => anstream::println!(
                "{} {name} exited ({}); restarting",
                styled(YELLOW, "⚠️"),
                super::services::describe_exit(&s["last_exit"])
            ),
            "failed" => anstream::println!(
                "{} {name} failed: {}",
                styled(RED, "❌"),
                s["reason"].as_str().unwrap_or_default()
            ),
            _ => {}
        }
    }
}

// ----- health ----------------------------------------------------------------------------

/// One fresh run of a service's check, through the daemon when one runs (with the monitored
/// state), else in this process (so it works for services running outside Keel).
struct Fresh {
    healthy: bool,
    message: String,
    duration_ms: Option<u64>,
    monitored: Value,
}

struct Checker<'a> {
    cx: &'a Context,
    config: &'a Config,
    client: Option<Client>,
    host: Option<keel_plugin_host::PluginHost>,
}

impl<'a> Checker<'a> {
    async fn new(cx: &'a Context, config: &'a Config) -> Result<Checker<'a>, Failure> {
        let (client, _) = cx.client()?;
        let client = client.is_running().await.then_some(client);
        Ok(Self {
            cx,
            config,
            client,
            host: None,
        })
    }

    async fn check(&mut self, name: &str) -> Result<Fresh, Failure> {
        if let Some(client) = &self.client {
            let v = client
                .call("GET", &format!("/api/v1/services/{name}/health"), None)
                .await?;
            return Ok(Fresh {
                healthy: v["check"]["healthy"] == true,
                message: v["check"]["message"].as_str().unwrap_or_default().into(),
                duration_ms: v["check"]["duration_ms"].as_u64(),
                monitored: v["monitored"].clone(),
            });
        }
        let service = self.config.service(name).expect("checked by the caller");
        let check = service
            .health_check
            .as_ref()
            .expect("checked by the caller");
        if self.host.is_none() {
            let state = self.cx.state_dir()?;
            let host = plugins::host(self.config, &state)
                .await
                .map_err(|e| Failure::new(Exit::Failed, format!("{e:#}")))?;
            self.host = Some(host);
        }
        let host = self.host.as_ref().expect("just set");
        let outcome = host
            .check(
                &check.check_type,
                &plugins::service_info(self.config, service),
                &plugins::settings(&check.settings),
                check.timeout,
            )
            .await;
        Ok(match outcome {
            Ok(o) => Fresh {
                healthy: o.healthy,
                message: o.message,
                duration_ms: Some(o.duration.as_millis() as u64),
                monitored: Value::Null,
            },
            Err(e) => Fresh {
                healthy: false,
                message: e.to_string(),
                duration_ms: None,
                monitored: Value::Null,
            },
        })
    }
}

/// `services health NAME`: the check run now, plus what monitoring has seen.
pub fn health(cx: &Context, name: &str) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let service = config.service(name).ok_or_else(|| graph.unknown(name))?;
    let Some(check) = &service.health_check else {
        if cx.json {
            json_ok(
                &json!({ "service": name, "status": "unknown", "healthy": null, "check_type": null }),
            );
        } else {
            println!("Service: {name}\nStatus: unknown\nMessage: no health check configured");
        }
        return Ok(Exit::Ok);
    };
    let fresh = block_on(async { Checker::new(cx, &config).await?.check(name).await })?;
    let status = if fresh.healthy {
        "healthy"
    } else {
        "unhealthy"
    };
    if cx.json {
        json_ok(&json!({
            "service": name,
            "status": status,
            "healthy": fresh.healthy,
            "message": fresh.message,
            "check_type": check.check_type,
            "duration_ms": fresh.duration_ms,
            "monitored": fresh.monitored,
        }));
    } else {
        println!("Service: {name}");
        println!("Status: {status}");
        println!("Healthy: {}", fresh.healthy);
        println!("Message: {}", fresh.message);
        println!("Check type: {}", check.check_type);
        if let Some(d) = fresh.duration_ms {
            println!("Check duration: {d}ms");
        }
        if let Some(state) = fresh.monitored["state"].as_str() {
            println!(
                "Monitored: {state} ({} consecutive failures)",
                fresh.monitored["failures"]
            );
        }
    }
    Ok(if fresh.healthy {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// `services monitor NAME [--interval N] [--count N]`: a timestamped line per check.
pub fn monitor(
    cx: &Context,
    name: &str,
    interval: u64,
    count: Option<u64>,
) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let service = config.service(name).ok_or_else(|| graph.unknown(name))?;
    if service.health_check.is_none() {
        return Err(Failure::new(
            Exit::Failed,
            format!("{name} has no health check to monitor"),
        ));
    }
    if interval == 0 {
        return Err(Failure::new(
            Exit::Usage,
            "--interval must be at least 1 second",
        ));
    }
    if !cx.json {
        println!("Starting health monitoring for {name} (interval: {interval}s)");
        println!("Press Ctrl+C to stop");
    }
    let stamp = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    block_on(async {
        let mut checker = Checker::new(cx, &config).await?;
        let mut ticks = tokio::time::interval(Duration::from_secs(interval));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut done = 0;
        loop {
            ticks.tick().await;
            let fresh = checker.check(name).await?;
            let now = time::OffsetDateTime::now_local()
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
            if cx.json {
                println!(
                    "{}",
                    json!({ "time": now.unix_timestamp(), "service": name,
                            "healthy": fresh.healthy, "message": fresh.message,
                            "duration_ms": fresh.duration_ms })
                );
            } else {
                let icon = if fresh.healthy {
                    styled(GREEN, "✅")
                } else {
                    styled(RED, "❌")
                };
                anstream::println!(
                    "{} {icon} {name}: {}",
                    now.format(stamp).unwrap_or_default(),
                    fresh.message
                );
            }
            done += 1;
            if count.is_some_and(|c| done >= c) {
                return Ok(Exit::Ok);
            }
        }
    })
}

/// `platform health`: every service's monitored health; exit 1 if one that runs is unhealthy.
pub fn platform_health(cx: &Context) -> Result<Exit, Failure> {
    let client = cx.daemon()?;
    let list = block_on(client.call("GET", "/api/v1/platform/status", None))?;
    let all: Vec<&Value> = list.as_array().into_iter().flatten().collect();
    let (mut healthy, mut unhealthy, mut not_running) = (0, 0, 0);
    let mut rows = Vec::new();
    if !cx.json {
        anstream::println!("{}", styled(super::output::BOLD, "Platform Health Check"));
    }
    for s in &all {
        let name = s["name"].as_str().unwrap_or_default();
        let running = s["status"] == "running";
        let state = s["health"]["state"].as_str();
        let message = s["health"]["last"]["message"].as_str().unwrap_or_default();
        let (icon, text) = match (running, state) {
            (false, _) => {
                not_running += 1;
                (
                    "⚪",
                    format!("Not running ({})", s["status"].as_str().unwrap_or_default()),
                )
            }
            (true, Some("healthy")) => {
                healthy += 1;
                ("✅", format!("Healthy - {message}"))
            }
            (true, Some("unhealthy")) => {
                unhealthy += 1;
                ("❌", format!("Unhealthy - {message}"))
            }
            (true, Some(_)) => ("⏳", "Starting - not healthy yet".to_string()),
            (true, None) => {
                healthy += 1;
                ("🟢", "Running - no health check".to_string())
            }
        };
        rows.push(json!({ "service": name, "status": s["status"], "health": s["health"], "summary": text }));
        if !cx.json {
            println!("{icon} {name}: {text}");
        }
    }
    if cx.json {
        json_ok(&json!({
            "services": rows,
            "healthy": healthy, "unhealthy": unhealthy, "not_running": not_running,
        }));
    } else {
        println!("Summary: {healthy} healthy, {unhealthy} unhealthy, {not_running} not running");
    }
    Ok(if unhealthy == 0 {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// `services readiness`: what runs, what could start (pre-flight passes), what has issues.
pub fn readiness(cx: &Context) -> Result<Exit, Failure> {
    let client = cx.daemon()?;
    let v = block_on(client.call("GET", "/api/v1/platform/readiness", None))?;
    if cx.json {
        json_ok(&v);
        return Ok(Exit::Ok);
    }
    let services: Vec<&Value> = v["services"].as_array().into_iter().flatten().collect();
    println!("Platform Readiness Report");
    println!("Total services: {}", services.len());
    println!("Running: {}", v["running"]);
    println!("Ready to start: {}", v["ready"]);
    println!("Services:");
    let mut issues = Vec::new();
    for s in &services {
        let icon = if s["status"] == "running" {
            "🟢"
        } else if s["preflight"]["passed"] == true {
            "🟡"
        } else {
            "🔴"
        };
        let name = s["name"].as_str().unwrap_or_default();
        println!(
            "{icon} {name} - {} - {}",
            s["type"].as_str().unwrap_or_default(),
            s["category"].as_str().unwrap_or_default()
        );
        if s["preflight"]["passed"] == false {
            issues.push(s);
        }
    }
    println!("Issues: {}", issues.len());
    for s in issues {
        for c in s["preflight"]["checks"].as_array().into_iter().flatten() {
            if c["ok"] == false {
                anstream::println!(
                    "{} {}: {}",
                    styled(RED, "❌"),
                    s["name"].as_str().unwrap_or_default(),
                    c["message"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(Exit::Ok)
}
