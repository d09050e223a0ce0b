//! [`PluginHost`]: the public face of the crate. Loads the bundled and third-party plugins once,
//! then runs calls into them, each in a fresh sandbox with the call's own authority and limits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::{CacheStatus, CodeCache};
use crate::call::{self, CallSetup, Done, Ended};
use crate::convert::{hook_event, problems, started, workload_state};
use crate::error::{HostError, LoadError, LoadFailure, PluginError};
use crate::grant::Grant;
use crate::inspect::{ComponentShape, ImportedCapability};
use crate::loader::Loader;
use crate::plugin::{self, Plugin, Pre, no_authority};
use crate::pool::Warm;
use crate::sandbox::{self, State};
use crate::types::{
    Capability, CheckOutcome, Finding, HookEvent, PluginKind, PluginSource, Problem, Reply,
    ServiceInfo, Settings, Started, WorkloadStatus,
};
use crate::{bundled, engine};

/// The most plugin calls that run at once; more wait for a turn (within their deadline).
/// Every call in flight holds an instance: a thousand calls at once must not exhaust the
/// engine's instance pool.
pub const MAX_CONCURRENT_CALLS: usize = 256;

/// Calls that run at once before further calls wait a little for a turn ([`LANE_WAIT`]).
///
/// When many calls fall due together (the health checks of every service with the same
/// interval, see the supervisor's check grid), running them a few at a time is cheaper than
/// all at once: each finds a warm instance (the pool keeps as many) and a warm cache, instead
/// of a hundred fresh instances. A call that waits longer than [`LANE_WAIT`] goes ahead
/// anyway, so slow calls (a check waiting on an unreachable host) never hold the others up.
pub const LANES: usize = crate::pool::MAX_IDLE;

/// How long a call waits for one of the [`LANES`] before it runs beside them.
pub const LANE_WAIT: Duration = Duration::from_millis(250);

/// A call's turn to run (see [`PluginHost::slot`]); released when dropped.
struct Turn<'a> {
    _lane: Option<tokio::sync::SemaphorePermit<'a>>,
    _slot: tokio::sync::SemaphorePermit<'a>,
}

/// How the host is set up.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// Where compiled code is cached (e.g. `<state>/cache/plugins`); created with mode 0700.
    /// `None` compiles every plugin at every start.
    pub cache_dir: Option<PathBuf>,
    /// A directory of third-party `.wasm` plugins. A missing directory means none.
    pub plugin_dir: Option<PathBuf>,
    /// The operator's grants, by plugin name. Bundled plugins without an entry get
    /// [`Grant::as_needed`]; third-party plugins without an entry get [`Grant::none`].
    pub grants: HashMap<String, Grant>,
    /// Which bundled plugins to load. A host that serves one config needs only the modes and
    /// check types it names (each bundled plugin costs its load at every start); one that
    /// lists or inspects plugins wants them all.
    pub bundled: Bundled,
}

/// A choice among the bundled plugins, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bundled {
    /// Every bundled plugin.
    #[default]
    All,
    /// Only these (names no bundled plugin has are ignored: they may be third-party).
    Only(std::collections::BTreeSet<String>),
}

impl Bundled {
    fn wants(&self, name: &str) -> bool {
        match self {
            Bundled::All => true,
            Bundled::Only(names) => names.contains(name),
        }
    }
}

/// One loaded plugin, for listings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginSummary {
    /// The name it is addressed by (`type = "NAME"`, `mode = "NAME"`).
    pub name: String,
    /// Its world.
    pub kind: PluginKind,
    /// The `keel:plugin` version it was built against, e.g. `0.1.0`.
    pub wit_version: String,
    /// Bundled or a file.
    pub source: PluginSource,
    /// Its grant, in one line.
    pub grant: String,
    /// Its own description.
    pub description: String,
    /// Its own version.
    pub version: String,
    /// Whether its machine code came from the cache at this start.
    pub cache: CacheStatus,
}

/// What a component is and what it could do, for `keel plugin inspect`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginDescription {
    /// The name from `describe()`, when it could be called.
    pub name: Option<String>,
    /// Its own version, when known.
    pub version: Option<String>,
    /// Its own description, when known.
    pub description: Option<String>,
    /// The world it targets, when it targets a supported one.
    pub kind: Option<PluginKind>,
    /// The `keel:plugin` version, when it targets a supported world.
    pub wit_version: Option<String>,
    /// Where it came from.
    pub source: PluginSource,
    /// Every export.
    pub exports: Vec<String>,
    /// Every import.
    pub imports: Vec<String>,
    /// Capability classes its imports make possible.
    pub capabilities: Vec<ImportedCapability>,
    /// Why this host would refuse it, if it would.
    pub problem: Option<String>,
}

