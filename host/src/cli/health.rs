//! Health as the CLI shows it: `services health` (a check run now), `services monitor` (one
//! line per check), `platform health` (every service's monitored health) and `services
//! readiness` (what runs, what could start, what has issues).

use std::fmt::Write;
use std::time::Duration;

use keel_api::endpoint::{CheckHealth, GetReadiness, PlatformStatus};
use keel_api::{Health, HealthState, Readiness, ServiceView, Status};
use serde::Serialize;

use super::client::Client;
use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{BOLD, GREEN, RED, styled};
use super::report::Report;
use crate::config::Config;
use crate::plugins::LocalChecks;

/// One fresh run of a service's check.
struct Fresh {
    healthy: bool,
    message: String,
    duration_ms: Option<u64>,
    /// What the daemon's monitoring has seen (none without a daemon).
    monitored: Option<Health>,
}

/// Runs checks through the daemon when one runs (with the monitored state), else in this
/// process.
enum Checker<'a> {
    Daemon(Client),
    Local(LocalChecks<'a>),
}

impl<'a> Checker<'a> {
    async fn new(cx: &Context, config: &'a Config) -> Result<Checker<'a>, Failure> {
        let (client, state) = cx.client()?;
        Ok(if client.is_running().await {
            Checker::Daemon(client)
        } else {
            Checker::Local(LocalChecks::new(config, state))
        })
    }

    async fn check(&mut self, config: &Config, name: &str) -> Result<Fresh, Failure> {
        match self {
            Checker::Daemon(client) => {
                let a = client.call(&CheckHealth { name: name.into() }).await?;
                Ok(Fresh {
                    healthy: a.check.as_ref().is_some_and(|c| c.healthy),
                    duration_ms: a.check.as_ref().map(|c| c.duration_ms),
                    message: a.check.map(|c| c.message).unwrap_or_default(),
                    monitored: a.monitored,
                })
            }
            Checker::Local(local) => {
                let service = config.service(name).expect("checked by the caller");
                if service
                    .health_check
                    .as_ref()
                    .is_some_and(|c| !c.by_plugin())
                {
                    return Ok(Fresh {
                        healthy: false,
                        message: "a notify check is the service's own word to the daemon, \
                                  and no daemon runs"
                            .to_string(),
                        duration_ms: None,
                        monitored: None,
                    });
                }
                let outcome = local.check(service).await.map_err(Failure::other)?;
                Ok(match outcome.expect("checked by the caller") {
                    Ok(o) => Fresh {
                        healthy: o.healthy,
                        message: o.message,
                        duration_ms: Some(o.duration.as_millis() as u64),
                        monitored: None,
                    },
                    Err(e) => Fresh {
                        healthy: false,
                        message: e.to_string(),
                        duration_ms: None,
                        monitored: None,
                    },
                })
            }
        }
    }
}

/// `services health NAME`.
#[derive(Serialize)]
#[serde(untagged)]
pub enum HealthReport {
    /// The service has no check.
    NoCheck {
        service: String,
        status: &'static str,
        healthy: Option<bool>,
        check_type: Option<String>,
    },
    Checked {
        service: String,
        status: &'static str,
        healthy: bool,
        message: String,
        check_type: String,
        duration_ms: Option<u64>,
        monitored: Option<Health>,
    },
}

impl Report for HealthReport {
    fn text(&self) -> String {
        match self {
            HealthReport::NoCheck { service, .. } => {
                format!(
                    "Service: {service}\nStatus: unknown\nMessage: no health check configured\n"
                )
            }
            HealthReport::Checked {
                service,
                status,
                healthy,
                message,
                check_type,
                duration_ms,
                monitored,
            } => {
                let mut out = format!(
                    "Service: {service}\nStatus: {status}\nHealthy: {healthy}\nMessage: {message}\nCheck type: {check_type}\n"
                );
                if let Some(d) = duration_ms {
                    let _ = writeln!(out, "Check duration: {d}ms");
                }
                if let Some(m) = monitored {
                    let _ = writeln!(
                        out,
                        "Monitored: {} ({} consecutive failures)",
                        m.state, m.failures
                    );
                }
                out
            }
        }
    }

    fn exit(&self) -> Exit {
        match self {
            HealthReport::Checked { healthy: false, .. } => Exit::Failed,
            _ => Exit::Ok,
        }
    }
}

/// `services health NAME`: the check run now, plus what monitoring has seen.
pub fn health(cx: &Context, name: &str) -> Result<HealthReport, Failure> {
    let (config, graph) = cx.load()?;
    let service = config.service(name).ok_or_else(|| graph.unknown(name))?;
    let Some(check) = &service.health_check else {
        return Ok(HealthReport::NoCheck {
            service: name.to_string(),
            status: "unknown",
            healthy: None,
            check_type: None,
        });
    };
    let fresh = block_on(async { Checker::new(cx, &config).await?.check(&config, name).await })?;
    Ok(HealthReport::Checked {
        service: name.to_string(),
        status: if fresh.healthy {
            "healthy"
        } else {
            "unhealthy"
        },
        healthy: fresh.healthy,
        message: fresh.message,
        check_type: check.check_type.clone(),
        duration_ms: fresh.duration_ms,
        monitored: fresh.monitored,
    })
}

/// One line of `services monitor --json`.
#[derive(Serialize)]
struct MonitorLine<'a> {
    time: i64,
    service: &'a str,
    healthy: bool,
    message: &'a str,
    duration_ms: Option<u64>,
}

