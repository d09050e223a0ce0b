//! `keel top`: a live dashboard of the platform on the event stream. It redraws when
//! something happens (an event, a log line, a key, an action's outcome), never on a timer,
//! so an idle platform costs nothing and it stays usable over a slow SSH link.

mod app;
mod draw;

use std::io::IsTerminal;
use std::sync::Arc;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use keel_api::endpoint::{
    Events, FollowLogs, ListServices, RestartService, StartService, StopService,
};
use keel_api::{ErrorDetails, Event, EventKinds};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{Client, ClientError};
use super::context::{Context, Exit, Failure, block_on};
use app::{Action, App, LOG_LINES};

pub fn run(cx: &Context) -> Result<Exit, Failure> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            Exit::Usage,
            "keel top needs a terminal (for scripts: `keel platform status --json` or the event stream, docs/api.md)",
        ));
    }
    let client = Arc::new(cx.daemon()?);
    block_on(dashboard(client))
}

/// What an action came to.
enum Outcome {
    Done(String),
    /// A stop refused because these dependents run.
    Refused {
        service: String,
        dependents: Vec<String>,
    },
    Failed(String),
}

async fn dashboard(client: Arc<Client>) -> Result<Exit, Failure> {
    let services = client.call(&ListServices).await?;
    let mut app = App::new(services);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    tokio::spawn(stream_events(client.clone(), events_tx));
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let mut following: Option<JoinHandle<()>> = app
        .selected
        .clone()
        .map(|s| tokio::spawn(follow(client.clone(), s, lines_tx.clone())));
    let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();

    let mut terminal = ratatui::try_init().map_err(|e| Failure::other(e.into()))?;
    let mut keys = EventStream::new();
    let mut events_open = true;
    let mut result = terminal.draw(|f| draw::draw(f, &app)).map(drop);
    while result.is_ok() {
        let redraw = tokio::select! {
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    match app.key(k) {
                        Action::Quit => break,
                        Action::None => {}
                        Action::Follow(name) => {
                            if let Some(old) = following.take() {
                                old.abort();
                            }
                            following = Some(tokio::spawn(follow(client.clone(), name, lines_tx.clone())));
                        }
                        action => {
                            app.message = act(&client, action, &outcomes_tx);
                        }
                    }
                    true
                }
                Some(Ok(TermEvent::Resize(..))) => true,
                Some(Ok(_)) => false,
                None | Some(Err(_)) => break,
            },
            event = events.recv(), if events_open => match event {
                Some(e) => app.apply(e),
                None => {
                    events_open = false;
                    app.message = "the event stream ended: the daemon stopped".into();
                    true
                }
            },
            Some((service, line)) = lines.recv() => {
                if app.selected.as_ref() == Some(&service) {
                    app.push_log(short_line(&line));
                    true
                } else {
                    false
                }
            },
            Some(outcome) = outcomes.recv() => {
                match outcome {
                    Outcome::Done(m) | Outcome::Failed(m) => app.message = m,
                    Outcome::Refused { service, dependents } => app.confirm_stop(service, dependents),
                }
                true
            },
        };
        if redraw {
            result = terminal.draw(|f| draw::draw(f, &app)).map(drop);
        }
    }
    ratatui::restore();
    result.map_err(|e| Failure::other(e.into()))?;
    Ok(Exit::Ok)
}

/// The event stream, one parsed event at a time, until it ends or the dashboard does.
async fn stream_events(client: Arc<Client>, tx: mpsc::UnboundedSender<Event>) {
    let events = Events {
        kinds: EventKinds::ALL,
    };
    let _ = client
        .stream_lines(&events, |line| {
            match serde_json::from_slice::<Event>(line) {
                Ok(e) => tx.send(e).is_ok(),
                Err(_) => true,
            }
        })
        .await;
}

/// The last lines of `service`'s log, then each new one.
async fn follow(client: Arc<Client>, service: String, tx: mpsc::UnboundedSender<(String, String)>) {
    let request = FollowLogs {
        name: service.clone(),
        lines: LOG_LINES,
    };
    let _ = client
        .stream_lines(&request, |line| {
            let text = String::from_utf8_lossy(line).trim_end().to_string();
            tx.send((service.clone(), text)).is_ok()
        })
        .await;
}

/// A log line with its time of day only (`04:11:10 [stdout] …`), to fit 80 columns.
fn short_line(line: &str) -> String {
    match (line.get(10..11), line.get(11..19), line.find(' ')) {
        (Some("T"), Some(time), Some(space)) => format!("{time}{}", &line[space..]),
        _ => line.to_string(),
    }
}

/// Starts `action` in the background (a start waits until the service is ready); its outcome
/// comes back on `done`. Returns what to say meanwhile.
fn act(client: &Arc<Client>, action: Action, done: &mpsc::UnboundedSender<Outcome>) -> String {
    let (client, done) = (client.clone(), done.clone());
    let (said, task): (String, JoinHandle<()>) = match action {
        Action::Start(name) => (
            format!("starting {name}…"),
            tokio::spawn(async move {
                let r = client
                    .call(&StartService {
                        name: name.clone(),
                        force: false,
                    })
                    .await;
                let _ = done.send(outcome(r.map(|_| format!("{name} started")), &name));
            }),
        ),
        Action::Stop { service, force } => (
            format!("stopping {service}…"),
            tokio::spawn(async move {
                let r = client
                    .call(&StopService {
                        name: service.clone(),
                        force,
                    })
                    .await;
                let _ = done.send(outcome(r.map(|_| format!("{service} stopped")), &service));
            }),
        ),
        Action::Restart(name) => (
            format!("restarting {name}…"),
            tokio::spawn(async move {
                let r = client.call(&RestartService { name: name.clone() }).await;
                let _ = done.send(outcome(r.map(|_| format!("{name} restarted")), &name));
            }),
        ),
        Action::None | Action::Quit | Action::Follow(_) => return String::new(),
    };
    drop(task);
    said
}

fn outcome(result: Result<String, ClientError>, service: &str) -> Outcome {
    match result {
        Ok(m) => Outcome::Done(m),
        Err(ClientError::Api {
            details: Some(ErrorDetails::DependentsRunning { dependents, .. }),
            ..
        }) => Outcome::Refused {
            service: service.to_string(),
            dependents,
        },
        Err(e) => Outcome::Failed(format!("{service}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_lines_keep_their_time_of_day() {
        assert_eq!(
            super::short_line("2026-11-22T04:11:10.123Z [stdout] hello"),
            "04:11:10 [stdout] hello"
        );
        assert_eq!(super::short_line("odd"), "odd");
    }
}
