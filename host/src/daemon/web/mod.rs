//! The status page (`keel daemon --web ADDR`): the services' table, the dependency graph, a
//! log pane per service and start/stop/restart buttons, live on the control API's own event
//! and log streams. The page is plain HTML, CSS and JavaScript compiled into the binary
//! (`assets/`); it talks to the same handlers as the CLI, through an allow-list of the
//! control API's routes, so the page and the CLI cannot disagree.
//!
//! Who may use it: on a loopback address, anyone who can reach it (the page makes a session on
//! load); on any other address, TLS and the API token, given once in a login form that sets
//! an HttpOnly cookie. Either way every state-changing request carries the session's CSRF
//! token, and on loopback the `Host` header must name loopback (`auth.rs`).

pub mod auth;
pub mod graph_svg;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use keel_api::endpoint::route;
use tokio::task::JoinHandle;

use super::api::constant_time_eq;
use super::reload::LiveSupervisor;
use super::tls::TlsListener;
use auth::{CSRF_HEADER, Session, Sessions};

const INDEX_HTML: &str = include_str!("assets/index.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The control API's routes the page uses; nothing else of the API is reachable here.
const API_ROUTES: [&str; 7] = [
    route::DAEMON,
    route::SERVICES,
    route::SERVICE_START,
    route::SERVICE_STOP,
    route::SERVICE_RESTART,
    route::SERVICE_LOGS,
    route::EVENTS,
];

/// Where and how the page is served.
pub struct WebOptions {
    pub addr: SocketAddr,
    /// The TLS server config (`--web-tls-cert`, `--web-tls-key`); required off loopback.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The API token the login form asks for; required off loopback.
    pub token: Option<String>,
}

/// Why `--web` cannot serve as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebConfigError {
    #[error(
        "--web on {0}, not a loopback address, needs --web-tls-cert and --web-tls-key: the login's token must not cross the network in clear"
    )]
    NeedsTls(SocketAddr),
    #[error(
        "--web on {0}, not a loopback address, needs the API token (at least 16 characters) in KEEL_API_TOKEN for its login"
    )]
    NeedsToken(SocketAddr),
}

/// Whether a page on `addr` asks for the token: anywhere but 127.0.0.0/8 and ::1 (the
/// unspecified 0.0.0.0 and :: listen on every interface, so they ask too).
pub fn needs_login(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// Checks the options before anything starts: off loopback, TLS and a token.
pub fn check(addr: SocketAddr, tls: bool, token: Option<&str>) -> Result<(), WebConfigError> {
    if !needs_login(addr) {
        return Ok(());
    }
    if !tls {
        return Err(WebConfigError::NeedsTls(addr));
    }
    match token {
        Some(t) if t.len() >= 16 => Ok(()),
        _ => Err(WebConfigError::NeedsToken(addr)),
    }
}

/// What every request of the page's listener shares.
struct Web {
    live: LiveSupervisor,
    sessions: Sessions,
    /// The token the login asks for (`None` on loopback: no login).
    login: Option<String>,
    cookie: String,
    secure: bool,
}

/// Binds the page's listener and serves it until the task is aborted.
pub async fn serve(
    opts: WebOptions,
    live: LiveSupervisor,
    api: Router,
) -> anyhow::Result<JoinHandle<()>> {
    check(opts.addr, opts.tls.is_some(), opts.token.as_deref())?;
    let tcp = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen for the status page on {}", opts.addr))?;
    let local = tcp.local_addr()?;
    let web = Arc::new(Web {
        live,
        sessions: Sessions::default(),
        login: needs_login(local).then(|| opts.token.clone()).flatten(),
        cookie: auth::cookie_name(local.port()),
        secure: opts.tls.is_some(),
    });
    let app = router(web, api);
    Ok(match opts.tls {
        Some(config) => {
            tracing::info!("status page on https://{local}/");
            let listener = TlsListener::new(tcp, config)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("status page stopped: {e}");
                }
            })
        }
        None => {
            tracing::info!("status page on http://{local}/");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(tcp, app).await {
                    tracing::error!("status page stopped: {e}");
                }
            })
        }
    })
}

fn router(web: Arc<Web>, api: Router) -> Router {
    let mut app = Router::new()
        .route("/", get(page))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/graph.svg", get(graph))
        .route("/assets/app.js", get(|| asset(APP_JS, "text/javascript")))
        .route("/assets/app.css", get(|| asset(APP_CSS, "text/css")));
    // The control API's router matches the path again itself: the parameters this router
    // matched are taken off first, or its handlers would find two names in the path.
    let api = tower::ServiceBuilder::new()
        .map_request(|mut req: Request| {
            req.extensions_mut().clear();
            req
        })
        .service(api);
    for r in API_ROUTES {
        app = app.route_service(r, api.clone());
    }
    app.fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn_with_state(web.clone(), guard))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// What any request passes before its handler: the Host check on loopback, then (except for
