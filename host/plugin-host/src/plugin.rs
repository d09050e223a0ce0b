//! A loaded plugin: its compiled code linked once into a typed `*Pre` for its world, what it
//! says about itself, its grant, and the memo of its `needs` answers. The typed accessors
//! ([`Plugin::health_check`], [`Plugin::deployment`], [`Plugin::hook`]) hand out the world's
//! entry point or the wrong-kind error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::v0_1::{deployment, health, hook, lifecycle};
use crate::cache::{CacheStatus, CodeCache};
use crate::call::{self, CallSetup, Callee, DEFAULT_CALL_TIMEOUT};
use crate::error::{LoadFailure, PluginError};
use crate::grant::{DEFAULT_MEMORY_MB, Grant};
use crate::inspect::{self, ComponentShape};
use crate::permit::Permit;
use crate::pool::Linked;
use crate::sandbox::State;
use crate::stats::Stats;
use crate::types::{Capability, PluginKind, PluginSource, Settings};
use crate::world::{Described, World};

/// How many distinct settings tables' `needs` a plugin remembers.
const NEEDS_MEMO_CAP: usize = 4096;
/// How many config directories' permits are remembered per settings table.
const PERMITS_PER_SETTINGS: usize = 4;

/// A health-check plugin's entry point with its warm instances.
pub(crate) type HealthCheckPre =
    Linked<health::HealthCheckPluginPre<State>, health::HealthCheckPlugin>;
/// A deployment plugin's entry point with its warm instances.
pub(crate) type DeploymentPre =
    Linked<deployment::DeploymentPluginPre<State>, deployment::DeploymentPlugin>;
/// A 0.1.0-style hook plugin's entry point with its warm instances.
pub(crate) type HookPre = Linked<hook::HookPluginPre<State>, hook::HookPlugin>;
/// A lifecycle hook plugin's entry point with its warm instances.
pub(crate) type LifecyclePre =
    Linked<lifecycle::LifecyclePluginPre<State>, lifecycle::LifecyclePlugin>;

/// A hook plugin's entry point: the `lifecycle` interface, or the 0.1.0 `hook` interface that
/// the host adapts.
pub(crate) enum HookPreOf<'a> {
    Lifecycle(&'a LifecyclePre),
    Legacy(&'a HookPre),
}

/// The linked, typed entry point of a plugin with its warm instances, by world (and, later,
/// by WIT version).
pub(crate) enum Pre {
    HealthCheck(HealthCheckPre),
    Deployment(DeploymentPre),
    Hook(HookPre),
    Lifecycle(LifecyclePre),
}

/// What `describe()` returned.
#[derive(Clone, Debug)]
pub(crate) struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// One loaded plugin.
pub(crate) struct Plugin {
    pub name: Arc<str>,
    pub info: Info,
    pub kind: PluginKind,
    pub wit_version: String,
    pub source: PluginSource,
    pub grant: Grant,
    pub cache: CacheStatus,
    pub shape: ComponentShape,
    pub pre: Pre,
    /// What its calls came to, for metrics.
    pub stats: Arc<Stats>,
    /// `needs` answers and the permits granted for them, by the hash of the settings.
    needs_memo: Mutex<HashMap<u64, Vec<Asked>>>,
}

impl Plugin {
    pub fn callee(&self) -> Callee {
        Callee {
            name: self.name.clone(),
            memory_bytes: self.grant.memory_bytes(),
            stats: Some(self.stats.clone()),
        }
    }

    /// The entry point of a health-check plugin, or [`PluginError::WrongKind`].
    pub fn health_check(&self) -> Result<&HealthCheckPre, PluginError> {
        match &self.pre {
            Pre::HealthCheck(pre) => Ok(pre),
            _ => Err(self.wrong_kind(PluginKind::HealthCheck)),
        }
    }

    /// The entry point of a deployment plugin, or [`PluginError::WrongKind`].
    pub fn deployment(&self) -> Result<&DeploymentPre, PluginError> {
        match &self.pre {
            Pre::Deployment(pre) => Ok(pre),
            _ => Err(self.wrong_kind(PluginKind::Deployment)),
        }
    }

    /// The entry point of a hook plugin, or [`PluginError::WrongKind`].
    pub fn hook(&self) -> Result<HookPreOf<'_>, PluginError> {
        match &self.pre {
            Pre::Lifecycle(pre) => Ok(HookPreOf::Lifecycle(pre)),
            Pre::Hook(pre) => Ok(HookPreOf::Legacy(pre)),
            _ => Err(self.wrong_kind(PluginKind::Hook)),
        }
    }

    /// The error for a call that expected a plugin of kind `expected`.
    pub fn wrong_kind(&self, expected: PluginKind) -> PluginError {
        PluginError::WrongKind {
            name: self.name.to_string(),
            expected,
            actual: self.kind,
        }
    }

    /// The time limit of calls that carry none of their own.
    pub fn call_timeout(&self) -> std::time::Duration {
        self.grant.timeout.unwrap_or(DEFAULT_CALL_TIMEOUT)
    }

    /// What the plugin's `needs` answered for these settings, if remembered.
    pub fn remembered_needs(&self, hash: u64, settings: &Settings) -> Option<Arc<Vec<Capability>>> {
        let memo = self.needs_memo.lock().unwrap_or_else(|e| e.into_inner());
        let asked = memo.get(&hash)?.iter().find(|a| &a.settings == settings)?;
        Some(asked.needs.clone())
    }

    pub fn remember_needs(&self, hash: u64, settings: &Settings, needs: Arc<Vec<Capability>>) {
        let mut memo = self.needs_memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= NEEDS_MEMO_CAP {
            memo.clear();
        }
        let entries = memo.entry(hash).or_default();
        if !entries.iter().any(|a| &a.settings == settings) {
            entries.push(Asked {
                settings: settings.clone(),
                needs,
                permits: Vec::new(),
            });
        }
    }

    /// The permit granted for these settings of a service whose config lives in `base`, if
    /// remembered (a grant and `needs` do not change while the host runs).
    pub fn remembered_permit(
        &self,
        hash: u64,
        settings: &Settings,
        base: &Path,
    ) -> Option<Arc<Permit>> {
        let memo = self.needs_memo.lock().unwrap_or_else(|e| e.into_inner());
        let asked = memo.get(&hash)?.iter().find(|a| &a.settings == settings)?;
        asked
            .permits
            .iter()
            .find(|(b, _)| b == base)
            .map(|(_, p)| p.clone())
    }

    pub fn remember_permit(
        &self,
        hash: u64,
        settings: &Settings,
        base: &Path,
        permit: Arc<Permit>,
    ) {
        let mut memo = self.needs_memo.lock().unwrap_or_else(|e| e.into_inner());
        let Some(asked) = memo
            .get_mut(&hash)
            .and_then(|entries| entries.iter_mut().find(|a| &a.settings == settings))
        else {
            return;
        };
        if asked.permits.len() < PERMITS_PER_SETTINGS
            && !asked.permits.iter().any(|(b, _)| b == base)
        {
            asked.permits.push((base.to_path_buf(), permit));
        }
    }
}

