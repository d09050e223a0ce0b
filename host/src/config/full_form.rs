//! The full form of a service, `[services.NAME]` with its `deployment`, `health_check` and
//! `startup` tables, as the service management guide writes it.

use std::ops::Range;
use std::time::Duration;

use super::diag::suggestion;
use super::model::{Deployment, HealthCheck, PluginTable, RestartPolicy, Service, Startup};
use super::node::{Entry, Node, Table, Value};
use super::notify::{NOTIFY, notify_check};
use super::reader::{Cx, describe, join};
use super::service::{ServiceParts, check_name, restart_policy, restart_timing, service_type};

/// Deployment modes and check types a user may keep a table for even when another one is
/// selected (so switching `mode` is a one-word edit).
pub const STANDARD_MODES: [&str; 5] =
    ["binary", "docker", "docker-compose", "kubernetes", "remote"];
pub const STANDARD_CHECKS: [&str; 6] = ["http", "tcp", "command", "file", "unix", "notify"];

pub(super) const SERVICE_KEYS: [&str; 12] = [
    "name",
    "type",
    "category",
    "description",
    "required_for",
    "dependencies",
    "conflicts",
    "deployment",
    "health_check",
    "startup",
    "hooks",
    "env_file",
];
pub(super) const CHECK_KEYS: [&str; 4] = ["type", "interval", "retries", "timeout"];
pub(super) const STARTUP_KEYS: [&str; 12] = [
    "auto_start",
    "start_timeout",
    "start_order",
    "restart_on_failure",
    "restart",
    "max_restarts",
    "restart_window",
    "success_exit_codes",
    "stop_timeout",
    "restart_delay",
    "max_restart_delay",
    "stable_run",
];

/// `[services.NAME]` and its `deployment`, `health_check` and `startup` tables.
pub(super) fn full_service(
    cx: &mut Cx,
    name: &str,
    name_span: &Range<usize>,
    t: &Table,
    path: &str,
) -> Option<Service> {
    let name_ok = check_name(cx, name, name_span, path);
    cx.unknown_keys(t, path, &SERVICE_KEYS);
    if let Some(written) = cx.string(t, path, "name")
        && written != name
    {
        let span = t
            .get("name")
            .map(|e| e.node.span.clone())
            .unwrap_or_default();
        cx.error(
            &span,
            &join(path, "name"),
            format!("`name = {written:?}` differs from the table's name `{name}`"),
        );
    }
    let service_type = service_type(cx, t, path);
    let deployment = match t.get("deployment") {
        Some(e) => deployment(cx, &e.node, &join(path, "deployment")),
        None => {
            cx.error(
                name_span,
                path,
                format!("missing `[{path}.deployment]` (a service needs a deployment mode)"),
            );
            None
        }
    };
    let health_check = match t.get("health_check") {
        Some(e) => health_check(cx, &e.node, &join(path, "health_check")),
        None => None,
    };
    let startup = match t.get("startup") {
        Some(e) => startup(cx, &e.node, &join(path, "startup")),
        None => Startup::default(),
    };
    ServiceParts {
        name: name.to_string(),
        span: name_span.clone(),
        name_ok,
        service_type,
        deployment,
        health_check,
        startup,
    }
    .finish(cx, t, path)
}

/// A plugin-selecting table: its selector (`mode`, `type`) names the plugin, `selected`, whose
/// own table sits beside it. Tables for other standard plugins may sit there too.
fn plugin_table(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    selected: &str,
    common_keys: &[&str],
    standard: &[&str],
) -> PluginTable {
    let table_key = selected.replace('-', "_");
    let mut chosen = None;
    for e in &t.entries {
        if common_keys.contains(&e.key.as_str()) {
            continue;
        }
        let normalized = e.key.replace('_', "-");
        if e.key == selected || e.key == table_key {
            chosen = Some(e);
        } else if !matches!(e.node.value, Value::Table(_))
            || !standard.contains(&normalized.as_str())
        {
            let mut candidates: Vec<&str> = common_keys.to_vec();
            candidates.push(selected);
            let hint = suggestion(&e.key, candidates);
            cx.error(
                &e.key_span,
                &join(path, &e.key),
                format!("unknown key{hint}"),
            );
        }
    }
    // Messages name the table as the file spells it: `redis-ping` stays `redis-ping` (the
    // underscore spelling is accepted too, and is then what the user sees).
    let key_path = join(path, chosen.map_or(selected, |e| e.key.as_str()));
    let node = match chosen {
        Some(Entry { node, .. }) if matches!(node.value, Value::Table(_)) => node.clone(),
        Some(Entry { node, .. }) => {
            cx.type_error(node, &key_path, "a table");
            empty_table(node.span.clone())
        }
        None => empty_table(
            t.entries
                .first()
                .map(|e| e.key_span.clone())
                .unwrap_or_default(),
        ),
    };
    PluginTable { key_path, node }
}

