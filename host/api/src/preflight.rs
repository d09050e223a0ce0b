//! Pre-flight reports: what a start checks first, per service, and the readiness overview.

use serde::{Deserialize, Serialize};

use crate::service::ServiceView;

/// What one line of a pre-flight report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// The deployment's own prerequisites, asked of the mode's plugin.
    Prerequisites,
    /// A conflicting service or process runs.
    Conflicts,
    /// Dependencies available (or running).
    Dependencies,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Prerequisites => "prerequisites",
            CheckKind::Conflicts => "conflicts",
            CheckKind::Dependencies => "dependencies",
        }
    }
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a pre-flight report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightCheck {
    pub kind: CheckKind,
    pub ok: bool,
    pub message: String,
}

/// The pre-flight report of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub service: String,
    pub passed: bool,
    pub checks: Vec<PreflightCheck>,
}

impl Preflight {
    pub fn new(service: &str, checks: Vec<PreflightCheck>) -> Self {
        Self {
            service: service.to_string(),
            passed: checks.iter().all(|c| c.ok),
            checks,
        }
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &PreflightCheck> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// "conflicts: Conflicting services running: dnsmasq", for an error message.
    pub fn failure_text(&self) -> String {
        self.failed()
            .map(|c| format!("{}: {}", c.kind, c.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `GET /platform/readiness`: every service with the pre-flight report a start now would get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub running: usize,
    /// Services whose pre-flight passes.
    pub ready: usize,
    pub services: Vec<ReadinessEntry>,
}

/// A service object with its pre-flight report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessEntry {
    #[serde(flatten)]
    pub service: ServiceView,
    pub preflight: Preflight,
}
