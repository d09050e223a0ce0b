//! The dependency graph of a config: start levels, stop order, reverse dependencies, conflicts,
//! and precise reports of cycles and unknown names.

use std::collections::{BTreeMap, HashMap, VecDeque};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::{Config, Diagnostic, Diagnostics, suggestion};

/// A checked dependency graph. Edges point from a service to each service it depends on.
#[derive(Debug, Clone)]
pub struct ServiceGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
    /// `start_order` and file position of each node, the tie-breakers within a level.
    rank: Vec<(i64, usize)>,
    level: Vec<usize>,
    conflicts: Vec<(String, String)>,
    operations: BTreeMap<String, Vec<String>>,
}

impl ServiceGraph {
    /// Builds the graph of `config`, reporting every unknown dependency, every cycle (with its
    /// path) and every contradiction between dependencies and conflicts.
    pub fn build(config: &Config) -> Result<Self, Diagnostics> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for s in &config.services {
            index.insert(s.name.clone(), graph.add_node(s.name.clone()));
        }
        let mut diags = Vec::new();
        let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
        let error = |diags: &mut Vec<Diagnostic>, service: &str, span, key: String, message| {
            diags.push(Diagnostic {
                location: config.locate(span),
                key,
                service: Some(service.to_string()),
                message,
            })
        };
        for s in &config.services {
            for (i, dep) in s.dependencies.iter().enumerate() {
                let key = format!("services.{}.dependencies[{i}]", s.name);
                match index.get(&dep.name) {
                    None => error(
                        &mut diags,
                        &s.name,
                        &dep.span,
                        key,
                        format!(
                            "service `{}` depends on `{}`, which is not defined{}",
                            s.name,
                            dep.name,
                            suggestion(&dep.name, names.iter().copied())
                        ),
                    ),
                    Some(_) if dep.name == s.name => error(
                        &mut diags,
                        &s.name,
                        &dep.span,
                        key,
                        format!("service `{}` depends on itself", s.name),
                    ),
                    Some(&to) => {
                        graph.add_edge(index[&s.name], to, ());
                    }
                }
            }
        }

        // Cycles: every strongly connected component of more than one service holds one.
        for scc in tarjan_scc(&graph) {
            if scc.len() < 2 {
                continue;
            }
            let start = *scc.iter().min().expect("non-empty");
            let path = cycle_through(&graph, start, &scc);
            let first = &config.services[start.index()];
            let second = &graph[path[1]];
            let dep = first
                .dependencies
                .iter()
                .position(|d| &d.name == second)
                .expect("edge came from this list");
            let shown: Vec<&str> = path.iter().map(|&n| graph[n].as_str()).collect();
            error(
                &mut diags,
                &first.name,
                &first.dependencies[dep].span,
                format!("services.{}.dependencies[{dep}]", first.name),
                format!(
                    "dependency cycle: {} (each service depends on the next)",
                    shown.join(" -> ")
                ),
            );
        }

        // Conflicts are symmetric; a service cannot need what it conflicts with.
        let mut conflicts = Vec::new();
        for s in &config.services {
            for (i, c) in s.conflicts.iter().enumerate() {
                let key = format!("services.{}.conflicts[{i}]", s.name);
                if c.name == s.name {
                    error(
                        &mut diags,
                        &s.name,
                        &c.span,
                        key,
                        format!("service `{}` conflicts with itself", s.name),
                    );
                    continue;
                }
                if s.dependencies.iter().any(|d| d.name == c.name) {
                    error(
                        &mut diags,
                        &s.name,
                        &c.span,
                        key,
                        format!(
                            "service `{}` both depends on and conflicts with `{}`",
                            s.name, c.name
                        ),
                    );
                    continue;
                }
                if let Some(other) = config.service(&c.name)
                    && s.startup.auto_start
                    && other.startup.auto_start
                {
                    error(
                        &mut diags,
                        &s.name,
                        &c.span,
                        key,
                        format!(
                            "services `{}` and `{}` conflict but both have auto_start = true, so `platform start` could never start both",
                            s.name, c.name
                        ),
                    );
                }
                let pair = ordered(&s.name, &c.name);
                if !conflicts.contains(&pair) {
                    conflicts.push(pair);
                }
            }
        }
        if !diags.is_empty() {
            let mut d = Diagnostics(diags);
            d.0.sort_by_key(|d| (d.location.line, d.location.column));
            return Err(d);
        }