/// What a plugin asked for with one settings table, and the permits granted for it.
struct Asked {
    settings: Settings,
    needs: Arc<Vec<Capability>>,
    /// By the config directory paths are resolved against.
    permits: Vec<(PathBuf, Arc<Permit>)>,
}

/// A permit with no authority (for describe, validate and needs).
pub(crate) fn no_authority() -> Arc<Permit> {
    static NONE: std::sync::LazyLock<Arc<Permit>> =
        std::sync::LazyLock::new(|| Arc::new(Permit::default()));
    NONE.clone()
}

/// Creates the linker every plugin is linked against: WASI 0.2 (the full p2 set, whose
/// authority each call's context decides), wasi:http's outgoing handler (gated per call),
/// `keel:plugin/host`, and the interfaces hooks may be granted (`store`, `services`, `files`:
/// linked for every plugin, each denied unless its grant allows it).
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    use lifecycle::keel::plugin::{files, services, store};
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    health::HealthCheckPlugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    store::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    services::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    files::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Compiles (or loads from the cache) and reads the shape of a component.
pub(crate) async fn compile(
    engine: &Engine,
    cache: Option<&CodeCache>,
    wasm: Vec<u8>,
) -> Result<(Component, CacheStatus, ComponentShape), LoadFailure> {
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&wasm))
    };
    let engine2 = engine.clone();
    let cache = cache.cloned();
    let compiled = tokio::task::spawn_blocking(move || match &cache {
        Some(cache) => cache.load_or_compile(&engine2, &wasm),
        None => Component::new(&engine2, &wasm).map(|c| (c, CacheStatus::Disabled)),
    })
    .await
    .map_err(|e| LoadFailure::Compile(format!("the compiler task failed: {e}")))?;
    let (component, status) = compiled.map_err(|e| LoadFailure::Compile(format!("{e:#}")))?;
    let shape = ComponentShape {
        sha256,
        ..inspect::shape(engine, &component)
    };
    Ok((component, status, shape))
}

