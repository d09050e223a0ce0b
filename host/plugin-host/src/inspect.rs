//! What a component is, read from its type alone: the world it targets (from its exports), what
//! it imports, whether the host provides all of that, and which capabilities the imports imply.

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::{Component, types::ComponentItem};

use crate::types::{CapabilityKind, PluginKind};

/// The WIT package versions this host has bindings for (major.minor; any patch).
const SUPPORTED: &[(u64, u64)] = &[(0, 1)];

/// A capability class a component can use, with the import that gives it away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedCapability {
    /// The class.
    pub kind: CapabilityKind,
    /// The import (and function, for `keel:plugin/host`) that gives it.
    pub via: String,
}

/// The type-level description of a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentShape {
    /// The world it targets and the exact `keel:plugin` version, when it targets a supported one.
    pub world: Option<(PluginKind, String)>,
    /// Why `world` is `None`, when a more specific reason than "no Keel world" is known.
    pub world_problem: Option<String>,
    /// Every export name.
    pub exports: Vec<String>,
    /// Every import name (for `keel:plugin/host`, with the functions used).
    pub imports: Vec<String>,
    /// Imports the host does not provide.
    pub unsupported: Vec<String>,
    /// Capability classes the imports make possible (what the grant may have to cover).
    pub capabilities: Vec<ImportedCapability>,
    /// The sha256 of the component's bytes, in hex: which build this is.
    pub sha256: String,
}

/// Reads the shape of `component`.
pub(crate) fn shape(engine: &Engine, component: &Component) -> ComponentShape {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut imports = Vec::new();
    let mut unsupported = Vec::new();
    let mut capabilities = Vec::new();
    for (name, item) in ty.imports(engine) {
        let functions: Vec<String> = match &item.ty {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(engine)
                .map(|(f, _)| f.to_string())
                .collect(),
            _ => Vec::new(),
        };
        if name.starts_with("keel:plugin/host@") {
            imports.push(format!("{name} {{{}}}", functions.join(", ")));
        } else {
            imports.push(name.to_string());
        }
        if !provided(name) {
            unsupported.push(name.to_string());
        }
        capabilities.extend(implied(name, &functions));
    }
    capabilities.dedup();
    let (world, world_problem) = classify(&exports);
    ComponentShape {
        world,
        world_problem,
        exports,
        imports,
        unsupported,
        capabilities,
        sha256: String::new(),
    }
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, (1, 2)).
fn split(name: &str) -> Option<(&str, (u64, u64))> {
    let (path, version) = name.split_once('@')?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((path, (major, minor)))
}

fn classify(exports: &[String]) -> (Option<(PluginKind, String)>, Option<String>) {
    let mut describe = false;
    let mut found = Vec::new();
    let mut unsupported_versions = Vec::new();
    for export in exports {
        let Some((path, version)) = split(export) else {
            continue;
        };
        let kind = match path {
            "keel:plugin/plugin" => None,
            "keel:plugin/health-check" => Some(PluginKind::HealthCheck),
            "keel:plugin/deployment" => Some(PluginKind::Deployment),
            "keel:plugin/hook" | "keel:plugin/lifecycle" => Some(PluginKind::Hook),
            _ => continue,
        };
        if !SUPPORTED.contains(&version) {
            unsupported_versions.push(export.clone());
            continue;
        }
        match kind {
            None => describe = true,
            Some(kind) => found.push((
                kind,
                export
                    .split_once('@')
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
            )),
        }
    }
    if !unsupported_versions.is_empty() && found.is_empty() {
        return (
            None,
            Some(format!(
                "{} is built for a keel:plugin version this host does not support",
                unsupported_versions.join(", ")
            )),
        );
    }
    match (describe, found.as_slice()) {
        (true, [one]) => (Some(one.clone()), None),
        (false, [_]) => (
            None,
            Some("it does not export keel:plugin/plugin (describe)".into()),
        ),
        (_, [_, _, ..]) => (
            None,
            Some("it exports more than one plugin interface".into()),
        ),
        _ => (None, None),
    }
}

/// Whether the host's linker provides the import `name`.
fn provided(name: &str) -> bool {
    let Some((path, version)) = split(name) else {
        return false;
    };
    let Some((package, _)) = path.split_once('/') else {
        return false;
    };
    match package {
        "wasi:cli" | "wasi:clocks" | "wasi:filesystem" | "wasi:io" | "wasi:random"
        | "wasi:sockets" | "wasi:http" => version.0 == 0 && version.1 == 2,
        "keel:plugin" => {
            SUPPORTED.contains(&version)
                && matches!(
                    path,
                    "keel:plugin/host"
                        | "keel:plugin/types"
                        | "keel:plugin/store"
                        | "keel:plugin/services"
                        | "keel:plugin/files"
                )
        }
        _ => false,
    }
}

fn implied(name: &str, functions: &[String]) -> Vec<ImportedCapability> {
    let path = name.split('@').next().unwrap_or(name);
    let via = |kind, via: String| ImportedCapability { kind, via };
    match path {
        p if p.starts_with("wasi:sockets/") => vec![via(CapabilityKind::Network, name.to_string())],
        "wasi:http/outgoing-handler" => vec![via(CapabilityKind::Network, name.to_string())],
        "wasi:filesystem/preopens" => vec![via(CapabilityKind::Path, name.to_string())],
        "wasi:cli/environment" => vec![via(CapabilityKind::Env, name.to_string())],
        "keel:plugin/store" => vec![via(CapabilityKind::Store, name.to_string())],
        "keel:plugin/services" => vec![via(CapabilityKind::Services, name.to_string())],
        "keel:plugin/files" => vec![via(CapabilityKind::WriteFiles, name.to_string())],
        "keel:plugin/host" => functions
            .iter()
            .filter_map(|f| {
                let kind = match f.as_str() {
                    "run-command" => CapabilityKind::Command,
                    "stat-path" => CapabilityKind::Path,
                    "unix-exchange" => CapabilityKind::UnixSocket,
                    "tcp-probe" => CapabilityKind::Network,
                    _ => return None,
                };
                Some(via(kind, format!("{name}#{f}")))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_worlds() {
        let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            classify(&e(&[
                "keel:plugin/plugin@0.1.0",
                "keel:plugin/health-check@0.1.0"
            ]))
            .0,
            Some((PluginKind::HealthCheck, "0.1.0".into()))
        );
        assert_eq!(
            classify(&e(&["keel:plugin/plugin@0.1.3", "keel:plugin/hook@0.1.3"])).0,
            Some((PluginKind::Hook, "0.1.3".into()))
        );
        let (w, why) = classify(&e(&["keel:plugin/plugin@0.2.0", "keel:plugin/hook@0.2.0"]));
        assert!(w.is_none() && why.unwrap().contains("version"));
        assert_eq!(classify(&e(&["wasi:cli/run@0.2.0"])), (None, None));
    }

    #[test]
    fn provided_imports() {
        assert!(provided("wasi:sockets/tcp@0.2.12"));
        assert!(provided("keel:plugin/host@0.1.0"));
        assert!(!provided("keel:plugin/host@0.2.0"));
        assert!(!provided("acme:evil/api@1.0.0"));
        assert!(!provided("wasi:sockets/tcp@0.3.0"));
    }
}
