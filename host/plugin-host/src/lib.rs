//! Keel's WebAssembly plugin runtime.
//!
//! What varies between platforms (deployment modes, health check types, hooks) is a
//! WebAssembly component targeting one of the worlds of `keel:plugin` (`wit/0.1.0`). This
//! crate loads those components (bundled ones compiled into the host, third-party ones from a
//! directory), checks each against the world it claims, caches their compiled code, and runs
//! calls into them sandboxed:
//!
//! - **No authority by default.** Per call the plugin's `needs(settings)` is checked against
//!   the operator's [`Grant`]; the call gets exactly what it asked for and was granted (TCP to
//!   the resolved addresses, HTTP to the named authorities, read-only directories, variables,
//!   programs, sockets), or fails with [`PluginError::Denied`] before running.
//! - **Limits on every call.** A wall-clock deadline (epoch interruption plus a tokio
//!   timeout), a memory cap, bounded answers, bounded captured stderr and log lines.
//! - **A fresh instance per call** from a pre-linked `InstancePre`, so a stopped call never
//!   poisons the next.
//!
//! Module map: `bindings` (generated, one module per WIT version), `engine` (shared engine and
//! epoch ticker), `cache` (compiled code on disk), `inspect` (worlds and imports from the
//! component type), `grant` and `permit` (what is allowed), `sandbox`, `host_api`, `http_gate`
//! and `output` (the per-call store and its doors), `call` and `answer` (running a call and
//! judging its answer), `convert` (bindings to public types), `plugin` and `loader` (a
//! loaded plugin and loading them) and `host` (the public API).

mod answer;
mod bindings;
mod bundled;
mod cache;
mod call;
mod convert;
mod engine;
mod error;
mod grant;
mod host;
mod host_api;
mod http_gate;
mod inspect;
mod loader;
mod output;
mod permit;
mod plugin;
mod sandbox;
mod types;

pub use cache::CacheStatus;
pub use error::{HostError, LoadError, LoadFailure, PluginError};
pub use grant::{Allowlist, DEFAULT_MEMORY_MB, Grant, MAX_MEMORY_MB, Scope};
pub use host::{HostConfig, PluginDescription, PluginHost, PluginSummary};
pub use inspect::ImportedCapability;
pub use types::{
    Capability, CapabilityKind, CheckOutcome, Diagnostics, Finding, HookEvent, LaunchSpec,
    LogLevel, LogLine, PluginKind, PluginSource, Problem, Reply, Scalar, ServiceInfo, Settings,
    Started, Value, WorkloadState, WorkloadStatus,
};

/// Limits applied to every call, for callers that want to show them.
pub mod limits {
    pub use crate::answer::{MAX_ITEMS, MAX_TEXT};
    pub use crate::call::DEFAULT_CALL_TIMEOUT;
    pub use crate::engine::EPOCH_TICK;
    pub use crate::host_api::{COMMAND_OUTPUT_CAP, UNIX_EXCHANGE_CAP};
    pub use crate::output::{LOG_BYTES_CAP, LOG_LINE_CAP, LOG_LINES_CAP, OUTPUT_CAP};
}
