//! `keel man`: the manual page (roff), generated from the same clap definitions as `--help`:
//! the top-level page (synopsis, options) with a COMMANDS section listing every command with
//! its usage and what it does.

use std::io::Write;

use clap_mangen::roff::{Roff, bold, roman};

use super::context::{Exit, Failure};

/// Prints the page on stdout.
pub fn print(cli: clap::Command) -> Result<Exit, Failure> {
    let mut cli = cli;
    cli.build();
    let man = clap_mangen::Man::new(cli.clone());
    // clap_mangen's own list of subcommands points at a page per command group, which Keel
    // does not ship: this page lists every command itself instead.
    let mut sections = Vec::new();
    let write = |e: std::io::Error| Failure::new(Exit::Failed, format!("writing the page: {e}"));
    man.render_title(&mut sections).map_err(write)?;
    man.render_name_section(&mut sections).map_err(write)?;
    man.render_synopsis_section(&mut sections).map_err(write)?;
    man.render_description_section(&mut sections)
        .map_err(write)?;
    man.render_options_section(&mut sections).map_err(write)?;
    commands_section(&cli)
        .to_writer(&mut sections)
        .map_err(write)?;
    man.render_version_section(&mut sections).map_err(write)?;
    // Each section comes with the same preamble (defining the apostrophe string): once is enough.
    let preamble = Roff::new().render();
    let body = String::from_utf8_lossy(&sections).replace(&preamble, "");
    std::io::stdout()
        .write_all(format!("{preamble}{body}").as_bytes())
        .map_err(write)?;
    Ok(Exit::Ok)
}

/// Every command that does something (the leaves of the command tree), in definition order.
fn commands_section(cli: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    let mut leaves = Vec::new();
    collect_leaves(cli, &mut Vec::new(), &mut leaves);
    for (path, cmd) in leaves {
        // "Usage: keel daemon [OPTIONS]" (a command that also has subcommands adds a line for
        // them, listed here on their own).
        let usage = cmd.clone().render_usage().to_string();
        let words = path.join(" ");
        let args = usage
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("Usage: ")
            .trim_start_matches(words.as_str())
            .trim_start()
            .to_string();
        roff.control("TP", []);
        roff.text([bold(words), roman(format!(" {args}"))]);
        if let Some(about) = cmd.get_about() {
            roff.text([roman(about.to_string())]);
        }
    }
    roff
}

fn collect_leaves<'a>(
    cmd: &'a clap::Command,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a clap::Command)>,
) {
    path.push(cmd.get_name().to_string());
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    // A group that also runs on its own (`keel daemon`) is a command too.
    if subs.is_empty() || !cmd.is_subcommand_required_set() && path.len() > 1 {
        out.push((path.clone(), cmd));
    }
    for s in subs {
        collect_leaves(s, path, out);
    }
    path.pop();
}
