//! The schema: walks the spanned tree of a services.toml into the typed [`Config`], collecting
//! every problem (unknown keys with a did-you-mean, wrong types, bad values) instead of stopping
//! at the first.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{Diagnostic, Diagnostics, SourceFile, suggestion};
use super::model::*;
use super::node::{self, Entry, Node, Table, Value};

/// Deployment modes and check types a user may keep a table for even when another one is
/// selected (so switching `mode` is a one-word edit).
pub const STANDARD_MODES: [&str; 5] =
    ["binary", "docker", "docker-compose", "kubernetes", "remote"];
pub const STANDARD_CHECKS: [&str; 5] = ["http", "tcp", "command", "file", "unix"];

const TOP_KEYS: [&str; 4] = ["services", "service", "orchestrator", "plugins"];
const SERVICE_KEYS: [&str; 10] = [
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
];
const SHORT_KEYS: [&str; 13] = [
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
];
const CHECK_KEYS: [&str; 4] = ["type", "interval", "retries", "timeout"];
const STARTUP_KEYS: [&str; 9] = [
    "auto_start",
    "start_timeout",
    "start_order",
    "restart_on_failure",
    "restart",
    "max_restarts",
    "restart_window",
    "success_exit_codes",
    "stop_timeout",
];
const GRANT_KEYS: [&str; 7] = [
    "network",
    "commands",
    "paths",
    "unix_sockets",
    "env",
    "memory_mb",
    "timeout_ms",
];

/// Parses and checks `text` (the contents of `path`).
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    match check(path, text, env) {
        (Some(config), d) if d.is_empty() => Ok(config),
        (_, d) => Err(d),
    }
}

/// Parses and checks `text`, returning the services that could be read (when the file is valid
/// TOML) together with every problem found, for reports that count valid and invalid services.
pub fn check(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<Config>, Diagnostics) {
    let source = SourceFile::new(path, text);
    let mut cx = Cx {
        source: &source,
        diags: Vec::new(),
        service: None,
    };
    let (root, syntax_errors) = toml::de::DeTable::parse_recoverable(text);
    for e in &syntax_errors {
        let span = e.span().unwrap_or(0..0);
        cx.error(
            &span,
            "",
            format!("invalid TOML: {}", e.message().trim_end()),
        );
    }
    if !syntax_errors.is_empty() {
        return (None, cx.finish());
    }
    let mut expand_errors = Vec::new();
    let root = node::from_toml(&root, env, &mut expand_errors);
    for e in expand_errors {
        // Attribute the problem to its service, so `validate` groups it there.
        cx.service = e
            .key
            .strip_prefix("services.")
            .and_then(|k| k.split('.').next())
            .map(str::to_string);
        cx.error(&e.span, &e.key, e.message);
    }
    cx.service = None;

    let Value::Table(top) = &root.value else {
        unreachable!("a TOML document is a table")
    };
    let mut config = Config {
        path: path.to_path_buf(),
        services: Vec::new(),
        orchestrator: OrchestratorSettings::default(),
        plugins: PluginSettings::default(),
        source: source.clone(),
    };
    cx.unknown_keys(top, "", &TOP_KEYS);
    if let Some(e) = top.get("services")
        && let Some(t) = cx.table(&e.node, "services")
    {
        for entry in &t.entries {
            let key = format!("services.{}", entry.key);
            cx.service = Some(entry.key.clone());
            if let Some(st) = cx.table(&entry.node, &key)
                && let Some(s) = full_service(&mut cx, &entry.key, &entry.key_span, st, &key)
            {
                push_service(&mut cx, &mut config.services, s);
            }
            cx.service = None;
        }
    }
    if let Some(e) = top.get("service") {
        match &e.node.value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("service[{i}]");
                    cx.service = None;
                    if let Some(st) = cx.table(item, &key)
                        && let Some(s) = short_service(&mut cx, st, &item.span, &key)
                    {
                        push_service(&mut cx, &mut config.services, s);
                    }
                    cx.service = None;
                }
            }
            other => cx.error(
                &e.node.span,
                "service",
                format!(
                    "expected an array of tables (`[[service]]`), found {}",
                    other.type_name()
                ),
            ),
        }
    }
    if let Some(e) = top.get("orchestrator") {
        config.orchestrator = orchestrator(&mut cx, &e.node);
    }
    if let Some(e) = top.get("plugins") {
        config.plugins = plugins(&mut cx, &e.node, path);
    }
    (Some(config), cx.finish())
}

fn push_service(cx: &mut Cx, services: &mut Vec<Service>, s: Service) {
    if services.iter().any(|o| o.name == s.name) {
        cx.service = Some(s.name.clone());
        cx.error(
            &s.span,
            "",
            format!("service `{}` is defined twice", s.name),
        );
        cx.service = None;
    } else {
        services.push(s);
    }
}

