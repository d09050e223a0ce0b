//! The `keel` command line: argument parsing (clap) and dispatch to one module per command group.

mod daemon;
mod lifecycle;
mod output;
mod platform;
mod plugins;
mod services;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigError};
use crate::daemon::client::{Client, ClientError};
use crate::graph::ServiceGraph;
use crate::state::StateDir;
use output::{RED, json_error, styled};

/// Exit statuses, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked, and every check it reports passed.
    Ok = 0,
    /// The command ran but its answer is "no": invalid services, required services not running.
    Failed = 1,
    /// Bad command line (clap's own status).
    Usage = 2,
    /// The config file is missing, unreadable or invalid.
    Config = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

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
}

/// What every command gets: the parsed options and a way to load the config.
pub struct Context {
    pub json: bool,
    config_flag: Option<PathBuf>,
    state_flag: Option<PathBuf>,
    /// Whether this command has loaded the config without a problem already.
    loaded: std::cell::Cell<bool>,
}

impl Context {
    /// The config file's path, found as the README describes.
    pub fn config_path(&self) -> Result<PathBuf, ConfigError> {
        config::locate(
            self.config_flag.as_deref(),
            std::env::var("KEEL_CONFIG").ok().as_deref(),
        )
    }

    /// The loaded config and its dependency graph; any problem is a [`Failure`].
    pub fn load(&self) -> Result<(Config, ServiceGraph), Failure> {
        let path = self.config_path()?;
        let config = config::load(&path)?;
        let graph = ServiceGraph::build(&config).map_err(|diagnostics| {
            Failure::from(ConfigError::Invalid {
                path: path.clone(),
                diagnostics,
            })
        })?;
        self.loaded.set(true);
        Ok((config, graph))
    }

    /// The state directory, as the README describes.
    pub fn state_dir(&self) -> Result<StateDir, Failure> {
        StateDir::resolve(self.state_flag.as_deref())
            .map_err(|e| Failure::new(Exit::Failed, e.to_string()))
    }

    /// A client for the daemon of the state directory, for the located config.
    pub fn client(&self) -> Result<(Client, StateDir), Failure> {
        let state = self.state_dir()?;
        let config = self.config_path()?;
        Ok((Client::new(&state, &config), state))
    }

    /// A client whose daemon runs: started in the background when it is not.
    pub fn daemon(&self) -> Result<Client, Failure> {
        let (client, state) = self.client()?;
        // The daemon would refuse a broken config; say so here, with every problem (unless
        // this command has just loaded it).
        if !self.loaded.get() {
            self.load()?;
        }
        block_on(client.ensure_daemon(&state))?;
        Ok(client)
    }
}

/// Runs a future on a small runtime of the calling thread (CLI commands are short-lived).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::new(Exit::Failed, e.to_string())
    }
}

/// A command's failure: what to tell the user and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            details: None,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        let details = match &e {
            ConfigError::Invalid { diagnostics, .. } => {
                Some(serde_json::to_value(&diagnostics.0).expect("serializable"))
            }
            _ => None,
        };
        Self {
            exit: Exit::Config,
            message: e.to_string(),
            details,
        }
    }
}

impl From<crate::graph::UnknownService> for Failure {
    fn from(e: crate::graph::UnknownService) -> Self {
        Self::new(Exit::Failed, e.to_string())
    }
}

/// Parses the command line, runs the command, and returns the exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let cx = Context {
        json: cli.json,
        config_flag: cli.config,
        state_flag: cli.state_dir,
        loaded: std::cell::Cell::new(false),
    };
    let result = match cli.command {
        Command::Platform(c) => platform::run(&cx, c),
        Command::Services(c) => services::run(&cx, c),
        Command::Daemon(a) => daemon::run(&cx, a),
        Command::Plugins(c) => plugins::run(&cx, c),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            if cx.json {
                json_error(&f.message, f.details);
            } else {
                anstream::eprintln!("{} {}", styled(RED, "error:"), f.message);
            }
            f.exit.into()
        }
    }
}
