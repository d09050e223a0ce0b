//! The routes, each with its method, request and answer type: the one place the daemon's
//! router and the client's requests are both written from.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::daemon::{DaemonInfo, ShuttingDown};
use crate::event::EventKinds;
use crate::health::HealthAnswer;
use crate::preflight::{Preflight, Readiness};
use crate::reload::{ReloadBody, ReloadReport};
use crate::service::{Logs, ServiceSummary, ServiceView, Snapshot};

/// The route patterns, as the router matches them (`{name}` is a service's name).
pub mod route {
    pub const DAEMON: &str = "/api/v1/daemon";
    pub const DAEMON_SHUTDOWN: &str = "/api/v1/daemon/shutdown";
    pub const SERVICES: &str = "/api/v1/services/list";
    pub const SERVICE: &str = "/api/v1/services/{name}";
    pub const SERVICE_START: &str = "/api/v1/services/{name}/start";
    pub const SERVICE_STOP: &str = "/api/v1/services/{name}/stop";
    pub const SERVICE_RESTART: &str = "/api/v1/services/{name}/restart";
    pub const SERVICE_LOGS: &str = "/api/v1/services/{name}/logs";
    pub const SERVICE_HEALTH: &str = "/api/v1/services/{name}/health";
    pub const SERVICE_PREFLIGHT: &str = "/api/v1/services/{name}/preflight";
    pub const PLATFORM_STATUS: &str = "/api/v1/platform/status";
    pub const PLATFORM_START: &str = "/api/v1/platform/start";
    pub const PLATFORM_STOP: &str = "/api/v1/platform/stop";
    pub const PLATFORM_READINESS: &str = "/api/v1/platform/readiness";
    pub const PLATFORM_RELOAD: &str = "/api/v1/platform/reload";
    pub const EVENTS: &str = "/api/v1/events";
    /// Prometheus metrics (text, not the envelope; also on `--metrics-listen`).
    pub const METRICS: &str = "/metrics";
}

/// The header a client sends with the absolute path of the config it means; a daemon serving
/// another config refuses the request instead of mixing two platforms.
pub const CONFIG_HEADER: &str = "x-keel-config";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request with a JSON answer in the envelope.
pub trait Endpoint {
    const METHOD: Method;
    /// The envelope's `data`.
    type Answer: Serialize + DeserializeOwned;
    /// The path, with the query string if any.
    fn path(&self) -> String;
    /// The JSON body, if the request has one.
    fn body(&self) -> Option<Vec<u8>> {
        None
    }
}

/// A `GET` whose answer is a stream of lines (logs followed, events).
pub trait Streamed {
    fn path(&self) -> String;
}

/// What a path segment keeps as it is: what service names are made of.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `pattern` with `{name}` filled in.
fn with_name(pattern: &str, name: &str) -> String {
    pattern.replace("{name}", &utf8_percent_encode(name, SEGMENT).to_string())
}

fn json<T: Serialize>(body: &T) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(body).expect("request bodies serialize"))
}

/// The body of a service's start and stop: `{"force": …}` (an empty body means `false`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForceBody {
    #[serde(default)]
    pub force: bool,
}

/// The body of a platform start or stop: the services (none: all) and `force`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformBody {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub force: bool,
}

/// The query of a service's logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default = "default_lines")]
    pub lines: usize,
    #[serde(default)]
    pub follow: bool,
}

pub const DEFAULT_LOG_LINES: usize = 50;

fn default_lines() -> usize {
    DEFAULT_LOG_LINES
}

/// The query of the service list.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub view: ListView,
}

/// How much of each service a list carries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListView {
    /// Every field of a service object.
    #[default]
    Full,
    /// What a listing shows ([`ServiceSummary`]).
    Summary,
}

/// The query of the event stream.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct EventsQuery {
    /// Comma-separated kinds to receive after the snapshot: `changed`, `health` (default both).
    pub events: Option<String>,
}

