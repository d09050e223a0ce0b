//! A bounded TCP exchange for checks of line protocols (redis `PING` → `+PONG`, SMTP's greeting,
//! ...): connect to `host:port`, send a request, read a reply, all within one deadline.
//!
//! It speaks `wasi:sockets` directly rather than through `std::net`, because on wasip2 std's
//! `TcpStream::connect_timeout` answers `Ok` for a refused port (only `take_error()` tells), and
//! its read and write timeouts are not one deadline for the whole exchange. Here each wait is a
//! poll on the socket's pollable beside one timer for the deadline, and a refusal is an error.
//!
//! The host admits the connection only for a granted `network("host:port")`, matched by the
//! name written: a check that connects to `localhost:6379` needs that grant, and
//! `127.0.0.1:6379` is another one. Ask for exactly `authority(host, port)` in `needs`.

use std::fmt;
use std::net::IpAddr;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    Network,
};
use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket};

/// When the reply is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// At the first newline (the line is returned with it).
    Newline,
    /// When the peer closes the connection (or `max_reply` bytes arrived).
    Closed,
    /// Right after connecting: a port probe, nothing is read.
    Connected,
}

/// Why an exchange failed. Its text fits after "redis at localhost:6379: ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// The peer refused the connection: nothing listens on the port.
    Refused,
    /// The deadline passed; the text says while doing what ("connecting", "waiting for a reply").
    TimedOut {
        doing: &'static str,
        timeout_ms: u32,
    },
    /// The host did not let the plugin connect: the grant is missing (or names the target
    /// differently).
    Denied,
    /// The name did not resolve.
    Unresolved(String),
    /// The peer closed the connection before the reply was complete; what it sent so far.
    ClosedEarly(Vec<u8>),
    /// Anything else, in words.
    Failed(String),
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpError::Refused => write!(f, "connection refused"),
            TcpError::TimedOut { doing, timeout_ms } => {
                write!(f, "timed out after {timeout_ms} ms {doing}")
            }
            TcpError::Denied => write!(
                f,
                "not permitted (the plugin needs network(\"host:port\") granted, as written in \
                 its settings)"
            ),
            TcpError::Unresolved(why) => write!(f, "cannot resolve the name: {why}"),
            TcpError::ClosedEarly(got) if got.is_empty() => {
                write!(f, "the connection was closed without a reply")
            }
            TcpError::ClosedEarly(got) => write!(
                f,
                "the connection was closed after a partial reply {:?}",
                String::from_utf8_lossy(got)
            ),
            TcpError::Failed(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for TcpError {}

/// Connects to `host:port` (an IP address, `[::1]` or a name, each resolved address tried in
/// turn), sends `request`, and reads the reply until `until` or `max_reply` bytes, all within
/// `timeout_ms`. Returns the reply's bytes (empty for [`Until::Connected`]).
pub fn exchange(
    host: &str,
    port: u16,
    request: &[u8],
    until: Until,
    max_reply: usize,
    timeout_ms: u32,
) -> Result<Vec<u8>, TcpError> {
    let deadline = monotonic_clock::now() + u64::from(timeout_ms) * 1_000_000;
    let timed_out = |doing| TcpError::TimedOut { doing, timeout_ms };
    let network = instance_network::instance_network();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses = addresses(&network, host, deadline).map_err(|e| match e {
        Wait::Deadline => timed_out("resolving the name"),
        Wait::Error(e) => e,
    })?;
    let mut last = TcpError::Unresolved(format!("no address for {host:?}"));
    for address in addresses {
        match connect(&network, address, port, deadline) {
            Ok((socket, input, output)) => {
                let reply = talk(&input, &output, request, until, max_reply, deadline);
                // Streams before their socket: a child resource outliving its parent traps.
                drop((input, output));
                drop(socket);
                return reply.map_err(|e| match e {
                    Wait::Deadline => timed_out("waiting for a reply"),
                    Wait::Error(e) => e,
                });
            }
            Err(Wait::Deadline) => return Err(timed_out("connecting")),
            Err(Wait::Error(e)) => last = e,
        }
    }
    Err(last)
}

/// What a wait ended with other than success.
enum Wait {
    Deadline,
    Error(TcpError),
}

impl From<TcpError> for Wait {
    fn from(e: TcpError) -> Self {
        Wait::Error(e)
    }
}

/// Waits until `pollable` is ready (Ok) or the deadline passes.
fn wait(pollable: &Pollable, deadline: u64) -> Result<(), Wait> {
    let timer = monotonic_clock::subscribe_instant(deadline);
    let ready = poll::poll(&[pollable, &timer]);
    if ready.contains(&0) {
        Ok(())
    } else {
        Err(Wait::Deadline)
    }
}

fn socket_error(e: ErrorCode) -> TcpError {
    match e {
        ErrorCode::ConnectionRefused => TcpError::Refused,
        ErrorCode::AccessDenied => TcpError::Denied,
        ErrorCode::Timeout => TcpError::Failed("the connection timed out".into()),
        ErrorCode::ConnectionReset => TcpError::Failed("connection reset by peer".into()),
        ErrorCode::RemoteUnreachable => TcpError::Failed("the host is unreachable".into()),
        ErrorCode::NameUnresolvable => TcpError::Unresolved("no such name".into()),
        ErrorCode::TemporaryResolverFailure => {
            TcpError::Unresolved("temporary failure in name resolution".into())
        }
        ErrorCode::PermanentResolverFailure => {
            TcpError::Unresolved("permanent failure in name resolution".into())
        }
        other => TcpError::Failed(format!("{other:?}")),
    }
}

fn addresses(network: &Network, host: &str, deadline: u64) -> Result<Vec<IpAddress>, Wait> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                IpAddress::Ipv4((a, b, c, d))
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
            }
        }]);
    }
    let stream = ip_name_lookup::resolve_addresses(network, host).map_err(socket_error)?;
    let mut found = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => found.push(address),
            Ok(None) => return Ok(found),
            Err(ErrorCode::WouldBlock) => wait(&stream.subscribe(), deadline)?,
            Err(e) => return Err(socket_error(e).into()),
        }
    }
}

