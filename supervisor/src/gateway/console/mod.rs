//! The operator console at `/console/`: server-rendered pages (modules, a module, crons,
//! workers and dead letters, nodes and Blocks, deployments) with every asset embedded in the
//! binary, live logs over Server-Sent Events and small self-refreshing fragments.
//!
//! Access: the admin token (or a workspace API key, for a read-only view of that workspace) is
//! exchanged at `/console/login` for a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! behind TLS); every POST carries the session's CSRF token. With `[server]
//! console_without_login` (what `dev` sets), clients on loopback get an admin session
//! without logging in.

mod actions;
mod html;
mod live;
mod pages;
mod schema_form;
pub mod session;

use std::sync::Arc;

use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use super::body::{read_limited, BodyStream};
use super::{GatewayState, Incoming};
use session::{Role, Session, Sessions};

/// The console's settings and sessions.
pub struct Console {
    /// Whether `/console/` is served.
    pub enabled: bool,
    /// Whether loopback clients get an admin session without logging in.
    pub without_login: bool,
    /// The signed-in browsers.
    pub sessions: Arc<Sessions>,
    /// Live-log streams open now, by session (bounded per session and in all).
    pub streams: Arc<live::Streams>,
}

impl Console {
    /// From `[server]`.
    pub fn new(server: &crate::config::ServerConfig) -> Self {
        Self {
            enabled: server.console,
            without_login: server.console_without_login,
            sessions: Arc::new(Sessions::new(server.console_session)),
            streams: Arc::new(live::Streams::default()),
        }
    }
}

/// Largest form or JSON body a console request may send (a route's "try it" body included).
const MAX_FORM_BYTES: u64 = 256 * 1024;

/// The stylesheet and script, embedded.
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// Whether `path` belongs to the console.
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// A signed-in request.
pub(crate) struct Visit<'a> {
    pub state: &'a GatewayState,
    pub request: &'a Incoming,
    pub session: Session,
    /// The session's id (the cookie's value).
    pub session_id: String,
    /// A `Set-Cookie` to send (a session opened without login).
    pub new_cookie: Option<String>,
}

/// Handles everything under `/console`.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let console = &state.console;
    if !console.enabled {
        return plain(
            StatusCode::NOT_FOUND,
            "the console is turned off ([server] console = false)",
        );
    }
    let path = request.path.clone();
    match path.as_str() {
        "/console" => return redirect("/console/", None),
        "/console/assets/console.css" => return asset(CSS, "text/css; charset=utf-8"),
        "/console/assets/console.js" => return asset(JS, "text/javascript; charset=utf-8"),
        "/console/login" => return login(state, &request, &mut body).await,
        _ => {}
    }
    if request.method == Method::POST {
        if let Err(why) = same_origin(&request) {
            return plain(StatusCode::FORBIDDEN, why);
        }
    }
    let Some(visit) = visit(state, &request).await else {
        return if request.method == Method::GET || request.method == Method::HEAD {
            redirect("/console/login", None)
        } else {
            plain(
                StatusCode::UNAUTHORIZED,
                "not signed in: sign in at /console/login",
            )
        };
    };
    let cookie = visit.new_cookie.clone();
    let mut response = if request.method == Method::POST {
        let form = match read_limited(&mut body, content_length(&request), MAX_FORM_BYTES).await {
            Ok(bytes) => bytes,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("request body: {e:?}")),
        };
        post(&visit, &form).await
    } else if request.method == Method::GET || request.method == Method::HEAD {
        pages::get(&visit).await
    } else {
        super::method_not_allowed(&request, "GET, HEAD, POST")
    };
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append("set-cookie", cookie);
    }
    response
}

