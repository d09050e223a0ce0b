//! The typed model of a services.toml, shared by every later stage (graph, plugins, supervisor).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::diag::{Location, SourceFile};
use super::node::Node;

/// A loaded, schema-checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (absolute).
    pub path: PathBuf,
    /// Services in file order.
    pub services: Vec<Service>,
    pub orchestrator: OrchestratorSettings,
    pub plugins: PluginSettings,
    /// `[[hooks]]`: the platform-wide hooks, run for every service before its own.
    pub hooks: Vec<HookEntry>,
    pub(crate) source: SourceFile,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The directory the config file is in; relative paths in settings are relative to it.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Where a byte span of the config file is.
    pub fn locate(&self, span: &std::ops::Range<usize>) -> Location {
        self.source.locate(span)
    }

    /// What a start of `names` aims at: those services, or, when none are named, every
    /// service with `auto_start = true`, in config order.
    pub fn start_targets<'a>(&'a self, names: &[&'a str]) -> Vec<&'a str> {
        if !names.is_empty() {
            return names.to_vec();
        }
        self.services
            .iter()
            .filter(|s| s.startup.auto_start)
            .map(|s| s.name.as_str())
            .collect()
    }
}

/// `type = "platform" | "infrastructure" | "utility"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    Platform,
    Infrastructure,
    Utility,
}

impl ServiceType {
    pub const NAMES: [&'static str; 3] = ["platform", "infrastructure", "utility"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(Self::Platform),
            "infrastructure" => Some(Self::Infrastructure),
            "utility" => Some(Self::Utility),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub service_type: ServiceType,
    pub category: String,
    pub description: String,
    pub required_for: Vec<String>,
    pub dependencies: Vec<Named>,
    pub conflicts: Vec<Named>,
    pub deployment: Deployment,
    pub health_check: Option<HealthCheck>,
    pub startup: Startup,
    /// `[[services.NAME.hooks]]`, in file order.
    pub hooks: Vec<HookEntry>,
    /// The variables of its `env_file`s, read when the config was loaded, in file order (a
    /// later file's value replaces an earlier one's). Its process gets them under what its
    /// deployment's own settings set.
    pub env_from_files: Vec<(String, String)>,
    /// Span of the service's table header (or `[[service]]` entry).
    pub span: std::ops::Range<usize>,
}

/// A service name written in the file, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub span: std::ops::Range<usize>,
}

/// `[services.NAME.deployment]`: the mode and the mode's own table, which the mode's plugin
/// validates (the host does not hard-code any mode's schema).
#[derive(Debug, Clone)]
pub struct Deployment {
    pub mode: String,
    pub settings: PluginTable,
}

/// `[services.NAME.health_check]`: the common fields and the check type's own table.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub check_type: String,
    pub interval: Duration,
    pub retries: u32,
    pub timeout: Duration,
    pub settings: PluginTable,
    /// `Some` for `type = "notify"`: the service reports its readiness itself, and no plugin
    /// is called (the other fields are then unused).
    pub notify: Option<NotifyCheck>,
}

impl HealthCheck {
    /// Whether a check plugin answers this check (every type but `notify`).
    pub fn by_plugin(&self) -> bool {
        self.notify.is_none()
    }
}

/// `[services.NAME.health_check.notify]`: how a `notify` service reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyCheck {
    /// The longest a ready service may go without a `WATCHDOG=1` (exported to it as
    /// `WATCHDOG_USEC`); `None`: no watchdog.
    pub watchdog: Option<Duration>,
    /// s6's notification-fd: the descriptor the service writes a newline to once ready
    /// (`NOTIFY_SOCKET` is set either way).
    pub notification_fd: Option<i32>,
}

/// A plugin's settings table as written, with its key path for messages.
#[derive(Debug, Clone)]
pub struct PluginTable {
    /// e.g. `services.web.health_check.http`.
    pub key_path: String,
    /// The table (empty when the file has none), with spans for mapping problems back.
    pub node: Node,
}