/// `services monitor NAME [--interval N] [--count N]`: a timestamped line per check, as it
/// comes (one JSON object per line with `--json`).
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
            let fresh = checker.check(&config, name).await?;
            let now = time::OffsetDateTime::now_local()
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
            if cx.json {
                let line = MonitorLine {
                    time: now.unix_timestamp(),
                    service: name,
                    healthy: fresh.healthy,
                    message: &fresh.message,
                    duration_ms: fresh.duration_ms,
                };
                println!("{}", serde_json::to_string(&line).expect("serializable"));
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

/// A service in `platform health`.
#[derive(Serialize)]
struct HealthRow {
    service: String,
    status: Status,
    health: Option<Health>,
    summary: String,
    #[serde(skip)]
    icon: &'static str,
}

/// `platform health`.
#[derive(Serialize)]
pub struct PlatformHealth {
    services: Vec<HealthRow>,
    healthy: usize,
    unhealthy: usize,
    not_running: usize,
}

impl Report for PlatformHealth {
    fn text(&self) -> String {
        let mut out = format!("{}\n", styled(BOLD, "Platform Health Check"));
        for r in &self.services {
            let _ = writeln!(out, "{} {}: {}", r.icon, r.service, r.summary);
        }
        let _ = writeln!(
            out,
            "Summary: {} healthy, {} unhealthy, {} not running",
            self.healthy, self.unhealthy, self.not_running
        );
        out
    }

    fn exit(&self) -> Exit {
        if self.unhealthy == 0 {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

/// `platform health`: every service's monitored health; exit 1 if one that runs is unhealthy.
pub fn platform_health(cx: &Context) -> Result<PlatformHealth, Failure> {
    let client = cx.daemon()?;
    let all: Vec<ServiceView> = block_on(client.call(&PlatformStatus))?;
    let mut report = PlatformHealth {
        services: Vec::new(),
        healthy: 0,
        unhealthy: 0,
        not_running: 0,
    };
    for v in all {
        let s = v.live;
        let message = s
            .health
            .as_ref()
            .and_then(|h| h.last.as_ref())
            .map(|l| l.message.as_str())
            .unwrap_or_default();
        let (icon, summary) = match (
            s.status == Status::Running,
            s.health.as_ref().map(|h| h.state),
        ) {
            (false, _) => {
                report.not_running += 1;
                ("⚪", format!("Not running ({})", s.status))
            }
            (true, Some(HealthState::Healthy)) => {
                report.healthy += 1;
                ("✅", format!("Healthy - {message}"))
            }
            (true, Some(HealthState::Unhealthy)) => {
                report.unhealthy += 1;
                ("❌", format!("Unhealthy - {message}"))
            }
            (true, Some(HealthState::Starting)) => ("⏳", "Starting - not healthy yet".to_string()),
            (true, None) => {
                report.healthy += 1;
                ("🟢", "Running - no health check".to_string())
            }
        };
        report.services.push(HealthRow {
            service: s.name,
            status: s.status,
            health: s.health,
            summary,
            icon,
        });
    }
    Ok(report)
}

impl Report for Readiness {
    fn text(&self) -> String {
        let mut out = String::from("Platform Readiness Report\n");
        let _ = writeln!(out, "Total services: {}", self.services.len());
        let _ = writeln!(out, "Running: {}", self.running);
        let _ = writeln!(out, "Ready to start: {}", self.ready);
        out += "Services:\n";
        for e in &self.services {
            let icon = if e.service.live.status == Status::Running {
                "🟢"
            } else if e.preflight.passed {
                "🟡"
            } else {
                "🔴"
            };
            let v = &e.service;
            let _ = writeln!(
                out,
                "{icon} {} - {} - {}",
                v.live.name, v.service_type, v.category
            );
        }
        let issues: Vec<_> = self
            .services
            .iter()
            .filter(|e| !e.preflight.passed)
            .collect();
        let _ = writeln!(out, "Issues: {}", issues.len());
        for e in issues {
            for c in e.preflight.failed() {
                let _ = writeln!(
                    out,
                    "{} {}: {}",
                    styled(RED, "❌"),
                    e.service.live.name,
                    c.message
                );
            }
        }
        out
    }
}

/// `services readiness`: what runs, what could start (pre-flight passes), what has issues.
pub fn readiness(cx: &Context) -> Result<Readiness, Failure> {
    let client = cx.daemon()?;
    Ok(block_on(client.call(&GetReadiness))?)
}