type Connection = (wasip2::sockets::tcp::TcpSocket, InputStream, OutputStream);

fn connect(
    network: &Network,
    address: IpAddress,
    port: u16,
    deadline: u64,
) -> Result<Connection, Wait> {
    let (family, remote) = match address {
        IpAddress::Ipv4(address) => (
            IpAddressFamily::Ipv4,
            IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address }),
        ),
        IpAddress::Ipv6(address) => (
            IpAddressFamily::Ipv6,
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port,
                flow_info: 0,
                address,
                scope_id: 0,
            }),
        ),
    };
    let socket = tcp_create_socket::create_tcp_socket(family).map_err(socket_error)?;
    socket
        .start_connect(network, remote)
        .map_err(socket_error)?;
    loop {
        match socket.finish_connect() {
            Ok((input, output)) => return Ok((socket, input, output)),
            Err(ErrorCode::WouldBlock) => wait(&socket.subscribe(), deadline)?,
            Err(e) => return Err(socket_error(e).into()),
        }
    }
}

fn stream_error(e: StreamError) -> TcpError {
    match e {
        StreamError::Closed => TcpError::ClosedEarly(Vec::new()),
        StreamError::LastOperationFailed(e) => TcpError::Failed(e.to_debug_string()),
    }
}

fn talk(
    input: &InputStream,
    output: &OutputStream,
    request: &[u8],
    until: Until,
    max_reply: usize,
    deadline: u64,
) -> Result<Vec<u8>, Wait> {
    let mut rest = request;
    while !rest.is_empty() {
        let room = output.check_write().map_err(stream_error)?;
        if room == 0 {
            wait(&output.subscribe(), deadline)?;
            continue;
        }
        let n = rest.len().min(room as usize);
        output.write(&rest[..n]).map_err(stream_error)?;
        rest = &rest[n..];
    }
    if !request.is_empty() {
        output.flush().map_err(stream_error)?;
        // A flush is complete when the stream accepts writes again.
        while output.check_write().map_err(stream_error)? == 0 {
            wait(&output.subscribe(), deadline)?;
        }
    }
    let mut reply = Vec::new();
    if until == Until::Connected {
        return Ok(reply);
    }
    while reply.len() < max_reply {
        match input.read((max_reply - reply.len()) as u64) {
            Ok(bytes) if bytes.is_empty() => wait(&input.subscribe(), deadline)?,
            Ok(bytes) => {
                reply.extend_from_slice(&bytes);
                if until == Until::Newline && bytes.contains(&b'\n') {
                    let end = reply.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
                    reply.truncate(end);
                    return Ok(reply);
                }
            }
            Err(StreamError::Closed) if until == Until::Closed => return Ok(reply),
            Err(StreamError::Closed) => return Err(TcpError::ClosedEarly(reply).into()),
            Err(e) => return Err(stream_error(e).into()),
        }
    }
    Ok(reply)
}