/// The walker's context: the source for locations and the problems found so far.
struct Cx<'a> {
    source: &'a SourceFile,
    diags: Vec<Diagnostic>,
    service: Option<String>,
}

impl Cx<'_> {
    fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: self.source.locate(span),
            key: key.to_string(),
            service: self.service.clone(),
            message: message.into(),
        });
    }

    fn finish(self) -> Diagnostics {
        let mut d = Diagnostics(self.diags);
        d.sort();
        d
    }

    fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        let found = node.value.type_name();
        self.error(
            &node.span,
            key,
            format!("expected {expected}, found {found}"),
        );
    }

    fn unknown_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for e in &table.entries {
            if !known.contains(&e.key.as_str()) {
                let key = join(path, &e.key);
                let hint = suggestion(&e.key, known.iter().copied());
                self.error(&e.key_span, &key, format!("unknown key{hint}"));
            }
        }
    }

    fn table<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n Table> {
        match &node.value {
            Value::Table(t) => Some(t),
            _ => {
                self.type_error(node, key, "a table");
                None
            }
        }
    }

    fn string(&mut self, t: &Table, path: &str, key: &str) -> Option<String> {
        let e = t.get(key)?;
        match &e.node.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.type_error(&e.node, &join(path, key), "a string");
                None
            }
        }
    }

    fn boolean(&mut self, t: &Table, path: &str, key: &str) -> Option<bool> {
        let e = t.get(key)?;
        match &e.node.value {
            Value::Boolean(b) => Some(*b),
            _ => {
                self.type_error(&e.node, &join(path, key), "a boolean (true or false)");
                None
            }
        }
    }

    fn integer(&mut self, t: &Table, path: &str, key: &str, range: Range<i64>) -> Option<i64> {
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
    fn seconds(&mut self, t: &Table, path: &str, key: &str) -> Option<Duration> {
        let e = t.get(key)?;
        let secs = match &e.node.value {
            Value::Integer(n) => *n as f64,
            Value::Float(f) => *f,
            _ => {
                self.type_error(&e.node, &join(path, key), "a number of seconds");
                return None;
            }
        };
        if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 * 365.0 {
            Some(Duration::from_secs_f64(secs))
        } else {
            self.error(
                &e.node.span,
                &join(path, key),
                format!("expected a positive number of seconds, found {secs}"),
            );
            None
        }
    }

    fn names(&mut self, t: &Table, path: &str, key: &str) -> Vec<Named> {
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

    fn strings(&mut self, t: &Table, path: &str, key: &str) -> Vec<String> {
        self.names(t, path, key)
            .into_iter()
            .map(|n| n.name)
            .collect()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_name(cx: &mut Cx, name: &str, span: &Range<usize>, key: &str) -> bool {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        cx.error(
            span,
            key,
            format!(
                "invalid service name {name:?}: use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` or `-`"
            ),
        );
    }
    ok
}

fn full_service(
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
    let common = common_fields(cx, t, path);
    Some(Service {
        name: name.to_string(),
        service_type: service_type?,
        category: common.category,
        description: common.description,
        required_for: common.required_for,
        dependencies: common.dependencies,
        conflicts: common.conflicts,
        deployment: deployment?,
        health_check,
        startup,
        span: name_span.clone(),
    })
    .filter(|_| name_ok)
}

/// The fields both forms share, read before anything can end the service early so that every
/// problem in them is reported.
struct Common {
    category: String,
    description: String,
    required_for: Vec<String>,
    dependencies: Vec<Named>,
    conflicts: Vec<Named>,
}

fn common_fields(cx: &mut Cx, t: &Table, path: &str) -> Common {
    Common {
        category: cx
            .string(t, path, "category")
            .unwrap_or_else(|| "general".into()),
        description: cx.string(t, path, "description").unwrap_or_default(),
        required_for: cx.strings(t, path, "required_for"),
        dependencies: cx.names(t, path, "dependencies"),
        conflicts: cx.names(t, path, "conflicts"),
    }
}

fn service_type(cx: &mut Cx, t: &Table, path: &str) -> Option<ServiceType> {
    let Some(s) = cx.string(t, path, "type") else {
        return t.get("type").is_none().then_some(ServiceType::Utility);
    };
    ServiceType::parse(&s).or_else(|| {
        let span = t.get("type").map(|e| e.node.span.clone()).unwrap_or_default();
        let hint = suggestion(&s, ServiceType::NAMES);
        cx.error(
            &span,
            &join(path, "type"),
            format!("unknown service type {s:?}: expected one of platform, infrastructure, utility{hint}"),
        );
        None
    })
}

/// A plugin-selecting table: `selector_key` names the plugin (`mode`, `type`), whose own table
/// sits beside it. Tables for other standard plugins may sit there too.
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
            candidates.push(&table_key);
            let hint = suggestion(&e.key, candidates);
            cx.error(
                &e.key_span,
                &join(path, &e.key),
                format!("unknown key{hint}"),
            );
        }
    }
    let key_path = join(path, &table_key);
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
    Some(HealthCheck {
        check_type,
        interval: interval.unwrap_or(Duration::from_secs(10)),
        retries: retries.unwrap_or(3) as u32,
        timeout: timeout.unwrap_or(Duration::from_secs(5)),
        settings,
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
    Startup {
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
    }
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

fn describe(v: &Value) -> String {
    match v {
        Value::Integer(n) => n.to_string(),
        other => other.type_name().to_string(),
    }
}

fn restart_policy(cx: &mut Cx, t: &Table, path: &str, key: &str) -> Option<RestartPolicy> {
    let s = cx.string(t, path, key)?;
    let normalized = s.to_ascii_lowercase().replace(['-', '_'], "");
    match normalized.as_str() {
        "always" => Some(RestartPolicy::Always),
        "onfailure" => Some(RestartPolicy::OnFailure),
        "never" | "no" => Some(RestartPolicy::Never),
        _ => {
            let span = t.get(key).map(|e| e.node.span.clone()).unwrap_or_default();
            cx.error(
                &span,
                &join(path, key),
                format!(
                    "unknown restart policy {s:?}: expected \"Always\", \"OnFailure\" or \"Never\""
                ),
            );
            None
        }
    }
}

/// The service registry's short form: `[[service]] name, cmd, restart, health_check = "…"`.
fn short_service(cx: &mut Cx, t: &Table, span: &Range<usize>, path: &str) -> Option<Service> {
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
    let common = common_fields(cx, t, path);
    Some(Service {
        name,
        service_type: service_type?,
        category: common.category,
        description: common.description,
        required_for: common.required_for,
        dependencies: common.dependencies,
        conflicts: common.conflicts,
        deployment: deployment?,
        health_check,
        startup,
        span: name_span,
    })
    .filter(|_| name_ok)
}

/// `health_check = "http://…" | "https://…" | "tcp://host:port" | "unix:/path" | "cmd:…"`.
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
    let (check_type, entries) = if s.starts_with("http://") || s.starts_with("https://") {
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
            format!("unknown health check {s:?}: expected `http://…`, `https://…`, `tcp://HOST:PORT`, `unix:/PATH` or `cmd:COMMAND`"),
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
    })
}

