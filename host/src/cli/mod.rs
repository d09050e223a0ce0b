//! The `keel` command line: argument parsing (clap) and dispatch to one module per command
//! group. Shared ground: `context` (options, config, client, failures and exit statuses),
//! `client` (the control API over the Unix socket), `report` (text or JSON, in one place) and
//! `fmt` (styles and tables).

mod client;
mod completions;
mod context;
mod daemon;
mod fmt;
mod graph;
mod health;
mod live;
mod man;
mod platform;
mod plugin_kit;
mod plugin_new;
mod plugins;
mod progress;
mod reload;
mod report;
mod schema;
mod services;
mod top;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use context::Context;
pub use context::{Exit, Failure};
use fmt::{RED, styled};

#[derive(Debug, Parser)]
#[command(
    name = "keel",
    version,
    about = "Keel runs a platform's services: supervision, dependency order, WebAssembly plugins"
)]
pub struct Cli {
    /// The services.toml to use [default: $KEEL_CONFIG, then ./services.toml, then ./config/services.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON document (`{"success": …, "data" | "error": …}`) instead of text
    #[arg(long, global = true)]
    json: bool,
    /// The daemon's state directory [default: $KEEL_STATE_DIR, then ~/.keel]
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work on the platform as a whole
    #[command(subcommand)]
    Platform(platform::PlatformCommand),
    /// Work on individual services
    #[command(subcommand)]
    Services(services::ServicesCommand),
    /// Run the supervisor daemon in the foreground, or stop / ask the running one
    Daemon(daemon::DaemonArgs),
    /// The loaded WebAssembly plugins
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// A live dashboard: every service's status, health and uptime, the selected service's
    /// log, and keys to start, stop and restart (`?` for help)
    Top,
    /// Print the script that makes a shell complete Keel's commands, services and plugins
    Completions {
        /// The shell to print the script for
        shell: completions::Shell,
    },
    /// Print Keel's manual page (roff; `keel man | man -l -`)
    Man,
    /// About services.toml itself: its JSON Schema
    #[command(subcommand)]
    Config(schema::ConfigCommand),
}

/// Parses the command line, runs the command, and returns the exit status.
pub fn run() -> ExitCode {
    completions::answer_if_asked(Cli::command);
    let cli = Cli::parse();
    let cx = Context::new(cli.json, cli.config, cli.state_dir);
    let result = match cli.command {
        Command::Platform(c) => platform::run(&cx, c),
        Command::Services(c) => services::run(&cx, c),
        Command::Daemon(a) => daemon::run(&cx, a),
        Command::Plugins(c) => plugins::run(&cx, c),
        Command::Top => top::run(&cx),
        Command::Completions { shell } => completions::print_registration(shell),
        Command::Man => man::print(Cli::command()),
        Command::Config(c) => schema::run(&cx, c),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            if cx.json {
                report::json_error(&f.message, f.details.as_deref());
            } else if let Some(text) = &f.text {
                anstream::print!("{text}");
            } else {
                anstream::eprintln!("{} {}", styled(RED, "error:"), f.message);
            }
            f.exit.into()
        }
    }
}
