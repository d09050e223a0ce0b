//! The platform-wide tables: `[orchestrator]` and `[plugins]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::{GrantSettings, OrchestratorSettings, PluginSettings};
use super::node::Node;
use super::reader::Cx;

pub(super) const GRANT_KEYS: [&str; 10] = [
    "network",
    "commands",
    "paths",
    "unix_sockets",
    "env",
    "memory_mb",
    "timeout_ms",
    "store",
    "services",
    "write_paths",
];
pub(super) const ORCHESTRATOR_KEYS: [&str; 1] = ["services"];
pub(super) const ORCHESTRATOR_SERVICES_KEYS: [&str; 1] = ["auto_start_dependencies"];
pub(super) const PLUGINS_KEYS: [&str; 2] = ["dir", "grants"];

/// `[orchestrator]`: only its `services` table is defined.
pub(super) fn orchestrator(cx: &mut Cx, node: &Node) -> OrchestratorSettings {
    let mut out = OrchestratorSettings::default();
    let Some(t) = cx.table(node, "orchestrator") else {
        return out;
    };
    cx.unknown_keys(t, "orchestrator", &ORCHESTRATOR_KEYS);
    if let Some(e) = t.get("services")
        && let Some(s) = cx.table(&e.node, "orchestrator.services")
    {
        let path = "orchestrator.services";
        cx.unknown_keys(s, path, &ORCHESTRATOR_SERVICES_KEYS);
        if let Some(b) = cx.boolean(s, path, "auto_start_dependencies") {
            out.auto_start_dependencies = b;
        }
    }
    out
}

/// `[plugins]`: the third-party plugin directory (relative to the config file) and the grants.
pub(super) fn plugins(cx: &mut Cx, node: &Node, config_path: &Path) -> PluginSettings {
    let mut out = PluginSettings::default();
    let Some(t) = cx.table(node, "plugins") else {
        return out;
    };
    cx.unknown_keys(t, "plugins", &PLUGINS_KEYS);
    if let Some(dir) = cx.string(t, "plugins", "dir") {
        out.dir = Some(relative_to(config_path, dir));
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
                    store: cx.boolean(gt, &path, "store").unwrap_or(false),
                    services: cx.boolean(gt, &path, "services").unwrap_or(false),
                    write_paths: cx
                        .strings(gt, &path, "write_paths")
                        .into_iter()
                        .map(|p| relative_to(config_path, p))
                        .collect(),
                },
            );
        }
        out.grants = grants;
    }
    out
}

/// A path as written in the config: absolute, or relative to the config file's directory
/// (made absolute, so that it means the same whatever the working directory).
fn relative_to(config_path: &Path, path: String) -> PathBuf {
    let path = PathBuf::from(path);
    let joined = match config_path.parent() {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    };
    std::path::absolute(&joined).unwrap_or(joined)
}
