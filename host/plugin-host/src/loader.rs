//! Loading plugins at start: the bundled ones, then a directory of third-party files, into a
//! name → plugin map that refuses shadowing and duplicate names.

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

impl Loader<'_> {
    /// Loads one component; the caller decides whether a failure is fatal.
    pub async fn load(
        &mut self,
        origin: &str,
        wasm: Vec<u8>,
        source: PluginSource,
    ) -> Result<(), LoadFailure> {
        let (component, cache, shape) = plugin::compile(self.engine, self.cache, wasm).await?;
        let (kind, wit_version, pre) = plugin::link(self.linker, &component, &shape)?;
        let info = plugin::describe(self.engine, origin, &pre).await?;
        if let Some(existing) = self.plugins.get(&info.name) {
            return Err(match existing.source {
                PluginSource::Bundled => LoadFailure::ShadowsBundled { name: info.name },
                PluginSource::Path(ref p) => LoadFailure::Duplicate {
                    name: info.name,
                    other: p.display().to_string(),
                },
            });
        }
        let grant = self
            .grants
            .get(&info.name)
            .cloned()
            .unwrap_or_else(|| match source {
                PluginSource::Bundled => Grant::as_needed(),
                PluginSource::Path(_) => Grant::none(),
            });
        tracing::debug!(plugin = %info.name, ?kind, ?cache, "loaded plugin from {origin}");
        let name = info.name.clone();
        let plugin = plugin::assemble(info, kind, wit_version, source, grant, cache, shape, pre);
        self.order.push(name.clone());
        self.plugins.insert(name, Arc::new(plugin));
        Ok(())
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
        for path in entries {
            let origin = path.display().to_string();
            let result = match tokio::fs::read(&path).await {
                Ok(wasm) => {
                    self.load(&origin, wasm, PluginSource::Path(path.clone()))
                        .await
                }
                Err(e) => Err(LoadFailure::Read(e)),
            };
            if let Err(reason) = result {
                let error = LoadError { origin, reason };
                tracing::warn!("{error}");
                self.errors.push(error);
            }
        }
    }
}
