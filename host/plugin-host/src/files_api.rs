//! The host functions of `keel:plugin/files`: writing and removing files under the
//! directories the plugin was granted (`write_paths`). A path is made absolute against the
//! service's config directory, `..` is resolved lexically, and symbolic links are followed
//! before the check, so no path climbs out of a granted directory. A write replaces the file
//! atomically (a temporary file in the same directory, renamed over it).

use std::path::{Path, PathBuf};

use crate::bindings::v0_1::files_api;
use crate::bindings::v0_1::host_api::HostError;
use crate::grant::resolve_path;
use crate::sandbox::State;

/// The largest file a plugin may write, in bytes.
pub const MAX_FILE: usize = 1024 * 1024;

impl files_api::Host for State {
    async fn write_file(
        &mut self,
        path: String,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), HostError>> {
        if contents.len() > MAX_FILE {
            return Ok(Err(HostError::Failed(format!(
                "a file is at most {MAX_FILE} bytes; this one has {}",
                contents.len()
            ))));
        }
        let target = match self.writable(&path).await {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let written = tokio::task::spawn_blocking(move || replace(&target, &contents)).await;
        Ok(match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(HostError::Failed(format!("writing {path:?}: {e}"))),
            Err(e) => Err(HostError::Failed(format!("writing {path:?}: {e}"))),
        })
    }

    async fn remove_file(&mut self, path: String) -> wasmtime::Result<Result<(), HostError>> {
        let target = match self.writable(&path).await {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match tokio::fs::remove_file(&target).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HostError::Failed(format!("removing {path:?}: {e}"))),
        })
    }
}

impl State {
    /// The absolute path of `path` when it lies under a granted write path (its directory's
    /// real location included), else `denied`.
    fn writable(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<PathBuf, HostError>> + Send + 'static {
        let base = self.call.service.as_ref().map(|s| s.config_dir.as_path());
        let resolved =
            resolve_path(path, base).map_err(|e| HostError::Denied(format!("write {path:?}: {e}")));
        let prefixes = self.call.permit.write_paths.clone();
        let plugin = self.call.plugin.clone();
        let stats = self.call.stats.clone();
        async move {
            let admitted = match resolved {
                Ok(resolved) => admitted(resolved, prefixes, plugin).await,
                Err(e) => Err(e),
            };
            if admitted.is_err()
                && let Some(stats) = stats
            {
                stats.denied("write-files");
            }
            admitted
        }
    }
}

async fn admitted(
    resolved: PathBuf,
    prefixes: Vec<PathBuf>,
    plugin: std::sync::Arc<str>,
) -> Result<PathBuf, HostError> {
    let lexically = prefixes.iter().any(|p| resolved.starts_with(p));
    let really = match resolved.parent() {
        Some(dir) => inside_really(dir, &prefixes).await,
        None => false,
    };
    if lexically && really && resolved.file_name().is_some() {
        Ok(resolved)
    } else {
        tracing::warn!(%plugin, path = %resolved.display(), "denied a write");
        Err(HostError::Denied(format!(
            "writing {} is not granted to plugin `{plugin}` (its `write_paths` must contain a \
             directory above it)",
            resolved.display(),
        )))
    }
}

/// Whether `dir`, with its symbolic links followed, lies under one of `prefixes` (theirs
/// followed too). A directory that does not exist is not.
async fn inside_really(dir: &Path, prefixes: &[PathBuf]) -> bool {
    let Ok(real) = tokio::fs::canonicalize(dir).await else {
        return false;
    };
    for prefix in prefixes {
        let real_prefix = tokio::fs::canonicalize(prefix)
            .await
            .unwrap_or_else(|_| prefix.clone());
        if real.starts_with(&real_prefix) {
            return true;
        }
    }
    false
}

fn replace(target: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = target.parent().expect("checked: the path has a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(contents)?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}