/// The plugin runtime. Cheap to clone; all methods take `&self` and may run concurrently from
/// many tasks.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// Admits at most [`MAX_CONCURRENT_CALLS`] calls at once.
    slots: tokio::sync::Semaphore,
    /// The [`LANES`].
    lanes: tokio::sync::Semaphore,
    linker: Linker<State>,
    cache: Option<CodeCache>,
    plugins: HashMap<String, Arc<Plugin>>,
    order: Vec<String>,
    load_errors: Vec<LoadError>,
}

/// Runs one export call: takes a warm instance of the plugin (its store re-armed with this
/// call's state) or instantiates a new one from the plugin's `*Pre`, runs `$body` (which may
/// use `$store` and `$instance`) under the call's deadline, and gives the instance back when
/// the call ended cleanly (see `pool` for when it is kept).
macro_rules! invoke {
    ($host:expr, $plugin:expr, $linked:expr, $setup:expr, |$store:ident, $instance:ident| $body:expr) => {{
        let callee = $plugin.callee();
        let setup: CallSetup = $setup;
        let linked = $linked;
        let _slot = $host.slot(&callee, &setup).await?;
        let spec = call::spec(&callee, &setup).await?;
        let (mut $store, warm) = match linked.take() {
            Some(w) => {
                let mut store = w.store;
                sandbox::rearm(&mut store, spec).map_err(|m| call::host_error(&callee, m))?;
                (store, Some((w.instance, w.uses)))
            }
            None => {
                let store = sandbox::new_store(&$host.inner.engine, spec)
                    .map_err(|m| call::host_error(&callee, m))?;
                (store, None)
            }
        };
        let started = Instant::now();
        let ended = call::guard(setup.deadline, async {
            let ($instance, uses) = match warm {
                Some(w) => w,
                None => (linked.pre.instantiate_async(&mut $store).await?, 0),
            };
            let value = $body?;
            Ok((value, $instance, uses))
        })
        .await;
        let (ended, instance) = match ended {
            Ended::Returned(Ok((value, instance, uses))) => {
                (Ended::Returned(Ok(value)), Some((instance, uses)))
            }
            Ended::Returned(Err(e)) => (Ended::Returned(Err(e)), None),
            Ended::TimedOut => (Ended::TimedOut, None),
        };
        let done = call::finish(&callee, &setup, started, &mut $store, ended);
        if let (Ok(_), Some((instance, uses))) = (&done, instance) {
            linked.give_back(Warm {
                store: $store,
                instance,
                uses: uses + 1,
            });
        }
        done
    }};
}

