//! `keel services dependencies` and `keel services check`: questions the dependency graph
//! answers from the config.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::context::{Context, Exit, Failure};
use super::fmt::{BOLD, DIM, styled};
use super::live::live_statuses;
use super::report::{Report, emit};
use crate::config::{Config, ServiceType, suggestion};
use crate::graph::ServiceGraph;

/// `services dependencies NAME`.
#[derive(Serialize)]
struct ServiceDependencies<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    service_type: ServiceType,
    category: &'a str,
    dependencies: Vec<&'a str>,
    all_dependencies: Vec<&'a str>,
    required_by: Vec<&'a str>,
    all_required_by: Vec<&'a str>,
    start_order: Vec<&'a str>,
    /// The dependency tree, drawn.
    #[serde(skip)]
    tree: String,
}

impl Report for ServiceDependencies<'_> {
    fn text(&self) -> String {
        let mut out = format!("{}\n", styled(BOLD, format!("## {}", self.name)));
        let _ = writeln!(out, "- Type: {}", self.service_type.as_str());
        let _ = writeln!(out, "- Category: {}", self.category);
        list(&mut out, "Depends on", &self.dependencies, &[]);
        let indirect: Vec<&str> = self
            .all_required_by
            .iter()
            .copied()
            .filter(|d| !self.required_by.contains(d))
            .collect();
        list(&mut out, "Required by", &self.required_by, &indirect);
        out += "\nDependency tree:\n";
        out += &self.tree;
        let _ = writeln!(out, "Start order: {}", self.start_order.join(" -> "));
        out
    }
}

fn list(out: &mut String, title: &str, direct: &[&str], indirect: &[&str]) {
    if direct.is_empty() && indirect.is_empty() {
        let _ = writeln!(out, "- {title}: none");
        return;
    }
    let _ = writeln!(out, "- {title}:");
    for d in direct {
        let _ = writeln!(out, "  - {d}");
    }
    for d in indirect {
        let _ = writeln!(out, "  - {d} {}", styled(DIM, "(indirectly)"));
    }
}

/// A service in `services dependencies` without a name.
#[derive(Serialize)]
struct TreeEntry<'a> {
    dependencies: Vec<&'a str>,
    required_by: Vec<&'a str>,
    level: Option<usize>,
    start_order: i64,
}

/// `services dependencies`: the whole startup tree.
#[derive(Serialize)]
struct StartupTree<'a> {
    services: BTreeMap<&'a str, TreeEntry<'a>>,
    start_levels: Vec<Vec<&'a str>>,
    #[serde(skip)]
    tree: String,
}

impl Report for StartupTree<'_> {
    fn text(&self) -> String {
        format!(
            "Startup order (each service above the services that need it):\n{}",
            self.tree
        )
    }
}

pub fn dependencies(cx: &Context, name: Option<&str>) -> Result<Exit, Failure> {
    let (config, graph) = cx.load()?;
    let Some(name) = name else {
        let mut tree = String::new();
        let mut shown = Vec::new();
        for root in graph.start_levels().first().cloned().unwrap_or_default() {
            draw(
                &config,
                &graph,
                root,
                &ServiceGraph::dependents,
                "",
                true,
                true,
                &mut shown,
                &mut tree,
            );
        }
        let report = StartupTree {
            services: config
                .services
                .iter()
                .map(|s| {
                    let entry = TreeEntry {
                        dependencies: graph.dependencies(&s.name),
                        required_by: graph.dependents(&s.name),
                        level: graph.level(&s.name),
                        start_order: s.startup.start_order,
                    };
                    (s.name.as_str(), entry)
                })
                .collect(),
            start_levels: graph.start_levels(),
            tree,
        };
        return Ok(emit(cx.json, &report));
    };
    let service = config.service(name).ok_or_else(|| graph.unknown(name))?;
    let mut tree = String::new();
    draw(
        &config,
        &graph,
        name,
        &ServiceGraph::dependencies,
        "",
        true,
        true,
        &mut Vec::new(),
        &mut tree,
    );
    let report = ServiceDependencies {
        name,
        service_type: service.service_type,
        category: &service.category,
        dependencies: graph.dependencies(name),
        all_dependencies: graph.all_dependencies(name),
        required_by: graph.dependents(name),
        all_required_by: graph.all_dependents(name),
        start_order: graph.plan(&[name])?.concat(),
        tree,
    };
    Ok(emit(cx.json, &report))
}

/// Draws `name` and, below it, what `next` gives, recursively; a service already expanded is
/// shown once more without its subtree, so a wide graph stays readable.
#[allow(clippy::too_many_arguments)]
fn draw<'g>(
    config: &Config,
    graph: &'g ServiceGraph,
    name: &'g str,
    next: &dyn Fn(&'g ServiceGraph, &str) -> Vec<&'g str>,
    prefix: &str,
    last: bool,
    root: bool,
    shown: &mut Vec<&'g str>,
    out: &mut String,
) {
    let order = config
        .service(name)
        .map(|s| s.startup.start_order)
        .unwrap_or_default();
    let children = next(graph, name);
    let repeat = shown.contains(&name) && !children.is_empty();
    let branch = match (root, last) {
        (true, _) => "",
        (false, true) => "└─> ",
        (false, false) => "├─> ",
    };
    let see_above = if repeat { " …see above" } else { "" };
    let _ = writeln!(out, "{prefix}{branch}{name} (order: {order}){see_above}");
    if repeat {
        return;
    }
    shown.push(name);
    let child_prefix = if root {
        prefix.to_string()
    } else {
        format!("{prefix}{}", if last { "    " } else { "│   " })
    };
    let n = children.len();
    for (i, c) in children.into_iter().enumerate() {
        draw(
            config,
            graph,
            c,
            next,
            &child_prefix,
            i + 1 == n,
            false,
            shown,
            out,
        );
    }
}

/// `services check OPERATION`.
#[derive(Serialize)]
pub struct OperationCheck {
    operation: String,
    required_services: Vec<String>,
    not_running: Vec<String>,
    all_running: bool,
}

impl Report for OperationCheck {
    fn text(&self) -> String {
        format!(
            "Operation: {}\nRequired services: {}\nAll running: {}\n",
            self.operation,
            self.required_services.join(", "),
            self.all_running
        )
    }
    fn exit(&self) -> Exit {
        if self.all_running {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

pub fn check(cx: &Context, operation: &str) -> Result<OperationCheck, Failure> {
    let (_, graph) = cx.load()?;
    let Some(required) = graph.operations().get(operation) else {
        let known: Vec<&str> = graph.operations().keys().map(|s| s.as_str()).collect();
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "no service is required for operation `{operation}`{}; operations in this config: {}",
                suggestion(operation, known.iter().copied()),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    let live = live_statuses(cx)?;
    let not_running: Vec<String> = required
        .iter()
        .filter(|s| {
            live.iter()
                .find(|l| &l.name == *s)
                .is_none_or(|l| !l.status.starts_with("running"))
        })
        .cloned()
        .collect();
    Ok(OperationCheck {
        operation: operation.to_string(),
        required_services: required.clone(),
        all_running: not_running.is_empty(),
        not_running,
    })
}
