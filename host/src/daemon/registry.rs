//! The service registry's JSON socket: one JSON object per line on `<state>/registry.sock`, as
//! the service registry README drives its supervisor (`echo '{"action":"list_services"}' |
//! socat - UNIX-CONNECT:…`), answered by one line `{"ok": true, "data": …}` or `{"ok": false,
//! "error": "…"}`.
//!
//! Every action is one of the supervisor's operations that the HTTP API calls too; nothing is
//! implemented a second time here. The socket has the control socket's protection (mode 0600,
//! peers of another uid refused). A connection serves lines until the client closes it; a
//! malformed or over-long line gets an error answer and the next line is read as usual.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::state::StateDir;
use crate::supervisor::{Supervisor, SupervisorError};
use keel_api::{HealthState, Snapshot, Status};

/// The longest request line read; a longer one is answered with an error and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// What the socket offers, in the order the error message lists them.
const ACTIONS: [&str; 6] = [
    "list_services",
    "status",
    "health",
    "start",
    "stop",
    "restart",
];

/// Where the socket is in a state directory.
pub fn socket_path(state: &StateDir) -> PathBuf {
    state.root().join("registry.sock")
}

/// Serves the socket until the task is aborted.
pub async fn serve(listener: UnixListener, supervisor: super::reload::LiveSupervisor) {
    loop {
        let stream = super::accept_same_user(&listener, "registry").await;
        let supervisor = supervisor.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &supervisor).await {
                tracing::debug!("registry connection ended: {e}");
            }
        });
    }
}

async fn connection(
    stream: UnixStream,
    supervisor: &super::reload::LiveSupervisor,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let answer = match next_line(&mut read, MAX_LINE).await? {
            Line::End => return Ok(()),
            Line::Text(line) if line.trim_ascii().is_empty() => continue,
            // Each request with the supervisor of the config served when it arrives.
            Line::Text(line) => answer(&supervisor.get(), &line).await,
            Line::TooLong => Answer::error(format!(
                "request line longer than {MAX_LINE} bytes; send one JSON object per line"
            )),
        };
        let mut bytes = serde_json::to_vec(&answer).expect("answers serialize");
        bytes.push(b'\n');
        write.write_all(&bytes).await?;
    }
}

/// One request line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    action: String,
    service: Option<String>,
    /// `start`: skip pre-flight; `stop`: stop even while dependents run.
    #[serde(default)]
    force: bool,
}

/// One answer line.
#[derive(Debug, Serialize)]
struct Answer {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Answer {
    fn data(data: impl Serialize) -> Self {
        Self {
            ok: true,
            data: Some(serde_json::to_value(data).expect("answers serialize")),
            error: None,
        }
    }

    fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            data: None,
            error: Some(message.into()),
        }
    }
}

impl From<Result<Answer, SupervisorError>> for Answer {
    fn from(r: Result<Answer, SupervisorError>) -> Self {
        r.unwrap_or_else(|e| Answer::error(e.to_string()))
    }
}

/// A service in `list_services`: exactly the README's shape.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    status: &'static str,
}

/// A service in the answers to `status`, `start`, `stop` and `restart`.
#[derive(Debug, Serialize)]
struct ServiceState {
    name: String,
    status: &'static str,
    pid: Option<i32>,
    health: Option<&'static str>,
    restarts: u32,
    last_exit: Option<String>,
    reason: Option<String>,
}

impl From<Snapshot> for ServiceState {
    fn from(s: Snapshot) -> Self {
        Self {
            status: status_name(s.status),
            health: s.health.as_ref().map(|h| health_name(h.state)),
            last_exit: s.last_exit.as_ref().map(ToString::to_string),
            name: s.name,
            pid: s.pid,
            restarts: s.restarts,
            reason: s.reason,
        }
    }
}

/// A service in the answer to `health`: its monitored state and the last check's answer (or,
/// for one named service, the answer of a check run now).
#[derive(Debug, Serialize)]
struct HealthEntry {
    name: String,
    status: &'static str,
    health: Option<&'static str>,
    healthy: Option<bool>,
    message: Option<String>,
}

/// The registry README writes states as Rust enum variants: `Running`, `Stopped`.
fn status_name(s: Status) -> &'static str {
    match s {
        Status::Stopped => "Stopped",
        Status::Starting => "Starting",
        Status::Running => "Running",
        Status::Stopping => "Stopping",
        Status::Restarting => "Restarting",
        Status::Failed => "Failed",
    }
}

fn health_name(h: HealthState) -> &'static str {
    match h {
        HealthState::Starting => "Starting",
        HealthState::Healthy => "Healthy",
        HealthState::Unhealthy => "Unhealthy",
    }
}