        let rank = config
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.startup.start_order, i))
            .collect();
        let mut level = vec![usize::MAX; graph.node_count()];
        for n in graph.node_indices() {
            level_of(&graph, n, &mut level);
        }
        let mut operations: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &config.services {
            for op in &s.required_for {
                operations
                    .entry(op.clone())
                    .or_default()
                    .push(s.name.clone());
            }
        }
        Ok(Self {
            graph,
            index,
            rank,
            level,
            conflicts,
            operations,
        })
    }

    fn node(&self, name: &str) -> Option<NodeIndex> {
        self.index.get(name).copied()
    }

    fn names(&self, nodes: impl IntoIterator<Item = NodeIndex>) -> Vec<&str> {
        let mut v: Vec<NodeIndex> = nodes.into_iter().collect();
        v.sort_by_key(|n| self.rank[n.index()].1);
        v.into_iter().map(|n| self.graph[n].as_str()).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Services that can start together, level by level: every service comes after all its
    /// dependencies; within a level, by `start_order`, then file order.
    pub fn start_levels(&self) -> Vec<Vec<&str>> {
        self.levels_of(self.graph.node_indices())
    }

    /// The start plan for `targets` and everything they depend on, level by level. Unknown names
    /// are an error naming them.
    pub fn plan(&self, targets: &[&str]) -> Result<Vec<Vec<&str>>, UnknownService> {
        let mut nodes = Vec::new();
        for t in targets {
            let n = self.node(t).ok_or_else(|| self.unknown(t))?;
            nodes.push(n);
            nodes.extend(self.walk(n, Direction::Outgoing));
        }
        nodes.sort();
        nodes.dedup();
        Ok(self.levels_of(nodes))
    }

    /// What a start of `targets` brings up, level by level: with `with_dependencies` (the
    /// orchestrator's `auto_start_dependencies`) the whole `plan`, else only the targets, in
    /// the same order. The daemon and the CLI both plan with this, so what the CLI reports is
    /// what the daemon starts.
    pub fn start_plan(
        &self,
        targets: &[&str],
        with_dependencies: bool,
    ) -> Result<Vec<Vec<&str>>, UnknownService> {
        let mut levels = self.plan(targets)?;
        if !with_dependencies {
            for l in &mut levels {
                l.retain(|s| targets.contains(s));
            }
            levels.retain(|l| !l.is_empty());
        }
        Ok(levels)
    }

    fn levels_of(&self, nodes: impl IntoIterator<Item = NodeIndex>) -> Vec<Vec<&str>> {
        let mut levels: Vec<Vec<NodeIndex>> = Vec::new();
        for n in nodes {
            let l = self.level[n.index()];
            if levels.len() <= l {
                levels.resize(l + 1, Vec::new());
            }
            levels[l].push(n);
        }
        levels
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|mut l| {
                l.sort_by_key(|n| self.rank[n.index()]);
                l.into_iter().map(|n| self.graph[n].as_str()).collect()
            })
            .collect()
    }

    /// All services in start order.
    pub fn start_order(&self) -> Vec<&str> {
        self.start_levels().into_iter().flatten().collect()
    }

    /// All services in stop order: dependents before their dependencies.
    pub fn stop_order(&self) -> Vec<&str> {
        let mut v = self.start_order();
        v.reverse();
        v
    }

    /// What `name` depends on directly.
    pub fn dependencies(&self, name: &str) -> Vec<&str> {
        self.neighbors(name, Direction::Outgoing)
    }

    /// What depends on `name` directly.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        self.neighbors(name, Direction::Incoming)
    }

    /// Everything `name` needs, directly or not.
    pub fn all_dependencies(&self, name: &str) -> Vec<&str> {
        self.node(name)
            .map(|n| self.names(self.walk(n, Direction::Outgoing)))
            .unwrap_or_default()
    }

    /// Everything that needs `name`, directly or not ("required by").
    pub fn all_dependents(&self, name: &str) -> Vec<&str> {
        self.node(name)
            .map(|n| self.names(self.walk(n, Direction::Incoming)))
            .unwrap_or_default()
    }

    fn neighbors(&self, name: &str, dir: Direction) -> Vec<&str> {
        self.node(name)
            .map(|n| self.names(self.graph.neighbors_directed(n, dir)))
            .unwrap_or_default()
    }

    fn walk(&self, from: NodeIndex, dir: Direction) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.graph.node_count()];
        let mut out = Vec::new();
        let mut queue: VecDeque<NodeIndex> = self.graph.neighbors_directed(from, dir).collect();
        while let Some(n) = queue.pop_front() {
            if !std::mem::replace(&mut seen[n.index()], true) {
                out.push(n);
                queue.extend(self.graph.neighbors_directed(n, dir));
            }
        }
        out
    }

    /// The 0-based start level of a service.
    pub fn level(&self, name: &str) -> Option<usize> {
        self.node(name).map(|n| self.level[n.index()])
    }

    /// Names `name` conflicts with, declared on either side (may include unmanaged programs).
    pub fn conflicts_of(&self, name: &str) -> Vec<&str> {
        self.conflicts
            .iter()
            .filter_map(|(a, b)| {
                if a == name {
                    Some(b.as_str())
                } else if b == name {
                    Some(a.as_str())
                } else {
                    None
                }
            })
            .collect()
    }

    /// Operation -> the services it requires (`required_for`).
    pub fn operations(&self) -> &BTreeMap<String, Vec<String>> {
        &self.operations
    }

    /// An error for an unknown service name, with a suggestion.
    pub fn unknown(&self, name: &str) -> UnknownService {
        let names: Vec<&str> = self.graph.node_weights().map(|s| s.as_str()).collect();
        UnknownService {
            name: name.to_string(),
            hint: suggestion(name, names),
        }
    }
}

