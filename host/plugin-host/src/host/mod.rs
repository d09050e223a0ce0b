//! [`PluginHost`]: the public face of the crate. Loads the bundled and third-party plugins once,
//! then runs calls into them, each in a fresh sandbox with the call's own authority and limits.
//!
//! This file holds construction, listing, inspection and looking plugins up by name. The calls
//! are in the submodules, one per world: `health` (health checks), `deployment` (deployment
//! modes) and `hook` (hooks), on top of `calls`, what every call shares (its setup and
//! authority, the memoized `needs`, `validate`, and the step into the generic call path).

mod calls;
mod deployment;
mod health;
mod hook;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::{CacheStatus, CodeCache};
use crate::engine::Turns;
use crate::error::{HostError, LoadError, LoadFailure, PluginError};
use crate::grant::Grant;
use crate::inspect::{ComponentShape, ImportedCapability};
use crate::lifecycle::ServicesView;
use crate::loader::Loader;
use crate::permit::ServicesSlot;
use crate::plugin::{self, Plugin};
use crate::sandbox::State;
use crate::stats::PluginStats;
use crate::types::{PluginKind, PluginSource};
use crate::{bundled, engine};

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
    /// Where plugins granted `store` keep their key-value stores (one directory each, by
    /// plugin name), e.g. `<state>/plugin-data`. `None`: no store, whatever the grants say.
    pub data_dir: Option<PathBuf>,
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
    /// The sha256 of its component's bytes (hex): which build is loaded.
    #[serde(default)]
    pub sha256: String,
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
    /// The sha256 of its component's bytes (hex).
    #[serde(default)]
    pub sha256: String,
}

/// The plugin runtime. Cheap to clone; all methods take `&self` and may run concurrently from
/// many tasks.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// This host's calls in flight.
    turns: Turns,
    linker: Linker<State>,
    cache: Option<CodeCache>,
    plugins: HashMap<String, Arc<Plugin>>,
    order: Vec<String>,
    load_errors: Vec<LoadError>,
    data_dir: Option<PathBuf>,
    /// The embedder's view of its services, for hooks granted `services`.
    services: ServicesSlot,
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
                turns: Turns::new(),
                linker,
                cache,
                plugins,
                order,
                load_errors: errors,
                data_dir: config.data_dir,
                services: ServicesSlot::default(),
            }),
        })
    }

    /// Installs the view of the supervised services that hooks granted `services` read (once;
    /// later calls are ignored). Until then such hooks are told the view is not available.
    pub fn set_services_view(&self, view: Arc<dyn ServicesView>) {
        let _ = self.inner.services.0.set(view);
    }

    /// What each loaded plugin's calls have come to since the host was made, in load order.
    pub fn stats(&self) -> Vec<PluginStats> {
        self.inner
            .order
            .iter()
            .filter_map(|name| self.inner.plugins.get(name))
            .map(|p| p.stats.snapshot(&p.name))
            .collect()
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
                sha256: p.shape.sha256.clone(),
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
            Some(p) => Err(p.wrong_kind(kind)),
            None => Err(PluginError::NotFound {
                name: name.to_string(),
                kind: Some(kind),
                available: self.available(Some(kind)),
            }),
        }
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
        sha256: shape.sha256.clone(),
    }
}
