//! What the lifecycle hook tests share: a platform with the `hook-act` fixture (a third-party
//! component built from plugins/fixtures) and the config text of services and hook entries.

use crate::{Platform, repo_root};

/// A platform whose plugin directory holds `hook-act`, granted writing under `rec/` and its
/// store; `grant` adds lines to its grant.
pub fn platform(services: &str, grant: &str) -> Platform {
    let config = format!(
        r#"
[plugins]
dir = "plugins"
[plugins.grants.hook-act]
write_paths = ["rec"]
store = true
{grant}
{services}
"#
    );
    let p = Platform::new(&config);
    let plugins = p.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(p.dir.path().join("rec")).unwrap();
    std::fs::copy(
        repo_root().join("plugins/dist/fixtures/hook-act.wasm"),
        plugins.join("hook-act.wasm"),
    )
    .unwrap();
    p
}

/// A service running `sh -c SCRIPT`, with `extra` lines in its table.
pub fn svc(name: &str, script: &str, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", {script:?}]
"#
    )
}

/// A hook entry of `service` running hook-act with `settings` in `phases`.
pub fn hook(service: &str, phases: &[&str], settings: &str, extra: &str) -> String {
    let phases: Vec<String> = phases.iter().map(|p| format!("{p:?}")).collect();
    format!(
        r#"
[[services.{service}.hooks]]
plugin = "hook-act"
phases = [{}]
{extra}
settings = {{ {settings} }}
"#,
        phases.join(", ")
    )
}

/// A status document's PID.
pub fn pid(v: &serde_json::Value) -> i64 {
    v["pid"].as_i64().expect("a pid")
}
