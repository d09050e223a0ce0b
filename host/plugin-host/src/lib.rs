//! Keel's WebAssembly plugin runtime.
//!
//! What varies between platforms (deployment modes, health check types, hooks) is a
//! WebAssembly component targeting one of the worlds of `keel:plugin` (`wit/0.1.1`). This
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
//! - **A clean state for every call.** Each call's store state (authority, output, deadline)
//!   is made new; the instance itself is fresh from a pre-linked `InstancePre`, or a warm one
//!   whose previous call ended cleanly and left no host resource open (`pool`), so a stopped
//!   or failed call never poisons the next and no authority crosses from one call to another.
//!
//! Module map:
//!
//! - `bindings`: generated, one module per WIT version; `world`: what the call path needs of
//!   every world of every version (instantiation and the shared exports), implemented per world;
//!   `types` and `convert`: the public types and their conversion from the bindings'.
//! - `engine`: the shared engine, its epoch ticker, and the limit on calls in flight (`Turns`).
//! - `cache` (compiled code on disk), `inspect` (worlds and imports from the component type),
//!   `bundled` (the plugins compiled in).
//! - `grant` and `permit`: what is allowed.
//! - `sandbox`, `host_api`, `http_gate` and `output`: the per-call store and its doors;
//!   `command`: the child processes of the `run-command` host function.
//! - `pool` (warm instances), `call` (the one generic call path: a turn, a store, the call under
//!   its deadline, the verdict) and `answer` (bounds on answers).
//! - `plugin` and `loader`: a loaded plugin (with its typed accessors per world) and loading them.
//! - `host`: the public API, [`PluginHost`] (construction, listing, inspection, lookup), with
//!   one submodule per world's calls (`health`, `deployment`, `hook`) over what calls share
//!   (`calls`).
//! - `error`: the public errors.
//!
//! Imports between these modules point one way (no module reaches back to one that uses it):
//! `host` → `loader` → `plugin` → `call` → `engine`, `pool`, `sandbox`, `world` → `bindings`.

mod answer;
mod bindings;
mod bundled;
mod cache;
mod call;
mod command;
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
mod pool;
mod sandbox;
mod types;
mod world;

pub use bundled::names as bundled_names;
pub use cache::CacheStatus;
pub use error::{HostError, LoadError, LoadFailure, PluginError};
pub use grant::{Allowlist, DEFAULT_MEMORY_MB, Grant, MAX_MEMORY_MB, Scope};
pub use host::{Bundled, HostConfig, PluginDescription, PluginHost, PluginSummary};
pub use inspect::ImportedCapability;
pub use types::{
    Capability, CapabilityKind, CheckOutcome, Diagnostics, Finding, HookEvent, LaunchSpec,
    LogLevel, LogLine, PluginKind, PluginSource, Problem, Reply, Scalar, ServiceInfo, Settings,
    Started, Value, WorkloadState, WorkloadStatus,
};

/// Turns off the capture of library backtraces (`std::backtrace::Backtrace::capture`, which
/// `anyhow` errors use) for the rest of the process unless `RUST_LIB_BACKTRACE` asks for them;
/// panics keep printing backtraces as `RUST_BACKTRACE` says.
///
/// wasmtime-wasi reports ordinary conditions (a connect still in progress, a refused
/// connection, the end of a stream) as errors; with `RUST_BACKTRACE=1` in the environment each
/// of those captures a stack trace, which makes a plugin call several times dearer. std reads
/// the variables once, at the first capture, and caches the answer; this function makes that
/// first capture under `RUST_LIB_BACKTRACE=0` and then restores the environment, so child
/// processes see the environment as it was.
///
/// Call it at the start of `main`, before any other thread exists (it changes the process
/// environment for a moment).
pub fn quiet_library_backtraces() {
    const VAR: &str = "RUST_LIB_BACKTRACE";
    if std::env::var_os(VAR).is_some() {
        return; // the operator's explicit choice
    }
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        return; // with neither variable set, library backtraces are off already
    }
    // SAFETY: called before other threads exist (see above), so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var(VAR, "0") };
    let _ = std::backtrace::Backtrace::capture();
    // SAFETY: as above.
    unsafe { std::env::remove_var(VAR) };
}

/// Limits applied to every call, for callers that want to show them.
pub mod limits {
    pub use crate::answer::{MAX_ITEMS, MAX_TEXT};
    pub use crate::call::DEFAULT_CALL_TIMEOUT;
    pub use crate::command::COMMAND_OUTPUT_CAP;
    pub use crate::engine::{EPOCH_TICK, LANE_WAIT, LANES, MAX_CONCURRENT_CALLS};
    pub use crate::host_api::UNIX_EXCHANGE_CAP;
    pub use crate::output::{LOG_BYTES_CAP, LOG_LINE_CAP, LOG_LINES_CAP, OUTPUT_CAP};
}
