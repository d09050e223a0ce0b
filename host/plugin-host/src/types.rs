//! The public data types of the plugin interface, independent of any WIT version, and their
//! conversions to and from the generated bindings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings::v0_1::wit_types;

/// One scalar value from services.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
}

/// One value of a settings table (tables nested deeper than one level are flattened by the
/// caller into dotted keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// An array of scalars, e.g. `args = ["--port", "8080"]`.
    Array(Vec<Scalar>),
    /// A table of scalars, e.g. `env = { RUST_LOG = "info" }`.
    Table(Vec<(String, Scalar)>),
}

/// The settings table of one deployment mode, health check type or hook, e.g. the contents of
/// `[services.web.health_check.http]`, with `${VAR}` already expanded by the caller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings(pub Vec<(String, Value)>);

impl Settings {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key = value` (builder style).
    pub fn with(mut self, key: impl Into<String>, value: Value) -> Self {
        self.0.push((key.into(), value));
        self
    }

    /// Adds `key = value`.
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push((key.into(), value));
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A hash of these settings, for memos keyed by settings (floats by their bits).
    pub(crate) fn memo_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        fn scalar(s: &Scalar, h: &mut impl Hasher) {
            match s {
                Scalar::Text(t) => (0u8, t).hash(h),
                Scalar::Integer(i) => (1u8, i).hash(h),
                Scalar::Float(f) => (2u8, f.to_bits()).hash(h),
                Scalar::Boolean(b) => (3u8, b).hash(h),
            }
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (key, value) in &self.0 {
            key.hash(&mut h);
            match value {
                Value::Text(t) => (0u8, t).hash(&mut h),
                Value::Integer(i) => (1u8, i).hash(&mut h),
                Value::Float(f) => (2u8, f.to_bits()).hash(&mut h),
                Value::Boolean(b) => (3u8, b).hash(&mut h),
                Value::Array(items) => {
                    (4u8, items.len()).hash(&mut h);
                    items.iter().for_each(|s| scalar(s, &mut h));
                }
                Value::Table(items) => {
                    (5u8, items.len()).hash(&mut h);
                    for (k, s) in items {
                        k.hash(&mut h);
                        scalar(s, &mut h);
                    }
                }
            }
        }
        h.finish()
    }

    pub(crate) fn to_wit(&self) -> Vec<(String, wit_types::Value)> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.to_wit()))
            .collect()
    }
}

impl From<Vec<(String, Value)>> for Settings {
    fn from(entries: Vec<(String, Value)>) -> Self {
        Self(entries)
    }
}

impl Scalar {
    fn to_wit(&self) -> wit_types::Scalar {
        match self {
            Scalar::Text(s) => wit_types::Scalar::Text(s.clone()),
            Scalar::Integer(i) => wit_types::Scalar::Integer(*i),
            Scalar::Float(f) => wit_types::Scalar::Float(*f),
            Scalar::Boolean(b) => wit_types::Scalar::Boolean(*b),
        }
    }
}

impl Value {
    fn to_wit(&self) -> wit_types::Value {
        match self {
            Value::Text(s) => wit_types::Value::Text(s.clone()),
            Value::Integer(i) => wit_types::Value::Integer(*i),
            Value::Float(f) => wit_types::Value::Float(*f),
            Value::Boolean(b) => wit_types::Value::Boolean(*b),
            Value::Array(items) => {
                wit_types::Value::Array(items.iter().map(Scalar::to_wit).collect())
            }
            Value::Table(items) => wit_types::Value::Table(
                items.iter().map(|(k, v)| (k.clone(), v.to_wit())).collect(),
            ),
        }
    }
}

/// What the host tells a plugin about the service a call is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The service's name in services.toml.
    pub name: String,
    /// The directory of the service's config file; relative paths in settings and in a
    /// plugin's requests are relative to it.
    pub config_dir: PathBuf,
}

impl ServiceInfo {
    pub(crate) fn to_wit(&self) -> wit_types::ServiceInfo {
        wit_types::ServiceInfo {
            name: self.name.clone(),
            config_dir: self.config_dir.to_string_lossy().into_owned(),
        }
    }
}

/// A problem a plugin found in settings. `key` is the key inside the settings table (empty for
/// the table as a whole).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The settings key the problem is about, or empty for the whole table.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Something a plugin asks the host to allow for one set of settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// Open a TCP connection or send an HTTP request to `host:port`.
    Network(String),
    /// Run this program (a bare name looked up on PATH, or an absolute path).
    Command(String),
    /// Look at this path (metadata, or read through a read-only preopen for a directory).
    Path(String),
    /// Connect to the Unix socket at this path.
    UnixSocket(String),
    /// Read this environment variable.
    Env(String),
}

impl Capability {
    /// The class of capability this request belongs to.
    pub fn kind(&self) -> CapabilityKind {
        match self {
            Capability::Network(_) => CapabilityKind::Network,
            Capability::Command(_) => CapabilityKind::Command,
            Capability::Path(_) => CapabilityKind::Path,
            Capability::UnixSocket(_) => CapabilityKind::UnixSocket,
            Capability::Env(_) => CapabilityKind::Env,
        }
    }

    /// The requested target (address, program, path or variable name).
    pub fn target(&self) -> &str {
        match self {
            Capability::Network(s)
            | Capability::Command(s)
            | Capability::Path(s)
            | Capability::UnixSocket(s)
            | Capability::Env(s) => s,
        }
    }

    pub(crate) fn from_wit(c: wit_types::Capability) -> Self {
        match c {
            wit_types::Capability::Network(s) => Capability::Network(s),
            wit_types::Capability::Command(s) => Capability::Command(s),
            wit_types::Capability::Path(s) => Capability::Path(s),
            wit_types::Capability::UnixSocket(s) => Capability::UnixSocket(s),
            wit_types::Capability::Env(s) => Capability::Env(s),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind(), self.target())
    }
}

/// A class of capability, as named in a [`crate::Grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CapabilityKind {
    /// `network`: TCP connections and HTTP requests.
    Network,
    /// `commands`: running programs through the host.
    Command,
    /// `paths`: looking at files and directories.
    Path,
    /// `unix_sockets`: talking to Unix sockets through the host.
    UnixSocket,
    /// `env`: reading host environment variables.
    Env,
    /// `store`: the plugin's own durable key-value store.
    Store,
    /// `services`: a read-only view of the supervised services.
    Services,
    /// `write_paths`: writing files under granted prefixes.
    WriteFiles,
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapabilityKind::Network => "network",
            CapabilityKind::Command => "command",
            CapabilityKind::Path => "path",
            CapabilityKind::UnixSocket => "unix-socket",
            CapabilityKind::Env => "env",
            CapabilityKind::Store => "store",
            CapabilityKind::Services => "services",
            CapabilityKind::WriteFiles => "write-files",
        })
    }
}

