//! The control API: HTTP/JSON on a Unix socket in the state directory (mode 0600, peers of
//! another uid refused). Every answer is `{"success": true, "data": …}` or
//! `{"success": false, "error": …}`; a malformed request gets a 4xx and changes nothing.
//! The reference is docs/api.md.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::supervisor::{Event, Snapshot, Supervisor, SupervisorError, tail};

/// The header a client sends with the absolute path of the config it means; a daemon serving
/// another config refuses the request instead of mixing two platforms.
pub const CONFIG_HEADER: &str = "x-keel-config";

#[derive(Clone)]
pub struct ApiState {
    pub supervisor: Supervisor,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub started_at_ms: u64,
    pub shutdown: Arc<Notify>,
}

/// An API error: status code and message (and for some, structured details), in the envelope.
pub struct ApiError {
    code: StatusCode,
    message: String,
    details: Option<serde_json::Value>,
}

impl ApiError {
    fn new(code: StatusCode, message: String) -> Self {
        Self {
            code,
            message,
            details: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "success": false, "error": self.message });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        (self.code, axum::Json(body)).into_response()
    }
}

impl From<SupervisorError> for ApiError {
    fn from(e: SupervisorError) -> Self {
        let code = match &e {
            SupervisorError::UnknownService(_) => StatusCode::NOT_FOUND,
            SupervisorError::DependentsRunning { .. } => StatusCode::CONFLICT,
            SupervisorError::Failed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            SupervisorError::NotReady { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            SupervisorError::Preflight(_) => StatusCode::PRECONDITION_FAILED,
            SupervisorError::Gone => StatusCode::SERVICE_UNAVAILABLE,
        };
        let details = match &e {
            SupervisorError::Preflight(reports) => serde_json::to_value(reports).ok(),
            _ => None,
        };
        ApiError {
            code,
            message: e.to_string(),
            details,
        }
    }
}

fn ok<T: Serialize>(data: T) -> Response {
    // Serialized straight from `data`, not through a JSON tree.
    #[derive(Serialize)]
    struct Envelope<T> {
        success: bool,
        data: T,
    }
    axum::Json(Envelope {
        success: true,
        data,
    })
    .into_response()
}

/// A JSON body (an empty body means all defaults) whose rejections use the envelope and say
/// what was wrong.
pub struct Body_<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for Body_<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad request body: {}", e.body_text()),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body_(T::default()));
        }
        if !json_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Body_)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForceBody {
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformBody {
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default = "default_lines")]
    lines: usize,
    #[serde(default)]
    follow: bool,
}

fn default_lines() -> usize {
    50
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/daemon", get(daemon_info))
        .route("/api/v1/daemon/shutdown", post(daemon_shutdown))
        .route("/api/v1/services/list", get(list))
        .route("/api/v1/services/{name}", get(status))
        .route("/api/v1/services/{name}/start", post(start))
        .route("/api/v1/services/{name}/stop", post(stop))
        .route("/api/v1/services/{name}/restart", post(restart))
        .route("/api/v1/services/{name}/logs", get(logs))
        .route("/api/v1/services/{name}/health", get(health))
        .route("/api/v1/services/{name}/preflight", get(preflight))
        .route("/api/v1/platform/status", get(list))
        .route("/api/v1/platform/start", post(platform_start))
        .route("/api/v1/platform/stop", post(platform_stop))
        .route("/api/v1/platform/readiness", get(readiness))
        .route("/api/v1/events", get(events))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint; see docs/api.md".into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed for this endpoint".into(),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_config,
        ))
        .with_state(state)
}

/// The router behind a bearer token (for the optional TCP listener): requests without
/// `Authorization: Bearer TOKEN` get 401 and change nothing.
pub fn with_bearer_token(app: Router, token: String) -> Router {
    let expected = Arc::new(format!("Bearer {token}"));
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| {
            let expected = expected.clone();
            async move {
                let given = req
                    .headers()
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                if constant_time_eq(given, expected.as_bytes()) {
                    next.run(req).await
                } else {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "missing or wrong bearer token".into(),
                    )
                    .into_response()
                }
            }
        },
    ))
}

