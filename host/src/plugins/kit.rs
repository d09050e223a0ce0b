//! One plugin outside any service, for its author: `keel plugins call` (one call of one
//! function, with only the authority given on the command line) and the checks `keel plugins
//! install` makes before a file is placed (`install.rs`).
//!
//! A plugin file is loaded through a private directory holding a link to it, so it passes the
//! same loader as the daemon's plugins (world, WIT version, name rules, compiled-code cache).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_plugin_host::{
    Bundled, Capability, CheckOutcome, Decision, Finding, Grant, HookCause, HookEvent, HookPhase,
    HostConfig, PluginDescription, PluginError, PluginHost, PluginKind, PluginSource,
    PluginSummary, Problem, Reply, Scalar, ServiceInfo, Settings, Started, Value as PValue,
    WorkloadStatus,
};
use serde::Serialize;

use crate::config::GrantSettings;

/// Why a plugin could not be made ready for a call or an install.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// Refused, with why: a file that is not a plugin this host loads (not a component,
    /// another world, an unsupported WIT version, a reserved name), a hash that differs, a
    /// plugin that is not installed.
    #[error("{0}")]
    Refused(String),
    /// Settings, grants or a function name that make no sense.
    #[error("{0}")]
    Usage(String),
    /// The plugin ran and failed (trap, denial, timeout, its own error).
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Anything else (the engine, the file system).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Where a kit host finds and caches plugins.
pub struct Places {
    /// The per-user compiled-code cache the daemon uses too.
    pub cache_dir: PathBuf,
    /// The plugins directory a NAME is looked up in.
    pub plugin_dir: Option<PathBuf>,
}

/// A plugin loaded on its own, with the grant it was given.
pub struct Loaded {
    pub host: PluginHost,
    pub summary: PluginSummary,
    /// The private directories (the file's link, the store); removed when dropped.
    _scratch: tempfile::TempDir,
}

/// Loads `target` (a `.wasm` path, or a plugin's name: bundled, or in the plugins directory)
/// with `grant` as its only authority.
pub async fn load(
    target: &str,
    places: &Places,
    grant: &GrantSettings,
) -> Result<Loaded, KitError> {
    let scratch = tempfile::Builder::new()
        .prefix("keel-plugin-")
        .tempdir()
        .map_err(anyhow::Error::from)?;
    let path = Path::new(target);
    // Plugin names have neither; a file in the current directory is written `./x.wasm` or
    // `x.wasm`, so that a stray file never shadows a plugin's name.
    let as_file = target.ends_with(".wasm") || target.contains('/');
    let (name, plugin_dir, bundled) = if as_file {
        let link = link_file(path, scratch.path())?;
        let first = host(places, Some(link.clone()), None, HashMap::new(), None).await?;
        let summary = only_file(&first).map_err(|e| match e {
            KitError::Refused(why) => KitError::Refused(format!("{target}: {why}")),
            e => e,
        })?;
        (summary.name, Some(link), Bundled::Only(BTreeSet::new()))
    } else {
        let bundled = Bundled::Only(BTreeSet::from([target.to_string()]));
        (target.to_string(), places.plugin_dir.clone(), bundled)
    };
    let data = scratch.path().join("data");
    let grants = HashMap::from([(name.clone(), explicit(grant))]);
    let host = host(places, plugin_dir, Some(bundled), grants, Some(data)).await?;
    let mut summary = host
        .list()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| match host.load_errors().first() {
            Some(e) if as_file => KitError::Refused(e.to_string()),
            _ => KitError::Plugin(PluginError::NotFound {
                name: name.clone(),
                kind: None,
                available: keel_plugin_host::bundled_names()
                    .map(str::to_string)
                    .collect(),
            }),
        })?;
    if as_file && let Ok(file) = std::fs::canonicalize(path) {
        summary.source = PluginSource::Path(file);
    }
    Ok(Loaded {
        host,
        summary,
        _scratch: scratch,
    })
}

