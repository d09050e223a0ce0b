//! Loading plugins at start: the bundled ones, then a directory of third-party files, into a
//! name → plugin map that refuses shadowing and duplicate names. Each group is prepared at once
//! (compile or read cached code, link, describe) and admitted in a fixed order, so the result
//! does not depend on which finished first.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::CodeCache;
use crate::error::{LoadError, LoadFailure};
use crate::grant::Grant;
use crate::plugin::{self, Plugin};
use crate::sandbox::State;
use crate::types::PluginSource;

/// Loads plugins into a name → plugin map, refusing shadowing and duplicates.
pub(crate) struct Loader<'a> {
    pub engine: &'a Engine,
    pub linker: &'a Linker<State>,
    pub cache: Option<&'a CodeCache>,
    pub grants: &'a HashMap<String, Grant>,
    pub plugins: HashMap<String, Arc<Plugin>>,
    pub order: Vec<String>,
    pub errors: Vec<LoadError>,
}

/// A component compiled, linked and described, not yet admitted under its name.
pub(crate) struct Prepared {
    origin: String,
    source: PluginSource,
    kind: crate::types::PluginKind,
    wit_version: String,
    cache: crate::cache::CacheStatus,
    /// How long compiling (or reading the cache) took.
    compile: std::time::Duration,
    shape: crate::inspect::ComponentShape,
    pre: plugin::Pre,
    info: plugin::Info,
}

impl Loader<'_> {
    /// Compiles (or loads cached code), links and describes one component: the costly part,
    /// which needs no access to the other plugins, so that several run at once.
    pub async fn prepare(
        &self,
        origin: String,
        wasm: Vec<u8>,
        source: PluginSource,
    ) -> Result<Prepared, (String, LoadFailure)> {
        let run = async {
            let started = std::time::Instant::now();
            let (component, cache, shape) = plugin::compile(self.engine, self.cache, wasm).await?;
            let compile = started.elapsed();
            let (kind, wit_version, pre) = plugin::link(self.linker, &component, &shape)?;
            let info = plugin::describe(self.engine, &origin, &pre).await?;
            Ok((kind, wit_version, (cache, compile), shape, pre, info))
        };
        let (kind, wit_version, (cache, compile), shape, pre, info) =
            run.await.map_err(|e| (origin.clone(), e))?;
        Ok(Prepared {
            origin,
            source,
            kind,
            wit_version,
            cache,
            compile,
            shape,
            pre,
            info,
        })
    }

    /// Admits a prepared component under its name; refused when the name is taken.
    pub fn admit(&mut self, p: Prepared) -> Result<(), LoadFailure> {
        // A bundled plugin's name stays reserved when that plugin was not loaded.
        let listed = crate::bundled::BUNDLED
            .iter()
            .find(|(name, _, _)| *name == p.info.name);
        match (&p.source, listed) {
            (PluginSource::Path(_), Some(_)) => {
                return Err(LoadFailure::ShadowsBundled { name: p.info.name });
            }
            (PluginSource::Bundled, Some((_, kind, _))) if *kind == p.kind => {}
            (PluginSource::Bundled, _) => {
                return Err(LoadFailure::BadName {
                    name: p.info.name,
                    why: "a bundled plugin must be listed in bundled.rs under its own name and kind",
                });
            }
            (PluginSource::Path(_), None) => {}
        }
        if let Some(existing) = self.plugins.get(&p.info.name) {
            return Err(match existing.source {
                PluginSource::Bundled => LoadFailure::ShadowsBundled { name: p.info.name },
                PluginSource::Path(ref other) => LoadFailure::Duplicate {
                    name: p.info.name,
                    other: other.display().to_string(),
                },
            });
        }
        let grant = self
            .grants
            .get(&p.info.name)
            .cloned()
            .unwrap_or_else(|| match p.source {
                PluginSource::Bundled => Grant::as_needed(),
                PluginSource::Path(_) => Grant::none(),
            });
        tracing::debug!(plugin = %p.info.name, kind = ?p.kind, cache = ?p.cache, "loaded plugin from {}", p.origin);
        let name = p.info.name.clone();
        let plugin = plugin::assemble(
            p.info,
            p.kind,
            p.wit_version,
            p.source,
            grant,
            p.cache,
            p.compile,
            p.shape,
            p.pre,
        );
        self.order.push(name.clone());
        self.plugins.insert(name, Arc::new(plugin));
        Ok(())
    }

    /// Loads components, preparing them all at once and admitting them in the order given.
    /// Returns the failures, in that order.
    pub async fn load_all(
        &mut self,
        components: Vec<(String, Vec<u8>, PluginSource)>,
    ) -> Vec<(String, LoadFailure)> {
        let prepared = futures_util::future::join_all(
            components
                .into_iter()
                .map(|(origin, wasm, source)| self.prepare(origin, wasm, source)),
        )
        .await;
        let mut failed = Vec::new();
        for p in prepared {
            match p {
                Ok(p) => {
                    let origin = p.origin.clone();
                    if let Err(e) = self.admit(p) {
                        failed.push((origin, e));
                    }
                }
                Err(e) => failed.push(e),
            }
        }
        failed
    }

    /// Loads every `*.wasm` in `dir` (sorted by name), recording failures.
    pub async fn load_dir(&mut self, dir: &Path) {
        let mut entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!("no plugin directory at {}", dir.display());
                return;
            }
            Err(e) => {
                self.errors.push(LoadError {
                    origin: dir.display().to_string(),
                    reason: LoadFailure::Read(e),
                });
                return;
            }
        };
        entries.sort();
        let mut components = Vec::new();
        let mut failed = Vec::new();
        for path in entries {
            let origin = path.display().to_string();
            match tokio::fs::read(&path).await {
                Ok(wasm) => components.push((origin, wasm, PluginSource::Path(path))),
                Err(e) => failed.push((origin, LoadFailure::Read(e))),
            }
        }
        failed.extend(self.load_all(components).await);
        for (origin, reason) in failed {
            let error = LoadError { origin, reason };
            tracing::warn!("{error}");
            self.errors.push(error);
        }
    }
}
