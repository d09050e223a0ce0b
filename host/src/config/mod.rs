//! services.toml: finding the file, reading it into a typed model, and reporting every problem
//! with its file, line, column and key path.

mod diag;
pub mod diff;
mod env_file;
mod full_form;
mod hooks;
mod model;
mod node;
mod notify;
mod parse;
mod reader;
mod schema;
mod service;
mod settings;
mod short_form;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Location, did_you_mean, suggestion};
pub use full_form::{STANDARD_CHECKS, STANDARD_MODES};
pub use hooks::DEFAULT_HOOK_TIMEOUT;
pub use model::*;
pub use node::{Entry, Node, Table, Value};
pub use notify::NOTIFY;
pub use schema::json_schema;

/// Why a config could not be loaded. Callers branch on this: a missing file and an invalid one
/// are reported differently.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no services.toml found; looked for {}", .searched.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", then "))]
    NotFound { searched: Vec<String> },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {} problem{}:\n{diagnostics}", path.display(), diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        diagnostics: Diagnostics,
    },
}

/// Finds the config file: `--config`, then `$KEEL_CONFIG`, then `./services.toml`, then
/// `./config/services.toml`. An explicitly named file must exist; it is never silently replaced
/// by a later candidate.
pub fn locate(explicit: Option<&Path>, env_value: Option<&str>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env_value.filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let candidates = ["services.toml", "config/services.toml"];
    for c in candidates {
        if Path::new(c).is_file() {
            return Ok(PathBuf::from(c));
        }
    }
    Err(ConfigError::NotFound {
        searched: vec![
            "--config".into(),
            "$KEEL_CONFIG".into(),
            "./services.toml".into(),
            "./config/services.toml".into(),
        ],
    })
}

/// Reads and checks a config file, expanding `${VAR}` from the process environment.
/// Diagnostics name the file the way the caller named it; `Config::path` is absolute.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    match load_lenient(path)? {
        (Some(config), diagnostics) if diagnostics.is_empty() => Ok(config),
        (_, diagnostics) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        }),
    }
}

/// Reads a config file and returns whatever could be read (when it is valid TOML) with every
/// problem found; for reports that count valid and invalid services (`services validate`).
pub fn load_lenient(path: &Path) -> Result<(Option<Config>, Diagnostics), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (mut config, diagnostics) = parse::check(path, &text, &|name| std::env::var(name).ok());
    if let Some(c) = &mut config {
        c.path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    }
    Ok((config, diagnostics))
}

/// Parses config text; `env` looks variables up. Diagnostics name `path`.
pub fn parse_str(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    parse::parse(path, text, env)
}

#[cfg(test)]
mod tests;
