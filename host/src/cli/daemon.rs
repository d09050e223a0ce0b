//! `keel daemon`: run the supervisor in the foreground; `keel daemon stop|status`.

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::json_ok;
use super::{Context, Exit, Failure, block_on};
use crate::daemon::{self, DaemonOptions};
use crate::plugins::{self, Plugins};

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
            foreground(cx, args.no_start, args.listen)
        }
        Some(DaemonCommand::Stop) => stop(cx),
        Some(DaemonCommand::Status) => status(cx),
    }
}

fn foreground(
    cx: &Context,
    no_start: bool,
    listen: Option<std::net::SocketAddr>,
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
            },
            // The plugin host compiles (or loads cached) plugins before anything starts.
            async |config, state| {
                let host = plugins::host(config, state).await?;
                let plugins = Arc::new(Plugins::new(host, config.clone()));
                Ok((
                    plugins.clone() as Arc<dyn crate::supervisor::Deployer>,
                    plugins as Arc<dyn crate::health::Checker>,
                ))
            },
        )
        .await
    })
    .map_err(|e| match e.downcast::<crate::config::ConfigError>() {
        Ok(c) => Failure::from(c),
        Err(e) => Failure::new(Exit::Failed, format!("{e:#}")),
    })?;
    Ok(Exit::Ok)
}

fn stop(cx: &Context) -> Result<Exit, Failure> {
    let (client, state) = cx.client()?;
    let result = block_on(async {
        if !client.is_running().await {
            return Ok(false);
        }
        client.call("POST", "/api/v1/daemon/shutdown", None).await?;
        // Done when the socket is gone (every service stopped first).
        while client.is_running().await {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok::<_, Failure>(true)
    })?;
    if cx.json {
        json_ok(&json!({ "stopped": result }));
    } else if result {
        println!("✅ Stopped the daemon of {}", state.root().display());
    } else {
        println!("No daemon runs for {}", state.root().display());
    }
    Ok(Exit::Ok)
}

fn status(cx: &Context) -> Result<Exit, Failure> {
    let (client, state) = cx.client()?;
    let info = block_on(async {
        if client.is_running().await {
            client.call("GET", "/api/v1/daemon", None).await.map(Some)
        } else {
            Ok(None)
        }
    })?;
    if cx.json {
        json_ok(&json!({ "running": info.is_some(), "daemon": info }));
    } else if let Some(i) = &info {
        println!("Daemon: running (pid {})", i["pid"]);
        println!("Config: {}", i["config"].as_str().unwrap_or_default());
        println!("State directory: {}", state.root().display());
    } else {
        println!("Daemon: not running ({})", state.root().display());
    }
    Ok(if info.is_some() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
