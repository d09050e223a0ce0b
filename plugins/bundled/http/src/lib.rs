//! The bundled `http` health check:
//!
//! ```toml
//! [services.orchestrator.health_check.http]
//! endpoint = "http://localhost:9090/health"
//! expected_status = 200   # optional, the default
//! method = "GET"          # optional, the default
//! ```
//!
//! The request goes through `wasi:http/outgoing-handler`, so the host makes the connection (and
//! TLS for https) and checks the authority against the granted `network("host:port")`.
//! The response body is not read.

use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, authority};
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::poll;

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

struct Config {
    /// A placeholder when the setting is missing or wrong (a problem is recorded then).
    endpoint: Endpoint,
    expected_status: u16,
    method: &'static str,
}

impl Settings for Config {
    fn read(r: &mut Reader) -> Config {
        let endpoint = r.required_string("endpoint");
        let expected_status = r.integer("expected_status", 100, 599).unwrap_or(200) as u16;
        let method = r.string("method");
        let endpoint = match endpoint.map(|e| Endpoint::parse(&e)) {
            Some(Ok(endpoint)) => endpoint,
            Some(Err(message)) => {
                r.problem("endpoint", message);
                Endpoint::default()
            }
            None => Endpoint::default(),
        };
        let method = match method {
            None => "GET",
            Some(m) => match METHODS.iter().find(|known| known.eq_ignore_ascii_case(&m)) {
                Some(known) => known,
                None => {
                    let expected = METHODS.join(", ");
                    r.problem(
                        "method",
                        format!("expected one of {expected}, found text {m:?}"),
                    );
                    "GET"
                }
            },
        };
        Config {
            endpoint,
            expected_status,
            method,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Network(authority(
            &self.endpoint.host,
            self.endpoint.port,
        ))]
    }
}

/// The parts of an `http://` or `https://` URL that a request needs.
#[derive(Default)]
struct Endpoint {
    https: bool,
    host: String,
    port: u16,
    /// As written: the port only when one was given.
    authority: String,
    path_with_query: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
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
                (host, after.strip_prefix(':'))
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
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
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
        Ok(Endpoint {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority: authority.to_ascii_lowercase(),
            path_with_query,
        })
    }

    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path_with_query)
    }
}

impl HealthCheck for Config {
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str =
        "Healthy when an HTTP request answers with the expected status";

    fn check(&self, _service: &ServiceInfo, timeout_ms: u32) -> Result<String, String> {
        let config = self;
        match request(&config, timeout_ms) {
            Ok(status) if status == config.expected_status => {
                Ok(format!("HTTP status {status} matches expected"))
            }
            Ok(status) => Err(format!(
                "HTTP status {status}, expected {}",
                config.expected_status
            )),
            Err(why) => Err(format!(
                "HTTP {} {} failed: {why}",
                config.method,
                config.endpoint.url()
            )),
        }
    }
}

keel_plugin_sdk::health_check!(Config);

/// Sends the request and waits for the response head, at most `timeout_ms` in all.
fn request(config: &Config, timeout_ms: u32) -> Result<u16, String> {
    let timeout_ns = u64::from(timeout_ms) * 1_000_000;
    let headers = Fields::from_list(&[("user-agent".into(), b"keel-health-check".to_vec())])
        .map_err(|e| format!("cannot build the request headers: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let method = match config.method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    };
    let endpoint = &config.endpoint;
    let scheme = if endpoint.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    // These only fail for values the parser has already ruled out.
    let set = request.set_method(&method).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(&endpoint.authority)).is_ok()
        && request
            .set_path_with_query(Some(&endpoint.path_with_query))
            .is_ok();
    if !set {
        return Err("the host refused the request line".to_string());
    }
    // The body is never taken, so the request has an empty one.
    let options = RequestOptions::new();
    // An Err here means the host does not support that timeout; the deadline below still holds.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));

    let response = outgoing_handler::handle(request, Some(options)).map_err(|e| error_text(&e))?;
    let deadline = monotonic_clock::subscribe_duration(timeout_ns);
    let ready = response.subscribe();
    loop {
        match response.get() {
            Some(Ok(Ok(response))) => return Ok(response.status()),
            Some(Ok(Err(e))) => return Err(error_text(&e)),
            Some(Err(())) => return Err("the response was already taken".to_string()),
            None if deadline.ready() => return Err(format!("timed out after {timeout_ms} ms")),
            None => {
                poll::poll(&[&ready, &deadline]);
            }
        }
    }
}

/// A wasi:http error as a phrase, e.g. `connection refused`.
fn error_text(error: &ErrorCode) -> String {
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