/// Compares without stopping at the first difference, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses requests meant for another config.
async fn same_config(
    State(s): State<ApiState>,
    headers: HeaderMap,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(v) = headers.get(CONFIG_HEADER) {
        let asked = v.to_str().unwrap_or_default();
        if asked != s.config_path.to_string_lossy() {
            return ApiError::new(StatusCode::CONFLICT,
                format!(
                    "the daemon for state directory {} serves {}, not {asked}; stop it with `keel daemon stop` (or give another --state-dir) to use that config",
                    s.state_dir.display(),
                    s.config_path.display()
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn daemon_info(State(s): State<ApiState>) -> Response {
    ok(json!({
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "config": s.config_path,
        "state_dir": s.state_dir,
        "started_at_ms": s.started_at_ms,
    }))
}

async fn daemon_shutdown(State(s): State<ApiState>) -> Response {
    s.shutdown.notify_one();
    ok(json!({ "shutting_down": true }))
}

/// What the list and status endpoints show of a service: its config and its live snapshot.
#[derive(Serialize)]
pub struct ServiceView {
    #[serde(rename = "type")]
    service_type: &'static str,
    category: String,
    description: String,
    deployment_mode: String,
    auto_start: bool,
    dependencies: Vec<String>,
    health_check: Option<String>,
    #[serde(flatten)]
    live: Snapshot,
}

fn view(sup: &Supervisor, live: Snapshot) -> ServiceView {
    let s = sup
        .config()
        .service(&live.name)
        .expect("supervised services are in the config");
    ServiceView {
        service_type: s.service_type.as_str(),
        category: s.category.clone(),
        description: s.description.clone(),
        deployment_mode: s.deployment.mode.clone(),
        auto_start: s.startup.auto_start,
        dependencies: s.dependencies.iter().map(|d| d.name.clone()).collect(),
        health_check: s.health_check.as_ref().map(|h| h.check_type.clone()),
        live,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    view: ListView,
}

/// How much of each service a list carries.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ListView {
    /// Every field of a service object.
    #[default]
    Full,
    /// What a listing shows: about half the bytes to build, send and parse.
    Summary,
}

/// A service in `?view=summary`: its name, status and the config fields a listing shows.
#[derive(Serialize)]
struct ServiceSummary<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    service_type: &'static str,
    category: &'a str,
    status: crate::supervisor::Status,
    deployment_mode: &'a str,
    auto_start: bool,
    description: &'a str,
    dependencies: Vec<&'a str>,
}

async fn list(
    State(s): State<ApiState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let live = s.supervisor.list().await;
    Ok(match query(q)?.view {
        ListView::Full => ok(live
            .into_iter()
            .map(|l| view(&s.supervisor, l))
            .collect::<Vec<_>>()),
        ListView::Summary => ok(live
            .iter()
            .filter_map(|l| {
                let c = s.supervisor.config().service(&l.name)?;
                Some(ServiceSummary {
                    name: &c.name,
                    service_type: c.service_type.as_str(),
                    category: &c.category,
                    status: l.status,
                    deployment_mode: &c.deployment.mode,
                    auto_start: c.startup.auto_start,
                    description: &c.description,
                    dependencies: c.dependencies.iter().map(|d| d.name.as_str()).collect(),
                })
            })
            .collect::<Vec<_>>()),
    })
}

async fn status(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let snap = s.supervisor.snapshot(&name).await?;
    Ok(ok(view(&s.supervisor, snap)))
}

async fn start(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(b): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    let started = s.supervisor.start_services(&[&name], b.force).await?;
    let this = started.into_iter().find(|x| x.name == name);
    Ok(ok(this))
}

async fn stop(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(b): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    Ok(ok(s.supervisor.stop(&name, b.force).await?))
}

async fn restart(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(_): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    Ok(ok(s.supervisor.restart(&name).await?))
}

async fn logs(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let path = s.supervisor.log_path(&name)?;
    // Subscribe before reading the tail, so no line falls between the two.
    let follow = q.follow.then(|| s.supervisor.follow(&name)).transpose()?;
    let lines = tail(&path, q.lines).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let Some(rx) = follow else {
        return Ok(ok(json!({ "service": name, "lines": lines })));
    };
    // Following: plain text lines, the tail first, then new lines as they come.
    let head = futures_util::stream::iter(
        lines
            .into_iter()
            .map(|l| Ok::<_, Infallible>(Bytes::from(format!("{l}\n")))),
    );
    // A follower that falls behind is told how many lines it missed, never silently.
    let live = BroadcastStream::new(rx).map(|r| {
        Ok::<_, Infallible>(Bytes::from(match r {
            Ok(line) => line.to_string(),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                format!("[keel] {n} lines skipped: this reader fell behind\n")
            }
        }))
    });
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from_stream(head.chain(live)))
        .expect("valid response"))
}

/// The service's monitored health plus the answer of a check run now.
async fn health(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let snap = s.supervisor.snapshot(&name).await?;
    let check = s.supervisor.check_now(&name).await?;
    let check_type = s
        .supervisor
        .config()
        .service(&name)
        .and_then(|x| x.health_check.as_ref())
        .map(|h| h.check_type.clone());
    Ok(ok(json!({
        "service": name,
        "status": snap.status,
        "check_type": check_type,
        "monitored": snap.health,
        "check": check,
    })))
}

/// The pre-flight report of starting the service now (with its dependencies when
/// `auto_start_dependencies` is on).
async fn preflight(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let plan = s.supervisor.start_plan(&[&name])?;
    let planned: Vec<&str> = plan.iter().flatten().copied().collect();
    Ok(ok(s.supervisor.preflight(&name, &planned).await))
}

/// Every service with its pre-flight report (as a start now would run it): what runs, what
/// could start, what has issues.
async fn readiness(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let sup = &s.supervisor;
    let reports = futures_util::future::join_all(sup.config().services.iter().map(|svc| async {
        let plan = sup.start_plan(&[&svc.name]).unwrap_or_default();
        let planned: Vec<&str> = plan.iter().flatten().copied().collect();
        sup.preflight(&svc.name, &planned).await
    }))
    .await;
    let mut services = Vec::new();
    let (mut running, mut ready) = (0, 0);
    for (snap, report) in sup.list().await.into_iter().zip(reports) {
        running += usize::from(snap.status == crate::supervisor::Status::Running);
        ready += usize::from(report.passed);
        let mut v = serde_json::to_value(view(sup, snap)).unwrap_or_default();
        v["preflight"] = serde_json::to_value(&report).unwrap_or_default();
        services.push(v);
    }
    Ok(ok(
        json!({ "running": running, "ready": ready, "services": services }),
    ))
}

async fn platform_start(
    State(s): State<ApiState>,
    Body_(b): Body_<PlatformBody>,
) -> Result<Response, ApiError> {
    let names: Vec<&str> = if b.services.is_empty() {
        s.supervisor.auto_start()
    } else {
        b.services.iter().map(|s| s.as_str()).collect()
    };
    let started = s.supervisor.start_services(&names, b.force).await?;
    Ok(ok(started))
}

async fn platform_stop(
    State(s): State<ApiState>,
    Body_(b): Body_<PlatformBody>,
) -> Result<Response, ApiError> {
    for n in &b.services {
        if !s.supervisor.graph().contains(n) {
            return Err(SupervisorError::from(s.supervisor.graph().unknown(n)).into());
        }
    }
    let names: Vec<&str> = b.services.iter().map(|s| s.as_str()).collect();
    let scope = (!names.is_empty()).then_some(names.as_slice());
    let results = s.supervisor.stop_levels(scope, b.force).await;
    let mut stopped = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(snap) => stopped.push(snap),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            errors.join("; "),
        ));
    }
    Ok(ok(stopped))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Comma-separated kinds to receive after the snapshot: `changed`, `health` (default both).
    events: Option<String>,
}

