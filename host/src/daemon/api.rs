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
use keel_api::endpoint::{
    self as ep, EventsQuery, ForceBody, ListQuery, ListView, LogQuery, PlatformBody, route,
};
use keel_api::{
    CONFIG_HEADER, DaemonInfo, Endpoint, ErrorDetails, Event, EventKinds, HealthAnswer, HookCause,
    Logs, Readiness, ReadinessEntry, ReloadBody, ServiceView, ShuttingDown, Snapshot, Status,
};
use tokio::sync::Notify;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::reload::ReloadError;
use crate::metrics::{Format, Metrics};
use crate::supervisor::{Supervisor, SupervisorError, tail};

#[derive(Clone)]
pub struct ApiState {
    /// The supervisor of the config served now (a reload replaces it).
    pub live: super::reload::LiveSupervisor,
    pub reloader: Arc<super::reload::Reloader>,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub started_at_ms: u64,
    pub shutdown: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

impl ApiState {
    /// The supervisor of the config served now: a request takes it once, and works with it
    /// to the end even if a reload replaces it meanwhile.
    fn sup(&self) -> Supervisor {
        self.live.get()
    }
}

/// An API error: status code and message (and for some, structured details), in the envelope.
pub struct ApiError {
    code: StatusCode,
    message: String,
    details: Option<ErrorDetails>,
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
        let body = keel_api::Failure::new(self.message, self.details);
        (self.code, axum::Json(body)).into_response()
    }
}

