//! Keel's WebAssembly plugin runtime.
//!
//! What varies between platforms (deployment modes, health check types, hooks) is a
//! WebAssembly component targeting one of the worlds of `keel:plugin` (`wit/0.1.2`). This
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
//!   `types`, `lifecycle` (hooks' events and verdicts, the services view) and `convert`: the
//!   public types and their conversion from the bindings'.
//! - `engine`: the shared engine, its epoch ticker, and the limit on calls in flight (`Turns`).
//! - `cache` (compiled code on disk), `inspect` (worlds and imports from the component type),
//!   `bundled` (the plugins compiled in).
//! - `grant` and `permit`: what is allowed.
//! - `sandbox`, `host_api`, `http_gate` and `output`: the per-call store and its doors;
//!   `command`: the child processes of the `run-command` host function; `store_api`,
//!   `services_api` and `files_api`: the host interfaces hooks may be granted.
//! - `pool` (warm instances), `call` (the one generic call path: a turn, a store, the call under
//!   its deadline, the verdict) and `answer` (bounds on answers).
//! - `stats`: what each plugin's calls came to (outcomes, durations, denials, warm misses,
//!   code loading), counted on the call path, read by [`PluginHost::stats`].
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
mod files_api;
mod grant;
mod host;
mod host_api;
mod http_gate;
mod inspect;
mod lifecycle;
mod loader;
mod output;
mod permit;
mod plugin;
mod pool;
mod sandbox;
mod services_api;
mod stats;
mod store_api;
mod types;
mod world;

pub use bundled::{is_bundled, names as bundled_names};
pub use cache::CacheStatus;
pub use error::{HostError, LoadError, LoadFailure, PluginError};
pub use grant::{Allowlist, DEFAULT_MEMORY_MB, Facilities, Grant, MAX_MEMORY_MB, Scope};
pub use host::{Bundled, HostConfig, PluginDescription, PluginHost, PluginSummary};
pub use inspect::ImportedCapability;
pub use lifecycle::{
    Decision, ExitStatus, HookCause, HookEvent, HookPhase, ServiceState, ServicesView, Verdict,
};
pub use stats::{CALL_DURATION_BUCKETS, CallOutcome, FunctionStats, PluginStats};
pub use types::{
    Capability, CapabilityKind, CheckOutcome, Diagnostics, Finding, LaunchSpec, LogLevel, LogLine,
    PluginKind, PluginSource, Problem, Reply, Scalar, ServiceInfo, Settings, Started, Value,
    WorkloadState, WorkloadStatus,
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

/// The newest `keel:plugin` package this host binds (`wit/0.1.2`); plugins of every earlier
/// 0.1 version load too.
pub const WIT_VERSION: &str = "0.1.2";

/// The wasmtime release this host runs plugins on (pinned exactly in Cargo.toml; a test keeps
/// the two equal).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Limits applied to every call, for callers that want to show them.
pub mod limits {
    pub use crate::answer::{MAX_ITEMS, MAX_TEXT};
    pub use crate::call::DEFAULT_CALL_TIMEOUT;
    pub use crate::command::COMMAND_OUTPUT_CAP;
    pub use crate::engine::{EPOCH_TICK, LANE_WAIT, LANES, MAX_CONCURRENT_CALLS};
    pub use crate::files_api::MAX_FILE;
    pub use crate::host_api::UNIX_EXCHANGE_CAP;
    pub use crate::output::{LOG_BYTES_CAP, LOG_LINE_CAP, LOG_LINES_CAP, OUTPUT_CAP};
    pub use crate::store_api::{MAX_KEY, MAX_KEYS, MAX_VALUE};
}

#[cfg(test)]
mod versions {
    #[test]
    fn the_versions_named_are_the_ones_built() {
        let manifest = include_str!("../Cargo.toml");
        assert!(
            manifest.contains(&format!(
                "wasmtime = {{ version = \"={}\"",
                super::WASMTIME_VERSION
            )),
            "WASMTIME_VERSION differs from the wasmtime pinned in Cargo.toml"
        );
        let bindings = include_str!("bindings/v0_1.rs");
        assert!(bindings.contains(&format!("path: \"../../wit/{}\"", super::WIT_VERSION)));
    }
}
