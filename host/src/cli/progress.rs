//! What the CLI shows while services start, read from the daemon's event stream while the
//! start request runs: on a terminal one live line per service (a spinner, its state and the
//! time it has taken: indicatif); elsewhere the guide's progress lines, one per step; with
//! `--quiet` nothing but errors. Also the pre-flight reports.

use std::collections::{BTreeMap, BTreeSet};

use keel_api::endpoint::Events;
use keel_api::{
    Endpoint, ErrorDetails, Event, EventKinds, HealthState, HookOutcome, Preflight, Snapshot,
    Status,
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
    /// `--quiet`: no progress at all.
    pub quiet: bool,
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
    let view = if plan.quiet {
        View::Quiet
    } else if live::wanted() {
        View::Live(live::Lines::new(plan.planned))
    } else {
        View::Plain
    };
    let mut progress = Progress {
        plan,
        already: BTreeSet::new(),
        said: BTreeMap::new(),
        seen_snapshot: false,
        view,
        began_ms: crate::state::now_ms(),
    };
    let result = block_on(async {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let mut ready_tx = Some(ready_tx);
        let subscribed = std::cell::Cell::new(false);
        // States only: the progress lines follow transitions, not every check's answer.
        let changes = Events {
            kinds: EventKinds::CHANGED,
        };
        let events = client.stream_lines(&changes, |line| {
            progress.feed(line);
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
            progress.view.end(false);
            Ok(done)
        }
        Err(e) => {
            // A refused start started nothing: its lines go, and the refusal says why.
            let refused = matches!(e, ClientError::Api { status: 412, .. });
            progress.view.end(refused);
            Err(refusal(e))
        }
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
    skipped: bool,
}

struct Progress<'a> {
    plan: Plan<'a>,
    /// Planned services that were already active when the start began.
    already: BTreeSet<String>,
    said: BTreeMap<String, Said>,
    seen_snapshot: bool,
    view: View,
    /// When this start began (Unix ms): a hook's skip from before it is not this start's.
    began_ms: u64,
}

/// How progress is shown.
enum View {
    /// The guide's lines, one per step (not a terminal).
    Plain,
    /// Nothing (`--quiet`).
    Quiet,
    /// One live line per service (a terminal).
    Live(live::Lines),
}

/// A step of a service's start, as progress shows it.
pub(super) enum Step<'a> {
    Already,
    Starting {
        requested: bool,
    },
    Started {
        pid: i32,
        waits_for_health: bool,
    },
    Healthy,
    Restarting {
        exit: &'a str,
    },
    Failed {
        reason: &'a str,
    },
    /// Left stopped by a hook (or because a dependency was).
    Skipped {
        reason: &'a str,
    },
}

impl View {
    fn show(&mut self, name: &str, step: Step<'_>) {
        match self {
            View::Quiet => {}
            View::Live(lines) => lines.show(name, step),
            View::Plain => match step {
                Step::Already => {
                    anstream::println!("{}", styled(DIM, format!("{name} is already running")))
                }
                Step::Starting { requested: true } => println!("Starting service: {name}"),
                Step::Starting { requested: false } => println!("Starting dependency: {name}"),
                Step::Started {
                    pid,
                    waits_for_health,
                } => {
                    anstream::println!("{} Started {name} with PID {pid}", ok_mark());
                    if waits_for_health {
                        println!("Waiting for {name} to become healthy...");
                    }
                }
                Step::Healthy => anstream::println!("{} Service {name} is healthy", ok_mark()),
                Step::Restarting { exit } => anstream::println!(
                    "{} {name} exited ({exit}); restarting",
                    styled(YELLOW, "⚠️")
                ),
                Step::Failed { reason } => {
                    anstream::println!("{} {name} failed: {reason}", styled(RED, "❌"))
                }
                Step::Skipped { reason } => {
                    anstream::println!("{} {name} not started: {reason}", styled(DIM, "⏭️"))
                }
            },
        }
    }

    /// The start is over: live lines stay as they are (`clear`: they go).
    fn end(&mut self, clear: bool) {
        if let View::Live(lines) = self {
            lines.end(clear);
        }
    }
}

impl Progress<'_> {
    fn planned(&self, name: &str) -> bool {
        self.plan.planned.iter().any(|p| p == name)
    }

    /// Takes a line of the event stream (one JSON event).
    fn feed(&mut self, line: &[u8]) {
        match serde_json::from_slice::<Event>(line) {
            Ok(Event::Snapshot { services }) => {
                for s in services {
                    let active = !matches!(s.status, Status::Stopped | Status::Failed);
                    if active && self.planned(&s.name) {
                        self.view.show(&s.name, Step::Already);
                        self.already.insert(s.name);
                    }
                }
                self.seen_snapshot = true;
            }
            Ok(Event::Changed(s)) => self.on_snapshot(&s),
            _ => {}
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
        let view = &mut self.view;
        if !said.starting && matches!(s.status, Status::Starting | Status::Running) {
            said.starting = true;
            view.show(name, Step::Starting { requested });
        }
        if !said.started
            && s.status == Status::Running
            && let Some(pid) = s.pid
        {
            said.started = true;
            let waits_for_health = has_check && !healthy;
            view.show(
                name,
                Step::Started {
                    pid,
                    waits_for_health,
                },
            );
        }
        if !said.healthy && s.status == Status::Running && healthy {
            said.healthy = true;
            view.show(name, Step::Healthy);
        }
        match s.status {
            Status::Restarting => view.show(
                name,
                Step::Restarting {
                    exit: &describe_exit(s.last_exit.as_ref()),
                },
            ),
            Status::Failed => view.show(
                name,
                Step::Failed {
                    reason: s.reason.as_deref().unwrap_or_default(),
                },
            ),
            Status::Stopped => {
                // A skip of this start (not one remembered from an earlier start).
                if let Some(hook) = s
                    .last_hook
                    .as_ref()
                    .filter(|h| h.outcome == HookOutcome::Skip && h.at_ms >= self.began_ms)
                    && !said.skipped
                {
                    said.skipped = true;
                    let reason = skip_reason(hook);
                    view.show(name, Step::Skipped { reason: &reason });
                }
            }
            _ => {}
        }
    }
}

/// Why a service was skipped, in words.
fn skip_reason(run: &keel_api::HookRun) -> String {
    let why = run.reason.as_deref().unwrap_or_default();
    if run.hook == "-" {
        why.to_string()
    } else {
        format!("skipped by hook `{}`: {why}", run.hook)
    }
}

/// One live line per service on a terminal: a spinner, the service's state and how long it has
/// taken, each line ending in the service's final state.
mod live {
    use std::collections::BTreeMap;
    use std::io::IsTerminal;
    use std::time::Duration;

    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

    use super::Step;
    use crate::cli::fmt::{DIM, RED, YELLOW, fail_mark, ok_mark, styled};

    /// Spinner frames; the last one is shown once a line is done.
    const TICKS: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ";

    /// Live lines need a terminal that can redraw them.
    pub fn wanted() -> bool {
        std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
    }

    pub struct Lines {
        multi: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
        pids: BTreeMap<String, i32>,
        width: usize,
        /// Whether colour is wanted (anstream's judgement: terminal, `NO_COLOR`, …); indicatif
        /// writes to the terminal itself, so escapes are removed here when it is not.
        color: bool,
    }

    impl Lines {
        /// A waiting line for every planned service, in plan order.
        pub fn new(planned: &[String]) -> Self {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let color =
                anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
            let width = planned.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            let mut lines = Self {
                multi,
                bars: BTreeMap::new(),
                pids: BTreeMap::new(),
                width,
                color,
            };
            for name in planned {
                let bar = lines.multi.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(format!("{name:<width$}"));
                bar.set_message("waiting");
                bar.enable_steady_tick(Duration::from_millis(80));
                lines.bars.insert(name.clone(), bar);
            }
            lines
        }

        pub fn show(&mut self, name: &str, step: Step<'_>) {
            let Some(bar) = self.bars.get(name).cloned() else {
                return;
            };
            let secs = format!("({:.1}s)", bar.elapsed().as_secs_f64());
            let padded = format!("{name:<width$}", width = self.width);
            match step {
                Step::Already => {
                    self.done(&bar, styled(DIM, format!("- {padded}  already running")))
                }
                Step::Starting { requested } => {
                    bar.reset_elapsed();
                    bar.set_message(if requested {
                        "starting"
                    } else {
                        "starting (dependency)"
                    });
                }
                Step::Started {
                    pid,
                    waits_for_health,
                } => {
                    self.pids.insert(name.to_string(), pid);
                    if waits_for_health {
                        bar.set_message(format!(
                            "started with PID {pid}, waiting to become healthy"
                        ));
                    } else {
                        let line = format!("{} {padded}  running, PID {pid} {secs}", ok_mark());
                        self.done(&bar, line);
                    }
                }
                Step::Healthy => {
                    let pid = self
                        .pids
                        .get(name)
                        .map(|p| format!(", PID {p}"))
                        .unwrap_or_default();
                    self.done(&bar, format!("{} {padded}  healthy{pid} {secs}", ok_mark()));
                }
                Step::Restarting { exit } => {
                    let note = styled(YELLOW, format!("exited ({exit}); restarting"));
                    bar.set_message(self.paint(note));
                }
                Step::Failed { reason } => {
                    let line = format!(
                        "{} {padded}  {} {secs}",
                        fail_mark(),
                        styled(RED, format!("failed: {reason}"))
                    );
                    self.done(&bar, line);
                }
                Step::Skipped { reason } => {
                    let line = format!(
                        "{} {padded}  {} {secs}",
                        styled(DIM, "⏭️"),
                        styled(DIM, format!("not started: {reason}"))
                    );
                    self.done(&bar, line);
                }
            }
        }

        /// Ends a line with `text` in place of the spinner and state.
        fn done(&self, bar: &ProgressBar, text: String) {
            bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
            bar.finish_with_message(self.paint(text));
        }

        fn paint(&self, text: String) -> String {
            if self.color {
                text
            } else {
                anstream::adapter::strip_str(&text).to_string()
            }
        }

        /// The start is over: a line still going stays as it last was (its service did not get
        /// further), or every line goes (`clear`, for a start that was refused).
        pub fn end(&mut self, clear: bool) {
            for bar in self.bars.values() {
                if clear {
                    bar.finish_and_clear();
                } else if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }

    fn running_style() -> ProgressStyle {
        ProgressStyle::with_template("{spinner} {prefix}  {msg} {secs}")
            .expect("a valid template")
            .tick_chars(TICKS)
            .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "({:.1}s)", s.elapsed().as_secs_f64());
            })
    }
}