/// The world a plugin targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PluginKind {
    /// `health-check-plugin`: a health check type.
    HealthCheck,
    /// `deployment-plugin`: a deployment mode.
    Deployment,
    /// `hook-plugin`: a lifecycle hook.
    Hook,
}

impl PluginKind {
    /// The WIT world name.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::HealthCheck => "health-check-plugin",
            PluginKind::Deployment => "deployment-plugin",
            PluginKind::Hook => "hook-plugin",
        }
    }

    /// The exported interface that identifies the world.
    pub fn interface(self) -> &'static str {
        match self {
            PluginKind::HealthCheck => "health-check",
            PluginKind::Deployment => "deployment",
            PluginKind::Hook => "hook",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::HealthCheck => "health check",
            PluginKind::Deployment => "deployment mode",
            PluginKind::Hook => "hook",
        })
    }
}

/// Severity of a plugin's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogLevel {
    /// trace
    Trace,
    /// debug
    Debug,
    /// info
    Info,
    /// warn
    Warn,
    /// error
    Error,
}

/// One line a plugin wrote through the host's `log` function during a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// The text (at most 4 KiB; longer lines are cut).
    pub message: String,
}

/// What a call left behind for debugging: the plugin's log lines and its captured stderr and
/// stdout (both bounded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Lines written through the host `log` function (at most 256 lines / 64 KiB per call).
    pub logs: Vec<LogLine>,
    /// The guest's stderr and stdout, at most 16 KiB; the rest is dropped and counted.
    pub stderr: String,
}