/// A directory holding only a link to `file`, for the loader (which reads directories).
fn link_file(file: &Path, scratch: &Path) -> Result<PathBuf, KitError> {
    let file = std::fs::canonicalize(file)
        .map_err(|e| KitError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let dir = scratch.join("file");
    std::fs::create_dir(&dir).map_err(anyhow::Error::from)?;
    // Named as the file is, so the loader's messages name something the user knows.
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    std::os::unix::fs::symlink(&file, dir.join(format!("{stem}.wasm")))
        .map_err(anyhow::Error::from)?;
    Ok(dir)
}

/// The one plugin a file host loaded, or why the file was refused.
fn only_file(host: &PluginHost) -> Result<PluginSummary, KitError> {
    if let Some(e) = host.load_errors().first() {
        // The loader names the link; the reason is what matters.
        return Err(KitError::Refused(e.reason.to_string()));
    }
    host.list()
        .into_iter()
        .find(|p| matches!(p.source, PluginSource::Path(_)))
        .ok_or_else(|| KitError::Refused("no plugin was loaded from the file".into()))
}

async fn host(
    places: &Places,
    plugin_dir: Option<PathBuf>,
    bundled: Option<Bundled>,
    grants: HashMap<String, Grant>,
    data_dir: Option<PathBuf>,
) -> Result<PluginHost, KitError> {
    PluginHost::new(HostConfig {
        cache_dir: Some(places.cache_dir.clone()),
        plugin_dir,
        grants,
        bundled: bundled.unwrap_or(Bundled::Only(BTreeSet::new())),
        data_dir,
    })
    .await
    .map_err(|e| KitError::Other(anyhow::anyhow!("{e}")))
}

/// The command line's grant as the plugin's only authority: nothing it does not name, even
/// for a bundled plugin (which under a config gets what its settings need).
fn explicit(g: &GrantSettings) -> Grant {
    super::grant(g, false)
}

/// Adds one `KIND=VALUE` (`network=127.0.0.1:6379`, `command=docker`, `path=/srv`,
/// `unix_socket=/run/x.sock`, `env=HOME`, `write_path=/tmp/out`, `store`, `services`,
/// `memory_mb=64`, `timeout_ms=2000`) to a grant; the config's plural spellings work too.
pub fn add_grant(g: &mut GrantSettings, arg: &str) -> Result<(), KitError> {
    let (kind, value) = arg.split_once('=').unwrap_or((arg, ""));
    let kind = kind.trim().replace('-', "_");
    let value = value.trim().to_string();
    let need = |v: &str| {
        if v.is_empty() {
            Err(KitError::Usage(format!(
                "--grant {kind} needs a value: {kind}=VALUE"
            )))
        } else {
            Ok(())
        }
    };
    let flag = |v: &str| match v {
        "" | "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(KitError::Usage(format!(
            "--grant {arg}: expected true or false"
        ))),
    };
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| KitError::Usage(format!("--grant {arg}: expected a whole number")))
    };
    match kind.as_str() {
        "network" => (need(&value)?, g.network.push(value)).1,
        "command" | "commands" => (need(&value)?, g.commands.push(value)).1,
        "path" | "paths" => (need(&value)?, g.paths.push(value)).1,
        "unix_socket" | "unix_sockets" => (need(&value)?, g.unix_sockets.push(value)).1,
        "env" => (need(&value)?, g.env.push(value)).1,
        "write_path" | "write_paths" => (need(&value)?, g.write_paths.push(PathBuf::from(value))).1,
        "store" => g.store = flag(&value)?,
        "services" => g.services = flag(&value)?,
        "memory_mb" => {
            g.memory_mb = Some(u32::try_from(number(&value)?).unwrap_or(u32::MAX));
        }
        "timeout_ms" => g.timeout_ms = Some(number(&value)?),
        _ => {
            return Err(KitError::Usage(format!(
                "unknown grant kind `{kind}`; kinds: network, command, path, unix_socket, env, \
                 write_path, store, services, memory_mb, timeout_ms"
            )));
        }
    }
    Ok(())
}

/// Settings from a JSON object: scalars, arrays of scalars and tables of scalars as they are,
/// deeper tables as dotted keys (as a services.toml table becomes settings).
pub fn settings_from_json(text: &str) -> Result<Settings, KitError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| KitError::Usage(format!("--settings is not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(KitError::Usage("--settings must be a JSON object".into()));
    };
    let mut out = Settings::new();
    for (key, value) in &map {
        flatten(key, value, &mut out)?;
    }
    Ok(out)
}

