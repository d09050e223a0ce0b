//! What the CLI shows while services start: the guide's progress lines, read from the daemon's
//! event stream while the start request runs, and pre-flight reports.

use std::collections::{BTreeMap, BTreeSet};

use keel_api::endpoint::Events;
use keel_api::{
    Endpoint, ErrorDetails, Event, EventKinds, HealthState, Preflight, Snapshot, Status,
};

use super::client::{Client, ClientError};
use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{DIM, RED, YELLOW, describe_exit, fail_mark, ok_mark, styled};
use crate::config::Config;

/// An answer to a start request: the snapshots of what it started.
pub trait Started {
    fn snapshots(&self) -> Vec<&Snapshot>;
}

impl Started for Option<Snapshot> {
    fn snapshots(&self) -> Vec<&Snapshot> {
        self.iter().collect()
    }
}

impl Started for Vec<Snapshot> {
    fn snapshots(&self) -> Vec<&Snapshot> {
        self.iter().collect()
    }
}

/// What a start is about: the services asked for, and every service its plan brings up.
pub struct Plan<'a> {
    pub config: &'a Config,
    pub requested: &'a [String],
    pub planned: &'a [String],
}

/// Sends a start request and, unless `--json`, prints the guide's progress lines as the
/// daemon's events arrive: "Starting dependency: …", "✅ Started … with PID …",
/// "Waiting for … to become healthy...", "✅ Service … is healthy".
pub fn start_with_progress<E>(
    cx: &Context,
    client: &Client,
    request: &E,
    plan: Plan<'_>,
) -> Result<E::Answer, Failure>
where
    E: Endpoint,
    E::Answer: Started,
{
    if cx.json {
        return block_on(client.call(request)).map_err(Failure::from);
    }
    let mut progress = Progress {
        plan,
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
        let changes = Events {
            kinds: EventKinds {
                changed: true,
                health: false,
            },
        };
        let events = client.stream(&changes, |chunk| {
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
            client.call(request).await
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
            for s in done.snapshots() {
                progress.on_snapshot(s);
            }
            Ok(done)
        }
        Err(e) => Err(refusal(e)),
    }
}

/// A refused or failed start as a person sees it: pre-flight failures in the guide's words.
fn refusal(e: ClientError) -> Failure {
    if let ClientError::Api {
        status: 412,
        details: Some(ErrorDetails::Preflight(reports)),
        message,
    } = &e
    {
        for report in reports {
            print_preflight_failure(report);
        }
        return Failure::new(
            Exit::Failed,
            format!("{message}; use --force to start anyway"),
        );
    }
    e.into()
}

fn print_preflight_failure(report: &Preflight) {
    let kinds: Vec<&str> = report.failed().map(|c| c.kind.as_str()).collect();
    anstream::println!(
        "{} Pre-flight check failed: {} ({})",
        fail_mark(),
        kinds.join(", "),
        report.service
    );
    for c in report.failed() {
        println!("{}", c.message);
    }
}

/// Prints a pre-flight report the way the guide does; returns whether it passed.
pub fn print_preflight(report: &Preflight) -> bool {
    println!("Running pre-flight checks for {}...", report.service);
    for c in &report.checks {
        let icon = if c.ok { ok_mark() } else { fail_mark() };
        anstream::println!("{icon} {}", c.message);
    }
    report.passed
}

#[derive(Default, Clone, Copy)]
struct Said {
    starting: bool,
    started: bool,
    healthy: bool,
}

struct Progress<'a> {
    plan: Plan<'a>,
    /// Planned services that were already active when the start began.
    already: BTreeSet<String>,
    said: BTreeMap<String, Said>,
    buffer: Vec<u8>,
    seen_snapshot: bool,
}

impl Progress<'_> {
    fn planned(&self, name: &str) -> bool {
        self.plan.planned.iter().any(|p| p == name)
    }

    /// Takes a chunk of the event stream (JSON lines).
    fn feed(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            match serde_json::from_slice::<Event>(&line) {
                Ok(Event::Snapshot { services }) => {
                    for s in services {
                        let active = !matches!(s.status, Status::Stopped | Status::Failed);
                        if active && self.planned(&s.name) {
                            anstream::println!(
                                "{}",
                                styled(DIM, format!("{} is already running", s.name))
                            );
                            self.already.insert(s.name);
                        }
                    }
                    self.seen_snapshot = true;
                }
                Ok(Event::Changed(s)) => self.on_snapshot(&s),
                _ => {}
            }
        }
    }

    fn on_snapshot(&mut self, s: &Snapshot) {
        let name = s.name.as_str();
        if !self.planned(name) || self.already.contains(name) {
            return;
        }
        let has_check = self
            .plan
            .config
            .service(name)
            .is_some_and(|x| x.health_check.is_some());
        let requested = self.plan.requested.iter().any(|r| r == name);
        let healthy = s.health.as_ref().map(|h| h.state) == Some(HealthState::Healthy);
        let said = self.said.entry(name.to_string()).or_default();
        if !said.starting && matches!(s.status, Status::Starting | Status::Running) {
            said.starting = true;
            if requested {
                println!("Starting service: {name}");
            } else {
                println!("Starting dependency: {name}");
            }
        }
        if !said.started
            && s.status == Status::Running
            && let Some(pid) = s.pid
        {
            said.started = true;
            anstream::println!("{} Started {name} with PID {pid}", ok_mark());
            if has_check && !healthy {
                println!("Waiting for {name} to become healthy...");
            }
        }
        if !said.healthy && s.status == Status::Running && healthy {
            said.healthy = true;
            anstream::println!("{} Service {name} is healthy", ok_mark());
        }
        match s.status {
            Status::Restarting => anstream::println!(
                "{} {name} exited ({}); restarting",
                styled(YELLOW, "⚠️"),
                describe_exit(s.last_exit.as_ref())
            ),
            Status::Failed => anstream::println!(
                "{} {name} failed: {}",
                styled(RED, "❌"),
                s.reason.as_deref().unwrap_or_default()
            ),
            _ => {}
        }
    }
}
