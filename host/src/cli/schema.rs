//! `keel config schema`: the JSON Schema of services.toml, for editors. Needs no config.

use clap::Subcommand;
use serde::Serialize;

use super::context::{Context, Exit, Failure};
use super::report::{Report, emit};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of services.toml (for editors that check TOML: Taplo, Even Better TOML)
    Schema,
}

pub fn run(cx: &Context, cmd: ConfigCommand) -> Result<Exit, Failure> {
    match cmd {
        ConfigCommand::Schema => Ok(emit(cx.json, &SchemaDocument(crate::config::json_schema()))),
    }
}

/// The schema itself is the text (a file to save); `--json` wraps it in the envelope like every
/// other answer.
#[derive(Serialize)]
#[serde(transparent)]
struct SchemaDocument(serde_json::Value);

impl Report for SchemaDocument {
    fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.0).expect("a JSON value serializes");
        text.push('\n');
        text
    }
}
