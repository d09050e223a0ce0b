//! A service as the API shows it: its live snapshot, and the config fields a view adds.

use serde::{Deserialize, Serialize};

use crate::health::Health;
use crate::hook::HookRun;

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Exited; waiting out the backoff before the next start.
    Restarting,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Restarting => "restarting",
            Status::Failed => "failed",
        }
    }

    /// Whether a process of the service exists (or is about to).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Starting | Status::Running | Status::Stopping | Status::Restarting
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitInfo {
    Code(i32),
    Signal(String),
    /// The process was not the daemon's child (re-adopted after a daemon restart): it is gone,
    /// but its exit status went to its parent.
    Unknown,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit code {c}"),
            ExitInfo::Signal(s) => write!(f, "killed by {s}"),
            ExitInfo::Unknown => write!(f, "exited (status unknown)"),
        }
    }
}

/// What the supervisor knows of a service right now: the event stream's `changed` events and
/// the live half of every service object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub name: String,
    pub status: Status,
    pub pid: Option<i32>,
    /// Unix time (ms) the current process started.
    pub started_at_ms: Option<u64>,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// Why the service is `failed`.
    pub reason: Option<String>,
    /// While a process runs and the service has a health check: what the checks show.
    pub health: Option<Health>,
    /// The last hook run that refused something (veto, skip, suppress, or a failure that
    /// counted), with its reason.
    #[serde(default)]
    pub last_hook: Option<HookRun>,
}

impl Snapshot {
    /// A service that has never run.
    pub fn stopped(name: &str) -> Self {
        Self {
            name: name.to_string(),
            status: Status::Stopped,
            pid: None,
            started_at_ms: None,
            restarts: 0,
            last_exit: None,
            reason: None,
            health: None,
            last_hook: None,
        }
    }
}

/// A service object (`GET /services/list`, `GET /services/{name}`): the config fields, then
/// the live snapshot's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    #[serde(rename = "type")]
    pub service_type: String,
    pub category: String,
    pub description: String,
    pub deployment_mode: String,
    pub auto_start: bool,
    pub dependencies: Vec<String>,
    /// The check type, when the service has a health check.
    pub health_check: Option<String>,
    #[serde(flatten)]
    pub live: Snapshot,
}

/// A service in `GET /services/list?view=summary`: what a listing shows, about half the bytes
/// of a full object to build, send and parse. (`S` lets a listing made without a daemon say
/// more than a [`Status`].)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary<S = Status> {
    pub name: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub category: String,
    pub status: S,
    pub deployment_mode: String,
    pub auto_start: bool,
    pub description: String,
    pub dependencies: Vec<String>,
}

impl<S> ServiceSummary<S> {
    /// The same summary with its status turned into something else.
    pub fn map_status<T>(self, f: impl FnOnce(S) -> T) -> ServiceSummary<T> {
        ServiceSummary {
            name: self.name,
            service_type: self.service_type,
            category: self.category,
            status: f(self.status),
            deployment_mode: self.deployment_mode,
            auto_start: self.auto_start,
            description: self.description,
            dependencies: self.dependencies,
        }
    }
}

/// `GET /services/{name}/logs` without `follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logs {
    pub service: String,
    pub lines: Vec<String>,
}