/// The daemon's PID, version, config and state directory.
#[derive(Debug, Clone)]
pub struct GetDaemon;

impl Endpoint for GetDaemon {
    const METHOD: Method = Method::Get;
    type Answer = DaemonInfo;
    fn path(&self) -> String {
        route::DAEMON.to_string()
    }
}

/// Stop every service, then the daemon.
#[derive(Debug, Clone)]
pub struct ShutDown;

impl Endpoint for ShutDown {
    const METHOD: Method = Method::Post;
    type Answer = ShuttingDown;
    fn path(&self) -> String {
        route::DAEMON_SHUTDOWN.to_string()
    }
}

/// Every service object, in config order.
#[derive(Debug, Clone)]
pub struct ListServices;

impl Endpoint for ListServices {
    const METHOD: Method = Method::Get;
    type Answer = Vec<ServiceView>;
    fn path(&self) -> String {
        route::SERVICES.to_string()
    }
}

/// Every service as a listing shows it.
#[derive(Debug, Clone)]
pub struct ListSummaries;

impl Endpoint for ListSummaries {
    const METHOD: Method = Method::Get;
    type Answer = Vec<ServiceSummary>;
    fn path(&self) -> String {
        format!("{}?view=summary", route::SERVICES)
    }
}

/// One service object.
#[derive(Debug, Clone)]
pub struct GetService {
    pub name: String,
}

impl Endpoint for GetService {
    const METHOD: Method = Method::Get;
    type Answer = ServiceView;
    fn path(&self) -> String {
        with_name(route::SERVICE, &self.name)
    }
}

/// Pre-flight, then the service with its dependencies, each waited for until ready; the
/// answer is the service's snapshot once ready.
#[derive(Debug, Clone)]
pub struct StartService {
    pub name: String,
    pub force: bool,
}

impl Endpoint for StartService {
    const METHOD: Method = Method::Post;
    type Answer = Option<Snapshot>;
    fn path(&self) -> String {
        with_name(route::SERVICE_START, &self.name)
    }
    fn body(&self) -> Option<Vec<u8>> {
        json(&ForceBody { force: self.force })
    }
}

/// Stop one service (refused while dependents run, unless `force`).
#[derive(Debug, Clone)]
pub struct StopService {
    pub name: String,
    pub force: bool,
}

impl Endpoint for StopService {
    const METHOD: Method = Method::Post;
    type Answer = Snapshot;
    fn path(&self) -> String {
        with_name(route::SERVICE_STOP, &self.name)
    }
    fn body(&self) -> Option<Vec<u8>> {
        json(&ForceBody { force: self.force })
    }
}

/// Stop one service and start it again, waiting until it is ready.
#[derive(Debug, Clone)]
pub struct RestartService {
    pub name: String,
}

impl Endpoint for RestartService {
    const METHOD: Method = Method::Post;
    type Answer = Snapshot;
    fn path(&self) -> String {
        with_name(route::SERVICE_RESTART, &self.name)
    }
}

/// The last `lines` lines of a service's log.
#[derive(Debug, Clone)]
pub struct GetLogs {
    pub name: String,
    pub lines: usize,
}

impl Endpoint for GetLogs {
    const METHOD: Method = Method::Get;
    type Answer = Logs;
    fn path(&self) -> String {
        format!(
            "{}?lines={}",
            with_name(route::SERVICE_LOGS, &self.name),
            self.lines
        )
    }
}

/// A check run now, beside the monitored health.
#[derive(Debug, Clone)]
pub struct CheckHealth {
    pub name: String,
}

impl Endpoint for CheckHealth {
    const METHOD: Method = Method::Get;
    type Answer = HealthAnswer;
    fn path(&self) -> String {
        with_name(route::SERVICE_HEALTH, &self.name)
    }
}

/// The pre-flight report a start of the service would get now.
#[derive(Debug, Clone)]
pub struct GetPreflight {
    pub name: String,
}