impl Diagnostics {
    /// Whether nothing was logged or written.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.stderr.is_empty()
    }
}

/// The result of one health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Whether the service is healthy.
    pub healthy: bool,
    /// The plugin's explanation, e.g. "HTTP status 503, expected 200".
    pub message: String,
    /// Wall-clock time of the whole call, measured by the host (instantiation included).
    pub duration: Duration,
    /// The plugin's log lines during the call.
    pub logs: Vec<LogLine>,
    /// The plugin's captured stderr/stdout during the call (bounded).
    pub stderr: String,
}

/// The answer of a deployment or hook call, with what the call left behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply<T> {
    /// The plugin's answer.
    pub value: T,
    /// Wall-clock time of the whole call, measured by the host.
    pub duration: Duration,
    /// The plugin's log lines during the call.
    pub logs: Vec<LogLine>,
    /// The plugin's captured stderr/stdout during the call (bounded).
    pub stderr: String,
}

/// A process for the host's own supervisor to spawn, watch and stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The program to run.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory, if not the service's config directory.
    pub working_dir: Option<String>,
    /// Signal name sent to the process group to stop it (default "SIGTERM").
    pub stop_signal: Option<String>,
    /// A command run instead of the stop signal (the signal still follows after the grace time).
    pub stop_command: Option<Vec<String>>,
}

/// What `start` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Started {
    /// The host supervises this process.
    Launch(LaunchSpec),
    /// The plugin started the workload itself; the host keeps this opaque handle and passes it
    /// back to `status`, `stop` and `recover`.
    Handle(String),
}

/// The state of a workload a plugin manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadState {
    /// Running.
    Running,
    /// Starting.
    Starting,
    /// Stopped.
    Stopped,
    /// Failed.
    Failed,
    /// Unknown.
    Unknown,
}

/// A workload's state with the plugin's explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    /// The state.
    pub state: WorkloadState,
    /// The plugin's explanation.
    pub message: String,
}

/// One pre-flight finding, e.g. "Binary found: /usr/bin/python3".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Whether this prerequisite is met.
    pub ok: bool,
    /// What was found.
    pub message: String,
}

/// Where a plugin was loaded from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginSource {
    /// Compiled into this host.
    Bundled,
    /// A third-party `.wasm` file.
    Path(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Bundled => f.write_str("bundled"),
            PluginSource::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_hash_follows_the_settings() {
        let a = Settings::new()
            .with("port", Value::Integer(80))
            .with("ratio", Value::Float(0.5))
            .with("args", Value::Array(vec![Scalar::Text("-v".into())]));
        assert_eq!(a.memo_hash(), a.clone().memo_hash());
        let other_port = Settings::new()
            .with("port", Value::Integer(81))
            .with("ratio", Value::Float(0.5))
            .with("args", Value::Array(vec![Scalar::Text("-v".into())]));
        assert_ne!(a.memo_hash(), other_port.memo_hash());
        // The same text as a string and as an array element are different settings.
        let text = Settings::new().with("args", Value::Text("-v".into()));
        let array = Settings::new().with("args", Value::Array(vec![Scalar::Text("-v".into())]));
        assert_ne!(text.memo_hash(), array.memo_hash());
    }
}
