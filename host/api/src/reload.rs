//! A live reload: the daemon re-reads the file it serves and applies the difference.

use serde::{Deserialize, Serialize};

/// The body of a reload: `{"dry_run": …}` (an empty body means `false`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadBody {
    #[serde(default)]
    pub dry_run: bool,
}

/// What a reload found for one service, between the file served and the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    Unchanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

/// One service in a reload's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChange {
    pub name: String,
    pub change: ChangeKind,
    /// For a changed service, what changed (`deployment`, `health_check`, `startup`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub what: Vec<String>,
    /// What the reload does (or, in a dry run, would do) to it: `start`, `stop`, `restart`,
    /// `update` (applied without touching its process) or `none`.
    pub action: String,
}

/// The answer of a reload: every service of either file, and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub config: String,
    pub dry_run: bool,
    /// Whether the platform-wide settings (`[[hooks]]`, `[plugins]`, `[orchestrator]`) changed:
    /// they take effect for the next plugin call and hook run.
    pub platform_changed: bool,
    pub services: Vec<ServiceChange>,
    /// What went wrong while applying (a service that did not stop or start), one line each;
    /// the rest of the reload was still applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
