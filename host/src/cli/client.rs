//! The CLI's side of the control API: connect to the daemon's socket (starting the daemon in
//! the background when a command needs it), send a request, read the envelope.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use keel_api::{CONFIG_HEADER, Endpoint, ErrorDetails, Method, Reply, Streamed};
use tokio::net::UnixStream;

use crate::state::StateDir;

/// Why a request did not get a `success: true` answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no keel daemon is running for {}", .0.display())]
    NotRunning(PathBuf),
    #[error("{message}")]
    Api {
        status: u16,
        message: String,
        /// Structured details some errors carry (the pre-flight reports of a refused start,
        /// the dependents that refuse a stop).
        details: Option<ErrorDetails>,
    },
    #[error("talking to the daemon: {0}")]
    Transport(String),
}

/// A connection recipe: the state directory's socket and the config this CLI means.
pub struct Client {
    socket: PathBuf,
    /// The config the requests are meant for (sent in [`CONFIG_HEADER`]); `None` for requests
    /// about the daemon itself, which the state directory alone identifies.
    config: Option<PathBuf>,
    /// Set once [`Client::ensure_daemon`] has run: a request whose connect then finds no
    /// daemon (it died between that check and the request) starts one and connects again.
    autostart: std::sync::OnceLock<StateDir>,
    /// The daemon this client started, while it may still fail its start: it listens before
    /// it has loaded the plugins, so a failure there shows as a connection that it closes.
    started: std::sync::Mutex<Option<std::process::Child>>,
}

impl Client {
    pub fn new(state: &StateDir, config: Option<&Path>) -> Self {
        Self {
            socket: state.socket(),
            config: config.map(|c| std::path::absolute(c).unwrap_or_else(|_| c.to_path_buf())),
            autostart: std::sync::OnceLock::new(),
            started: std::sync::Mutex::new(None),
        }
    }

    /// Whether a daemon answers on the socket.
    pub async fn is_running(&self) -> bool {
        UnixStream::connect(&self.socket).await.is_ok()
    }

    /// Starts `keel daemon --no-start --detach` in the background (it makes its own session;
    /// output to `logs/daemon.log`) unless one runs, and waits for its socket. Without a
    /// `pre_exec` hook std spawns it through `posix_spawn`, which does not copy this process
    /// as a fork does.
    pub async fn ensure_daemon(&self, state: &StateDir) -> Result<(), ClientError> {
        let _ = self.autostart.set(state.clone());
        if self.is_running().await {
            return Ok(());
        }
        let Some(config) = &self.config else {
            return Err(ClientError::NotRunning(state.root().to_path_buf()));
        };
        state.create().map_err(|e| {
            ClientError::Transport(format!("cannot create {}: {e}", state.root().display()))
        })?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.daemon_log())
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let exe = std::env::current_exe().map_err(|e| ClientError::Transport(e.to_string()))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state.root())
            .args(["daemon", "--no-start", "--detach"])
            // A daemon in the background is not what a service manager started: it must not
            // report to the manager of the command that started it.
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| ClientError::Transport(e.to_string()))?,
            )
            .stderr(log);
        let mut child = cmd
            .spawn()
            .map_err(|e| ClientError::Transport(format!("cannot start the daemon: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.is_running().await {
                *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(exited_at_start(status, state));
            }
            // Finer than a runtime timer (which rounds up to a millisecond): the CLI has
            // nothing else to do, and a connect attempt costs microseconds.
            std::thread::sleep(Duration::from_micros(250));
        }
        Err(ClientError::Transport(format!(
            "the daemon did not answer within 15s; see {}",
            state.daemon_log().display()
        )))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let stream = match (
            UnixStream::connect(&self.socket).await,
            self.autostart.get(),
        ) {
            // A daemon that was dying when `ensure_daemon` looked: nothing was sent yet, so
            // start a new one and connect again.
            (Err(e), Some(state)) if refused(&e) => {
                self.ensure_daemon(state).await?;
                UnixStream::connect(&self.socket).await
            }
            (r, _) => r,
        };
        let stream = stream.map_err(|e| {
            if refused(&e) {
                ClientError::NotRunning(
                    self.socket.parent().unwrap_or(Path::new(".")).to_path_buf(),
                )
            } else {
                ClientError::Transport(e.to_string())
            }
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method.as_str())
            .uri(path)
            .header("host", "keel")
            .header("content-type", "application/json");
        if let Some(config) = &self.config {
            req = req.header(CONFIG_HEADER, config.to_string_lossy().as_ref());
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("valid request");
        sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))
    }

    /// A request that failed on its way: when it went to a daemon this client has just
    /// started and that daemon has exited (it failed its start), that is what is said.
    fn transport(&self, e: impl std::fmt::Display) -> ClientError {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(child), Some(state)) = (started.as_mut(), self.autostart.get()) {
            // It closed the connection because it is exiting; give it a moment to be gone.
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(status)) => return exited_at_start(status, state),
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => break,
                }
            }
        }
        ClientError::Transport(e.to_string())
    }

    /// Sends a request and reads the envelope's `data` straight into the endpoint's answer
    /// type (no JSON tree in between: a list of a hundred services parses in a fraction of
    /// the time).
    pub async fn call<E: Endpoint>(&self, endpoint: &E) -> Result<E::Answer, ClientError> {
        let resp = self
            .send(E::METHOD, &endpoint.path(), endpoint.body())
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        let reply: Reply<E::Answer> = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Transport(format!("bad answer ({e})")))?;
        match reply {
            Reply {
                success: true,
                data: Some(data),
                ..
            } => Ok(data),
            Reply { success: true, .. } => Err(ClientError::Transport(
                "bad answer (success without data)".into(),
            )),
            Reply { error, details, .. } => Err(ClientError::Api {
                status,
                message: error.unwrap_or_else(|| "unknown error".into()),
                details,
            }),
        }
    }

    /// Sends a request whose answer is a stream, and hands each chunk to `each` until the
    /// stream ends or `each` returns false.
    pub async fn stream<S: Streamed>(
        &self,
        stream: &S,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), ClientError> {
        let resp = self.send(Method::Get, &stream.path(), None).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status >= 400 {
            let bytes = body
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            let refusal: Option<keel_api::Failure> = serde_json::from_slice(&bytes).ok();
            return Err(ClientError::Api {
                status,
                message: refusal
                    .as_ref()
                    .map_or("unknown error", |f| f.error.as_str())
                    .to_string(),
                details: refusal.and_then(|f| f.details),
            });
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Transport(e.to_string()))?;
            if let Some(data) = frame.data_ref()
                && !each(data)
            {
                break;
            }
        }
        Ok(())
    }
}

impl Client {
    /// [`Client::stream`] a line at a time: `each` gets every complete line (its newline
    /// included) as it arrives, until the stream ends or `each` returns false.
    pub async fn stream_lines<S: Streamed>(
        &self,
        stream: &S,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), ClientError> {
        let mut buffer = Vec::new();
        self.stream(stream, |chunk| {
            buffer.extend_from_slice(chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if !each(&line) {
                    return false;
                }
            }
            true
        })
        .await
    }
}

fn exited_at_start(status: std::process::ExitStatus, state: &StateDir) -> ClientError {
    ClientError::Transport(format!(
        "the daemon exited at start ({status}); see {}",
        state.daemon_log().display()
    ))
}

/// Whether a connect failed because no daemon listens (no socket file, or nobody behind it).
fn refused(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}
