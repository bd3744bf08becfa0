//! Translating between HTTP and the protocol's `RouteRequest`/`RouteResponse`, and mapping every
//! way a call can fail onto a status code with a JSON error body.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use convotic_proto::plugin::v1::{outcome, BodyKind, RouteRequest, RouteResponse};
use warp::http::{HeaderName, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::rejection;
use super::{error_response, Incoming};
use crate::integrations::failure;
use crate::outcomes::{http_answer, Failure, Point};
use crate::protocol::WorkError;

/// Request headers never passed to a module: hop-by-hop headers, and the caller's API key
/// (the module gets `authenticated` and `workspace` instead).
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-api-key",
];

/// Response headers a module may not set (the gateway owns framing).
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// What [`build_request`] needs.
pub struct RequestParts<'a> {
    /// The HTTP request.
    pub request: &'a Incoming,
    /// The path inside the module, percent-decoded.
    pub decoded_path: String,
    /// The matched pattern.
    pub pattern: &'a str,
    /// Path parameters.
    pub params: BTreeMap<String, String>,
    /// The body.
    pub body: Bytes,
    /// The module's workspace.
    pub workspace: &'a str,
    /// Whether the caller sent a valid key.
    pub authenticated: bool,
}

/// Builds the `RouteRequest`; a JSON body that does not parse is a 400 (415 for a non-UTF-8
/// charset), so the module only ever sees valid JSON marked as JSON. A body without a
/// content type is marked as JSON when it parses as JSON.
pub fn build_request(parts: RequestParts<'_>) -> Result<RouteRequest, Box<Response>> {
    let request = parts.request;
    let id = &request.request_id;
    let body_kind = if parts.body.is_empty() {
        BodyKind::Empty
    } else {
        match json_content_type(request) {
            ContentType::Json => {
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&parts.body) {
                    return Err(rejection(
                        StatusCode::BAD_REQUEST,
                        "bad_json",
                        &format!("the body is declared as JSON but does not parse: {e}"),
                        id,
                    ));
                }
                BodyKind::Json
            }
            ContentType::JsonWrongCharset(charset) => {
                return Err(rejection(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_charset",
                    &format!("JSON bodies must be UTF-8, not {charset}"),
                    id,
                ))
            }
            ContentType::Other => BodyKind::Bytes,
            // Webhook senders often leave the content type out: a body that parses as JSON
            // is passed as JSON, anything else as bytes.
            ContentType::Missing => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(&parts.body).is_ok() {
                    BodyKind::Json
                } else {
                    BodyKind::Bytes
                }
            }
        }
    };
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in request.headers.iter() {
        let name = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        let separator = if name == "cookie" { "; " } else { ", " };
        headers
            .entry(name.to_string())
            .and_modify(|v| {
                v.push_str(separator);
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let query: HashMap<String, String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(&request.query)
            .unwrap_or_default()
            .into_iter()
            .collect();
    Ok(RouteRequest {
        method: request.method.as_str().to_string(),
        path: parts.decoded_path,
        route: parts.pattern.to_string(),
        params: parts.params.into_iter().collect(),
        query,
        raw_query: request.query.clone(),
        headers,
        body_kind: body_kind as i32,
        body: parts.body.to_vec(),
        workspace: parts.workspace.to_string(),
        authenticated: parts.authenticated,
        remote_addr: request.remote.map(|a| a.to_string()).unwrap_or_default(),
    })
}

enum ContentType {
    Json,
    JsonWrongCharset(String),
    Other,
    Missing,
}

/// `application/json` and `application/*+json`, with an optional UTF-8 charset.
fn json_content_type(request: &Incoming) -> ContentType {
    let Some(value) = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    else {
        return if request.headers.contains_key("content-type") {
            ContentType::Other
        } else {
            ContentType::Missing
        };
    };
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if !is_json {
        return ContentType::Other;
    }
    for parameter in parts {
        if let Some((key, value)) = parameter.split_once('=') {
            let value = value.trim().trim_matches('"');
            if key.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
                return ContentType::JsonWrongCharset(value.to_string());
            }
        }
    }
    ContentType::Json
}

/// The HTTP answer for a route call's result.
pub fn route_response(
    result: Result<outcome::Result, WorkError>,
    module: &str,
    id: &str,
) -> Response {
    match result {
        Ok(outcome::Result::Route(response)) => module_response(response, module, id),
        Ok(outcome::Result::Error(error)) => super::error::api_error_response(
            &failure::module_error("route call", module, error, Point::Route),
            id,
        ),
        Ok(_) => super::error::api_error_response(
            &failure::bad_answer("route call", module, "a result of another kind".into()),
            id,
        ),
        Err(error) => work_error(error, module, id),
    }
}

fn work_error(error: WorkError, module: &str, id: &str) -> Response {
    let error = failure::work_error("route call", module, error);
    super::error::api_error_response(&error, id)
}

/// The module's own response, checked: status 200-599 and valid headers, or 502.
fn module_response(answer: RouteResponse, module: &str, id: &str) -> Response {
    let garbage = |what: String| {
        tracing::warn!(
            request_id = id,
            module,
            "module returned an invalid response: {what}"
        );
        let invalid = http_answer(Failure::InvalidAnswer, Point::Route);
        error_response(
            invalid.status,
            invalid.code,
            &format!("module {module} returned an invalid response: {what}"),
            id,
        )
    };
    let status = match u16::try_from(answer.status)
        .ok()
        .filter(|s| (200..=599).contains(s))
    {
        Some(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
        None => return garbage(format!("status {}", answer.status)),
    };
    let is_json = answer.body_kind == BodyKind::Json as i32;
    if is_json && serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_err() {
        return garbage("body marked as JSON does not parse".into());
    }
    let mut response = Response::new(answer.body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        let lower = name.to_ascii_lowercase();
        if DROPPED_RESPONSE_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        if lower == "set-cookie" && sets_console_cookie(&value) {
            tracing::warn!(
                module,
                "dropped a Set-Cookie naming the console's session cookie"
            );
            continue;
        }
        match (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => return garbage(format!("header {name:?}")),
        }
    }
    if is_json && !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    // A module's answer shares the console's origin: whatever it is (an HTML page, an SVG),
    // the browser runs it in an opaque origin that cannot read the console or send its
    // cookie. Added to any policy the module sets (browsers enforce every policy).
    headers.append(
        "content-security-policy",
        HeaderValue::from_static(MODULE_CONTENT_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The policy every module answer carries: scripts and forms may run, but in a sandbox
/// without the gateway's origin (no `allow-same-origin`).
const MODULE_CONTENT_POLICY: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// Whether a `Set-Cookie` value would set the console's session cookie.
fn sets_console_cookie(value: &str) -> bool {
    value
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .is_some_and(|(name, _)| {
            name.trim()
                .eq_ignore_ascii_case(super::console::session::COOKIE)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_answers_are_sandboxed_and_cannot_set_the_console_cookie() {
        let answer = RouteResponse {
            status: 200,
            headers: [
                ("content-type".to_string(), "text/html".to_string()),
                (
                    "set-cookie".to_string(),
                    "Convotic_Console=stolen; Path=/console".to_string(),
                ),
                (
                    "content-security-policy".to_string(),
                    "default-src *".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            body_kind: BodyKind::Bytes as i32,
            body: b"<script>fetch('/console/')</script>".to_vec(),
        };
        let response = module_response(answer, "m", "req_1");
        let headers = response.headers();
        assert!(headers.get("set-cookie").is_none());
        let policies: Vec<&str> = headers
            .get_all("content-security-policy")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(policies.contains(&MODULE_CONTENT_POLICY), "{policies:?}");
        assert!(policies.contains(&"default-src *"), "{policies:?}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!sets_console_cookie("other=1; Path=/console"));
    }
}