fn empty_table(span: Range<usize>) -> Node {
    Node {
        span,
        value: Value::Table(Table::default()),
    }
}

fn plugin_name(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    key: &str,
    span: &Range<usize>,
) -> Option<String> {
    match cx.string(t, path, key) {
        Some(s) if s.is_empty() => {
            let span = t.get(key).map(|e| e.node.span.clone()).unwrap_or_default();
            cx.error(&span, &join(path, key), "must not be empty");
            None
        }
        Some(s) => Some(s),
        None => {
            if t.get(key).is_none() {
                cx.error(span, path, format!("missing `{key}`"));
            }
            None
        }
    }
}

fn deployment(cx: &mut Cx, node: &Node, path: &str) -> Option<Deployment> {
    let t = cx.table(node, path)?;
    let mode = plugin_name(cx, t, path, "mode", &node.span)?;
    let settings = plugin_table(cx, t, path, &mode, &["mode"], &STANDARD_MODES);
    Some(Deployment { mode, settings })
}

fn health_check(cx: &mut Cx, node: &Node, path: &str) -> Option<HealthCheck> {
    let t = cx.table(node, path)?;
    let check_type = plugin_name(cx, t, path, "type", &node.span)?;
    let interval = cx.seconds(t, path, "interval");
    let retries = cx.integer(t, path, "retries", 1..1_001);
    let timeout = cx.seconds(t, path, "timeout");
    if check_type == "none" {
        cx.unknown_keys(t, path, &CHECK_KEYS);
        return None;
    }
    let settings = plugin_table(cx, t, path, &check_type, &CHECK_KEYS, &STANDARD_CHECKS);
    let notify = (check_type == NOTIFY).then(|| notify_check(cx, node, &settings.node, path));
    Some(HealthCheck {
        check_type,
        interval: interval.unwrap_or(Duration::from_secs(10)),
        retries: retries.unwrap_or(3) as u32,
        timeout: timeout.unwrap_or(Duration::from_secs(5)),
        settings,
        notify,
    })
}

fn startup(cx: &mut Cx, node: &Node, path: &str) -> Startup {
    let d = Startup::default();
    let Some(t) = cx.table(node, path) else {
        return d;
    };
    cx.unknown_keys(t, path, &STARTUP_KEYS);
    let on_failure = cx.boolean(t, path, "restart_on_failure");
    let policy = restart_policy(cx, t, path, "restart");
    if let (Some(_), Some(e)) = (on_failure, t.get("restart").filter(|_| policy.is_some())) {
        cx.error(
            &e.key_span,
            &join(path, "restart"),
            "give either `restart` or `restart_on_failure`, not both",
        );
    }
    let mut startup = Startup {
        auto_start: cx.boolean(t, path, "auto_start").unwrap_or(d.auto_start),
        start_timeout: cx
            .seconds(t, path, "start_timeout")
            .unwrap_or(d.start_timeout),
        start_order: cx
            .integer(t, path, "start_order", -1_000_000..1_000_001)
            .unwrap_or(d.start_order),
        restart: policy
            .or(on_failure.map(|b| {
                if b {
                    RestartPolicy::OnFailure
                } else {
                    RestartPolicy::Never
                }
            }))
            .unwrap_or(d.restart),
        max_restarts: cx
            .integer(t, path, "max_restarts", 0..1_000_001)
            .map(|n| n as u32)
            .unwrap_or(d.max_restarts),
        restart_window: cx
            .seconds(t, path, "restart_window")
            .unwrap_or(d.restart_window),
        success_exit_codes: exit_codes(cx, t, path).unwrap_or(d.success_exit_codes),
        stop_timeout: cx
            .seconds(t, path, "stop_timeout")
            .unwrap_or(d.stop_timeout),
        restart_delay: d.restart_delay,
        max_restart_delay: d.max_restart_delay,
        stable_run: d.stable_run,
    };
    restart_timing(cx, t, path, &mut startup);
    startup
}

fn exit_codes(cx: &mut Cx, t: &Table, path: &str) -> Option<Vec<i32>> {
    let e = t.get("success_exit_codes")?;
    let key = join(path, "success_exit_codes");
    let Value::Array(items) = &e.node.value else {
        cx.type_error(&e.node, &key, "an array of exit codes");
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.value {
            Value::Integer(n) if (0..=255).contains(&n) => out.push(n as i32),
            _ => cx.error(
                &item.span,
                &format!("{key}[{i}]"),
                format!(
                    "expected an exit code between 0 and 255, found {}",
                    describe(&item.value)
                ),
            ),
        }
    }
    Some(out)
}