impl From<SupervisorError> for ApiError {
    fn from(e: SupervisorError) -> Self {
        let code = match &e {
            SupervisorError::UnknownService(_) => StatusCode::NOT_FOUND,
            SupervisorError::DependentsRunning { .. } => StatusCode::CONFLICT,
            SupervisorError::Refused { .. } => StatusCode::CONFLICT,
            SupervisorError::Failed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            SupervisorError::NotReady { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            SupervisorError::Preflight(_) => StatusCode::PRECONDITION_FAILED,
            SupervisorError::Gone => StatusCode::SERVICE_UNAVAILABLE,
        };
        let details = match &e {
            SupervisorError::Preflight(reports) => Some(ErrorDetails::Preflight(reports.clone())),
            SupervisorError::DependentsRunning {
                service,
                dependents,
            } => Some(ErrorDetails::DependentsRunning {
                service: service.clone(),
                dependents: dependents.clone(),
            }),
            _ => None,
        };
        ApiError {
            code,
            message: e.to_string(),
            details,
        }
    }
}

/// The answer of endpoint `E`, in the envelope (serialized straight from `data`, not through
/// a JSON tree). Naming the endpoint ties each handler's answer to the contract's type.
fn ok<E: Endpoint>(data: E::Answer) -> Response {
    axum::Json(keel_api::Success::new(data)).into_response()
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

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(route::DAEMON, get(daemon_info))
        .route(route::DAEMON_SHUTDOWN, post(daemon_shutdown))
        .route(route::SERVICES, get(list))
        .route(route::SERVICE, get(status))
        .route(route::SERVICE_START, post(start))
        .route(route::SERVICE_STOP, post(stop))
        .route(route::SERVICE_RESTART, post(restart))
        .route(route::SERVICE_LOGS, get(logs))
        .route(route::SERVICE_HEALTH, get(health))
        .route(route::SERVICE_PREFLIGHT, get(preflight))
        .route(route::PLATFORM_STATUS, get(platform_status))
        .route(route::PLATFORM_START, post(platform_start))
        .route(route::PLATFORM_STOP, post(platform_stop))
        .route(route::PLATFORM_READINESS, get(readiness))
        .route(route::PLATFORM_RELOAD, post(reload))
        .route(route::EVENTS, get(events))
        .route(
            route::METRICS,
            get(|State(s): State<ApiState>, headers: HeaderMap| async move {
                scrape(&s.metrics, &headers)
            }),
        )
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

/// The router of `--metrics-listen`: `GET /metrics` and nothing else.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            route::METRICS,
            get(move |headers: HeaderMap| async move { scrape(&metrics, &headers) }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") })
}

/// Every metric, in the format the scraper's `Accept` asks for.
fn scrape(metrics: &Metrics, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    Response::builder()
        .header("content-type", format.content_type())
        .body(Body::from(metrics.render(format)))
        .expect("valid response")
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
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    ok::<ep::GetDaemon>(DaemonInfo {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: s.config_path.clone(),
        state_dir: s.state_dir.clone(),
        started_at_ms: s.started_at_ms,
    })
}

async fn daemon_shutdown(State(s): State<ApiState>) -> Response {
    s.shutdown.notify_one();
    ok::<ep::ShutDown>(ShuttingDown {
        shutting_down: true,
    })
}

/// A service object: its config's fields and its live snapshot.
fn view(sup: &Supervisor, live: Snapshot) -> ServiceView {
    let s = sup
        .config()
        .service(&live.name)
        .expect("supervised services are in the config");
    crate::view::service_view(s, live)
}

async fn views(sup: &Supervisor) -> Vec<ServiceView> {
    sup.list().await.into_iter().map(|l| view(sup, l)).collect()
}

async fn list(
    State(s): State<ApiState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(match query(q)?.view {
        ListView::Full => ok::<ep::ListServices>(views(&s.sup()).await),
        ListView::Summary => {
            let sup = s.sup();
            let live = sup.list().await;
            ok::<ep::ListSummaries>(
                live.iter()
                    .filter_map(|l| {
                        let c = sup.config().service(&l.name)?;
                        Some(crate::view::summary(c, l.status))
                    })
                    .collect(),
            )
        }
    })
}

async fn platform_status(State(s): State<ApiState>) -> Response {
    ok::<ep::PlatformStatus>(views(&s.sup()).await)
}

async fn status(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let sup = s.sup();
    let snap = sup.snapshot(&name).await?;
    Ok(ok::<ep::GetService>(view(&sup, snap)))
}

async fn start(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(b): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    let started = s
        .sup()
        .start_services(&[&name], b.force, HookCause::Operator)
        .await?;
    let this = started.into_iter().find(|x| x.name == name);
    Ok(ok::<ep::StartService>(this))
}

async fn stop(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(b): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    Ok(ok::<ep::StopService>(s.sup().stop(&name, b.force).await?))
}

async fn restart(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Body_(_): Body_<ForceBody>,
) -> Result<Response, ApiError> {
    Ok(ok::<ep::RestartService>(s.sup().restart(&name).await?))
}

async fn logs(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let sup = s.sup();
    let path = sup.log_path(&name)?;
    // Subscribe before reading the tail, so no line falls between the two.
    let follow = q.follow.then(|| sup.follow(&name)).transpose()?;
    let lines = tail(&path, q.lines).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let Some(rx) = follow else {
        return Ok(ok::<ep::GetLogs>(Logs {
            service: name,
            lines,
        }));
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
    let sup = s.sup();
    let snap = sup.snapshot(&name).await?;
    let check = sup.check_now(&name).await?;
    let check_type = sup
        .config()
        .service(&name)
        .and_then(|x| x.health_check.as_ref())
        .map(|h| h.check_type.clone());
    Ok(ok::<ep::CheckHealth>(HealthAnswer {
        service: name,
        status: snap.status,
        check_type,
        monitored: snap.health,
        check,
    }))
}

/// The pre-flight report of starting the service now (with its dependencies when
/// `auto_start_dependencies` is on).
async fn preflight(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let sup = s.sup();
    let plan = sup.start_plan(&[&name])?;
    let planned: Vec<&str> = plan.iter().flatten().copied().collect();
    Ok(ok::<ep::GetPreflight>(sup.preflight(&name, &planned).await))
}

/// Every service with its pre-flight report (as a start now would run it): what runs, what
/// could start, what has issues.
async fn readiness(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let sup = &s.sup();
    let reports = futures_util::future::join_all(sup.config().services.iter().map(|svc| async {
        let plan = sup.start_plan(&[&svc.name]).unwrap_or_default();
        let planned: Vec<&str> = plan.iter().flatten().copied().collect();
        sup.preflight(&svc.name, &planned).await
    }))
    .await;
    let mut services = Vec::new();
    let (mut running, mut ready) = (0, 0);
    for (snap, preflight) in sup.list().await.into_iter().zip(reports) {
        running += usize::from(snap.status == Status::Running);
        ready += usize::from(preflight.passed);
        services.push(ReadinessEntry {
            service: view(sup, snap),
            preflight,
        });
    }
    Ok(ok::<ep::GetReadiness>(Readiness {
        running,
        ready,
        services,
    }))
}

async fn platform_start(
    State(s): State<ApiState>,
    Body_(b): Body_<PlatformBody>,
) -> Result<Response, ApiError> {
    let names: Vec<&str> = b.services.iter().map(String::as_str).collect();
    let sup = s.sup();
    let targets = sup.config().start_targets(&names);
    let started = sup
        .start_services(&targets, b.force, HookCause::Operator)
        .await?;
    Ok(ok::<ep::PlatformStart>(started))
}

async fn platform_stop(
    State(s): State<ApiState>,
    Body_(b): Body_<PlatformBody>,
) -> Result<Response, ApiError> {
    let sup = s.sup();
    for n in &b.services {
        if !sup.graph().contains(n) {
            return Err(SupervisorError::from(sup.graph().unknown(n)).into());
        }
    }
    let names: Vec<&str> = b.services.iter().map(|s| s.as_str()).collect();
    let scope = (!names.is_empty()).then_some(names.as_slice());
    let results = sup.stop_levels(scope, b.force, HookCause::Operator).await;
    let mut stopped = Vec::new();
    let mut errors = Vec::new();
    let mut refused = true;
    for r in results {
        match r {
            Ok(snap) => stopped.push(snap),
            Err(e) => {
                refused &= matches!(e, SupervisorError::Refused { .. });
                errors.push(e.to_string());
            }
        }
    }
    if !errors.is_empty() {
        // Refused by hooks: the same conflict as one service's refused stop.
        let code = if refused {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return Err(ApiError::new(code, errors.join("; ")));
    }
    Ok(ok::<ep::PlatformStop>(stopped))
}

/// Re-reads the config file and applies the difference; a file with problems is refused
/// (422, every problem in `details`) and nothing changes.
async fn reload(
    State(s): State<ApiState>,
    Body_(b): Body_<ReloadBody>,
) -> Result<Response, ApiError> {
    match s.reloader.reload(b.dry_run).await {
        Ok(report) => Ok(ok::<ep::Reload>(report)),
        Err(e @ ReloadError::Invalid { .. }) => {
            let ReloadError::Invalid { problems, .. } = &e else {
                unreachable!()
            };
            Err(ApiError {
                code: StatusCode::UNPROCESSABLE_ENTITY,
                details: Some(ErrorDetails::Problems {
                    problems: problems.clone(),
                }),
                message: e.to_string(),
            })
        }
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
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
    let kinds = match query(q)?.events {
        None => EventKinds::ALL,
        Some(list) => EventKinds::parse(&list)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad query: {e}")))?,
    };
    let sup = s.sup();
    let rx = sup.subscribe();
    let first = Event::Snapshot {
        services: sup.list().await,
    };
    let line = |e: &Event| {
        let mut l = serde_json::to_vec(e).expect("events serialize");
        l.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(l))
    };
    let head = futures_util::stream::once(std::future::ready(line(&first)));
    // A client that falls behind gets a `lagged` event saying how many it missed (then a new
    // snapshot from GET /services brings it up to date).
    let live = BroadcastStream::new(rx).filter_map(move |r| {
        let event = match r {
            Ok(e) => e,
            Err(BroadcastStreamRecvError::Lagged(missed)) => Event::Lagged { missed },
        };
        std::future::ready(kinds.wants(&event).then(|| line(&event)))
    });
    Ok(Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(head.chain(live)))
        .expect("valid response"))
}