impl Endpoint for GetPreflight {
    const METHOD: Method = Method::Get;
    type Answer = Preflight;
    fn path(&self) -> String {
        with_name(route::SERVICE_PREFLIGHT, &self.name)
    }
}

/// Every service object (the same as the full list).
#[derive(Debug, Clone)]
pub struct PlatformStatus;

impl Endpoint for PlatformStatus {
    const METHOD: Method = Method::Get;
    type Answer = Vec<ServiceView>;
    fn path(&self) -> String {
        route::PLATFORM_STATUS.to_string()
    }
}

/// Start `services` (none: the auto-start ones) in dependency order; the snapshots of
/// every service started, once ready.
#[derive(Debug, Clone)]
pub struct PlatformStart {
    pub body: PlatformBody,
}

impl Endpoint for PlatformStart {
    const METHOD: Method = Method::Post;
    type Answer = Vec<Snapshot>;
    fn path(&self) -> String {
        route::PLATFORM_START.to_string()
    }
    fn body(&self) -> Option<Vec<u8>> {
        json(&self.body)
    }
}

/// Stop `services` and what depends on them (none: everything), dependents first.
#[derive(Debug, Clone)]
pub struct PlatformStop {
    pub body: PlatformBody,
}

impl Endpoint for PlatformStop {
    const METHOD: Method = Method::Post;
    type Answer = Vec<Snapshot>;
    fn path(&self) -> String {
        route::PLATFORM_STOP.to_string()
    }
    fn body(&self) -> Option<Vec<u8>> {
        json(&self.body)
    }
}

/// Re-read the config file the daemon serves and apply the difference (or, with `dry_run`,
/// only report it).
#[derive(Debug, Clone)]
pub struct Reload {
    pub body: ReloadBody,
}

impl Endpoint for Reload {
    const METHOD: Method = Method::Post;
    type Answer = ReloadReport;
    fn path(&self) -> String {
        route::PLATFORM_RELOAD.to_string()
    }
    fn body(&self) -> Option<Vec<u8>> {
        json(&self.body)
    }
}

/// Every service with its pre-flight report.
#[derive(Debug, Clone)]
pub struct GetReadiness;

impl Endpoint for GetReadiness {
    const METHOD: Method = Method::Get;
    type Answer = Readiness;
    fn path(&self) -> String {
        route::PLATFORM_READINESS.to_string()
    }
}

/// A service's log, the last `lines` lines and then new ones as they are written (plain
/// text lines).
#[derive(Debug, Clone)]
pub struct FollowLogs {
    pub name: String,
    pub lines: usize,
}

impl Streamed for FollowLogs {
    fn path(&self) -> String {
        format!(
            "{}?lines={}&follow=true",
            with_name(route::SERVICE_LOGS, &self.name),
            self.lines
        )
    }
}

/// The event stream ([`crate::Event`] per line), with only `kinds` after the first snapshot.
#[derive(Debug, Clone)]
pub struct Events {
    pub kinds: EventKinds,
}

impl Streamed for Events {
    fn path(&self) -> String {
        if self.kinds == EventKinds::ALL {
            route::EVENTS.to_string()
        } else {
            format!("{}?events={}", route::EVENTS, self.kinds.query())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_in_the_name_and_encode_what_a_name_cannot_hold() {
        let stop = StopService {
            name: "api-gw_1.x".into(),
            force: true,
        };
        assert_eq!(stop.path(), "/api/v1/services/api-gw_1.x/stop");
        assert_eq!(stop.body().unwrap(), br#"{"force":true}"#);
        let odd = GetService {
            name: "a/b?c".into(),
        };
        assert_eq!(odd.path(), "/api/v1/services/a%2Fb%3Fc");
        assert_eq!(
            GetLogs {
                name: "db".into(),
                lines: 7
            }
            .path(),
            "/api/v1/services/db/logs?lines=7"
        );
        assert_eq!(
            Events {
                kinds: EventKinds::CHANGED
            }
            .path(),
            "/api/v1/events?events=changed"
        );
    }
}
