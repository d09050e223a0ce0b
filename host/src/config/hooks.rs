//! `[[hooks]]` (platform-wide) and `[[services.NAME.hooks]]`: hook plugins with their phases,
//! time limit, error rule and own settings table (which the hook's plugin validates).

use std::time::Duration;

use keel_api::HookPhase;

use super::diag::suggestion;
use super::model::{HookEntry, OnError, PluginTable};
use super::node::{Node, Table, Value};
use super::reader::{Cx, join};

pub(super) const HOOK_KEYS: [&str; 5] = ["plugin", "phases", "timeout", "on_error", "settings"];

/// A hook run's time limit when its entry gives none.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// The entries of a `hooks` array of tables at `path`.
pub(super) fn hook_entries(cx: &mut Cx, node: &Node, path: &str) -> Vec<HookEntry> {
    let Value::Array(items) = &node.value else {
        cx.type_error(node, path, "an array of tables (`[[hooks]]`)");
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| hook_entry(cx, item, &format!("{path}[{i}]")))
        .collect()
}

fn hook_entry(cx: &mut Cx, node: &Node, path: &str) -> Option<HookEntry> {
    let t = cx.table(node, path)?;
    cx.unknown_keys(t, path, &HOOK_KEYS);
    let plugin = match cx.string(t, path, "plugin") {
        Some(p) if p.is_empty() => {
            let span = t
                .get("plugin")
                .map(|e| e.node.span.clone())
                .unwrap_or_default();
            cx.error(&span, &join(path, "plugin"), "must not be empty");
            None
        }
        Some(p) => Some(p),
        None => {
            if t.get("plugin").is_none() {
                cx.error(
                    &node.span,
                    path,
                    "missing `plugin` (the hook plugin's name)",
                );
            }
            None
        }
    };
    let phases = phases(cx, t, path);
    let timeout = cx
        .seconds(t, path, "timeout")
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);
    let on_error = on_error(cx, t, path);
    let settings_path = join(path, "settings");
    let settings = match t.get("settings") {
        Some(e) if matches!(e.node.value, Value::Table(_)) => e.node.clone(),
        Some(e) => {
            cx.type_error(&e.node, &settings_path, "a table");
            empty(&e.node)
        }
        None => empty(node),
    };
    Some(HookEntry {
        plugin: plugin?,
        phases,
        timeout,
        on_error,
        settings: PluginTable {
            key_path: settings_path,
            node: settings,
        },
        key_path: path.to_string(),
        span: node.span.clone(),
    })
}

fn empty(at: &Node) -> Node {
    Node {
        span: at.span.clone(),
        value: Value::Table(Table::default()),
    }
}

/// `phases = ["before-start", …]`: `None` when absent (the plugin's own choice).
fn phases(cx: &mut Cx, t: &Table, path: &str) -> Option<Vec<HookPhase>> {
    let e = t.get("phases")?;
    let key = join(path, "phases");
    let Value::Array(items) = &e.node.value else {
        cx.type_error(&e.node, &key, "an array of phase names");
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        match &item.value {
            Value::String(s) => match HookPhase::parse(s) {
                Some(p) if out.contains(&p) => {
                    cx.error(&item.span, &item_key, format!("`{s}` is listed twice"))
                }
                Some(p) => out.push(p),
                None => {
                    let names = HookPhase::ALL.map(HookPhase::as_str);
                    let hint = suggestion(s, names);
                    cx.error(
                        &item.span,
                        &item_key,
                        format!("unknown phase {s:?}{hint}; phases: {}", names.join(", ")),
                    );
                }
            },
            _ => cx.type_error(item, &item_key, "a phase name"),
        }
    }
    Some(out)
}

/// `on_error = "fail" | "ignore"` (default `fail`).
fn on_error(cx: &mut Cx, t: &Table, path: &str) -> OnError {
    let Some(s) = cx.string(t, path, "on_error") else {
        return OnError::Fail;
    };
    match s.as_str() {
        "fail" => OnError::Fail,
        "ignore" => OnError::Ignore,
        other => {
            let span = t
                .get("on_error")
                .map(|e| e.node.span.clone())
                .unwrap_or_default();
            let hint = suggestion(other, ["fail", "ignore"]);
            cx.error(
                &span,
                &join(path, "on_error"),
                format!("expected \"fail\" or \"ignore\", found {other:?}{hint}"),
            );
            OnError::Fail
        }
    }
}