/// Checks the shape and links the component into the typed entry point of its world.
pub(crate) fn link(
    linker: &Linker<State>,
    component: &Component,
    shape: &ComponentShape,
) -> Result<(PluginKind, String, Pre), LoadFailure> {
    let Some((kind, version)) = shape.world.clone() else {
        return Err(LoadFailure::WrongWorld {
            exports: shape.exports.clone(),
            detail: shape.world_problem.clone(),
        });
    };
    if !shape.unsupported.is_empty() {
        return Err(LoadFailure::UnsupportedImports {
            unsupported: shape.unsupported.clone(),
        });
    }
    let link_error = |e: wasmtime::Error| LoadFailure::Link {
        message: format!("{e:#}"),
        imports: shape.imports.clone(),
    };
    let instance_pre = linker.instantiate_pre(component).map_err(link_error)?;
    let pre = match kind {
        PluginKind::HealthCheck => Pre::HealthCheck(Linked::new(
            health::HealthCheckPluginPre::new(instance_pre).map_err(link_error)?,
        )),
        PluginKind::Deployment => Pre::Deployment(Linked::new(
            deployment::DeploymentPluginPre::new(instance_pre).map_err(link_error)?,
        )),
        PluginKind::Hook if exports_lifecycle(shape) => Pre::Lifecycle(Linked::new(
            lifecycle::LifecyclePluginPre::new(instance_pre).map_err(link_error)?,
        )),
        PluginKind::Hook => Pre::Hook(Linked::new(
            hook::HookPluginPre::new(instance_pre).map_err(link_error)?,
        )),
    };
    Ok((kind, version, pre))
}

/// Whether a hook exports the `lifecycle` interface (0.1.2 and later) rather than `hook`.
fn exports_lifecycle(shape: &ComponentShape) -> bool {
    shape
        .exports
        .iter()
        .any(|e| e.starts_with("keel:plugin/lifecycle@"))
}

/// Calls `describe()` with no authority and default limits, and checks the name.
pub(crate) async fn describe(
    engine: &Engine,
    origin: &str,
    pre: &Pre,
) -> Result<Info, LoadFailure> {
    let callee = Callee {
        name: Arc::from(format!("({origin})")),
        memory_bytes: (DEFAULT_MEMORY_MB as usize) << 20,
        stats: None,
    };
    let setup = CallSetup::new("describe", no_authority(), None, DEFAULT_CALL_TIMEOUT);
    let describe_error = |e: PluginError| LoadFailure::Describe(Box::new(e));
    let mut store = call::store(engine, &callee, &setup)
        .await
        .map_err(describe_error)?;
    let started = std::time::Instant::now();
    let ended = call::guard(setup.deadline, async {
        match pre {
            Pre::HealthCheck(linked) => described(&linked.pre, &mut store).await,
            Pre::Deployment(linked) => described(&linked.pre, &mut store).await,
            Pre::Hook(linked) => described(&linked.pre, &mut store).await,
            Pre::Lifecycle(linked) => described(&linked.pre, &mut store).await,
        }
    })
    .await;
    let answer = call::finish(&callee, &setup, started, &mut store, ended)
        .map_err(describe_error)?
        .value;
    check_name(&answer.name)?;
    Ok(Info {
        name: answer.name,
        version: answer.version,
        description: answer.description,
    })
}

/// Instantiates a fresh instance (never a warm one) and asks it `describe()`.
async fn described<W: World>(pre: &W, store: &mut Store<State>) -> wasmtime::Result<Described> {
    let instance = pre.instantiate(store).await?;
    W::describe(&instance, store).await
}

/// The raw `describe()` answer is bounded before use.
impl crate::answer::Bounded for Described {
    fn bounded(&self) -> Result<(), String> {
        if self.name.len() > 64 || self.version.len() > 64 {
            return Err("the name or version is longer than 64 bytes".into());
        }
        self.description.bounded()
    }
}

fn check_name(name: &str) -> Result<(), LoadFailure> {
    let bad = |why| {
        Err(LoadFailure::BadName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return bad("a name starts with a lowercase letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return bad("a name has only lowercase letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

/// Assembles a loaded plugin.
#[allow(
    clippy::too_many_arguments,
    reason = "a plain constructor of the loader's results"
)]
pub(crate) fn assemble(
    info: Info,
    kind: PluginKind,
    wit_version: String,
    source: PluginSource,
    grant: Grant,
    cache: CacheStatus,
    compile: std::time::Duration,
    shape: ComponentShape,
    pre: Pre,
) -> Plugin {
    Plugin {
        name: Arc::from(info.name.as_str()),
        info,
        kind,
        wit_version,
        source,
        grant,
        cache,
        shape,
        pre,
        stats: Arc::new(Stats::new(compile, cache)),
        needs_memo: Mutex::new(HashMap::new()),
    }
}