impl PluginHost {
    /// Loads the bundled plugins and every `*.wasm` in `config.plugin_dir`.
    ///
    /// Fails only when the engine cannot be created, a grant is invalid, or a bundled plugin
    /// does not load; a third-party file that fails to load is recorded in
    /// [`PluginHost::load_errors`] and skipped.
    pub async fn new(config: HostConfig) -> Result<PluginHost, HostError> {
        for (name, grant) in &config.grants {
            grant.validate(name).map_err(HostError::Config)?;
        }
        let engine = engine::shared().map_err(HostError::Engine)?;
        let linker = plugin::linker(&engine).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let cache = config
            .cache_dir
            .as_deref()
            .and_then(|dir| match CodeCache::open(dir) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!("not caching compiled plugins: {e}");
                    None
                }
            });
        let mut loader = Loader {
            engine: &engine,
            linker: &linker,
            cache: cache.as_ref(),
            grants: &config.grants,
            plugins: HashMap::new(),
            order: Vec::new(),
            errors: Vec::new(),
        };
        // All at once: each is a compile or a cache read, then a first instantiation.
        let bundled = bundled::BUNDLED
            .iter()
            .filter(|(file, _, _)| config.bundled.wants(file))
            .map(|(file, _, wasm)| {
                (
                    format!("bundled:{file}"),
                    wasm.to_vec(),
                    PluginSource::Bundled,
                )
            })
            .collect();
        if let Some((origin, reason)) = loader.load_all(bundled).await.into_iter().next() {
            return Err(HostError::Bundled(LoadError { origin, reason }));
        }
        if let Some(dir) = &config.plugin_dir {
            loader.load_dir(dir).await;
        }
        for name in config.grants.keys() {
            if !loader.plugins.contains_key(name) {
                tracing::warn!("a grant names plugin `{name}`, which is not loaded");
            }
        }
        let Loader {
            plugins,
            order,
            errors,
            ..
        } = loader;
        Ok(PluginHost {
            inner: Arc::new(Inner {
                engine,
                slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS),
                lanes: tokio::sync::Semaphore::new(LANES),
                linker,
                cache,
                plugins,
                order,
                load_errors: errors,
            }),
        })
    }

    /// The third-party plugin files that could not be loaded, with the reason for each.
    pub fn load_errors(&self) -> &[LoadError] {
        &self.inner.load_errors
    }

    /// Every loaded plugin, bundled ones first, in load order.
    pub fn list(&self) -> Vec<PluginSummary> {
        self.inner
            .order
            .iter()
            .filter_map(|name| self.inner.plugins.get(name))
            .map(|p| PluginSummary {
                name: p.name.to_string(),
                kind: p.kind,
                wit_version: p.wit_version.clone(),
                source: p.source.clone(),
                grant: p.grant.describe(),
                description: p.info.description.clone(),
                version: p.info.version.clone(),
                cache: p.cache,
            })
            .collect()
    }

    /// Describes a loaded plugin (by name) or any component file (by path), even one this
    /// host would refuse.
    pub async fn inspect(&self, name_or_path: &str) -> Result<PluginDescription, LoadError> {
        if let Some(p) = self.inner.plugins.get(name_or_path) {
            return Ok(description(&p.shape, p.source.clone(), Some(&p.info), None));
        }
        let path = Path::new(name_or_path);
        let origin = path.display().to_string();
        let load_error = |reason| LoadError {
            origin: origin.clone(),
            reason,
        };
        let wasm = tokio::fs::read(path)
            .await
            .map_err(|e| load_error(LoadFailure::Read(e)))?;
        let (component, _, shape) =
            plugin::compile(&self.inner.engine, self.inner.cache.as_ref(), wasm)
                .await
                .map_err(load_error)?;
        let source = PluginSource::Path(path.to_path_buf());
        match plugin::link(&self.inner.linker, &component, &shape) {
            Err(why) => Ok(description(&shape, source, None, Some(why.to_string()))),
            Ok((_, _, pre)) => match plugin::describe(&self.inner.engine, &origin, &pre).await {
                Ok(info) => Ok(description(&shape, source, Some(&info), None)),
                Err(why) => Ok(description(&shape, source, None, Some(why.to_string()))),
            },
        }
    }

    /// What a plugin needs for these settings, checked against its grant: `Err(Denied)` names
    /// the first request the grant does not cover. Nothing but `needs()` runs.
    pub async fn authorize(
        &self,
        name: &str,
        settings: &Settings,
        service: &ServiceInfo,
    ) -> Result<Vec<Capability>, PluginError> {
        let plugin = self.any(name)?;
        let needs = self.needs(&plugin, settings, None).await?;
        plugin
            .grant
            .authorize(&plugin.name, &needs, Some(&service.config_dir))?;
        Ok(needs.to_vec())
    }

    // ----- health checks -------------------------------------------------------------------

    /// Validates the settings of a health check type; an empty list means valid.
    pub async fn validate_check(
        &self,
        kind: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(kind, PluginKind::HealthCheck)?;
        let Pre::HealthCheck(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::HealthCheck));
        };
        let settings = settings.to_wit();
        let done = invoke!(
            self,
            plugin,
            pre,
            self.pure(&plugin, "validate"),
            |store, instance| {
                instance
                    .keel_plugin_health_check()
                    .call_validate(&mut store, &settings)
                    .await
                    .map(problems)
            }
        )?;
        Ok(done.value)
    }

    /// Runs one health check of type `kind`. The plugin is told `timeout` (capped by its
    /// grant's timeout); the host stops the call shortly after that (a tenth more, at least
    /// 100 ms, at most 1 s) with [`PluginError::Timeout`]. The duration is measured by the host.
    pub async fn check(
        &self,
        kind: &str,
        service: &ServiceInfo,
        settings: &Settings,
        timeout: Duration,
    ) -> Result<CheckOutcome, PluginError> {
        let plugin = self.of_kind(kind, PluginKind::HealthCheck)?;
        let Pre::HealthCheck(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::HealthCheck));
        };
        let budget = plugin.grant.timeout.map_or(timeout, |t| t.min(timeout));
        let setup = self
            .prepare(&plugin, "check", service, settings, budget + grace(budget))
            .await?;
        let timeout_ms = u32::try_from(budget.as_millis()).unwrap_or(u32::MAX);
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_health_check()
                .call_check(&mut store, &wit_service, &wit_settings, timeout_ms)
                .await
                .map(|r| (r.healthy, r.message))
        })?;
        let Done {
            value: (healthy, message),
            duration,
            diagnostics,
        } = done;
        Ok(CheckOutcome {
            healthy,
            message,
            duration,
            logs: diagnostics.logs,
            stderr: diagnostics.stderr,
        })
    }

    // ----- deployment modes ----------------------------------------------------------------

    /// Validates the settings of a deployment mode; an empty list means valid.
    pub async fn validate_mode(
        &self,
        mode: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(mode, PluginKind::Deployment)?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let settings = settings.to_wit();
        let done = invoke!(
            self,
            plugin,
            pre,
            self.pure(&plugin, "validate"),
            |store, instance| {
                instance
                    .keel_plugin_deployment()
                    .call_validate(&mut store, &settings)
                    .await
                    .map(problems)
            }
        )?;
        Ok(done.value)
    }

    /// Checks a deployment's prerequisites (the binary exists, the engine answers, ...).
    pub async fn preflight(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
    ) -> Result<Reply<Vec<Finding>>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "preflight", service, settings, None)
            .await?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_deployment()
                .call_preflight(&mut store, &wit_service, &wit_settings)
                .await
                .map(|list| {
                    list.into_iter()
                        .map(|f| Finding {
                            ok: f.ok,
                            message: f.message,
                        })
                        .collect::<Vec<_>>()
                })
        })?;
        Ok(reply(done))
    }

    /// Starts a workload: either a process for the host to supervise, or a handle.
    pub async fn start(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
    ) -> Result<Reply<Started>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "start", service, settings, None)
            .await?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_deployment()
                .call_start(&mut store, &wit_service, &wit_settings)
                .await
                .map(|r| r.map(started))
        })?;
        reported(&plugin, "start", done)
    }

    /// The state of a workload started with a handle.
    pub async fn status(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
    ) -> Result<Reply<WorkloadStatus>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "status", service, settings, None)
            .await?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_deployment()
                .call_status(&mut store, &wit_service, &wit_settings, handle)
                .await
                .map(|r| {
                    r.map(|s| WorkloadStatus {
                        state: workload_state(s.state),
                        message: s.message,
                    })
                })
        })?;
        reported(&plugin, "status", done)
    }

    /// Stops a workload started with a handle, giving it `grace` before forcing it. The call
    /// may take `grace` plus the plugin's usual time limit.
    pub async fn stop(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
        grace: Duration,
    ) -> Result<Reply<()>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "stop", service, settings, Some(grace))
            .await?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let grace_ms = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX);
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_deployment()
                .call_stop(&mut store, &wit_service, &wit_settings, handle, grace_ms)
                .await
        })?;
        reported(&plugin, "stop", done)
    }

    /// After a host restart: whether the workload behind a saved handle is still there
    /// (`Some(possibly refreshed handle)`) or gone (`None`).
    pub async fn recover(
        &self,
        mode: &str,
        service: &ServiceInfo,
        settings: &Settings,
        handle: &str,
    ) -> Result<Reply<Option<String>>, PluginError> {
        let (plugin, setup) = self
            .deployment_call(mode, "recover", service, settings, None)
            .await?;
        let Pre::Deployment(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Deployment));
        };
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_deployment()
                .call_recover(&mut store, &wit_service, &wit_settings, handle)
                .await
        })?;
        reported(&plugin, "recover", done)
    }

    // ----- hooks ---------------------------------------------------------------------------

    /// Validates the settings of a hook; an empty list means valid.
    pub async fn validate_hook(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        let Pre::Hook(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Hook));
        };
        let settings = settings.to_wit();
        let done = invoke!(
            self,
            plugin,
            pre,
            self.pure(&plugin, "validate"),
            |store, instance| {
                instance
                    .keel_plugin_hook()
                    .call_validate(&mut store, &settings)
                    .await
                    .map(problems)
            }
        )?;
        Ok(done.value)
    }

    /// Runs a hook for one event. A plugin-reported error is [`PluginError::Failed`]; for
    /// `before-*` events the caller cancels the operation.
    pub async fn run_hook(
        &self,
        name: &str,
        service: &ServiceInfo,
        event: HookEvent,
        detail: &str,
        settings: &Settings,
    ) -> Result<Reply<()>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        let Pre::Hook(pre) = &plugin.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Hook));
        };
        let setup = self
            .prepare(&plugin, "run", service, settings, plugin.call_timeout())
            .await?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        let event = hook_event(event);
        let done = invoke!(self, plugin, pre, setup, |store, instance| {
            instance
                .keel_plugin_hook()
                .call_run(&mut store, &wit_service, event, detail, &wit_settings)
                .await
        })?;
        reported(&plugin, "run", done)
    }

    // ----- internals -----------------------------------------------------------------------

    /// Waits for a turn: one of the [`LANES`] (at most [`LANE_WAIT`]), and below
    /// [`MAX_CONCURRENT_CALLS`] (within the call's deadline).
    async fn slot(
        &self,
        callee: &call::Callee,
        setup: &CallSetup,
    ) -> Result<Turn<'_>, PluginError> {
        let lane_until = (Instant::now() + LANE_WAIT).min(setup.deadline);
        let lane = tokio::time::timeout_at(lane_until.into(), self.inner.lanes.acquire())
            .await
            .ok()
            .and_then(Result::ok);
        let waited = tokio::time::timeout_at(setup.deadline.into(), self.inner.slots.acquire());
        match waited.await {
            Ok(Ok(slot)) => Ok(Turn {
                _lane: lane,
                _slot: slot,
            }),
            Ok(Err(_closed)) => Err(call::host_error(callee, "the plugin host is closed".into())),
            Err(_) => Err(PluginError::Timeout {
                plugin: callee.name.to_string(),
                function: setup.function,
                after: setup.limit,
                diagnostics: Default::default(),
            }),
        }
    }

    fn any(&self, name: &str) -> Result<Arc<Plugin>, PluginError> {
        self.inner
            .plugins
            .get(name)
            .cloned()
            .ok_or_else(|| PluginError::NotFound {
                name: name.to_string(),
                kind: None,
                available: self.available(None),
            })
    }

    /// The names a call may use (of one kind): the loaded plugins, then the bundled ones this
    /// host did not load (a config that names one gets it).
    fn available(&self, kind: Option<PluginKind>) -> Vec<String> {
        let of_kind = |k: PluginKind| kind.is_none_or(|want| want == k);
        let loaded = self
            .inner
            .order
            .iter()
            .filter(|n| self.inner.plugins.get(*n).is_some_and(|p| of_kind(p.kind)));
        let unloaded = bundled::BUNDLED
            .iter()
            .filter(|(name, k, _)| of_kind(*k) && !self.inner.plugins.contains_key(*name))
            .map(|(name, _, _)| name);
        loaded
            .cloned()
            .chain(unloaded.map(|n| n.to_string()))
            .collect()
    }

    fn of_kind(&self, name: &str, kind: PluginKind) -> Result<Arc<Plugin>, PluginError> {
        match self.inner.plugins.get(name) {
            Some(p) if p.kind == kind => Ok(p.clone()),
            Some(p) => Err(wrong_kind(p, kind)),
            None => Err(PluginError::NotFound {
                name: name.to_string(),
                kind: Some(kind),
                available: self.available(Some(kind)),
            }),
        }
    }

    /// The setup of a call that needs no authority (validate).
    fn pure(&self, plugin: &Plugin, function: &'static str) -> CallSetup {
        CallSetup::new(function, no_authority(), None, plugin.call_timeout())
    }

    /// The setup of a call with authority: one deadline, `limit` from now, covers asking the
    /// plugin's `needs` (when not memoized), resolving addresses, and the call itself.
    async fn prepare(
        &self,
        plugin: &Arc<Plugin>,
        function: &'static str,
        service: &ServiceInfo,
        settings: &Settings,
        limit: Duration,
    ) -> Result<CallSetup, PluginError> {
        let mut setup = CallSetup::new(function, no_authority(), Some(service.clone()), limit);
        let hash = settings.memo_hash();
        let base = service.config_dir.as_path();
        if let Some(permit) = plugin.remembered_permit(hash, settings, base) {
            setup.permit = permit;
            return Ok(setup);
        }
        let needs = self.needs(plugin, settings, Some(&setup)).await?;
        if !needs.is_empty() {
            let permit = plugin.grant.authorize(&plugin.name, &needs, Some(base))?;
            setup.permit = Arc::new(permit);
        }
        plugin.remember_permit(hash, settings, base, setup.permit.clone());
        Ok(setup)
    }

    async fn deployment_call(
        &self,
        mode: &str,
        function: &'static str,
        service: &ServiceInfo,
        settings: &Settings,
        extra_time: Option<Duration>,
    ) -> Result<(Arc<Plugin>, CallSetup), PluginError> {
        let plugin = self.of_kind(mode, PluginKind::Deployment)?;
        let limit = plugin.call_timeout() + extra_time.unwrap_or_default();
        let setup = self
            .prepare(&plugin, function, service, settings, limit)
            .await?;
        Ok((plugin, setup))
    }

    /// The plugin's needs for these settings (memoized: `needs` is a function of the
    /// settings), asked within the deadline of the call they are for, if any.
    async fn needs(
        &self,
        plugin: &Arc<Plugin>,
        settings: &Settings,
        within: Option<&CallSetup>,
    ) -> Result<Arc<Vec<Capability>>, PluginError> {
        let hash = settings.memo_hash();
        if let Some(needs) = plugin.remembered_needs(hash, settings) {
            return Ok(needs);
        }
        let wit_settings = settings.to_wit();
        let mut setup = self.pure(plugin, "needs");
        if let Some(call) = within
            && call.deadline < setup.deadline
        {
            setup.deadline = call.deadline;
            setup.limit = call.limit;
        }
        macro_rules! needs_of {
            ($pre:expr, $iface:ident) => {
                invoke!(self, plugin, $pre, setup, |store, instance| {
                    instance
                        .$iface()
                        .call_needs(&mut store, &wit_settings)
                        .await
                        .map(|caps| {
                            caps.into_iter()
                                .map(Capability::from_wit)
                                .collect::<Vec<_>>()
                        })
                })
            };
        }
        let done = match &plugin.pre {
            Pre::HealthCheck(pre) => needs_of!(pre, keel_plugin_health_check),
            Pre::Deployment(pre) => needs_of!(pre, keel_plugin_deployment),
            Pre::Hook(pre) => needs_of!(pre, keel_plugin_hook),
        }?;
        let needs = Arc::new(done.value);
        plugin.remember_needs(hash, settings, needs.clone());
        Ok(needs)
    }
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.inner.order)
            .field("load_errors", &self.inner.load_errors.len())
            .finish()
    }
}