/// A name that is not a service of the config.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown service `{name}`{hint}")]
pub struct UnknownService {
    pub name: String,
    hint: String,
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.into(), b.into())
    } else {
        (b.into(), a.into())
    }
}

fn level_of(g: &DiGraph<String, ()>, n: NodeIndex, memo: &mut [usize]) -> usize {
    if memo[n.index()] != usize::MAX {
        return memo[n.index()];
    }
    let l = g
        .neighbors(n)
        .map(|d| level_of(g, d, memo) + 1)
        .max()
        .unwrap_or(0);
    memo[n.index()] = l;
    l
}

/// The shortest cycle from `start` back to itself inside one strongly connected component,
/// as a path that ends where it began.
fn cycle_through(g: &DiGraph<String, ()>, start: NodeIndex, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        // Neighbours in file order keep the reported path stable.
        let mut next: Vec<NodeIndex> = g.neighbors(n).filter(|m| scc.contains(m)).collect();
        next.sort();
        for m in next {
            if m == start {
                let mut chain = Vec::new();
                let mut cur = n;
                while cur != start {
                    chain.push(cur);
                    cur = prev[&cur];
                }
                chain.reverse();
                let mut path = vec![start];
                path.extend(chain);
                path.push(start);
                return path;
            }
            if m != start && !prev.contains_key(&m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    unreachable!(
        "a strongly connected component of two or more nodes has a cycle through each node"
    )
}

#[cfg(test)]
mod tests;
