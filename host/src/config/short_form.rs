//! The service registry's short form, `[[service]]` with `name`, `cmd`, `restart` and a
//! one-string `health_check`, normalised into the same model as the full form.

use std::ops::Range;
use std::time::Duration;

use super::model::{Deployment, HealthCheck, NotifyCheck, PluginTable, Service, Startup};
use super::node::{Entry, Node, Table, Value};
use super::notify::NOTIFY;
use super::reader::{Cx, join};
use super::service::{ServiceParts, check_name, restart_policy, restart_timing, service_type};

pub(super) const SHORT_KEYS: [&str; 18] = [
    "name",
    "cmd",
    "restart",
    "health_check",
    "dependencies",
    "conflicts",
    "required_for",
    "description",
    "category",
    "type",
    "working_dir",
    "env",
    "auto_start",
    "restart_delay",
    "max_restart_delay",
    "stable_run",
    "hooks",
    "env_file",
];

/// The service registry's short form: `[[service]] name, cmd, restart, health_check = "…"`.
pub(super) fn short_service(
    cx: &mut Cx,
    t: &Table,
    span: &Range<usize>,
    path: &str,
) -> Option<Service> {
    let name = cx.string(t, path, "name");
    let Some(name) = name else {
        if t.get("name").is_none() {
            cx.error(span, path, "missing `name`");
        }
        return None;
    };
    let name_span = t
        .get("name")
        .map(|e| e.node.span.clone())
        .unwrap_or_default();
    cx.service = Some(name.clone());
    let name_ok = check_name(cx, &name, &name_span, &join(path, "name"));
    cx.unknown_keys(t, path, &SHORT_KEYS);
    let service_type = service_type(cx, t, path);

    // cmd = ["prog", "arg", ...] becomes the binary mode's binary_path and args.
    let deployment = match t.get("cmd") {
        None => {
            cx.error(
                span,
                path,
                "missing `cmd` (the command to run, e.g. `cmd = [\"./server\"]`)",
            );
            None
        }
        Some(e) => match &e.node.value {
            Value::Array(items)
                if !items.is_empty()
                    && items.iter().all(|i| matches!(i.value, Value::String(_))) =>
            {
                let mut entries = vec![Entry {
                    key: "binary_path".into(),
                    key_span: e.key_span.clone(),
                    node: items[0].clone(),
                }];
                entries.push(Entry {
                    key: "args".into(),
                    key_span: e.key_span.clone(),
                    node: Node {
                        span: e.node.span.clone(),
                        value: Value::Array(items[1..].to_vec()),
                    },
                });
                for extra in ["working_dir", "env"] {
                    if let Some(x) = t.get(extra) {
                        entries.push(x.clone());
                    }
                }
                Some(Deployment {
                    mode: "binary".into(),
                    settings: PluginTable {
                        key_path: join(path, "cmd"),
                        node: Node {
                            span: e.node.span.clone(),
                            value: Value::Table(Table { entries }),
                        },
                    },
                })
            }
            _ => {
                cx.type_error(&e.node, &join(path, "cmd"), "a non-empty array of strings");
                None
            }
        },
    };
    let health_check = t.get("health_check").and_then(|e| short_check(cx, e, path));
    let mut startup = Startup::default();
    if let Some(p) = restart_policy(cx, t, path, "restart") {
        startup.restart = p;
    }
    if let Some(b) = cx.boolean(t, path, "auto_start") {
        startup.auto_start = b;
    }
    restart_timing(cx, t, path, &mut startup);
    ServiceParts {
        name,
        span: name_span,
        name_ok,
        service_type,
        deployment,
        health_check,
        startup,
    }
    .finish(cx, t, path)
}

/// `health_check = "http://…" | "https://…" | "tcp://host:port" | "unix:/path" | "cmd:…" |
/// "notify"`.
fn short_check(cx: &mut Cx, e: &Entry, path: &str) -> Option<HealthCheck> {
    let key = join(path, "health_check");
    let Value::String(s) = &e.node.value else {
        cx.type_error(
            &e.node,
            &key,
            "a string such as \"http://localhost:8000/health\"",
        );
        return None;
    };
    let text = |k: &str, v: &str| Entry {
        key: k.into(),
        key_span: e.key_span.clone(),
        node: Node {
            span: e.node.span.clone(),
            value: Value::String(v.into()),
        },
    };
    let (check_type, entries) = if s == NOTIFY {
        (NOTIFY, Vec::new())
    } else if s.starts_with("http://") || s.starts_with("https://") {
        ("http", vec![text("endpoint", s)])
    } else if let Some(p) = s.strip_prefix("unix:") {
        ("unix", vec![text("path", p)])
    } else if let Some(c) = s.strip_prefix("cmd:") {
        ("command", vec![text("command", c.trim())])
    } else if let Some(addr) = s.strip_prefix("tcp://") {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
        let Ok(port) = port.parse::<u16>() else {
            cx.error(
                &e.node.span,
                &key,
                format!("expected `tcp://HOST:PORT`, found {s:?}"),
            );
            return None;
        };
        let mut entries = vec![text("host", host)];
        entries.push(Entry {
            key: "port".into(),
            key_span: e.key_span.clone(),
            node: Node {
                span: e.node.span.clone(),
                value: Value::Integer(port.into()),
            },
        });
        ("tcp", entries)
    } else {
        cx.error(
            &e.node.span,
            &key,
            format!("unknown health check {s:?}: expected `http://…`, `https://…`, `tcp://HOST:PORT`, `unix:/PATH`, `cmd:COMMAND` or `notify`"),
        );
        return None;
    };
    Some(HealthCheck {
        check_type: check_type.into(),
        interval: Duration::from_secs(10),
        retries: 3,
        timeout: Duration::from_secs(5),
        settings: PluginTable {
            key_path: key,
            node: Node {
                span: e.node.span.clone(),
                value: Value::Table(Table { entries }),
            },
        },
        notify: (check_type == NOTIFY).then(NotifyCheck::default),
    })
}