/// The extra time the host allows past a check's own timeout, so a plugin that gives up on
/// time can still report it.
fn grace(budget: Duration) -> Duration {
    (budget / 10 + Duration::from_millis(100)).min(Duration::from_secs(1))
}

fn wrong_kind(plugin: &Plugin, expected: PluginKind) -> PluginError {
    PluginError::WrongKind {
        name: plugin.name.to_string(),
        expected,
        actual: plugin.kind,
    }
}

fn reply<T>(done: Done<T>) -> Reply<T> {
    Reply {
        value: done.value,
        duration: done.duration,
        logs: done.diagnostics.logs,
        stderr: done.diagnostics.stderr,
    }
}

/// Splits a plugin-reported `result` into the reply or [`PluginError::Failed`].
fn reported<T>(
    plugin: &Plugin,
    function: &'static str,
    done: Done<Result<T, String>>,
) -> Result<Reply<T>, PluginError> {
    match done.value {
        Ok(value) => Ok(Reply {
            value,
            duration: done.duration,
            logs: done.diagnostics.logs,
            stderr: done.diagnostics.stderr,
        }),
        Err(message) => Err(PluginError::Failed {
            plugin: plugin.name.to_string(),
            function,
            message,
            diagnostics: done.diagnostics,
        }),
    }
}

fn description(
    shape: &ComponentShape,
    source: PluginSource,
    info: Option<&plugin::Info>,
    problem: Option<String>,
) -> PluginDescription {
    PluginDescription {
        name: info.map(|i| i.name.clone()),
        version: info.map(|i| i.version.clone()),
        description: info.map(|i| i.description.clone()),
        kind: shape.world.as_ref().map(|(k, _)| *k),
        wit_version: shape.world.as_ref().map(|(_, v)| v.clone()),
        source,
        exports: shape.exports.clone(),
        imports: shape.imports.clone(),
        capabilities: shape.capabilities.clone(),
        problem,
    }
}