fn flatten(key: &str, value: &serde_json::Value, out: &mut Settings) -> Result<(), KitError> {
    use serde_json::Value as J;
    match value {
        J::Object(map) if map.values().all(|v| scalar(v).is_some()) => {
            let items = map
                .iter()
                .map(|(k, v)| (k.clone(), scalar(v).expect("checked")));
            out.push(key, PValue::Table(items.collect()));
        }
        J::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out)?;
            }
        }
        J::Array(items) if items.iter().all(|v| scalar(v).is_some()) => {
            let items = items.iter().map(|v| scalar(v).expect("checked"));
            out.push(key, PValue::Array(items.collect()));
        }
        J::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{key}.{i}"), v, out)?;
            }
        }
        J::Null => return Err(KitError::Usage(format!("--settings: `{key}` is null"))),
        v => out.push(
            key,
            match scalar(v).expect("a scalar") {
                Scalar::Text(t) => PValue::Text(t),
                Scalar::Integer(i) => PValue::Integer(i),
                Scalar::Float(f) => PValue::Float(f),
                Scalar::Boolean(b) => PValue::Boolean(b),
            },
        ),
    }
    Ok(())
}

fn scalar(v: &serde_json::Value) -> Option<Scalar> {
    use serde_json::Value as J;
    Some(match v {
        J::String(s) => Scalar::Text(s.clone()),
        J::Bool(b) => Scalar::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Integer(i),
            None => Scalar::Float(n.as_f64()?),
        },
        _ => return None,
    })
}

/// What one call asks.
pub struct Call {
    pub function: String,
    pub settings: Settings,
    pub service: ServiceInfo,
    /// A check's timeout, a hook's deadline, a stop's grace.
    pub timeout: Duration,
    /// The workload handle `status`, `stop` and `recover` are about.
    pub handle: Option<String>,
}

/// A call's answer, by function.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "function", content = "answer")]
pub enum Answer {
    /// What it says of itself and what its imports let it ask for.
    Describe(PluginDescription),
    Validate(Vec<Problem>),
    /// What the plugin asks for, and the first request the grant does not cover.
    Needs {
        needs: Vec<Capability>,
        denied: Option<String>,
    },
    Check(CheckOutcome),
    Preflight(Reply<Vec<Finding>>),
    Start(Reply<Started>),
    Status(Reply<WorkloadStatus>),
    Stop(Reply<()>),
    Recover(Reply<Option<String>>),
    Phases(Vec<&'static str>),
    Hook {
        event: HookEvent,
        reply: Reply<Decision>,
    },
}

/// The functions each kind answers (a hook also takes any phase's name).
pub fn functions(kind: PluginKind) -> &'static [&'static str] {
    match kind {
        PluginKind::HealthCheck => &["describe", "validate", "needs", "check"],
        PluginKind::Deployment => &[
            "describe",
            "validate",
            "needs",
            "preflight",
            "start",
            "status",
            "stop",
            "recover",
        ],
        PluginKind::Hook => &["describe", "validate", "needs", "phases", "PHASE"],
    }
}