/// A query string, or a 400 saying what is wrong with it.
fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad query: {}", e.body_text()),
        )
    })
}

/// The event stream: one JSON object per line, first a snapshot of every service, then every
/// state change as it happens (and every health check answer, unless `?events=changed`: a
/// client that only follows states is not woken for each of them).
async fn events(
    State(s): State<ApiState>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (mut changed, mut health) = (q.events.is_none(), q.events.is_none());
    for kind in q.events.iter().flat_map(|k| k.split(',')) {
        match kind.trim() {
            "changed" => changed = true,
            "health" => health = true,
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "bad query: unknown event kind `{other}` in `events` (expected changed, health)"
                    ),
                ));
            }
        }
    }
    let rx = s.supervisor.subscribe();
    let snapshot = s.supervisor.list().await;
    let first = json!({ "event": "snapshot", "services": snapshot });
    let head = futures_util::stream::once(async move {
        Ok::<_, Infallible>(Bytes::from(format!("{first}\n")))
    });
    // A client that falls behind gets a `lagged` event saying how many it missed (then a new
    // snapshot from GET /services brings it up to date).
    let live = BroadcastStream::new(rx).filter_map(move |r| {
        let line = match r {
            Ok(e @ Event::Changed(_)) if changed => Some(serde_json::to_string(&e)),
            Ok(e @ Event::Health { .. }) if health => Some(serde_json::to_string(&e)),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(json!({ "event": "lagged", "missed": n }).to_string()))
            }
        };
        std::future::ready(
            line.map(|l| Ok::<_, Infallible>(Bytes::from(format!("{}\n", l.unwrap_or_default())))),
        )
    });
    Ok(Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(head.chain(live)))
        .expect("valid response"))
}