/// A POST: logout, or an action (admin sessions only), after the CSRF check.
async fn post(visit: &Visit<'_>, form: &[u8]) -> Response {
    let fields = form_fields(form);
    let given = visit
        .request
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| field(&fields, "csrf").map(str::to_string))
        .unwrap_or_default();
    if !session::csrf_matches(&visit.session, &given) {
        return plain(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page and try again",
        );
    }
    if visit.request.path == "/console/logout" {
        visit.state.console.sessions.close(&visit.session_id);
        let mut response = redirect("/console/login", None);
        if let Ok(cookie) = HeaderValue::from_str(&clear_cookie()) {
            response.headers_mut().append("set-cookie", cookie);
        }
        return response;
    }
    if !visit.session.role.may_act() {
        return plain(
            StatusCode::FORBIDDEN,
            "this session is read-only (signed in with a workspace API key)",
        );
    }
    actions::handle(visit, &fields, form).await
}

/// The session of the request (a workspace session only while its API key is still valid),
/// or one opened for a loopback client when the console opens without login.
async fn visit<'a>(state: &'a GatewayState, request: &'a Incoming) -> Option<Visit<'a>> {
    let console = &state.console;
    if let Some((id, session)) =
        cookie_id(request).and_then(|id| console.sessions.get(id).map(|s| (id, s)))
    {
        if let Some(key) = &session.key {
            // A revoked key (or one moved to another workspace) ends its sessions at once.
            let still = matches!(
                (state.store.authenticate(key).await, &session.role),
                (Ok(Some(ws)), Role::Workspace(own)) if &ws == own
            );
            if !still {
                console.sessions.close(id);
                return None;
            }
        }
        return Some(Visit {
            state,
            request,
            session,
            session_id: id.to_string(),
            new_cookie: None,
        });
    }
    let loopback = request.remote.is_some_and(|r| r.ip().is_loopback());
    if console.without_login && loopback && loopback_host(request) {
        let (id, session) = console.sessions.open(Role::Admin, None);
        return Some(Visit {
            state,
            request,
            new_cookie: Some(session_cookie(&id, console, request)),
            session,
            session_id: id,
        });
    }
    None
}

/// Whether the request names this machine in `Host` (`127.0.0.1`, `localhost`, `[::1]`, with
/// or without a port): a page of another site whose name was rebound to 127.0.0.1 names its
/// own host, and gets no session without login.
fn loopback_host(request: &Incoming) -> bool {
    let Some(host) = request.headers.get("host").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(name, _)| name).unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(name, _)| name).unwrap_or(host)
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

/// Refuses a POST another site's page sent (the browser says so in `Sec-Fetch-Site`, or in an
/// `Origin` that is not this host): login forms and actions alike.
fn same_origin(request: &Incoming) -> Result<(), &'static str> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Err("refused: the request came from another site's page");
        }
    }
    if let (Some(origin), Some(host)) = (header("origin"), header("host")) {
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin != "null" && !origin_host.eq_ignore_ascii_case(host) {
            return Err("refused: the request's Origin is not this console");
        }
        if origin == "null" {
            return Err("refused: the request came from an opaque origin");
        }
    }
    Ok(())
}

/// `GET` shows the form; `POST` checks the admin token, then API keys.
async fn login(state: &GatewayState, request: &Incoming, body: &mut BodyStream) -> Response {
    if request.method == Method::GET || request.method == Method::HEAD {
        return html(StatusCode::OK, html::login_page(None));
    }
    if request.method != Method::POST {
        return super::method_not_allowed(request, "GET, HEAD, POST");
    }
    if let Err(why) = same_origin(request) {
        return plain(StatusCode::FORBIDDEN, why);
    }
    let form = match read_limited(body, content_length(request), MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("request body: {e:?}")),
    };
    let fields = form_fields(&form);
    let token = field(&fields, "token")
        .unwrap_or_default()
        .trim()
        .to_string();
    let role = if !token.is_empty()
        && crate::host::constant_time_eq(token.as_bytes(), state.admin_token.as_bytes())
    {
        Some(Role::Admin)
    } else if token.is_empty() {
        None
    } else {
        match state.store.authenticate(&token).await {
            Ok(Some(workspace)) => Some(Role::Workspace(workspace)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("console sign-in: cannot check an API key: {e}");
                return html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    html::login_page(Some(
                        "The key cannot be checked now (the supervisor's storage is unavailable; see its log). Try again shortly.",
                    )),
                );
            }
        }
    };
    let Some(role) = role else {
        tracing::warn!(remote = ?request.remote, "console sign-in refused: wrong token");
        return html(
            StatusCode::UNAUTHORIZED,
            html::login_page(Some(
                "That is neither the admin token nor a valid workspace API key.",
            )),
        );
    };
    let key = matches!(role, Role::Workspace(_)).then_some(token);
    let (id, _) = state.console.sessions.open(role, key);
    let mut response = redirect("/console/", None);
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&id, &state.console, request)) {
        response.headers_mut().append("set-cookie", cookie);
    }
    response
}

