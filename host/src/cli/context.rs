//! What every command shares: the parsed global options, loading the config, the client of
//! the daemon, a runtime to wait on it, and the failure type with its exit statuses.

use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{Client, ClientError};
use crate::config::{self, Config, ConfigError};
use crate::graph::ServiceGraph;
use crate::state::StateDir;

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

/// What every command gets: the parsed options and a way to load the config.
pub struct Context {
    pub json: bool,
    pub config_flag: Option<PathBuf>,
    pub state_flag: Option<PathBuf>,
    /// Whether this command has loaded the config without a problem already.
    loaded: std::cell::Cell<bool>,
}

impl Context {
    pub fn new(json: bool, config_flag: Option<PathBuf>, state_flag: Option<PathBuf>) -> Self {
        Self {
            json,
            config_flag,
            state_flag,
            loaded: std::cell::Cell::new(false),
        }
    }

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
        Ok((Client::new(&state, Some(&config)), state))
    }

    /// A client for the daemon itself (stop it, ask about it): the state directory alone
    /// identifies it, so no config is needed.
    pub fn daemon_client(&self) -> Result<(Client, StateDir), Failure> {
        let state = self.state_dir()?;
        Ok((Client::new(&state, None), state))
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

/// A command's failure: what to tell the user and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// Structured details for `--json` (config diagnostics, pre-flight reports, dependents).
    pub details: Option<Box<serde_json::Value>>,
    /// What a person reads on stdout instead of `error: MESSAGE` (the guide's own words for
    /// some refusals).
    pub text: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            details: None,
            text: None,
        }
    }

    /// An error from anywhere below, with its causes.
    pub fn other(e: anyhow::Error) -> Self {
        Self::new(Exit::Failed, format!("{e:#}"))
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let details = match &e {
            ClientError::Api {
                details: Some(d), ..
            } => serde_json::to_value(d).ok().map(Box::new),
            _ => None,
        };
        Failure {
            details,
            ..Failure::new(Exit::Failed, e.to_string())
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        let details = match &e {
            ConfigError::Invalid { diagnostics, .. } => Some(Box::new(
                serde_json::to_value(&diagnostics.0).expect("serializable"),
            )),
            _ => None,
        };
        Failure {
            details,
            ..Failure::new(Exit::Config, e.to_string())
        }
    }
}

impl From<crate::graph::UnknownService> for Failure {
    fn from(e: crate::graph::UnknownService) -> Self {
        Self::new(Exit::Failed, e.to_string())
    }
}
