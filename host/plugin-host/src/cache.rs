//! The on-disk cache of compiled components.
//!
//! Key: sha256 of the wasm bytes plus the engine's `precompile_compatibility_hash`, so a
//! different wasmtime version or configuration never picks up a stale artifact. Entries are
//! written to a temporary file and renamed into place (a mapped artifact is never rewritten).
//!
//! Safety of loading: `Component::deserialize_file` trusts the file to be an artifact produced
//! by this engine. The directory is created with mode 0700 and refused unless it is owned by
//! the effective user and not writable by group or others, so only this user (who could run
//! arbitrary code anyway) can have put files there; the artifact is also validated by wasmtime's
//! own header and version checks, and a file that fails them is removed and recompiled.

use std::fs::{self, DirBuilder};
use std::hash::Hasher;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded plugin's machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CacheStatus {
    /// Loaded from the compiled-code cache: nothing was compiled.
    Hit,
    /// Compiled, and stored in the cache for the next start.
    Miss,
    /// Compiled; no cache is configured (or it is unusable).
    Disabled,
}

/// A directory of compiled components.
#[derive(Clone, Debug)]
pub(crate) struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    /// Opens (creating with mode 0700) a cache directory, refusing one that others could write.
    pub fn open(dir: &Path) -> Result<Self, String> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if meta.uid() != euid {
            return Err(format!(
                "{} is owned by uid {}, not by this process (uid {euid})",
                dir.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is writable by group or others (mode {:o}); it must be 0700",
                dir.display(),
                meta.mode() & 0o777
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let wasm_hash = hex::encode(Sha256::digest(wasm));
        let mut engine_hash = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut engine_hash);
        let engine_hash = hex::encode(engine_hash.0.finalize());
        self.dir
            .join(format!("{}-{}.cwasm", &wasm_hash[..32], &engine_hash[..16]))
    }

    /// Loads the compiled form of `wasm`, compiling and storing it on a miss.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheStatus)> {
        let path = self.entry(engine, wasm);
        if path.is_file() {
            // SAFETY: see the module documentation: the file is in a directory only this user
            // can write, and was written (atomically) by `store` from `Component::serialize`.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheStatus::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "discarding unusable cached code: {e}");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        match component.serialize() {
            Ok(bytes) => match store(&path, &bytes) {
                Ok(()) => return Ok((component, CacheStatus::Miss)),
                Err(e) => tracing::warn!(path = %path.display(), "cannot store compiled code: {e}"),
            },
            Err(e) => tracing::warn!("cannot serialize compiled code: {e}"),
        }
        Ok((component, CacheStatus::Disabled))
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place.
fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{unique}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Feeds `Hash` output into sha256, which (unlike `DefaultHasher`) is stable across builds.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a sha256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
