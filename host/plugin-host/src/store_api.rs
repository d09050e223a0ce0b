//! The host functions of `keel:plugin/store`: a small durable key-value store private to each
//! plugin granted `store`, one file per key under the plugin's own directory (the key's bytes
//! in hex as the file name, so no key can name a path). A value is written to a temporary file,
//! synced and renamed over the old one: a crash leaves the old value or the new, never a torn
//! one.

use std::path::{Path, PathBuf};

use crate::bindings::v0_1::host_api::HostError;
use crate::bindings::v0_1::store_api;
use crate::sandbox::State;

/// The longest key, in bytes.
pub const MAX_KEY: usize = 256;
/// The largest value, in bytes.
pub const MAX_VALUE: usize = 64 * 1024;
/// The most keys one plugin keeps.
pub const MAX_KEYS: usize = 1024;

impl store_api::Host for State {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, HostError>> {
        let path = match self.store_file(&key) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match tokio::fs::read(&path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HostError::Failed(format!("reading key {key:?}: {e}"))),
        })
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), HostError>> {
        let path = match self.store_file(&key) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if value.len() > MAX_VALUE {
            return Ok(Err(HostError::Failed(format!(
                "a value is at most {MAX_VALUE} bytes; this one has {}",
                value.len()
            ))));
        }
        let written = tokio::task::spawn_blocking(move || write_value(&path, &value)).await;
        Ok(match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(HostError::Failed(format!("storing key {key:?}: {e}"))),
            Err(e) => Err(HostError::Failed(format!("storing key {key:?}: {e}"))),
        })
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), HostError>> {
        let path = match self.store_file(&key) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HostError::Failed(format!("deleting key {key:?}: {e}"))),
        })
    }

    async fn keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, HostError>> {
        let dir = match self.store_dir() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let listed = tokio::task::spawn_blocking(move || keys_in(&dir)).await;
        Ok(match listed {
            Ok(Ok(mut keys)) => {
                keys.retain(|k| k.starts_with(&prefix));
                keys.sort();
                Ok(keys)
            }
            Ok(Err(e)) => Err(HostError::Failed(format!("listing keys: {e}"))),
            Err(e) => Err(HostError::Failed(format!("listing keys: {e}"))),
        })
    }
}

impl State {
    /// The plugin's store directory, created (0700) if need be; denied without the grant.
    fn store_dir(&self) -> Result<PathBuf, HostError> {
        let Some(dir) = self.call.permit.store.clone() else {
            tracing::warn!(plugin = %self.call.plugin, "denied the store");
            self.call.count_denied("store");
            return Err(HostError::Denied(format!(
                "the store is not granted to plugin `{0}` (grant it with `store = true` in \
                 [plugins.grants.{0}])",
                self.call.plugin
            )));
        };
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| HostError::Failed(format!("cannot create the store: {e}")))?;
        Ok(dir)
    }

    /// The file of `key`, after checking the key.
    fn store_file(&self, key: &str) -> Result<PathBuf, HostError> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(HostError::Failed(format!(
                "a key has 1 to {MAX_KEY} bytes; this one has {}",
                key.len()
            )));
        }
        Ok(self.store_dir()?.join(hex::encode(key)))
    }
}

fn write_value(path: &Path, value: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("a key's file is inside the store");
    if !path.exists() && keys_in(dir)?.len() >= MAX_KEYS {
        return Err(std::io::Error::other(format!(
            "the store holds {MAX_KEYS} keys already; delete some first"
        )));
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(value)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The keys stored in `dir` (files whose names are not a key's are left out).
fn keys_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Ok(bytes) = hex::decode(name)
            && let Ok(key) = String::from_utf8(bytes)
        {
            keys.push(key);
        }
    }
    Ok(keys)
}