/// The session cookie: `Secure` when the request came over TLS (a proxy saying so).
fn session_cookie(id: &str, console: &Console, request: &Incoming) -> String {
    let tls = request
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!(
        "{}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session::COOKIE,
        console.sessions.lifetime().as_secs(),
        if tls { "; Secure" } else { "" }
    )
}

fn clear_cookie() -> String {
    format!(
        "{}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    )
}

fn cookie_id(request: &Incoming) -> Option<&str> {
    request
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::cookie_value)
}

fn content_length(request: &Incoming) -> Option<u64> {
    request
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `application/x-www-form-urlencoded` fields (a JSON body yields none).
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The first value of form field `name`.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Security headers every console response carries.
fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// An HTML page.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    harden(&mut response);
    response
}

/// A short plain-text answer (errors of requests the pages' scripts make).
pub(crate) fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(format!("{text}\n").into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    harden(&mut response);
    response
}

/// A JSON answer to a page's script.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = super::json(status, value);
    harden(&mut response);
    response
}

/// 303 to `to` (a console path), with a notice or error shown there.
pub(crate) fn redirect(to: &str, message: Option<(&str, &str)>) -> Response {
    let target = match message {
        Some((kind, text)) => {
            let sep = if to.contains('?') { '&' } else { '?' };
            format!("{to}{sep}{kind}={}", html::url(text))
        }
        None => to.to_string(),
    };
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(&target) {
        response.headers_mut().insert("location", location);
    }
    harden(&mut response);
    response
}

fn asset(content: &'static str, content_type: &'static str) -> Response {
    let mut response = Response::new(content.into());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    harden(&mut response);
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("max-age=300"));
    response
}

/// Keeps every module's chart samples: one point per [`crate::metrics::samples::INTERVAL`].
pub fn start_sampler(supervisor: Arc<crate::supervision::Supervisor>) {
    tokio::spawn(async move {
        let interval = crate::metrics::samples::INTERVAL;
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default();
            for module in supervisor.modules().iter() {
                module
                    .samples
                    .sample(module.totals.snapshot(), now, interval);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Incoming {
        let mut map = warp::http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                warp::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Incoming {
            method: Method::POST,
            path: "/console/login".into(),
            query: String::new(),
            headers: map,
            request_id: "req_1".into(),
            remote: Some("127.0.0.1:5000".parse().unwrap()),
        }
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        let host = ("host", "127.0.0.1:8080");
        assert!(
            same_origin(&request(&[host])).is_ok(),
            "no browser headers: a CLI"
        );
        assert!(same_origin(&request(&[host, ("origin", "http://127.0.0.1:8080")])).is_ok());
        assert!(same_origin(&request(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&request(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&request(&[host, ("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&request(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&request(&[host, ("origin", "null")])).is_err());
    }

    #[test]
    fn only_loopback_names_open_without_login() {
        for host in ["127.0.0.1:8080", "localhost:8787", "[::1]:80", "localhost"] {
            assert!(loopback_host(&request(&[("host", host)])), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1.evil.example", "[::2]:80"] {
            assert!(!loopback_host(&request(&[("host", host)])), "{host}");
        }
        assert!(!loopback_host(&request(&[])));
    }
}