async fn answer(supervisor: &Supervisor, line: &[u8]) -> Answer {
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            return Answer::error(format!(
                "malformed request ({e}); expected one JSON object per line such as {{\"action\":\"list_services\"}}"
            ));
        }
    };
    let service = || {
        request.service.as_deref().ok_or_else(|| {
            Answer::error(format!(
                "action `{}` needs a `service`, e.g. {{\"action\":\"{}\",\"service\":\"NAME\"}}",
                request.action, request.action
            ))
        })
    };
    let name = match request.action.as_str() {
        "list_services" => None,
        "health" => request.service.as_deref(),
        "status" | "start" | "stop" | "restart" => match service() {
            Ok(n) => Some(n),
            Err(a) => return a,
        },
        other => {
            return Answer::error(format!(
                "unknown action `{other}`{}; expected one of {}",
                crate::config::suggestion(other, ACTIONS),
                ACTIONS.join(", ")
            ));
        }
    };
    let one = |r: Result<Snapshot, SupervisorError>| -> Answer {
        r.map(|s| Answer::data(ServiceState::from(s))).into()
    };
    match (request.action.as_str(), name) {
        ("list_services", _) => Answer::data(
            supervisor
                .list()
                .await
                .into_iter()
                .map(|s| Listed {
                    status: status_name(s.status),
                    name: s.name,
                })
                .collect::<Vec<_>>(),
        ),
        ("status", Some(n)) => one(supervisor.snapshot(n).await),
        ("start", Some(n)) => one(start(supervisor, n, request.force).await),
        ("stop", Some(n)) => one(supervisor.stop(n, request.force).await),
        ("restart", Some(n)) => one(supervisor.restart(n).await),
        ("health", Some(n)) => health_now(supervisor, n).await.into(),
        ("health", None) => Answer::data(
            supervisor
                .list()
                .await
                .into_iter()
                .map(|s| {
                    let last = s.health.as_ref().and_then(|h| h.last.as_ref());
                    HealthEntry {
                        status: status_name(s.status),
                        health: s.health.as_ref().map(|h| health_name(h.state)),
                        healthy: last.map(|r| r.healthy),
                        message: last.map(|r| r.message.clone()),
                        name: s.name,
                    }
                })
                .collect::<Vec<_>>(),
        ),
        _ => unreachable!("every action was matched above"),
    }
}

/// `start`: as `POST /services/{name}/start`: pre-flight, missing dependencies first, each
/// waited for until ready; the answer is the named service's state.
async fn start(
    supervisor: &Supervisor,
    name: &str,
    force: bool,
) -> Result<Snapshot, SupervisorError> {
    supervisor
        .start_services(&[name], force, keel_api::HookCause::Operator)
        .await?;
    supervisor.snapshot(name).await
}

/// `health` of one service: as `GET /services/{name}/health`, a check run now beside what
/// monitoring has seen.
async fn health_now(supervisor: &Supervisor, name: &str) -> Result<Answer, SupervisorError> {
    let snap = supervisor.snapshot(name).await?;
    let check = supervisor.check_now(name).await?;
    Ok(Answer::data(HealthEntry {
        name: snap.name,
        status: status_name(snap.status),
        health: snap.health.as_ref().map(|h| health_name(h.state)),
        healthy: check.as_ref().map(|c| c.healthy),
        message: check.map(|c| c.message),
    }))
}

/// A line read with a bound on its length.
#[derive(Debug, PartialEq)]
enum Line {
    Text(Vec<u8>),
    /// Longer than the bound: read to its end and dropped.
    TooLong,
    /// The client closed its side.
    End,
}

/// Reads up to the next `\n` (or the end), keeping at most `max` bytes: a longer line is read
/// to its end without being kept, so the next line starts where it should.
async fn next_line<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Text(line),
            });
        }
        let newline = buf.iter().position(|b| *b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = newline.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if newline.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded_and_the_next_one_is_still_read() {
        let input = format!("{}\nshort\nlast", "x".repeat(20));
        // A tiny buffer, so a line arrives in several pieces.
        let mut r = tokio::io::BufReader::with_capacity(4, input.as_bytes());
        assert_eq!(next_line(&mut r, 10).await.unwrap(), Line::TooLong);
        assert_eq!(
            next_line(&mut r, 10).await.unwrap(),
            Line::Text(b"short".to_vec())
        );
        assert_eq!(
            next_line(&mut r, 10).await.unwrap(),
            Line::Text(b"last".to_vec())
        );
        assert_eq!(next_line(&mut r, 10).await.unwrap(), Line::End);
    }
}
