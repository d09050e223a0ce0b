//! HTTP requests with a body, for Keel's own plugins that call HTTP APIs (the `webhook` and
//! `etcd-register` hooks). The request goes through `wasi:http/outgoing-handler`: the host makes
//! the connection (and TLS for https) and admits only the authority granted as
//! `network("host:port")`, which is what [`Url::network`] asks for.
//!
//! It is a crate of its own rather than part of `keel-plugin-sdk` because it links the WASI 0.2.12
//! bindings of the `wasip2` crate: cargo unifies a dependency's features across the workspace,
//! so an SDK feature would put them into every plugin's build.

use keel_plugin_sdk::authority;
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::StreamError;

/// The parts of an `http://` or `https://` URL that a request needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Url {
    pub https: bool,
    /// Lower case, without brackets for IPv6.
    pub host: String,
    /// The port given, or the scheme's (80, 443).
    pub port: u16,
    /// As written (lower case): the port only when one was given, IPv6 in brackets.
    pub authority: String,
    /// The path and query, starting with '/'; the fragment is dropped.
    pub path_with_query: String,
}

impl Url {
    /// Parses an absolute `http://` or `https://` URL. The error is a sentence fit for a settings
    /// problem, e.g. `expected an http:// or https:// URL (no scheme), found text "x"`.
    pub fn parse(url: &str) -> Result<Url, String> {
        let bad =
            |why: &str| format!("expected an http:// or https:// URL ({why}), found text {url:?}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("unsupported scheme")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("user names and passwords in the URL are not supported"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            // An IPv6 address: `[::1]` or `[::1]:8080`.
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
                match after {
                    "" => (host, None),
                    _ => match after.strip_prefix(':') {
                        Some(port) => (host, Some(port)),
                        None => return Err(bad("text after the IPv6 address")),
                    },
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
        if !host_ok {
            return Err(bad("no valid host"));
        }
        let port = match port {
            None if https => 443,
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad("the port must be a number between 1 and 65535")),
            },
        };
        let path = tail.split('#').next().unwrap_or_default();
        let path_with_query = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Url {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority: authority.to_ascii_lowercase(),
            path_with_query,
        })
    }

    /// What to ask the host for: `network("host:port")` takes this.
    pub fn network(&self) -> String {
        authority(&self.host, self.port)
    }

    /// This URL with `path` appended to its path (one '/' between them), e.g. an API's base URL
    /// `http://etcd:2379` plus `/v3/kv/put`. A query of the base URL is dropped.
    pub fn join(&self, path: &str) -> Url {
        let base = self.path_with_query.split('?').next().unwrap_or_default();
        let mut joined = Url {
            path_with_query: format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            ),
            ..self.clone()
        };
        if joined.path_with_query.is_empty() {
            joined.path_with_query.push('/');
        }
        joined
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path_with_query)
    }
}

/// A response: its status and the start of its body.
pub struct Response {
    pub status: u16,
    /// At most `max_body` bytes (see [`post`]); anything after that is not read.
    pub body: Vec<u8>,
}

impl Response {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as one line of at most 200 characters, for an error message.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match line.char_indices().nth(200) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => line,
        }
    }
}

/// Sends `POST url` with `body` and the given headers (plus `content-type` and
/// `content-length`) and reads the response, all within `timeout_ms`; at most `max_body` bytes
/// of the response body are read. The error is a phrase, e.g. `connection refused` or
/// `timed out after 2000 ms`.
pub fn post(
    url: &Url,
    headers: &[(String, String)],
    content_type: &str,
    body: &[u8],
    timeout_ms: u32,
    max_body: usize,
) -> Result<Response, String> {
    let timeout_ns = u64::from(timeout_ms) * 1_000_000;
    // One deadline for the whole exchange: connecting, sending, the response head and the body.
    let deadline = monotonic_clock::subscribe_instant(monotonic_clock::now() + timeout_ns);
    let timed_out = || format!("timed out after {timeout_ms} ms");

    let mut fields: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), content_type.as_bytes().to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ];
    fields.extend(
        headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec())),
    );
    let fields = Fields::from_list(&fields).map_err(|e| match e {
        wasip2::http::types::HeaderError::Forbidden => {
            "the host does not let a plugin set one of the headers".to_string()
        }
        other => format!("invalid request headers: {other:?}"),
    })?;
    let request = OutgoingRequest::new(fields);
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    // These only fail for values `Url::parse` has already ruled out.
    let set = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(&url.authority)).is_ok()
        && request
            .set_path_with_query(Some(&url.path_with_query))
            .is_ok();
    if !set {
        return Err("the host refused the request line".to_string());
    }
    let outgoing_body = request
        .body()
        .map_err(|()| "the request body was already taken".to_string())?;
    let options = RequestOptions::new();
    // An Err here means the host does not support that timeout; the deadline still holds.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| error_text(&e))?;

    // A failed write usually means the connection failed; the response then says why.
    let sent = send_body(outgoing_body, body, &deadline);

    let ready = future.subscribe();
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(error_text(&e)),
            Some(Err(())) => return Err("the response was already taken".to_string()),
            None if deadline.ready() => return Err(timed_out()),
            None => {
                poll::poll(&[&ready, &deadline]);
            }
        }
    };
    sent?;
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| "the response body was already taken".to_string())?;
    let body = read_body(&incoming, max_body, &deadline, timeout_ms)?;
    Ok(Response { status, body })
}

