//! The daemon: one per state directory, serving one config. It owns the supervisor and serves
//! the control API; `keel daemon` runs it in the foreground, and the CLI starts it in the
//! background when a command needs it.

pub mod api;
pub mod fds;
pub mod registry;
pub mod reload;
pub mod systemd;
pub mod tls;
pub mod web;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use crate::config::{self, Config};
use crate::graph::ServiceGraph;
use crate::metrics::{Metrics, StatsSource};
use crate::state::{StateDir, now_ms};
use crate::supervisor::{Plugged, Reaper, ServiceFiles, Supervisor};

pub struct DaemonOptions {
    /// The config it serves, loaded (and checked) by the caller.
    pub config: Config,
    pub state: StateDir,
    /// Do not start the auto_start services.
    pub no_start: bool,
    /// Also serve the API on this TCP address, to clients presenting this bearer token.
    pub tcp: Option<(std::net::SocketAddr, String)>,
    /// The service manager Keel runs under, told when Keel is ready and when it stops.
    pub manager: systemd::Manager,
    /// Also serve `GET /metrics` (alone, plain HTTP, no token) on this TCP address.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Also serve the status page (`--web`).
    pub web: Option<web::WebOptions>,
}

/// Takes the exclusive lock that makes a daemon the only one of its state directory; held for
/// the daemon's life (released by the kernel however the process ends).
fn lock(state: &StateDir) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let path = state.lock_file();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut f) => {
            f.set_len(0)?;
            writeln!(f, "{}", std::process::id())?;
            Ok(f)
        }
        Err((_, _)) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another keel daemon (pid {}) already serves the state directory {}",
                pid.trim(),
                state.root().display()
            )
        }
    }
}

