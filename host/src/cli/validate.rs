//! `keel services validate`: the schema, references and dependency graph, then each service's
//! plugins (settings validation, grants and pre-flight), every problem at its place in the
//! file.

use std::path::PathBuf;

use serde::Serialize;

use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{GREEN, RED, styled};
use super::report::Report;
use crate::config::{self, Diagnostic};
use crate::graph::ServiceGraph;
use crate::plugins;

#[derive(Serialize)]
struct Invalid {
    service: String,
    problems: Vec<Diagnostic>,
}

#[derive(Serialize)]
pub struct Validation {
    config: PathBuf,
    total: usize,
    valid: usize,
    invalid: usize,
    invalid_services: Vec<Invalid>,
    file_problems: Vec<Diagnostic>,
}

impl Validation {
    fn ok(&self) -> bool {
        self.invalid_services.is_empty() && self.file_problems.is_empty()
    }
}

impl Report for Validation {
    fn text(&self) -> String {
        let mut out = format!(
            "Total services: {}\nValid: {}\nInvalid: {}\n",
            self.total, self.valid, self.invalid
        );
        if !self.invalid_services.is_empty() {
            out += "\nInvalid services:\n";
            for i in &self.invalid_services {
                out += &format!("{} {}:\n", styled(RED, "❌"), i.service);
                for p in &i.problems {
                    out += &format!("  - {p}\n");
                }
            }
        }
        if !self.file_problems.is_empty() {
            out += &format!("\nProblems in {}:\n", self.config.display());
            for p in &self.file_problems {
                out += &format!("{} {p}\n", styled(RED, "❌"));
            }
        }
        if self.ok() {
            out += &format!(
                "{} {} is valid\n",
                styled(GREEN, "✅"),
                self.config.display()
            );
        }
        out
    }

    fn exit(&self) -> Exit {
        if self.ok() { Exit::Ok } else { Exit::Failed }
    }
}

pub fn validate(cx: &Context) -> Result<Validation, Failure> {
    let path = cx.config_path()?;
    let (config, mut diags) = config::load_lenient(&path)?;
    // The graph is only meaningful once every service could be read.
    if let Some(c) = config.as_ref().filter(|_| diags.is_empty())
        && let Err(d) = ServiceGraph::build(c)
    {
        diags = d;
    }
    // Then each service's plugins: the mode's validation and pre-flight, the check's validation.
    if let Some(c) = config.as_ref().filter(|_| diags.is_empty()) {
        let state = cx.state_dir()?;
        let found = block_on(plugins::problems(c, &state)).map_err(Failure::other)?;
        diags.0.extend(found);
    }
    let mut names: Vec<String> = config
        .iter()
        .flat_map(|c| c.services.iter().map(|s| s.name.clone()))
        .collect();
    let mut invalid: Vec<Invalid> = Vec::new();
    let mut file_problems = Vec::new();
    for d in diags.iter() {
        match &d.service {
            Some(s) => {
                if !names.contains(s) {
                    names.push(s.clone());
                }
                match invalid.iter_mut().find(|i| &i.service == s) {
                    Some(i) => i.problems.push(d.clone()),
                    None => invalid.push(Invalid {
                        service: s.clone(),
                        problems: vec![d.clone()],
                    }),
                }
            }
            None => file_problems.push(d.clone()),
        }
    }
    let total = names.len();
    Ok(Validation {
        config: path,
        total,
        valid: total - invalid.len(),
        invalid: invalid.len(),
        invalid_services: invalid,
        file_problems,
    })
}