/// Runs one call.
pub async fn call(loaded: &Loaded, call: &Call) -> Result<Answer, KitError> {
    let (host, name, kind) = (
        &loaded.host,
        loaded.summary.name.as_str(),
        loaded.summary.kind,
    );
    let (settings, service) = (&call.settings, &call.service);
    let handle = || {
        call.handle.clone().ok_or_else(|| {
            KitError::Usage(format!("{} needs the workload's --handle", call.function))
        })
    };
    let answer = match (call.function.as_str(), kind) {
        ("describe", _) => {
            let mut d = host
                .inspect(name)
                .await
                .map_err(|e| KitError::Refused(e.to_string()))?;
            d.source = loaded.summary.source.clone();
            Answer::Describe(d)
        }
        ("validate", PluginKind::HealthCheck) => {
            Answer::Validate(host.validate_check(name, settings).await?)
        }
        ("validate", PluginKind::Deployment) => {
            Answer::Validate(host.validate_mode(name, settings).await?)
        }
        ("validate", PluginKind::Hook) => {
            Answer::Validate(host.validate_hook(name, settings).await?)
        }
        ("needs", _) => {
            let needs = host.needs_of(name, settings).await?;
            let denied = match host.authorize(name, settings, service).await {
                Err(e @ PluginError::Denied { .. }) => Some(e.to_string()),
                Err(e) => return Err(e.into()),
                Ok(_) => None,
            };
            Answer::Needs { needs, denied }
        }
        ("check", PluginKind::HealthCheck) => {
            Answer::Check(host.check(name, service, settings, call.timeout).await?)
        }
        ("preflight", PluginKind::Deployment) => {
            Answer::Preflight(host.preflight(name, service, settings).await?)
        }
        ("start", PluginKind::Deployment) => {
            Answer::Start(host.start(name, service, settings).await?)
        }
        ("status", PluginKind::Deployment) => {
            Answer::Status(host.status(name, service, settings, &handle()?).await?)
        }
        ("stop", PluginKind::Deployment) => {
            let grace = call.timeout;
            Answer::Stop(
                host.stop(name, service, settings, &handle()?, grace)
                    .await?,
            )
        }
        ("recover", PluginKind::Deployment) => {
            Answer::Recover(host.recover(name, service, settings, &handle()?).await?)
        }
        ("phases", PluginKind::Hook) => {
            let phases = host.hook_phases(name, settings).await?;
            Answer::Phases(phases.into_iter().map(|p| phase_name(to_api(p))).collect())
        }
        (f, PluginKind::Hook) if keel_api::HookPhase::parse(f).is_some() => {
            let phase = keel_api::HookPhase::parse(f).expect("checked");
            let event = event(phase, call.handle.clone());
            let reply = host
                .run_hook(name, service, &event, settings, call.timeout)
                .await?;
            Answer::Hook { event, reply }
        }
        (f, kind) => {
            let phases = keel_api::HookPhase::ALL.map(keel_api::HookPhase::as_str);
            let known = match kind {
                PluginKind::Hook => format!(
                    "describe, validate, needs, phases, or a phase: {}",
                    phases.join(", ")
                ),
                _ => functions(kind).join(", "),
            };
            return Err(KitError::Usage(format!(
                "a {kind} plugin has no function `{f}`; it answers {known}"
            )));
        }
    };
    Ok(answer)
}

fn phase_name(p: keel_api::HookPhase) -> &'static str {
    p.as_str()
}

fn to_api(p: HookPhase) -> keel_api::HookPhase {
    keel_api::HookPhase::ALL
        .into_iter()
        .find(|a| super::hooks::to_plugin_phase(*a) == p)
        .expect("the two crates name the same phases")
}

/// A plausible event for `phase`: an operator's first start of a process that runs (a stop's
/// and a failure's carry an exit), told the way the supervisor tells it.
fn event(phase: keel_api::HookPhase, handle: Option<String>) -> HookEvent {
    use keel_api::HookPhase as P;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let running = !matches!(phase, P::BeforeStart | P::AfterStop | P::OnFailed);
    let exited = matches!(phase, P::AfterStop | P::OnFailed);
    let unhealthy = matches!(phase, P::OnUnhealthy);
    HookEvent {
        phase: super::hooks::to_plugin_phase(phase),
        cause: match phase {
            P::OnUnhealthy | P::OnHealthy | P::OnCheck => HookCause::Health,
            P::OnFailed | P::BeforeRestart => HookCause::RestartPolicy,
            _ => HookCause::Operator,
        },
        time_ms: now,
        pid: running.then_some(std::process::id() as i32),
        handle,
        attempt: 1,
        restarts: 0,
        last_exit: exited.then_some(keel_plugin_host::ExitStatus::Code(
            if phase == P::OnFailed { 1 } else { 0 },
        )),
        uptime_ms: (running && phase != P::AfterStart).then_some(60_000),
        health_message: matches!(phase, P::OnHealthy | P::OnCheck | P::OnUnhealthy).then(|| {
            if unhealthy {
                "connection refused"
            } else {
                "ok"
            }
            .to_string()
        }),
        consecutive_failures: u32::from(unhealthy) * 3,
        endpoints: Vec::new(),
        reason: format!("{} (keel plugins call)", phase.as_str()),
    }
}
