//! `keel plugins list|inspect`.

use clap::Subcommand;
use serde_json::json;

use super::output::{BOLD, json_ok, styled, table};
use super::{Context, Exit, Failure, block_on};
use crate::plugins;

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the loaded plugins: name, kind, WIT version, source, granted capabilities
    List,
    /// Show a plugin's world, imports, exports and what it can ask for
    Inspect {
        /// A loaded plugin's name, or the path of a .wasm file
        target: String,
    },
}

pub fn run(cx: &Context, cmd: PluginsCommand) -> Result<Exit, Failure> {
    let (config, _) = cx.load()?;
    let state = cx.state_dir()?;
    let host = block_on(plugins::host_with_all(&config, &state))
        .map_err(|e| Failure::new(Exit::Failed, format!("{e:#}")))?;
    match cmd {
        PluginsCommand::List => {
            let list = host.list();
            let errors: Vec<String> = host.load_errors().iter().map(|e| e.to_string()).collect();
            if cx.json {
                json_ok(&json!({ "plugins": list, "load_errors": errors }));
                return Ok(Exit::Ok);
            }
            let rows = list
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.kind.to_string(),
                        p.wit_version.clone(),
                        p.source.to_string(),
                        p.grant.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["name", "kind", "wit", "source", "grant"], rows)
            );
            for e in &errors {
                anstream::eprintln!("{} {e}", styled(super::output::RED, "not loaded:"));
            }
            Ok(Exit::Ok)
        }
        PluginsCommand::Inspect { target } => {
            let d = block_on(host.inspect(&target))
                .map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
            if cx.json {
                json_ok(&d);
                return Ok(if d.problem.is_some() {
                    Exit::Failed
                } else {
                    Exit::Ok
                });
            }
            anstream::println!(
                "{}",
                styled(
                    BOLD,
                    format!("Plugin: {}", d.name.as_deref().unwrap_or("(unknown)"))
                )
            );
            println!("Source: {}", d.source);
            if let Some(v) = &d.version {
                println!("Version: {v}");
            }
            if let Some(t) = &d.description {
                println!("Description: {t}");
            }
            match (&d.kind, &d.wit_version) {
                (Some(k), Some(v)) => println!("World: {} (keel:plugin@{v})", k.world()),
                _ => println!("World: none of Keel's"),
            }
            println!("Exports:");
            for e in &d.exports {
                println!("  - {e}");
            }
            println!("Imports:");
            for i in &d.imports {
                println!("  - {i}");
            }
            println!("Can ask for:");
            if d.capabilities.is_empty() {
                println!("  nothing");
            }
            for c in &d.capabilities {
                println!("  - {} (through {})", c.kind, c.via);
            }
            if let Some(p) = &d.problem {
                anstream::println!("{} {p}", styled(super::output::RED, "Refused:"));
                return Ok(Exit::Failed);
            }
            Ok(Exit::Ok)
        }
    }
}
