//! Keel under systemd (`Type=notify`): the daemon tells its service manager `READY=1` once
//! it serves its control socket and `STOPPING=1` when it begins to stop its services, through
//! the datagram socket named by `NOTIFY_SOCKET` (sd_notify(3)). Without that variable,
//! nothing is sent.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The service manager's notification socket, if Keel runs under one.
pub struct Manager {
    addr: Option<SocketAddr>,
}

impl Manager {
    /// Takes `NOTIFY_SOCKET` out of the environment, so that no service Keel starts inherits
    /// it and speaks for Keel to Keel's own manager (a notify service gets its own).
    ///
    /// # Safety
    /// Changes the environment: call it before any other thread exists.
    pub unsafe fn from_env() -> Self {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return Self { addr: None };
        };
        // SAFETY: the caller guarantees that no other thread reads the environment now.
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str());
        // `@name` is a socket in the abstract namespace, as systemd writes it; a path is a
        // file's. Other forms (vsock:…) are not Keel's.
        let addr = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
            Some(b'/') => SocketAddr::from_pathname(&value),
            _ => Err(std::io::Error::other("neither a path nor @name")),
        };
        match addr {
            Ok(a) => Self { addr: Some(a) },
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={value:?} is not usable: {e}");
                Self { addr: None }
            }
        }
    }

    /// Sends one notification (`READY=1`, `STOPPING=1`). A manager that cannot be reached is
    /// a warning: the daemon's work does not depend on it.
    pub fn notify(&self, state: &str) {
        let Some(addr) = &self.addr else {
            return;
        };
        let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(state.as_bytes(), addr));
        if let Err(e) = sent {
            tracing::warn!("cannot tell the service manager {state:?}: {e}");
        }
    }
}
