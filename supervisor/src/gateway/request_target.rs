//! The request target (RFC 9112 §3.2) checked before routing. The gateway serves origin-form
//! targets (`/path?query`) and absolute-form ones (`http://host/path`, routed by their path).
//! An authority-form target (`CONNECT host:port`, or `GET host:port`) is a proxy request the
//! gateway does not serve: 400. The asterisk form is answered for `OPTIONS *` (the server's
//! methods in `Allow`) and refused with 400 for any other method.

use warp::http::{Method, StatusCode, Uri};
use warp::reply::Response;

use super::error_response;

/// Methods the gateway serves somewhere, for `OPTIONS *`.
const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// The answer for a target that must not reach routing, or `None` when it may.
pub fn check(method: &Method, uri: &Uri, request_id: &str) -> Option<Response> {
    let path = uri.path();
    if path.starts_with('/') && method != Method::CONNECT {
        return None;
    }
    if path == "*" && method == Method::OPTIONS {
        let mut response = Response::new(Default::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response.headers_mut().insert(
            "allow",
            warp::http::HeaderValue::from_static(SERVER_METHODS),
        );
        return Some(response);
    }
    let message = if method == Method::CONNECT {
        format!("CONNECT {uri} asks for a tunnel; this server is not a proxy")
    } else if path == "*" {
        format!("the target * is only allowed with OPTIONS, not {method}")
    } else {
        format!("the request target {uri} has no path; send an origin-form target such as /healthz")
    };
    Some(error_response(
        StatusCode::BAD_REQUEST,
        "bad_request_target",
        &message,
        request_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: Method, target: &str) -> Option<u16> {
        let uri: Uri = target.parse().expect("uri");
        check(&method, &uri, "req_1").map(|r| r.status().as_u16())
    }

    #[test]
    fn every_target_form() {
        assert_eq!(status(Method::GET, "/healthz"), None);
        assert_eq!(
            status(Method::GET, "http://example.com:80/healthz?x=1"),
            None
        );
        assert_eq!(status(Method::CONNECT, "example.com:443"), Some(400));
        assert_eq!(status(Method::GET, "example.com:80"), Some(400));
        assert_eq!(status(Method::OPTIONS, "example.com:80"), Some(400));
        assert_eq!(status(Method::OPTIONS, "*"), Some(204));
        assert_eq!(status(Method::GET, "*"), Some(400));
    }
}
