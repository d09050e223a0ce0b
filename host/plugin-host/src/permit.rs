//! The effective authority of one call: the plugin's requests that its grant admitted, and the
//! checks every sandbox door (sockets, wasi:http, host functions) makes against it.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;

use crate::lifecycle::ServicesView;

/// A network request, `host:port` or `host:*` (port `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NetTarget {
    /// Host name or IP literal, without IPv6 brackets, lowercased.
    pub host: String,
    /// The port, or `None` for any port.
    pub port: Option<u16>,
}

impl NetTarget {
    /// Parses `host:port`, `host:*`, `[v6]:port`.
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty()
            || host.contains(['/', ' ', '@'])
            || (host.contains(':') && host.parse::<Ipv6Addr>().is_err())
        {
            return None;
        }
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        };
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn admits(&self, host: &str, port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

/// The addresses `host` stands for, and whether finding them took a name lookup: an IP
/// literal is itself, `localhost` is the loopback addresses (without asking the resolver), any
/// other name is looked up.
pub(crate) async fn ips_of(host: &str, port: u16) -> std::io::Result<(Vec<IpAddr>, bool)> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![ip], false));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok((
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            false,
        ));
    }
    let addrs = tokio::net::lookup_host((host, port)).await?;
    Ok((addrs.map(|a| a.ip()).collect(), true))
}

/// What one call may do. Built by [`crate::Grant::authorize`]; empty for calls that need no
/// authority (`describe`, `validate`, `needs`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Permit {
    pub network: Vec<NetTarget>,
    pub commands: Vec<String>,
    pub paths: Vec<PathBuf>,
    pub unix_sockets: Vec<PathBuf>,
    pub env: Vec<String>,
    /// The addresses of `network`, once resolved, when resolving needed no name lookup (IP
    /// literals and `localhost` resolve the same every time).
    pub resolved: std::sync::OnceLock<Arc<AddressBook>>,
    /// The plugin's own store directory, when `store` is granted.
    pub store: Option<PathBuf>,
    /// The services view, when `services` is granted.
    pub services: Option<ServicesSlot>,
    /// Directories the plugin may write under (`write_paths`).
    pub write_paths: Vec<PathBuf>,
}

/// Where the embedder's [`ServicesView`] is installed (possibly after this permit was made: it
/// is read when a hook asks).
#[derive(Clone, Default)]
pub(crate) struct ServicesSlot(pub Arc<std::sync::OnceLock<Arc<dyn ServicesView>>>);

impl std::fmt::Debug for ServicesSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "ServicesSlot(installed)"
        } else {
            "ServicesSlot(empty)"
        })
    }
}

impl ServicesSlot {
    pub fn view(&self) -> Option<&Arc<dyn ServicesView>> {
        self.0.get()
    }
}

/// The socket addresses a call may connect to, resolved from its network targets.
#[derive(Debug, Default)]
pub(crate) struct AddressBook {
    /// (address, port) pairs; a `None` port admits any port of that address.
    entries: HashSet<(IpAddr, Option<u16>)>,
}

impl AddressBook {
    /// Whether the socket check admits this use. Only TCP is ever admitted: connects to a
    /// resolved address, and the implicit bind of the unspecified address (port 0) that every
    /// connect performs first.
    pub fn admits(&self, addr: SocketAddr, use_: SocketAddrUse) -> bool {
        match use_ {
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => {
                let ip = canonical_ip(addr.ip());
                self.entries.contains(&(ip, Some(addr.port())))
                    || self.entries.contains(&(ip, None))
            }
            _ => false,
        }
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Permit {
    /// Whether the call may use the network at all.
    pub fn has_network(&self) -> bool {
        !self.network.is_empty()
    }

    /// Resolves the network targets to addresses for the socket check. `localhost` resolves to
    /// the loopback addresses without asking the resolver.
    pub async fn resolve(&self) -> Result<Arc<AddressBook>, String> {
        if let Some(book) = self.resolved.get() {
            return Ok(book.clone());
        }
        let mut book = AddressBook::default();
        let mut looked_up = false;
        for target in &self.network {
            let (ips, asked) = ips_of(&target.host, target.port.unwrap_or(0))
                .await
                .map_err(|e| format!("cannot resolve `{}`: {e}", target.host))?;
            looked_up |= asked;
            for ip in ips {
                book.entries.insert((canonical_ip(ip), target.port));
            }
        }
        let book = Arc::new(book);
        if !looked_up {
            let _ = self.resolved.set(book.clone());
        }
        Ok(book)
    }

    /// Whether a connection to `host:port` was requested and granted (by name, as requested).
    pub fn admits_target(&self, host: &str, port: u16) -> bool {
        self.network.iter().any(|t| t.admits(host, port))
    }

    /// Whether an outgoing HTTP request to this authority is admitted (by name, as requested).
    pub fn admits_authority(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        self.network.iter().any(|t| t.admits(host, port))
    }

    /// Whether `program` was requested and granted.
    pub fn admits_command(&self, program: &str) -> bool {
        self.commands.iter().any(|c| c == program)
    }

    /// Whether `path` (absolute, normalized) lies under a requested and granted path.
    pub fn admits_path(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| path.starts_with(p))
    }

    /// Whether `path` (absolute, normalized) is a requested and granted Unix socket.
    pub fn admits_unix_socket(&self, path: &Path) -> bool {
        self.unix_sockets.iter().any(|p| path.starts_with(p))
    }

    /// The directories to preopen read-only (requested paths that are directories).
    pub fn preopen_dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.paths.iter().filter(|p| p.is_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_targets() {
        assert_eq!(
            NetTarget::parse("LocalHost:80"),
            Some(NetTarget {
                host: "localhost".into(),
                port: Some(80)
            })
        );
        assert_eq!(NetTarget::parse("[::1]:*").map(|t| t.port), Some(None));
        assert!(NetTarget::parse("localhost").is_none());
        assert!(NetTarget::parse("a:b:80").is_none());
        assert!(NetTarget::parse("x:0").is_none());
    }

    #[test]
    fn http_authority_by_name_and_default_port() {
        let permit = Permit {
            network: vec![
                NetTarget::parse("localhost:80").unwrap(),
                NetTarget::parse("[::1]:8443").unwrap(),
            ],
            ..Permit::default()
        };
        let ok = |u: &str| permit.admits_authority(&u.parse::<http::Uri>().unwrap());
        assert!(ok("http://localhost/health"));
        assert!(ok("http://LOCALHOST:80/"));
        assert!(ok("https://[::1]:8443/x"));
        assert!(!ok("https://localhost/"));
        assert!(!ok("http://localhost:8080/"));
        assert!(!ok("http://example.com/"));
    }

    #[tokio::test]
    async fn socket_check_admits_implicit_bind_and_granted_connect() {
        let permit = Permit {
            network: vec![NetTarget::parse("127.0.0.1:8080").unwrap()],
            ..Permit::default()
        };
        let book = permit.resolve().await.unwrap();
        assert!(book.admits("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(book.admits("[::]:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!book.admits("0.0.0.0:8080".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(book.admits("127.0.0.1:8080".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(book.admits(
            "[::ffff:127.0.0.1]:8080".parse().unwrap(),
            SocketAddrUse::TcpConnect
        ));
        assert!(!book.admits("127.0.0.1:8081".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(!book.admits("127.0.0.1:8080".parse().unwrap(), SocketAddrUse::TcpListen));
    }
}
