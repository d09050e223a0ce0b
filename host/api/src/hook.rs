//! Lifecycle hooks as the API shows them: the phases a hook runs in, what brought an event
//! about, and what a hook run came to.

use serde::{Deserialize, Serialize};

/// Where in a service's life a hook runs. The blocking phases wait for the hooks' verdict;
/// the others are notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    pub const ALL: [HookPhase; 9] = [
        HookPhase::BeforeStart,
        HookPhase::AfterStart,
        HookPhase::OnHealthy,
        HookPhase::OnCheck,
        HookPhase::BeforeStop,
        HookPhase::AfterStop,
        HookPhase::BeforeRestart,
        HookPhase::OnUnhealthy,
        HookPhase::OnFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::BeforeStart => "before-start",
            HookPhase::AfterStart => "after-start",
            HookPhase::OnHealthy => "on-healthy",
            HookPhase::OnCheck => "on-check",
            HookPhase::BeforeStop => "before-stop",
            HookPhase::AfterStop => "after-stop",
            HookPhase::BeforeRestart => "before-restart",
            HookPhase::OnUnhealthy => "on-unhealthy",
            HookPhase::OnFailed => "on-failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the host waits for the hooks' verdict before it goes on.
    pub fn blocks(self) -> bool {
        matches!(
            self,
            HookPhase::BeforeStart
                | HookPhase::BeforeStop
                | HookPhase::BeforeRestart
                | HookPhase::OnUnhealthy
        )
    }
}

impl std::fmt::Display for HookPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What brought a lifecycle event about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookCause {
    /// A person or script: the CLI or the API.
    Operator,
    /// Started because a service that depends on it was started.
    Dependency,
    /// The daemon's own start of the `auto_start` services.
    AutoStart,
    /// The restart policy, after an exit.
    RestartPolicy,
    /// Health checks.
    Health,
    /// The daemon is shutting down.
    Shutdown,
    /// A time limit ran out.
    Timeout,
    /// A daemon found the service's process gone after its own restart.
    Recovery,
}

impl HookCause {
    pub fn as_str(self) -> &'static str {
        match self {
            HookCause::Operator => "operator",
            HookCause::Dependency => "dependency",
            HookCause::AutoStart => "auto-start",
            HookCause::RestartPolicy => "restart-policy",
            HookCause::Health => "health",
            HookCause::Shutdown => "shutdown",
            HookCause::Timeout => "timeout",
            HookCause::Recovery => "recovery",
        }
    }
}

/// What one hook run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookOutcome {
    Proceed,
    /// The operation is refused.
    Veto,
    /// The operation is not done, and the service stays stopped without failing.
    Skip,
    /// An unhealthy service keeps running.
    Suppress,
    /// The hook asked to be asked again later.
    Delay,
    /// The hook failed (trap, timeout, error, denied) and its entry says `on_error = "fail"`:
    /// for a blocking phase this refuses the operation like a veto.
    Failed,
    /// The hook failed and its entry says `on_error = "ignore"`.
    Ignored,
}

impl HookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            HookOutcome::Proceed => "proceed",
            HookOutcome::Veto => "veto",
            HookOutcome::Skip => "skip",
            HookOutcome::Suppress => "suppress",
            HookOutcome::Delay => "delay",
            HookOutcome::Failed => "failed",
            HookOutcome::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hook run, as the service's log, the event stream and its status show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    /// The hook plugin's name.
    pub hook: String,
    pub phase: HookPhase,
    pub outcome: HookOutcome,
    /// The hook's reason (veto, skip, suppress) or what went wrong.
    pub reason: Option<String>,
    /// How long the run took, delays included.
    pub duration_ms: u64,
    /// Unix time (ms) it ended.
    pub at_ms: u64,
}
