//! The host functions of `keel:plugin/host`, each checked against the call's permit.
//!
//! A request outside the permit returns `host-error::denied` and does nothing. Every function
//! is bounded by the smaller of its own timeout and the time left in the call, and by output
//! caps, so a plugin cannot make the host block or buffer without bound.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bindings::v0_1::host_api::{self, CommandOutput, HostError, Level, PathInfo};
use crate::bindings::v0_1::wit_types;
use crate::command::WatchedCommand;
use crate::grant::resolve_path;
use crate::output::truncate_utf8;
use crate::permit::Permit;
use crate::sandbox::State;
use crate::types::LogLevel;

/// The most a Unix socket exchange reads or writes.
pub const UNIX_EXCHANGE_CAP: usize = 64 * 1024;
/// The most arguments, and the longest argument, `run-command` accepts.
const MAX_ARGS: usize = 256;
const MAX_ARG_LEN: usize = 4096;

impl wit_types::Host for State {}

impl host_api::Host for State {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        truncate_utf8(&mut message, crate::output::LOG_LINE_CAP);
        let plugin = &*self.call.plugin;
        let level = match level {
            Level::Trace => {
                tracing::trace!(target: "keel::plugin", plugin, "{message}");
                LogLevel::Trace
            }
            Level::Debug => {
                tracing::debug!(target: "keel::plugin", plugin, "{message}");
                LogLevel::Debug
            }
            Level::Info => {
                tracing::info!(target: "keel::plugin", plugin, "{message}");
                LogLevel::Info
            }
            Level::Warn => {
                tracing::warn!(target: "keel::plugin", plugin, "{message}");
                LogLevel::Warn
            }
            Level::Error => {
                tracing::error!(target: "keel::plugin", plugin, "{message}");
                LogLevel::Error
            }
        };
        self.call.logs.push(level, message);
        Ok(())
    }

    async fn run_command(
        &mut self,
        program: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<CommandOutput, HostError>> {
        if !self.call.permit.admits_command(&program) {
            self.call.count_denied("command");
            return Ok(Err(self.denied(format!("run-command `{program}`"))));
        }
        if args.len() > MAX_ARGS
            || args
                .iter()
                .any(|a| a.len() > MAX_ARG_LEN || a.contains('\0'))
        {
            return Ok(Err(HostError::Failed(format!(
                "run-command accepts at most {MAX_ARGS} arguments of at most {MAX_ARG_LEN} bytes"
            ))));
        }
        let timeout = self.bounded(timeout_ms);
        let dir = self
            .call
            .service
            .as_ref()
            .map(|s| s.config_dir.clone())
            .filter(|d| d.is_dir());
        let run = match WatchedCommand::spawn(&program, &args, dir.as_deref()) {
            Ok(run) => run,
            Err(e) => {
                return Ok(Err(HostError::Failed(format!(
                    "cannot run `{program}`: {e}"
                ))));
            }
        };
        Ok(run.finish(&program, timeout).await)
    }

    async fn stat_path(
        &mut self,
        path: String,
    ) -> wasmtime::Result<Result<Option<PathInfo>, HostError>> {
        let resolved = match self.granted_path(&path, false) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let timeout = self.bounded(u32::MAX);
        let stat = async {
            match tokio::fs::metadata(&resolved).await {
                Ok(meta) => Ok(Some(meta)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let meta = match tokio::time::timeout(timeout, stat).await {
            Err(_) => return Ok(Err(HostError::TimedOut)),
            Ok(Err(e)) => {
                return Ok(Err(HostError::Failed(format!(
                    "{}: {e}",
                    resolved.display()
                ))));
            }
            Ok(Ok(None)) => return Ok(Ok(None)),
            Ok(Ok(Some(meta))) => meta,
        };
        if let Err(e) = still_inside(
            self.call.permit.clone(),
            self.call.plugin.clone(),
            &resolved,
            false,
        )
        .await
        {
            self.call.count_denied("path");
            return Ok(Err(e));
        }
        use std::os::unix::fs::PermissionsExt;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        Ok(Ok(Some(PathInfo {
            is_file: meta.is_file(),
            is_dir: meta.is_dir(),
            executable: meta.is_file() && meta.permissions().mode() & 0o111 != 0,
            size: meta.len(),
            modified_age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        })))
    }

    async fn unix_exchange(
        &mut self,
        path: String,
        request: Option<Vec<u8>>,
        max_reply: u32,
        until_newline: bool,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, HostError>> {
        let resolved = match self.granted_path(&path, true) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = still_inside(
            self.call.permit.clone(),
            self.call.plugin.clone(),
            &resolved,
            true,
        )
        .await
        {
            self.call.count_denied("unix-socket");
            return Ok(Err(e));
        }
        if request
            .as_ref()
            .is_some_and(|r| r.len() > UNIX_EXCHANGE_CAP)
        {
            return Ok(Err(HostError::Failed(format!(
                "the request is larger than {UNIX_EXCHANGE_CAP} bytes"
            ))));
        }
        let max_reply = (max_reply as usize).min(UNIX_EXCHANGE_CAP);
        let timeout = self.bounded(timeout_ms);
        let exchange = async {
            let mut stream = tokio::net::UnixStream::connect(&resolved).await?;
            if let Some(request) = &request {
                stream.write_all(request).await?;
            }
            let mut reply = Vec::new();
            let mut chunk = [0u8; 4096];
            while reply.len() < max_reply {
                let want = chunk.len().min(max_reply - reply.len());
                let n = stream.read(&mut chunk[..want]).await?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
                if until_newline && chunk[..n].contains(&b'\n') {
                    break;
                }
            }
            Ok::<_, std::io::Error>(reply)
        };
        Ok(match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(HostError::Failed(format!("{}: {e}", resolved.display()))),
            Err(_) => Err(HostError::TimedOut),
        })
    }

    async fn tcp_probe(
        &mut self,
        host: String,
        port: u16,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<(), HostError>> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !self.call.permit.admits_target(&host, port) {
            self.call.count_denied("network");
            return Ok(Err(HostError::Denied(format!(
                "tcp-probe {host}:{port}: network(\"{host}:{port}\") was not granted for this call"
            ))));
        }
        let timeout = self.bounded(timeout_ms);
        let probe = async {
            let (ips, _) = crate::permit::ips_of(&host, port).await?;
            let mut last = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host:?} resolved to no address"),
            );
            for ip in ips {
                match connect(std::net::SocketAddr::new(ip, port)).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        Ok(match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(HostError::Failed(probe_error(&e))),
            Err(_) => Err(HostError::TimedOut),
        })
    }
}

/// Opens a TCP connection to `addr` and closes it again.
///
/// The kernel runs the handshake with a peer on this machine within `connect(2)` itself, so
/// by the time the call returns (`EINPROGRESS`, as for any non-blocking connect) the answer is
/// usually there: a poll that does not wait looks at it first, and only a connection that is
/// still in progress is registered with the reactor and waited for. That spares most checks
/// two `epoll_ctl` calls and a round trip through the reactor.
///
/// The socket is closed the ordinary way (FIN). A reset would spare a TIME_WAIT socket, but a
/// service that has not yet accepted the connection then finds it reset: simple servers log it
/// as an error, or crash on their first write.
async fn connect(addr: std::net::SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::AsRawFd;
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    match socket.connect(&addr.into()) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid `pollfd`, for a descriptor that `socket` keeps open; no wait.
    if unsafe { libc::poll(&mut fd, 1, 0) } == 1 {
        if let Some(e) = socket.take_error()? {
            return Err(e);
        }
        if fd.revents & libc::POLLOUT != 0 {
            return Ok(());
        }
    }
    let stream = tokio::net::TcpStream::from_std(socket.into())?;
    stream.writable().await?;
    match stream.take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A failed connection attempt in the words a check reports.
fn probe_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::HostUnreachable => "host unreachable".into(),
        K::NetworkUnreachable => "network unreachable".into(),
        K::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

impl State {
    fn denied(&self, what: String) -> HostError {
        tracing::warn!(plugin = %self.call.plugin, "denied {what}");
        HostError::Denied(format!(
            "{what} is not granted to plugin `{}` for this call (it must be among the \
             capabilities its needs() returned, and in its grant)",
            self.call.plugin
        ))
    }

    /// The smaller of a requested timeout and the time left in the call.
    fn bounded(&self, timeout_ms: u32) -> Duration {
        Duration::from_millis(u64::from(timeout_ms)).min(self.call.remaining())
    }

    /// Resolves `path` against the service directory and checks it against the permit.
    fn granted_path(&self, path: &str, socket: bool) -> Result<PathBuf, HostError> {
        let base = self.call.service.as_ref().map(|s| s.config_dir.as_path());
        let what = if socket { "unix-exchange" } else { "stat-path" };
        let kind = if socket { "unix-socket" } else { "path" };
        let resolved = resolve_path(path, base).map_err(|e| {
            self.call.count_denied(kind);
            HostError::Denied(format!("{what} {path:?}: {e}"))
        })?;
        let admitted = if socket {
            self.call.permit.admits_unix_socket(&resolved)
        } else {
            self.call.permit.admits_path(&resolved)
        };
        if admitted {
            Ok(resolved)
        } else {
            self.call.count_denied(kind);
            Err(self.denied(format!("{what} of {}", resolved.display())))
        }
    }
}

/// Refuses a path whose symbolic links lead outside every granted prefix.
async fn still_inside(
    permit: Arc<Permit>,
    plugin: Arc<str>,
    resolved: &Path,
    socket: bool,
) -> Result<(), HostError> {
    let Ok(real) = tokio::fs::canonicalize(resolved).await else {
        return Ok(());
    };
    let prefixes = if socket {
        &permit.unix_sockets
    } else {
        &permit.paths
    };
    for prefix in prefixes {
        let real_prefix = tokio::fs::canonicalize(prefix)
            .await
            .unwrap_or_else(|_| prefix.clone());
        if real.starts_with(&real_prefix) {
            return Ok(());
        }
    }
    tracing::warn!(%plugin, "denied {} (a symbolic link to {})", resolved.display(), real.display());
    Err(HostError::Denied(format!(
        "{} is a symbolic link to {}, outside the paths granted to plugin `{plugin}`",
        resolved.display(),
        real.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::connect;
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::time::Duration;

    #[tokio::test]
    async fn a_connection_to_a_listener_succeeds_and_to_a_closed_port_is_refused() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let open = listener.local_addr().unwrap();
        connect(open).await.unwrap();
        // The connection is made, not just attempted: the listener has it to accept.
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_ok(), "nothing reached the listener");
        drop(listener);
        let closed = connect(open).await.unwrap_err();
        assert_eq!(
            closed.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{closed}"
        );
    }

    #[tokio::test]
    async fn a_handshake_that_does_not_finish_at_once_is_waited_for() {
        // A listener that never accepts, its backlog filled: the kernel drops further SYNs,
        // so a new connection stays in progress and goes through the reactor.
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        // Each connection made fills the queue (it is closed by the client, not accepted).
        for made in 0.. {
            assert!(made < 64, "the backlog never filled");
            let attempt = tokio::time::timeout(Duration::from_millis(200), connect(addr)).await;
            match attempt {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("connect failed: {e}"),
                // Still in progress after 200 ms: waited for, not taken as an answer.
                Err(_elapsed) => break,
            }
        }
        // Room in the queue again: the retransmitted SYN (after about a second) is answered,
        // and the waiting connection reports success.
        let waiting = tokio::spawn(tokio::time::timeout(Duration::from_secs(10), connect(addr)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        socket.set_nonblocking(true).unwrap();
        while socket.accept().is_ok() {}
        waiting
            .await
            .unwrap()
            .expect("still waiting after 10 s")
            .unwrap();
    }
}