/// One hook: a hook plugin, when it runs, and what its failure means.
#[derive(Debug, Clone)]
pub struct HookEntry {
    /// The hook plugin's name.
    pub plugin: String,
    /// The phases this entry runs in; `None`: the ones the plugin asks for.
    pub phases: Option<Vec<keel_api::HookPhase>>,
    /// Each run's time limit (inside the phase's own: a start's `start_timeout`, a stop's
    /// `stop_timeout`).
    pub timeout: Duration,
    pub on_error: OnError,
    /// The plugin's own table (`settings = { … }`).
    pub settings: PluginTable,
    /// e.g. `services.api.hooks[0]`, for messages.
    pub key_path: String,
    pub span: std::ops::Range<usize>,
}

/// What a hook's failure (trap, time limit, error, denied capability) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// As a veto: a blocking phase's operation is refused.
    Fail,
    /// As if the hook had said proceed.
    Ignore,
}

/// What to do when a service's process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::OnFailure => "on-failure",
            Self::Never => "never",
        }
    }
}

/// `[services.NAME.startup]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Startup {
    pub auto_start: bool,
    #[serde(with = "secs")]
    pub start_timeout: Duration,
    pub start_order: i64,
    pub restart: RestartPolicy,
    pub max_restarts: u32,
    /// `max_restarts` counts restarts within this window.
    #[serde(with = "secs")]
    pub restart_window: Duration,
    /// Exit codes that count as success for `on-failure`.
    pub success_exit_codes: Vec<i32>,
    /// Grace time between the stop signal (or stop command) and SIGKILL.
    #[serde(with = "secs")]
    pub stop_timeout: Duration,
    /// The wait before the second restart in a row without a stable run in between (the
    /// first is immediate); each further one waits twice as long as the one before.
    #[serde(with = "secs")]
    pub restart_delay: Duration,
    /// The longest wait between restarts: where the doubling stops.
    #[serde(with = "secs")]
    pub max_restart_delay: Duration,
    /// A run at least this long is stable: the next restart is immediate again and the
    /// doubling starts over.
    #[serde(with = "secs")]
    pub stable_run: Duration,
}

impl Default for Startup {
    fn default() -> Self {
        Self {
            auto_start: true,
            start_timeout: Duration::from_secs(30),
            start_order: 100,
            restart: RestartPolicy::OnFailure,
            max_restarts: 3,
            restart_window: Duration::from_secs(60),
            success_exit_codes: vec![0],
            stop_timeout: Duration::from_secs(10),
            restart_delay: Duration::from_millis(100),
            max_restart_delay: Duration::from_secs(10),
            stable_run: Duration::from_secs(5),
        }
    }
}

/// `[orchestrator.services]` of the orchestration guide.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrchestratorSettings {
    pub auto_start_dependencies: bool,
}

impl Default for OrchestratorSettings {
    fn default() -> Self {
        Self {
            auto_start_dependencies: true,
        }
    }
}

/// `[plugins]`: where third-party plugins live and what the operator grants them.
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    pub dir: Option<PathBuf>,
    pub grants: BTreeMap<String, GrantSettings>,
}

/// `[plugins.grants.NAME]`: the authority the operator grants one plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GrantSettings {
    pub network: Vec<String>,
    pub commands: Vec<String>,
    pub paths: Vec<String>,
    pub unix_sockets: Vec<String>,
    pub env: Vec<String>,
    pub memory_mb: Option<u32>,
    pub timeout_ms: Option<u64>,
    /// The plugin's own durable key-value store.
    pub store: bool,
    /// A read-only view of the services.
    pub services: bool,
    /// Directories the plugin may write files under (absolute).
    pub write_paths: Vec<PathBuf>,
}

impl GrantSettings {
    /// Whether the entry names capabilities (and so replaces a bundled plugin's "as its
    /// settings need" with exactly these).
    pub fn lists_capabilities(&self) -> bool {
        !(self.network.is_empty()
            && self.commands.is_empty()
            && self.paths.is_empty()
            && self.unix_sockets.is_empty()
            && self.env.is_empty())
    }
}

pub(crate) mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
