//! The reader: the walker's context (`Cx`), which records every problem with its location and
//! carries on, and the typed-field helpers every table of the schema is read with. Each helper
//! reports a value of the wrong type or out of range and returns nothing for it, so that the
//! caller falls back to the default and the walk goes on to the next key.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::diag::{Diagnostic, Diagnostics, SourceFile, suggestion};
use super::model::Named;
use super::node::{Node, Table, Value};

/// The walker's context: the source for locations and the problems found so far.
pub(super) struct Cx<'a> {
    source: &'a SourceFile,
    diags: Vec<Diagnostic>,
    /// The service the problems found now belong to, if any (for `validate`'s grouping).
    pub(super) service: Option<String>,
    /// The config file's directory: what relative paths the host reads are relative to.
    pub(super) base_dir: PathBuf,
    /// Looks variables of the environment up.
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(source: &'a SourceFile, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        let base_dir = match source.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self {
            source,
            diags: Vec::new(),
            service: None,
            base_dir,
            env,
        }
    }

    pub(super) fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: self.source.locate(span),
            key: key.to_string(),
            service: self.service.clone(),
            message: message.into(),
        });
    }

    pub(super) fn finish(self) -> Diagnostics {
        let mut d = Diagnostics(self.diags);
        d.sort();
        d
    }

    pub(super) fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        let found = node.value.type_name();
        self.error(
            &node.span,
            key,
            format!("expected {expected}, found {found}"),
        );
    }

    pub(super) fn unknown_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for e in &table.entries {
            if !known.contains(&e.key.as_str()) {
                let key = join(path, &e.key);
                let hint = suggestion(&e.key, known.iter().copied());
                self.error(&e.key_span, &key, format!("unknown key{hint}"));
            }
        }
    }

    pub(super) fn table<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n Table> {
        match &node.value {
            Value::Table(t) => Some(t),
            _ => {
                self.type_error(node, key, "a table");
                None
            }
        }
    }

    pub(super) fn string(&mut self, t: &Table, path: &str, key: &str) -> Option<String> {
        let e = t.get(key)?;
        match &e.node.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.type_error(&e.node, &join(path, key), "a string");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, t: &Table, path: &str, key: &str) -> Option<bool> {
        let e = t.get(key)?;
        match &e.node.value {
            Value::Boolean(b) => Some(*b),
            _ => {
                self.type_error(&e.node, &join(path, key), "a boolean (true or false)");
                None
            }
        }
    }

    pub(super) fn integer(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        range: Range<i64>,
    ) -> Option<i64> {
        let e = t.get(key)?;
        let expected = format!(
            "an integer between {} and {}",
            range.start,
            range.end.saturating_sub(1)
        );
        match &e.node.value {
            Value::Integer(n) if range.contains(n) => Some(*n),
            Value::Integer(n) => {
                self.error(
                    &e.node.span,
                    &join(path, key),
                    format!("expected {expected}, found {n}"),
                );
                None
            }
            _ => {
                self.type_error(&e.node, &join(path, key), &expected);
                None
            }
        }
    }

    /// A positive number of seconds, integer or fractional (`interval = 0.5`).
    pub(super) fn seconds(&mut self, t: &Table, path: &str, key: &str) -> Option<Duration> {
        self.seconds_from(t, path, key, false)
    }

    /// A number of seconds that may also be zero, for waits that can be left out
    /// (`restart_delay = 0`).
    pub(super) fn seconds_or_zero(&mut self, t: &Table, path: &str, key: &str) -> Option<Duration> {
        self.seconds_from(t, path, key, true)
    }

    fn seconds_from(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        zero_ok: bool,
    ) -> Option<Duration> {
        let e = t.get(key)?;
        let secs = match &e.node.value {
            Value::Integer(n) => *n as f64,
            Value::Float(f) => *f,
            _ => {
                self.type_error(&e.node, &join(path, key), "a number of seconds");
                return None;
            }
        };
        let low_ok = if zero_ok { secs >= 0.0 } else { secs > 0.0 };
        if secs.is_finite() && low_ok && secs <= 86_400.0 * 365.0 {
            Some(Duration::from_secs_f64(secs))
        } else {
            let what = if zero_ok { "non-negative" } else { "positive" };
            self.error(
                &e.node.span,
                &join(path, key),
                format!("expected a {what} number of seconds, found {secs}"),
            );
            None
        }
    }

    pub(super) fn names(&mut self, t: &Table, path: &str, key: &str) -> Vec<Named> {
        let Some(e) = t.get(key) else {
            return Vec::new();
        };
        let key = join(path, key);
        let Value::Array(items) = &e.node.value else {
            self.type_error(&e.node, &key, "an array of strings");
            return Vec::new();
        };
        let mut out: Vec<Named> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match &item.value {
                Value::String(s) if out.iter().any(|n| &n.name == s) => self.error(
                    &item.span,
                    &format!("{key}[{i}]"),
                    format!("`{s}` is listed twice"),
                ),
                Value::String(s) => out.push(Named {
                    name: s.clone(),
                    span: item.span.clone(),
                }),
                _ => self.type_error(item, &format!("{key}[{i}]"), "a string"),
            }
        }
        out
    }

    pub(super) fn strings(&mut self, t: &Table, path: &str, key: &str) -> Vec<String> {
        self.names(t, path, key)
            .into_iter()
            .map(|n| n.name)
            .collect()
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A value for "found X": an integer as written, anything else by its type.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Integer(n) => n.to_string(),
        other => other.type_name().to_string(),
    }
}
