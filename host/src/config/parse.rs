//! The schema: walks the spanned tree of a services.toml into the typed [`Config`], collecting
//! every problem (unknown keys with a did-you-mean, wrong types, bad values) instead of stopping
//! at the first. This is the document's top level; each kind of table has a module of its own
//! (`full_form`, `short_form`, `settings`), all reading through `reader`.

use std::path::Path;

use super::diag::{Diagnostics, SourceFile};
use super::full_form::full_service;
use super::model::{Config, OrchestratorSettings, PluginSettings, Service};
use super::node::{self, Value};
use super::reader::Cx;
use super::settings::{orchestrator, plugins};
use super::short_form::short_service;

pub(super) const TOP_KEYS: [&str; 4] = ["services", "service", "orchestrator", "plugins"];

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
    let mut cx = Cx::new(&source, env);
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
