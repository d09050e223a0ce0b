//! `env_file = ["path", …]` (or one string): dotenv files whose variables a service's process
//! gets. They are read when the config is loaded, like the config itself, so that a missing
//! file or a bad line is a config problem, reported by `services validate` and at every load
//! with the location of the `env_file` entry and the env file's own line and column.
//!
//! The files are parsed by `dotenvor`, which reports a bad line with its line and column (the
//! usual `dotenvy` reports only the text of the line) and loads into a map of its own rather
//! than into this process's environment.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use dotenvor::{EnvLoader, SubstitutionMode, TargetEnv};

use super::node::{Table, Value};
use super::reader::{Cx, join};

/// One path of `env_file`, resolved against the config file's directory, with where it was
/// written and its key path for messages.
struct Written {
    path: PathBuf,
    span: Range<usize>,
    key: String,
}

/// Reads `env_file` of the service table `t` (at `path`): every file's variables, in file
/// order, a later file's value replacing an earlier one's. Problems are reported and give no
/// variables, so that the service is still checked for the rest.
pub(super) fn env_from_files(cx: &mut Cx, t: &Table, path: &str) -> Vec<(String, String)> {
    let written = written_paths(cx, t, path);
    let mut texts = Vec::new();
    for w in &written {
        match std::fs::read(&w.path) {
            Ok(bytes) => texts.push((w, bytes)),
            Err(e) => cx.error(
                &w.span,
                &w.key,
                format!("cannot read env file {}: {e}", w.path.display()),
            ),
        }
    }
    let mut ok = texts.len() == written.len();
    for (w, bytes) in &texts {
        if let Err(message) = check_syntax(&w.path, bytes) {
            cx.error(&w.span, &w.key, message);
            ok = false;
        }
    }
    if !ok || written.is_empty() {
        return Vec::new();
    }
    let referenced: BTreeSet<String> = texts
        .iter()
        .flat_map(|(_, bytes)| referenced_names(&String::from_utf8_lossy(bytes)))
        .collect();
    let outside: BTreeMap<String, String> = referenced
        .into_iter()
        .filter_map(|name| Some((name.clone(), (cx.env)(&name)?)))
        .collect();
    // The files' own definitions win over the process environment, both for what the service
    // gets and for what `${VAR}` means inside the files.
    let loaded = EnvLoader::new()
        .paths(written.iter().map(|w| &w.path))
        .override_existing(true)
        .substitution_mode(SubstitutionMode::Expand)
        .target(TargetEnv::from_memory(outside))
        .parse_only();
    match loaded {
        Ok(entries) => entries.into_iter().map(|e| (e.key, e.value)).collect(),
        Err(e) => {
            // Only when a file changed between the two reads: still a located problem.
            let w = &written[0];
            cx.error(&w.span, &w.key, format!("cannot load env files: {e}"));
            Vec::new()
        }
    }
}

/// The paths `env_file` names: a string or an array of strings, relative to the config file.
fn written_paths(cx: &mut Cx, t: &Table, path: &str) -> Vec<Written> {
    let Some(e) = t.get("env_file") else {
        return Vec::new();
    };
    let key = join(path, "env_file");
    let items: Vec<(String, &super::node::Node)> = match &e.node.value {
        Value::String(_) => vec![(key.clone(), &e.node)],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{key}[{i}]"), n))
            .collect(),
        _ => {
            cx.type_error(&e.node, &key, "a path or an array of paths");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (key, node) in items {
        match &node.value {
            Value::String(s) if s.is_empty() => cx.error(&node.span, &key, "must not be empty"),
            Value::String(s) => out.push(Written {
                path: cx.base_dir.join(s),
                span: node.span.clone(),
                key,
            }),
            _ => cx.type_error(node, &key, "a path (a string)"),
        }
    }
    out
}

/// A file's first syntax problem as `FILE:LINE:COLUMN: what`.
fn check_syntax(path: &Path, bytes: &[u8]) -> Result<(), String> {
    match dotenvor::parse_bytes(bytes) {
        Ok(_) => Ok(()),
        Err(dotenvor::Error::Parse(e)) => Err(format!(
            "{}:{}:{}: {} in env file",
            path.display(),
            e.line,
            e.column,
            e.kind
        )),
        Err(dotenvor::Error::InvalidEncoding(e)) => Err(format!(
            "{}: env file is not UTF-8 text ({e})",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The names `$NAME` and `${NAME…}` may refer to in `text` (more, never fewer: a name that
/// no placeholder uses is merely not looked at).
fn referenced_names(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    text.match_indices('$')
        .filter_map(|(i, _)| {
            let rest = text[i + 1..].strip_prefix('{').unwrap_or(&text[i + 1..]);
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            (end > 0).then(|| rest[..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::referenced_names;

    #[test]
    fn placeholders_name_what_to_look_up() {
        assert_eq!(
            referenced_names("A=$HOME/x\nB=${PORT:-80} ${X.y}\nC='$'"),
            ["HOME", "PORT", "X.y"]
        );
    }
}