fn orchestrator(cx: &mut Cx, node: &Node) -> OrchestratorSettings {
    let mut out = OrchestratorSettings::default();
    let Some(t) = cx.table(node, "orchestrator") else {
        return out;
    };
    cx.unknown_keys(t, "orchestrator", &["services"]);
    if let Some(e) = t.get("services")
        && let Some(s) = cx.table(&e.node, "orchestrator.services")
    {
        let path = "orchestrator.services";
        cx.unknown_keys(s, path, &["auto_start_dependencies"]);
        if let Some(b) = cx.boolean(s, path, "auto_start_dependencies") {
            out.auto_start_dependencies = b;
        }
    }
    out
}

fn plugins(cx: &mut Cx, node: &Node, config_path: &Path) -> PluginSettings {
    let mut out = PluginSettings::default();
    let Some(t) = cx.table(node, "plugins") else {
        return out;
    };
    cx.unknown_keys(t, "plugins", &["dir", "grants"]);
    if let Some(dir) = cx.string(t, "plugins", "dir") {
        let dir = PathBuf::from(dir);
        out.dir = Some(match config_path.parent() {
            Some(base) if dir.is_relative() => base.join(dir),
            _ => dir,
        });
    }
    if let Some(e) = t.get("grants")
        && let Some(g) = cx.table(&e.node, "plugins.grants")
    {
        let mut grants = BTreeMap::new();
        for entry in &g.entries {
            let path = format!("plugins.grants.{}", entry.key);
            let Some(gt) = cx.table(&entry.node, &path) else {
                continue;
            };
            cx.unknown_keys(gt, &path, &GRANT_KEYS);
            grants.insert(
                entry.key.clone(),
                GrantSettings {
                    network: cx.strings(gt, &path, "network"),
                    commands: cx.strings(gt, &path, "commands"),
                    paths: cx.strings(gt, &path, "paths"),
                    unix_sockets: cx.strings(gt, &path, "unix_sockets"),
                    env: cx.strings(gt, &path, "env"),
                    memory_mb: cx
                        .integer(gt, &path, "memory_mb", 1..65_537)
                        .map(|n| n as u32),
                    timeout_ms: cx
                        .integer(gt, &path, "timeout_ms", 1..3_600_001)
                        .map(|n| n as u64),
                },
            );
        }
        out.grants = grants;
    }
    out
}
