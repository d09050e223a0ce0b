//! Health as the API shows it: one check's answer, a running service's monitored state, and a
//! check run on request.

use serde::{Deserialize, Serialize};

use crate::service::Status;

/// One run of a service's health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub healthy: bool,
    pub message: String,
    /// How long the check took, as the host measured it.
    pub duration_ms: u64,
    /// Unix time (ms) the check finished.
    pub at_ms: u64,
}

/// A running service's health, as its checks have shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// In its start period and not yet healthy: failures do not count yet.
    Starting,
    Healthy,
    /// `retries` consecutive failures.
    Unhealthy,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a service's snapshot says about its health while it runs and has a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    /// Consecutive failures that counted (outside the start period).
    pub failures: u32,
    /// The last check's answer, if one ran for the current process.
    pub last: Option<CheckReport>,
}

impl Health {
    pub fn starting() -> Self {
        Self {
            state: HealthState::Starting,
            failures: 0,
            last: None,
        }
    }
}

/// `GET /services/{name}/health`: a check run now, beside what monitoring has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthAnswer {
    pub service: String,
    pub status: Status,
    /// The check type; `None` when the service has no health check.
    pub check_type: Option<String>,
    /// The monitored health, while a process runs.
    pub monitored: Option<Health>,
    /// The answer of the check run for this request (`None` without a check).
    pub check: Option<CheckReport>,
}
