//! Shell completion: `keel completions SHELL` prints the script that registers Keel's
//! completer with the shell; the shell then runs `keel` itself (with `COMPLETE=SHELL`) at each
//! <TAB>, so service names, categories, operations and plugin names come from the config as
//! it is at that moment (clap_complete's dynamic engine).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use clap_complete::engine::{PathCompleter, ValueCompleter};
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};
use clap_complete::{ArgValueCompleter, CompletionCandidate};

use super::context::{Exit, Failure};
use crate::config::{self, Config};

/// The variable the registered script sets when it asks `keel` for candidates.
const VAR: &str = "COMPLETE";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Answers a completion request and exits, when the process was started for one; does
/// nothing otherwise. Runs before anything else writes to stdout.
pub fn answer_if_asked(cli: impl Fn() -> clap::Command) {
    clap_complete::CompleteEnv::with_factory(cli)
        .var(VAR)
        .complete();
}

/// `keel completions SHELL`: the registration script on stdout.
pub fn print_registration(shell: Shell) -> Result<Exit, Failure> {
    let adapter: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
    };
    let mut out = Vec::new();
    adapter
        .write_registration(VAR, "keel", "keel", &completer_path(), &mut out)
        .map_err(|e| Failure::new(Exit::Failed, format!("writing the script: {e}")))?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Failure::new(Exit::Failed, format!("writing the script: {e}")))?;
    Ok(Exit::Ok)
}

/// How the script calls Keel back: as this process was called when that was a bare name
/// (found on PATH then too), else by its absolute path, so `./target/release/keel
/// completions bash` keeps working from another directory.
fn completer_path() -> String {
    let called = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("keel"));
    if called.components().count() > 1 {
        std::path::absolute(&called)
            .unwrap_or(called)
            .to_string_lossy()
            .into_owned()
    } else {
        called.to_string_lossy().into_owned()
    }
}

/// Completes a service name.
pub fn services() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        candidates(current, |c| {
            c.services
                .iter()
                .map(|s| {
                    let help = (!s.description.is_empty()).then(|| s.description.clone().into());
                    CompletionCandidate::new(&s.name).help(help)
                })
                .collect()
        })
    })
}

/// Completes a category.
pub fn categories() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        candidates(current, |c| {
            distinct(c.services.iter().map(|s| s.category.as_str()))
        })
    })
}

/// Completes an operation named in some service's `required_for`.
pub fn operations() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        candidates(current, |c| {
            distinct(
                c.services
                    .iter()
                    .flat_map(|s| s.required_for.iter().map(String::as_str)),
            )
        })
    })
}

/// Completes a plugin name (bundled, or named by the config as a mode or check type), or the
/// path of a `.wasm` file.
pub fn plugins() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let mut found = candidates(current, |c| {
            crate::plugins::known_names(c)
                .into_iter()
                .map(CompletionCandidate::new)
                .collect()
        });
        let wasm = PathCompleter::any()
            .filter(|p: &Path| p.is_dir() || p.extension().is_some_and(|e| e == "wasm"));
        if let Ok(dir) = std::env::current_dir() {
            found.extend(wasm.current_dir(dir).complete(current));
        }
        found
    })
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<CompletionCandidate> {
    let mut seen: Vec<&str> = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen.into_iter().map(CompletionCandidate::new).collect()
}

/// The candidates `from` finds in the config that start with what was typed. A config that
/// cannot be read gives none: completion must never print an error into the command line.
fn candidates(
    current: &OsStr,
    from: impl Fn(&Config) -> Vec<CompletionCandidate>,
) -> Vec<CompletionCandidate> {
    let Some(config) = completing_config() else {
        return Vec::new();
    };
    let typed = current.to_string_lossy();
    from(&config)
        .into_iter()
        .filter(|c| c.get_value().to_string_lossy().starts_with(typed.as_ref()))
        .collect()
}

/// The config of the command line being completed: its `--config`, else where Keel looks.
/// The shell passes the words being completed after `--` as this process's arguments.
fn completing_config() -> Option<Config> {
    let words: Vec<OsString> = std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect();
    let path = config::locate(
        config_flag(&words).as_deref(),
        std::env::var("KEEL_CONFIG").ok().as_deref(),
    )
    .ok()?;
    match config::load_lenient(&path) {
        Ok((Some(config), _)) => Some(config),
        _ => None,
    }
}

/// The value of `--config FILE` or `--config=FILE` among the words.
fn config_flag(words: &[OsString]) -> Option<PathBuf> {
    let mut it = words.iter().map(|w| w.to_string_lossy());
    while let Some(w) = it.next() {
        if w == "--config" {
            return it.next().map(|v| PathBuf::from(v.as_ref()));
        }
        if let Some(v) = w.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_flag_is_found_in_either_spelling() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_flag(&words(&["keel", "--config", "a.toml", "services"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_flag(&words(&["keel", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
        assert_eq!(config_flag(&words(&["keel", "services", "status"])), None);
    }
}
