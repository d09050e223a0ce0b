//! What hooks are told and answer (the `lifecycle` interface's event and verdict, as public
//! types), and what the host may show them of the services it supervises.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where in a service's life a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookPhase {
    BeforeStart,
    AfterStart,
    OnHealthy,
    OnCheck,
    BeforeStop,
    AfterStop,
    BeforeRestart,
    OnUnhealthy,
    OnFailed,
}

impl HookPhase {
    /// The phases a hook built for 0.1.0's `hook` interface knows (it has no `on-check` and
    /// no `before-restart`).
    pub const LEGACY: [HookPhase; 7] = [
        HookPhase::BeforeStart,
        HookPhase::AfterStart,
        HookPhase::BeforeStop,
        HookPhase::AfterStop,
        HookPhase::OnFailed,
        HookPhase::OnHealthy,
        HookPhase::OnUnhealthy,
    ];
}

/// What brought an event about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookCause {
    Operator,
    Dependency,
    AutoStart,
    RestartPolicy,
    Health,
    Shutdown,
    Timeout,
    Recovery,
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(String),
    Unknown,
}

/// One event in a service's life, as a hook is told it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    pub phase: HookPhase,
    pub cause: HookCause,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub pid: Option<i32>,
    pub handle: Option<String>,
    /// Starts in a row without a stable run (1 for the first).
    pub attempt: u32,
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    pub uptime_ms: Option<u64>,
    pub health_message: Option<String>,
    pub consecutive_failures: u32,
    /// What the service's check connects to (`host:port`).
    pub endpoints: Vec<String>,
    /// The host's reason, in words.
    pub reason: String,
}

/// A blocking phase's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Proceed,
    Veto(String),
    Skip(String),
    /// Ask again after this long.
    Delay(Duration),
    Suppress(String),
}

/// A hook run's answer: its verdict and, for `before-start`, variables for the launch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub env: Vec<(String, String)>,
}

/// A service as the `services` interface shows it to a hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    /// `stopped`, `starting`, `running`, `stopping`, `restarting` or `failed`.
    pub status: String,
    pub pid: Option<i32>,
    /// `starting`, `healthy` or `unhealthy`, while it runs and has a check.
    pub health: Option<String>,
    pub started_at_ms: Option<u64>,
    pub restarts: u32,
}

/// Where the host reads the services it supervises from, for hooks granted `services`. The
/// embedder installs it once its supervisor exists ([`crate::PluginHost::set_services_view`]);
/// it must answer at once, without waiting on anything a hook may be holding up.
pub trait ServicesView: Send + Sync {
    fn status(&self, name: &str) -> Option<ServiceState>;
    fn all(&self) -> Vec<ServiceState>;
}