/// the login and the static files) a session, and for anything but a read, its CSRF token.
async fn guard(
    State(web): State<Arc<Web>>,
    mut req: Request,
    next: axum::middleware::Next,
) -> Response {
    if web.login.is_none() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !auth::host_is_loopback(host) {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "this page answers only to a loopback host name (127.0.0.1, [::1] or localhost)",
            );
        }
    }
    let path = req.uri().path().to_string();
    if path == "/login" || path.starts_with("/assets/") {
        return next.run(req).await;
    }
    let Some(session) = session_of(&web, req.headers()) else {
        // Loopback: the page itself makes the session (and so the CSRF token) it will use.
        if web.login.is_none() && path == "/" && req.method() == Method::GET {
            let session = web.sessions.create();
            let cookie = auth::set_cookie(&web.cookie, &session.id, web.secure);
            req.extensions_mut().insert(session);
            let mut response = next.run(req).await;
            set_cookie(&mut response, &cookie);
            return response;
        }
        if path == "/" {
            return Redirect::to("/login").into_response();
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "not signed in: open the page and log in with the API token",
        );
    };
    let reads = req.method() == Method::GET || req.method() == Method::HEAD;
    let csrf = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes());
    if !reads && !auth::csrf_matches(&session, csrf) {
        tracing::warn!(
            path,
            "status page: a request without its CSRF token was refused"
        );
        return refuse(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page",
        );
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

fn session_of(web: &Web, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    web.sessions.get(auth::cookie_value(cookies, &web.cookie)?)
}

/// A refusal in the control API's envelope, so the page reads every error the same way.
fn refuse(code: StatusCode, message: &str) -> Response {
    (
        code,
        axum::Json(keel_api::Failure::new(message.to_string(), None)),
    )
        .into_response()
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The page loads only its own scripts and styles and is never framed.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn html(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The page, with the session's CSRF token for its script (hex: nothing to escape), and a
/// way to log out where there is a login.
async fn page(
    State(web): State<Arc<Web>>,
    axum::Extension(session): axum::Extension<Session>,
) -> Response {
    let logout = if web.login.is_some() {
        r#"<button type="button" id="logout">Log out</button>"#
    } else {
        ""
    };
    html(
        StatusCode::OK,
        INDEX_HTML
            .replace("{{csrf}}", &session.csrf)
            .replace("{{logout}}", logout),
    )
}

fn login_page(code: StatusCode, error: &str) -> Response {
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="error" role="alert" id="login-error">{error}</p>"#)
    };
    html(code, LOGIN_HTML.replace("{{error}}", &error))
}

async fn login_form(State(web): State<Arc<Web>>) -> Response {
    if web.login.is_none() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, "")
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

/// The login: the right token makes a session and sends the browser to the page; a wrong or
/// missing one shows the form again with the reason.
async fn login(
    State(web): State<Arc<Web>>,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(expected) = &web.login else {
        return Redirect::to("/").into_response();
    };
    let given = match form {
        Ok(axum::Form(f)) => f.token,
        Err(_) => {
            return login_page(StatusCode::BAD_REQUEST, "Send the form with the API token.");
        }
    };
    if !constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) {
        tracing::warn!("status page: a login with a wrong token was refused");
        // Slows down guessing; a token of 16 characters or more is out of its reach anyway.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return login_page(StatusCode::UNAUTHORIZED, "Wrong token: try again.");
    }
    let session = web.sessions.create();
    let mut response = Redirect::to("/").into_response();
    set_cookie(
        &mut response,
        &auth::set_cookie(&web.cookie, &session.id, web.secure),
    );
    response
}

async fn logout(
    State(web): State<Arc<Web>>,
    axum::Extension(session): axum::Extension<Session>,
) -> Response {
    web.sessions.remove(&session.id);
    let mut response = (StatusCode::NO_CONTENT, ()).into_response();
    set_cookie(&mut response, &auth::clear_cookie(&web.cookie, web.secure));
    response
}

/// The dependency graph of the config served now.
async fn graph(State(web): State<Arc<Web>>) -> Response {
    let sup = web.live.get();
    let graph = sup.graph();
    let svg = graph_svg::render(&graph_svg::layout(&graph.start_levels(), |n| {
        graph.dependencies(n)
    }));
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_serves_as_it_is_and_anything_else_needs_tls_and_a_token() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!needs_login(lo) && !needs_login(lo6));
        assert!(needs_login(any));
        assert_eq!(check(lo, false, None), Ok(()));
        assert_eq!(
            check(any, false, Some("a-long-enough-token")),
            Err(WebConfigError::NeedsTls(any))
        );
        assert_eq!(check(any, true, None), Err(WebConfigError::NeedsToken(any)));
        assert_eq!(
            check(any, true, Some("short")),
            Err(WebConfigError::NeedsToken(any))
        );
        assert_eq!(check(any, true, Some("a-long-enough-token")), Ok(()));
    }
}