/// Writes the request body as the stream admits it, then finishes the body.
fn send_body(outgoing: OutgoingBody, body: &[u8], deadline: &Pollable) -> Result<(), String> {
    {
        let stream = outgoing
            .write()
            .map_err(|()| "the request body stream was already taken".to_string())?;
        let writable = stream.subscribe();
        let failed = |e: StreamError| match e {
            StreamError::LastOperationFailed(e) => {
                format!("sending the request failed: {}", e.to_debug_string())
            }
            StreamError::Closed => "the connection closed while sending the request".to_string(),
        };
        let mut rest = body;
        while !rest.is_empty() {
            let admitted = stream.check_write().map_err(failed)?;
            if admitted == 0 {
                if deadline.ready() {
                    return Err("timed out sending the request".to_string());
                }
                poll::poll(&[&writable, deadline]);
                continue;
            }
            let n = rest
                .len()
                .min(usize::try_from(admitted).unwrap_or(usize::MAX));
            stream.write(&rest[..n]).map_err(failed)?;
            rest = &rest[n..];
        }
        // The flush is done when the stream admits writes again, or closes: with the whole body
        // handed over (its length was announced), the host may let go of its end at once.
        let flushed = stream.flush().and_then(|()| {
            loop {
                match stream.check_write() {
                    Ok(0) if deadline.ready() => break Ok(()),
                    Ok(0) => {
                        poll::poll(&[&writable, deadline]);
                    }
                    Ok(_) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
        });
        match flushed {
            Ok(()) | Err(StreamError::Closed) => {}
            Err(e) => return Err(failed(e)),
        }
        // `writable` and then `stream` are dropped here, before the body is finished.
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| error_text(&e))
}

/// Reads at most `max` bytes of a response body.
fn read_body(
    incoming: &IncomingBody,
    max: usize,
    deadline: &Pollable,
    timeout_ms: u32,
) -> Result<Vec<u8>, String> {
    let stream = incoming
        .stream()
        .map_err(|()| "the response body stream was already taken".to_string())?;
    let readable = stream.subscribe();
    let mut body = Vec::new();
    while body.len() < max {
        match stream.read((max - body.len()) as u64) {
            Ok(chunk) if chunk.is_empty() => {
                if deadline.ready() {
                    return Err(format!(
                        "timed out after {timeout_ms} ms reading the response"
                    ));
                }
                poll::poll(&[&readable, deadline]);
            }
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "reading the response failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
    Ok(body)
}

/// A wasi:http error as a phrase, e.g. `connection refused`.
pub fn error_text(error: &ErrorCode) -> String {
    match error {
        ErrorCode::DnsTimeout => "name lookup timed out".into(),
        ErrorCode::DnsError(e) => match &e.rcode {
            Some(rcode) => format!("name lookup failed ({rcode})"),
            None => "name lookup failed".into(),
        },
        ErrorCode::DestinationNotFound => "destination not found".into(),
        ErrorCode::DestinationUnavailable => "destination unavailable".into(),
        ErrorCode::DestinationIpProhibited => "destination IP address prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "destination IP address unroutable".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTerminated => "connection terminated".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout => "timed out reading the response".into(),
        ErrorCode::ConnectionWriteTimeout => "timed out sending the request".into(),
        ErrorCode::TlsProtocolError => "TLS protocol error".into(),
        ErrorCode::TlsCertificateError => "TLS certificate error".into(),
        ErrorCode::TlsAlertReceived(alert) => match &alert.alert_message {
            Some(message) => format!("TLS alert received: {message}"),
            None => "TLS alert received".into(),
        },
        ErrorCode::HttpRequestDenied => "request denied by the host (not granted)".into(),
        ErrorCode::HttpResponseTimeout => "no response in time".into(),
        ErrorCode::HttpResponseIncomplete => "incomplete response".into(),
        ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
        ErrorCode::InternalError(Some(message)) => format!("internal error: {message}"),
        other => format!("{other:?}"),
    }
}

/// Why a header cannot be sent, or None when it can: names must be HTTP tokens and not one the
/// host forbids a guest (wasmtime's list: connection, keep-alive, proxy-*, transfer-encoding,
/// upgrade, host, http2-settings) or that [`post`] sets itself (content-type, content-length);
/// values must not contain control characters.
pub fn header_problem(name: &str, value: &str) -> Option<String> {
    const RESERVED: [&str; 11] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
        "http2-settings",
        "content-type",
        "content-length",
    ];
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Some(format!("{name:?} is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) {
        return Some(format!("header {name:?} cannot be set by a plugin"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Some(format!(
            "the value of header {name:?} contains a control character"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("HTTP://Etcd.Local:2379").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port),
            (false, "etcd.local", 2379)
        );
        assert_eq!(u.network(), "etcd.local:2379");
        assert_eq!(
            u.join("/v3/kv/put").to_string(),
            "http://etcd.local:2379/v3/kv/put"
        );
        let u = Url::parse("https://hooks.example/a/b/?x=1#frag").unwrap();
        assert_eq!((u.port, u.path_with_query.as_str()), (443, "/a/b/?x=1"));
        assert_eq!(
            u.join("v3/lease/grant").path_with_query,
            "/a/b/v3/lease/grant"
        );
        let u = Url::parse("http://[::1]:8080/hook").unwrap();
        assert_eq!(
            (u.host.as_str(), u.network()),
            ("::1", "[::1]:8080".to_string())
        );
        for bad in [
            "hooks.example/x",
            "ftp://x",
            "http://",
            "http://u:p@x",
            "http://x:0",
            "http://x:99999",
            "http://[::1",
            "http://[::1]x",
            "http://a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(header_problem("Authorization", "Bearer x"), None);
        assert_eq!(header_problem("X-Token", "a\tb"), None);
        assert!(header_problem("Host", "x").is_some());
        assert!(header_problem("Content-Length", "1").is_some());
        assert!(header_problem("bad name", "x").is_some());
        assert!(header_problem("X-A", "a\r\nInjected: 1").is_some());
    }
}
