//! `keel plugins install|remove`: a plugin file checked (the world and WIT version the host
//! loads, a name no other plugin has), precompiled into the per-user cache, and placed in a
//! plugins directory as `NAME.wasm` with its sha256 beside it in `NAME.sha256` (the
//! `sha256sum` format, so `sha256sum -c` verifies it).

use std::path::{Path, PathBuf};

use keel_plugin_host::{
    CacheStatus, ImportedCapability, PluginKind, PluginSource, bundled_names, is_bundled,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::kit::{self, KitError, Places};
use crate::config::GrantSettings;

/// A plugin placed in a plugins directory.
#[derive(Debug, Serialize)]
pub struct Installed {
    pub name: String,
    pub kind: PluginKind,
    pub wit_version: String,
    pub version: String,
    pub description: String,
    pub sha256: String,
    /// Where it now is.
    pub path: PathBuf,
    /// The sha256 of the file it replaced, if one was there.
    pub replaced: Option<String>,
    /// What its imports let it ask for (each request still needs a grant).
    pub capabilities: Vec<ImportedCapability>,
    /// Whether its compiled code was already in the cache.
    pub cache: CacheStatus,
}

/// A plugin taken out of a plugins directory.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub name: String,
    pub path: PathBuf,
    pub sha256: Option<String>,
}

/// The file names a plugin has in a plugins directory.
fn files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.wasm")),
        dir.join(format!("{name}.sha256")),
    )
}

/// The hex sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks `file` and installs it into `dir` under the name its `describe` gives. With
/// `expect`, a file whose sha256 differs is refused before anything else.
pub async fn install(
    file: &Path,
    dir: &Path,
    cache_dir: &Path,
    expect: Option<&str>,
) -> Result<Installed, KitError> {
    let bytes = std::fs::read(file)
        .map_err(|e| KitError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let hash = sha256(&bytes);
    if let Some(want) = expect
        && !want.trim().eq_ignore_ascii_case(&hash)
    {
        return Err(KitError::Refused(format!(
            "{} has sha256 {hash}, not the expected {}",
            file.display(),
            want.trim()
        )));
    }
    let places = Places {
        cache_dir: cache_dir.to_path_buf(),
        plugin_dir: None,
    };
    // Loading it is the check (world, WIT version, names) and the precompilation.
    let target = file.to_string_lossy();
    let loaded = kit::load(&target, &places, &GrantSettings::default()).await?;
    let summary = loaded.summary.clone();
    let name = summary.name.clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(KitError::Refused(format!(
            "plugin name {name:?} cannot be a file name: use letters, digits, '-' and '_'"
        )));
    }
    let capabilities = loaded
        .host
        .inspect(&name)
        .await
        .map_err(|e| KitError::Refused(e.to_string()))?
        .capabilities;
    let (wasm_path, hash_path) = files(dir, &name);
    refuse_other_provider(dir, &name, &wasm_path, cache_dir).await?;
    let replaced = std::fs::read(&wasm_path).ok().map(|old| sha256(&old));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // A daemon that reloads meanwhile reads the old file or the new one, never half of one.
    write_atomically(&wasm_path, &bytes)?;
    let file_name = format!("{name}.wasm");
    write_atomically(&hash_path, format!("{hash}  {file_name}\n").as_bytes())?;
    Ok(Installed {
        name,
        kind: summary.kind,
        wit_version: summary.wit_version,
        version: summary.version,
        description: summary.description,
        sha256: hash,
        path: wasm_path,
        replaced,
        capabilities,
        cache: summary.cache,
    })
}

/// Refuses when another file of `dir` already provides plugin `name` (the daemon would then
/// load neither copy's name twice: it refuses the second).
async fn refuse_other_provider(
    dir: &Path,
    name: &str,
    own: &Path,
    cache_dir: &Path,
) -> Result<(), KitError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let places = Places {
        cache_dir: cache_dir.to_path_buf(),
        plugin_dir: Some(dir.to_path_buf()),
    };
    let Ok(loaded) = kit::load(name, &places, &GrantSettings::default()).await else {
        return Ok(());
    };
    match &loaded.summary.source {
        PluginSource::Path(p) if p != own => Err(KitError::Refused(format!(
            "{} already provides plugin `{name}`; remove that file first",
            p.display()
        ))),
        _ => Ok(()),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KitError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".keel-install-")
        .tempfile_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(anyhow::Error::from)?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    // tempfile creates files 0600; a plugins directory is read by the daemon's user, which
    // may be another one.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Removes plugin `name` (its `NAME.wasm` and `NAME.sha256`) from `dir`. Its compiled code
/// stays in the cache, which is keyed by content and shared.
pub fn remove(name: &str, dir: &Path) -> Result<Removed, KitError> {
    if is_bundled(name) {
        return Err(KitError::Refused(format!(
            "`{name}` is bundled with Keel and cannot be removed"
        )));
    }
    let (wasm_path, hash_path) = files(dir, name);
    let bytes = match std::fs::read(&wasm_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let installed = installed_names(dir);
            return Err(KitError::Refused(format!(
                "no plugin `{name}` is installed in {} (installed: {})",
                dir.display(),
                if installed.is_empty() {
                    "none".to_string()
                } else {
                    installed.join(", ")
                }
            )));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", wasm_path.display()).into()),
    };
    std::fs::remove_file(&wasm_path)
        .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", wasm_path.display()))?;
    let _ = std::fs::remove_file(&hash_path);
    Ok(Removed {
        name: name.to_string(),
        path: wasm_path,
        sha256: Some(sha256(&bytes)),
    })
}

/// The `NAME.wasm` files of a plugins directory, by name.
fn installed_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".wasm").map(str::to_string)
        })
        .filter(|n| !bundled_names().any(|b| b == n))
        .collect();
    names.sort();
    names
}
