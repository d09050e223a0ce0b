//! `keel plugins list|inspect`; `call`, `install` and `remove` are in `plugin_kit`, `new` in
//! `plugin_new`.

use clap::Subcommand;
use serde::Serialize;

use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{BOLD, RED, styled, table};
use super::report::{Report, emit};
use crate::plugins::{self, PluginDescription, PluginSummary};

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the loaded plugins: name, kind, WIT version, source, granted capabilities
    List,
    /// Show a plugin's world, imports, exports and what it can ask for
    Inspect {
        /// A loaded plugin's name, or the path of a .wasm file
        #[arg(add = super::completions::plugins())]
        target: String,
    },
    /// Run one function of a plugin (a file or a name) with only the grants given here
    Call(super::plugin_kit::CallArgs),
    /// Check a plugin file, precompile it, and place it in the plugins directory
    Install(super::plugin_kit::InstallArgs),
    /// Take an installed plugin out of the plugins directory
    Remove(super::plugin_kit::RemoveArgs),
    /// Write a new plugin project (a health check, a deployment mode or a hook) into NAME/
    New(super::plugin_new::NewArgs),
}

pub fn run(cx: &Context, cmd: PluginsCommand) -> Result<Exit, Failure> {
    let cmd = match cmd {
        PluginsCommand::Call(args) => return super::plugin_kit::call(cx, args),
        PluginsCommand::Install(args) => return super::plugin_kit::install(cx, args),
        PluginsCommand::Remove(args) => return super::plugin_kit::remove(cx, args),
        PluginsCommand::New(args) => return super::plugin_new::new(cx, args),
        other => other,
    };
    let (config, _) = cx.load()?;
    let state = cx.state_dir()?;
    let host = block_on(plugins::host_with_all(&config, &state)).map_err(Failure::other)?;
    match cmd {
        PluginsCommand::List => {
            let list = PluginList {
                plugins: host.list(),
                load_errors: host.load_errors().iter().map(|e| e.to_string()).collect(),
            };
            Ok(emit(cx.json, &list))
        }
        PluginsCommand::Inspect { target } => {
            let d = block_on(host.inspect(&target))
                .map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
            Ok(emit(cx.json, &Inspected(d)))
        }
        PluginsCommand::Call(_)
        | PluginsCommand::Install(_)
        | PluginsCommand::Remove(_)
        | PluginsCommand::New(_) => {
            unreachable!("answered above")
        }
    }
}

/// `plugins list`.
#[derive(Serialize)]
struct PluginList {
    plugins: Vec<PluginSummary>,
    load_errors: Vec<String>,
}

impl Report for PluginList {
    fn text(&self) -> String {
        let rows = self
            .plugins
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.kind.to_string(),
                    p.wit_version.clone(),
                    p.source.to_string(),
                    short(&p.sha256).to_string(),
                    p.grant.clone(),
                ]
            })
            .collect();
        format!(
            "{}\n",
            table(&["name", "kind", "wit", "source", "sha256", "grant"], rows)
        )
    }

    fn notes(&self) -> String {
        self.load_errors
            .iter()
            .map(|e| format!("{} {e}\n", styled(RED, "not loaded:")))
            .collect()
    }
}

/// The first 12 hex digits of a hash: enough to tell builds apart at a glance (`--json` has
/// the whole of it).
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// `plugins inspect`.
#[derive(Serialize)]
#[serde(transparent)]
struct Inspected(PluginDescription);

impl Report for Inspected {
    fn text(&self) -> String {
        let d = &self.0;
        let name = d.name.as_deref().unwrap_or("(unknown)");
        let mut out = format!("{}\n", styled(BOLD, format!("Plugin: {name}")));
        out += &format!("Source: {}\n", d.source);
        out += &format!("sha256: {}\n", d.sha256);
        if let Some(v) = &d.version {
            out += &format!("Version: {v}\n");
        }
        if let Some(t) = &d.description {
            out += &format!("Description: {t}\n");
        }
        match (&d.kind, &d.wit_version) {
            (Some(k), Some(v)) => {
                // Hooks are of two worlds: `lifecycle-plugin`, or 0.1.0's `hook-plugin`.
                let lifecycle = d
                    .exports
                    .iter()
                    .any(|e| e.starts_with("keel:plugin/lifecycle@"));
                let world = if lifecycle {
                    "lifecycle-plugin"
                } else {
                    k.world()
                };
                out += &format!("World: {world} (keel:plugin@{v})\n")
            }
            _ => out += "World: none of Keel's\n",
        }
        out += "Exports:\n";
        for e in &d.exports {
            out += &format!("  - {e}\n");
        }
        out += "Imports:\n";
        for i in &d.imports {
            out += &format!("  - {i}\n");
        }
        out += "Can ask for:\n";
        if d.capabilities.is_empty() {
            out += "  nothing\n";
        }
        for c in &d.capabilities {
            out += &format!("  - {} (through {})\n", c.kind, c.via);
        }
        if let Some(p) = &d.problem {
            out += &format!("{} {p}\n", styled(RED, "Refused:"));
        }
        out
    }

    fn exit(&self) -> Exit {
        if self.0.problem.is_some() {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }
}
