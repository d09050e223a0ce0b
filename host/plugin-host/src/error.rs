//! Typed errors: what can go wrong creating the host, loading a plugin, and calling one.

use std::time::Duration;

use crate::types::{Capability, Diagnostics, PluginKind};

/// Creating a [`crate::PluginHost`] failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The WebAssembly engine could not be created.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// A bundled plugin failed to load (a build problem of this host, never the user's).
    #[error("bundled plugin failed to load: {0}")]
    Bundled(#[source] LoadError),
    /// The host configuration is invalid.
    #[error("invalid plugin configuration: {0}")]
    Config(String),
}

/// One plugin file could not be loaded. Third-party load errors are collected by
/// [`crate::PluginHost::load_errors`] and do not stop the other plugins from loading.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct LoadError {
    /// Where the plugin came from: a path, or `bundled:NAME`.
    pub origin: String,
    /// What went wrong.
    pub reason: LoadFailure,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[source] std::io::Error),
    /// The bytes are not a valid WebAssembly component for this engine.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The component does not target any world this host supports.
    #[error(
        "the component does not target a Keel plugin world. It exports [{}]; expected \
         `keel:plugin/plugin@0.1.x` together with one of `keel:plugin/health-check@0.1.x`, \
         `keel:plugin/deployment@0.1.x` or `keel:plugin/hook@0.1.x`{}",
        exports.join(", "),
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    WrongWorld {
        /// Everything the component exports.
        exports: Vec<String>,
        /// A more specific explanation, e.g. an unsupported version.
        detail: Option<String>,
    },
    /// The component imports something the host does not provide.
    #[error(
        "the component imports [{}], which this host does not provide; the host provides \
         wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random, wasi:sockets and \
         wasi:http at 0.2.x, and keel:plugin/host and keel:plugin/types at 0.1.x",
        unsupported.join(", ")
    )]
    UnsupportedImports {
        /// The imports the host does not provide.
        unsupported: Vec<String>,
    },
    /// Linking the component's imports against the host failed.
    #[error("cannot link the component against the host: {message}; it imports [{}]", imports.join(", "))]
    Link {
        /// The linker's message.
        message: String,
        /// Everything the component imports.
        imports: Vec<String>,
    },
    /// `describe()` failed or returned an unusable answer.
    #[error("describe() failed: {0}")]
    Describe(#[source] Box<PluginError>),
    /// The plugin's name is not usable.
    #[error("invalid plugin name {name:?}: {why}")]
    BadName {
        /// The name the plugin gave.
        name: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A third-party plugin tried to take the name of a bundled one.
    #[error(
        "the plugin calls itself `{name}`, which is the name of a bundled plugin; a third-party \
         plugin may not shadow a bundled one (rename it in its describe())"
    )]
    ShadowsBundled {
        /// The contested name.
        name: String,
    },
    /// Two third-party plugins have the same name.
    #[error("the plugin calls itself `{name}`, which {other} already uses")]
    Duplicate {
        /// The contested name.
        name: String,
        /// Where the first plugin of that name came from.
        other: String,
    },
}

/// A call into a plugin failed. Every variant names the plugin and, where a call ran, the
/// exported function and what the call left behind ([`Diagnostics`]).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No plugin of that name is loaded.
    #[error(
        "no {} named `{name}` is loaded (available: {})",
        kind.map_or("plugin".to_string(), |k| format!("{k} plugin")),
        available.join(", ")
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The kind asked for, if any.
        kind: Option<PluginKind>,
        /// The names of loaded plugins of that kind.
        available: Vec<String>,
    },
    /// A plugin of that name exists but targets another world.
    #[error("plugin `{name}` is a {actual} plugin, not a {expected} plugin")]
    WrongKind {
        /// The plugin.
        name: String,
        /// The kind the caller wanted.
        expected: PluginKind,
        /// The plugin's kind.
        actual: PluginKind,
    },
    /// The plugin asked for something its grant does not allow. Nothing ran.
    #[error("plugin `{plugin}` is not allowed {capability}: {reason}")]
    Denied {
        /// The plugin.
        plugin: String,
        /// What it asked for.
        capability: Capability,
        /// Why it was refused, naming the operator setting that would allow it.
        reason: String,
    },
    /// The call did not finish within its deadline and was stopped.
    #[error("plugin `{plugin}` timed out in {function}() after {after:?}")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The exported function.
        function: &'static str,
        /// The deadline that expired.
        after: Duration,
        /// What the call left behind.
        diagnostics: Diagnostics,
    },
    /// The plugin tried to use more memory than its limit.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mb} MiB in {function}()")]
    MemoryLimit {
        /// The plugin.
        plugin: String,
        /// The exported function.
        function: &'static str,
        /// The limit.
        limit_mb: u64,
        /// What the call left behind.
        diagnostics: Diagnostics,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, ...). The message
    /// carries the trap and the wasm backtrace.
    #[error(
        "plugin `{plugin}` trapped in {function}(): {message}{}",
        stderr_tail(diagnostics)
    )]
    Trap {
        /// The plugin.
        plugin: String,
        /// The exported function.
        function: &'static str,
        /// The trap and its wasm backtrace.
        message: String,
        /// What the call left behind (a Rust guest's panic message is in `stderr`).
        diagnostics: Diagnostics,
    },
    /// The plugin's answer was unusable (too large, too many items, ...).
    #[error("plugin `{plugin}` gave a malformed answer from {function}(): {reason}")]
    Malformed {
        /// The plugin.
        plugin: String,
        /// The exported function.
        function: &'static str,
        /// What is wrong with it.
        reason: String,
        /// What the call left behind.
        diagnostics: Diagnostics,
    },
    /// The plugin ran and reported a failure of the operation itself (an `err` result of
    /// `start`, `status`, `stop`, `recover` or a hook's `run`).
    #[error("plugin `{plugin}` reported a failure in {function}(): {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The exported function.
        function: &'static str,
        /// The plugin's message.
        message: String,
        /// What the call left behind.
        diagnostics: Diagnostics,
    },
    /// The host could not set the call up (instantiation, name resolution, ...).
    #[error("plugin `{plugin}` could not be run: {message}")]
    Host {
        /// The plugin.
        plugin: String,
        /// What went wrong.
        message: String,
    },
}

impl PluginError {
    /// The log lines and captured output of the call, if a call ran.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            PluginError::Timeout { diagnostics, .. }
            | PluginError::MemoryLimit { diagnostics, .. }
            | PluginError::Trap { diagnostics, .. }
            | PluginError::Malformed { diagnostics, .. }
            | PluginError::Failed { diagnostics, .. } => Some(diagnostics),
            _ => None,
        }
    }
}

fn stderr_tail(diagnostics: &Diagnostics) -> String {
    const TAIL: usize = 1024;
    let text = diagnostics.stderr.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let mut start = text.len().saturating_sub(TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("\nstderr of the plugin:\n{}", &text[start..])
}