/// Runs the daemon until SIGTERM, SIGINT or a shutdown request; then stops every service in
/// reverse dependency order and returns.
pub async fn run(
    opts: DaemonOptions,
    make_plugins: impl AsyncFnOnce(
        &Arc<Config>,
        &StateDir,
    ) -> anyhow::Result<(Plugged, Option<StatsSource>)>,
) -> anyhow::Result<()> {
    opts.state.create().with_context(|| {
        format!(
            "cannot create the state directory {}",
            opts.state.root().display()
        )
    })?;
    let _lock = lock(&opts.state)?;
    // Listening before anything else: a client's connect and first request wait in the
    // socket's queue while the plugins load and the supervisor starts (time that they would
    // otherwise add), and are answered as soon as the API serves. A daemon that fails from
    // here on removes the socket file, and its queued clients see it exit.
    let (socket, listener) = SocketFile::bind(opts.state.socket())?;
    let config = Arc::new(opts.config);
    let graph =
        Arc::new(
            ServiceGraph::build(&config).map_err(|d| config::ConfigError::Invalid {
                path: config.path.clone(),
                diagnostics: d,
            })?,
        );
    let reaper = Reaper::start()?;
    // Each new file in the state directory costs a journaled create (three per service):
    // made on the blocking pool, in start order, while the plugins load and after; the daemon
    // serves before they are all there.
    let files = ServiceFiles::prepare(&graph, &opts.state);
    let (plugged, plugin_stats) = make_plugins(&config, &opts.state).await?;
    let supervisor = Supervisor::new(
        config.clone(),
        graph,
        opts.state.clone(),
        files,
        plugged.clone(),
        reaper,
    )
    .await;
    plugged.hooks.watch_services(supervisor.watch_all());
    let started_at_ms = now_ms();
    let metrics = Metrics::start(&supervisor, config.clone(), plugin_stats, started_at_ms);
    let live = reload::LiveSupervisor::new(supervisor.clone());
    let reloader = Arc::new(reload::Reloader::new(
        live.clone(),
        opts.state.clone(),
        metrics.clone(),
    ));

    let shutdown = Arc::new(Notify::new());
    let state = api::ApiState {
        live: live.clone(),
        reloader: reloader.clone(),
        config_path: config.path.clone(),
        state_dir: opts.state.root().to_path_buf(),
        started_at_ms,
        shutdown: shutdown.clone(),
        metrics: metrics.clone(),
    };
    let app = api::router(state);
    let metrics_server = match opts.metrics_listen {
        Some(addr) => {
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?;
            tracing::info!("metrics on http://{}/metrics", tcp.local_addr()?);
            let app = api::metrics_router(metrics);
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(tcp, app).await {
                    tracing::error!("metrics listener stopped: {e}");
                }
            }))
        }
        None => None,
    };
    let tcp_server = match opts.tcp {
        Some((addr, token)) => {
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!("control API also on http://{addr} (bearer token required)");
            let app = api::with_bearer_token(app.clone(), token);
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(tcp, app).await {
                    tracing::error!("control API (TCP) stopped: {e}");
                }
            }))
        }
        None => None,
    };
    let web_server = match opts.web {
        Some(w) => Some(web::serve(w, live.clone(), app.clone()).await?),
        None => None,
    };
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(SameUserListener(listener), app).await {
            tracing::error!("control API stopped: {e}");
        }
    });
    let (registry_socket, registry_listener) =
        SocketFile::bind(registry::socket_path(&opts.state))?;
    let registry_server = tokio::spawn(registry::serve(registry_listener, live.clone()));
    tracing::info!(
        config = %config.path.display(),
        socket = %socket.0.display(),
        "keel daemon ready ({} services)",
        config.services.len()
    );
    opts.manager.notify("READY=1");

    // Signals are handled from here on, also while the auto-start services come up: a SIGTERM
    // in the middle of a start stops what has started instead of orphaning it.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let auto_start = (!opts.no_start).then(|| {
        let supervisor = supervisor.clone();
        tokio::spawn(async move {
            let auto = supervisor.config().start_targets(&[]);
            if let Err(e) = supervisor
                .start_services(&auto, false, keel_api::HookCause::AutoStart)
                .await
            {
                tracing::error!("starting the auto_start services: {e}");
            }
        })
    });
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping services"),
            _ = int.recv() => tracing::info!("SIGINT: stopping services"),
            _ = shutdown.notified() => tracing::info!("shutdown requested: stopping services"),
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading {}", config.path.display());
                // In a task of its own, so that a SIGTERM during a long reload is still heard.
                let reloader = reloader.clone();
                tokio::spawn(async move {
                    if let Err(e) = reloader.reload(false).await {
                        match &e {
                            reload::ReloadError::Invalid { problems, .. } => {
                                tracing::error!("reload refused: {e}:\n{}", problems.join("\n"))
                            }
                            _ => tracing::error!("reload failed: {e}"),
                        }
                    }
                });
                continue;
            }
        }
        break;
    }
    let supervisor = live.get();
    opts.manager.notify("STOPPING=1");
    if let Some(task) = auto_start {
        task.abort();
    }
    for r in supervisor
        .stop_levels(None, false, keel_api::HookCause::Shutdown)
        .await
    {
        if let Err(e) = r {
            tracing::warn!("{e}");
        }
    }
    server.abort();
    registry_server.abort();
    drop(registry_socket);
    if let Some(t) = tcp_server {
        t.abort();
    }
    if let Some(t) = metrics_server {
        t.abort();
    }
    if let Some(t) = web_server {
        t.abort();
    }
    drop(socket);
    Ok(())
}

/// The control socket's file, removed when the daemon returns, whether it stopped or failed
/// to start.
struct SocketFile(std::path::PathBuf);

impl SocketFile {
    fn bind(path: std::path::PathBuf) -> anyhow::Result<(Self, UnixListener)> {
        // We hold the lock, so a socket file left here is a dead daemon's.
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).with_context(|| format!("cannot bind {}", path.display()))?;
        let file = SocketFile(path);
        std::fs::set_permissions(&file.0, std::fs::Permissions::from_mode(0o600))?;
        Ok((file, listener))
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Accepts only connections from processes of this daemon's own user.
struct SameUserListener(UnixListener);

impl axum::serve::Listener for SameUserListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let stream = accept_same_user(&self.0, "control").await;
            match stream.peer_addr() {
                Ok(addr) => return (stream, addr),
                Err(e) => tracing::warn!("dropped a control connection: {e}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The next connection on one of the daemon's sockets (`what` names it in the log) from a
/// process of the daemon's own user; others are closed at once.
async fn accept_same_user(listener: &UnixListener, what: &str) -> tokio::net::UnixStream {
    let me = nix::unistd::geteuid().as_raw();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match stream.peer_cred() {
                Ok(cred) if cred.uid() == me => return stream,
                Ok(cred) => tracing::warn!(
                    uid = cred.uid(),
                    "refused a {what} connection from another user"
                ),
                Err(e) => tracing::warn!("refused a {what} connection: {e}"),
            },
            Err(e) => {
                tracing::warn!("accept on the {what} socket failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
