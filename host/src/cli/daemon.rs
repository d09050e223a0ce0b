//! `keel daemon`: run the supervisor in the foreground; `keel daemon stop|status`.

use clap::{Args, Subcommand};
use keel_api::DaemonInfo;
use keel_api::endpoint::{GetDaemon, ShutDown};
use serde::Serialize;

use super::context::{Context, Exit, Failure, block_on};
use super::report::{Report, Said, emit};
use crate::daemon::{self, DaemonOptions};
use crate::plugins;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DaemonArgs {
    /// Do not start the auto_start services
    #[arg(long)]
    no_start: bool,
    /// Also serve the control API on this TCP address (off by default); clients must send
    /// `Authorization: Bearer $KEEL_API_TOKEN`
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP, no token) on this TCP address
    /// (off by default; the control socket always serves them)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Serve the status page on this TCP address (off by default). On loopback it needs no
    /// login; on any other address it needs --web-tls-cert, --web-tls-key and the API token in
    /// KEEL_API_TOKEN, which its login form asks for
    #[arg(long, value_name = "ADDR")]
    web: Option<std::net::SocketAddr>,
    /// The status page's TLS certificate chain (PEM, the server's certificate first)
    #[arg(long, value_name = "FILE", requires = "web", requires = "web_tls_key")]
    web_tls_cert: Option<std::path::PathBuf>,
    /// The status page's TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "web", requires = "web_tls_cert")]
    web_tls_key: Option<std::path::PathBuf>,
    /// Leave the caller's session (setsid) first: for the daemon a client starts
    #[arg(long, hide = true)]
    detach: bool,
    #[command(subcommand)]
    command: Option<DaemonCommand>,
}

#[derive(Debug, Subcommand)]
enum DaemonCommand {
    /// Stop the running daemon (it stops every service first, dependents before dependencies)
    Stop,
    /// Show whether a daemon runs, its PID and the config it serves
    Status,
}

pub fn run(cx: &Context, args: DaemonArgs) -> Result<Exit, Failure> {
    match args.command {
        None => {
            if args.detach {
                // No controlling terminal and no process group of the caller's: a hangup or a
                // Ctrl-C in the shell that ran the client does not reach the daemon.
                nix::unistd::setsid().map_err(|e| {
                    Failure::new(Exit::Failed, format!("cannot start a new session: {e}"))
                })?;
            }
            let web = web_options(&args)?;
            foreground(cx, args.no_start, args.listen, args.metrics_listen, web)
        }
        Some(DaemonCommand::Stop) => stop(cx).map(|r| emit(cx.json, &r)),
        Some(DaemonCommand::Status) => status(cx).map(|r| emit(cx.json, &r)),
    }
}

fn foreground(
    cx: &Context,
    no_start: bool,
    listen: Option<std::net::SocketAddr>,
    metrics_listen: Option<std::net::SocketAddr>,
    web: Option<daemon::web::WebOptions>,
) -> Result<Exit, Failure> {
    let tcp = match listen {
        None => None,
        Some(addr) => match std::env::var("KEEL_API_TOKEN") {
            Ok(t) if t.len() >= 16 => Some((addr, t)),
            _ => {
                return Err(Failure::new(
                    Exit::Usage,
                    "--listen needs a bearer token of at least 16 characters in KEEL_API_TOKEN",
                ));
            }
        },
    };
    let config_path = cx.config_path()?;
    let config_path = std::path::absolute(&config_path).unwrap_or(config_path);
    let state = cx.state_dir()?;
    let config = crate::config::load(&config_path)?;
    daemon::fds::prepare(config.services.len());
    // SAFETY: no other thread exists yet (the runtime is built below).
    let manager = unsafe { daemon::systemd::Manager::from_env() };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        daemon::run(
            DaemonOptions {
                config,
                state,
                no_start,
                tcp,
                manager,
                metrics_listen,
                web,
            },
            // The plugin host compiles (or loads cached) plugins before anything starts.
            async |config, state| {
                let host = plugins::host(config, state).await?;
                let stats = plugins::stats_source(&host);
                Ok((plugins::plugged(host, config.clone()).await, Some(stats)))
            },
        )
        .await
    })
    .map_err(|e| match e.downcast::<crate::config::ConfigError>() {
        Ok(c) => Failure::from(c),
        Err(e) => Failure::other(e),
    })?;
    Ok(Exit::Ok)
}

/// `--web` and its TLS files, checked (and the files read) before anything starts.
fn web_options(args: &DaemonArgs) -> Result<Option<daemon::web::WebOptions>, Failure> {
    let Some(addr) = args.web else {
        return Ok(None);
    };
    let tls = match (&args.web_tls_cert, &args.web_tls_key) {
        (Some(cert), Some(key)) => Some(
            daemon::tls::server_config(cert, key)
                .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?,
        ),
        _ => None,
    };
    let token = std::env::var("KEEL_API_TOKEN").ok();
    daemon::web::check(addr, tls.is_some(), token.as_deref())
        .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    Ok(Some(daemon::web::WebOptions { addr, tls, token }))
}

#[derive(Serialize)]
struct DaemonStopped {
    stopped: bool,
}

/// `daemon stop`: needs no config, only the state directory.
fn stop(cx: &Context) -> Result<Said<DaemonStopped>, Failure> {
    let (client, state) = cx.daemon_client()?;
    let stopped = block_on(async {
        if !client.is_running().await {
            return Ok(false);
        }
        client.call(&ShutDown).await?;
        // Done when the socket is gone (every service stopped first).
        while client.is_running().await {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok::<_, Failure>(true)
    })?;
    let root = state.root().display();
    let text = if stopped {
        format!("✅ Stopped the daemon of {root}\n")
    } else {
        format!("No daemon runs for {root}\n")
    };
    Ok(Said::new(DaemonStopped { stopped }, text))
}

/// `daemon status`.
#[derive(Serialize)]
struct DaemonStatus {
    running: bool,
    daemon: Option<DaemonInfo>,
    #[serde(skip)]
    state_dir: std::path::PathBuf,
}

impl Report for DaemonStatus {
    fn text(&self) -> String {
        let root = self.state_dir.display();
        match &self.daemon {
            Some(i) => format!(
                "Daemon: running (pid {})\nConfig: {}\nState directory: {root}\n",
                i.pid,
                i.config.display()
            ),
            None => format!("Daemon: not running ({root})\n"),
        }
    }

    fn exit(&self) -> Exit {
        if self.running { Exit::Ok } else { Exit::Failed }
    }
}

/// `daemon status`: needs no config, only the state directory.
fn status(cx: &Context) -> Result<DaemonStatus, Failure> {
    let (client, state) = cx.daemon_client()?;
    let daemon = block_on(async {
        if client.is_running().await {
            client.call(&GetDaemon).await.map(Some)
        } else {
            Ok(None)
        }
    })?;
    Ok(DaemonStatus {
        running: daemon.is_some(),
        daemon,
        state_dir: state.root().to_path_buf(),
    })
}
