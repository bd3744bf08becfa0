//! [`Route`]: an HTTP endpoint served at `/v1/modules/{module}{path}`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;

use super::millis;
use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::{boxed, Handler};
use crate::middleware::Middleware;
use crate::types::{RouteRequest, RouteResponse};

/// An HTTP route: method, path pattern (`/orders/:orderId`), options, middleware and handler.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
///
/// let route = Route::post("/webhook/external")
///     .auth(false)
///     .timeout(std::time::Duration::from_secs(5))
///     .handler(|req: RouteRequest, _ctx: Context| async move {
///         Ok(RouteResponse::json(200, serde_json::json!({"received": req.body})))
///     });
/// ```
#[derive(Clone)]
pub struct Route {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) auth: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_body_bytes: u64,
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) handler: Option<Handler<RouteRequest, RouteResponse>>,
}

impl Route {
    /// A route for `method` (upper-cased: GET, POST, PUT, PATCH or DELETE) and `path`.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Route {
            method: method.into().to_ascii_uppercase(),
            path: path.into(),
            auth: true,
            timeout: None,
            max_body_bytes: 0,
            middleware: Vec::new(),
            handler: None,
        }
    }

    /// A `GET` route.
    pub fn get(path: impl Into<String>) -> Self {
        Route::new("GET", path)
    }

    /// A `POST` route.
    pub fn post(path: impl Into<String>) -> Self {
        Route::new("POST", path)
    }

    /// A `PUT` route.
    pub fn put(path: impl Into<String>) -> Self {
        Route::new("PUT", path)
    }

    /// A `PATCH` route.
    pub fn patch(path: impl Into<String>) -> Self {
        Route::new("PATCH", path)
    }

    /// A `DELETE` route.
    pub fn delete(path: impl Into<String>) -> Self {
        Route::new("DELETE", path)
    }

    /// Whether callers need a valid `X-API-Key` of the workspace (default `true`). With
    /// `false` anyone can call the route: verify callers yourself (e.g. a signature).
    #[must_use]
    pub fn auth(mut self, required: bool) -> Self {
        self.auth = required;
        self
    }

    /// Deadline of one request (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Largest accepted request body in bytes (default and maximum: the supervisor's limit).
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Adds a middleware; middleware runs in the order added, before the handler.
    #[must_use]
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Adds a shared middleware (one instance used by several routes).
    #[must_use]
    pub fn middleware_shared(mut self, middleware: Arc<dyn Middleware>) -> Self {
        self.middleware.push(middleware);
        self
    }

    /// Sets the handler: an `async` function of `(RouteRequest, Context)`.
    #[must_use]
    pub fn handler<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RouteRequest, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<RouteResponse, HandlerError>> + Send + 'static,
    {
        self.handler = Some(boxed(f));
        self
    }

    /// `METHOD /path`, for messages.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::RouteDef {
        pb::RouteDef {
            method: self.method.clone(),
            path: self.path.clone(),
            auth: if self.auth {
                pb::AuthMode::ApiKey
            } else {
                pb::AuthMode::None
            } as i32,
            timeout_ms: millis(self.timeout),
            max_body_bytes: self.max_body_bytes,
            middleware: self
                .middleware
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
        }
    }

    /// Matches a request path against this route's pattern, returning the parameters.
    pub(crate) fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, a) in pattern.iter().zip(&actual) {
            match p.strip_prefix(':') {
                Some(name) if !a.is_empty() => params.push((name.to_string(), a.to_string())),
                Some(_) => return None,
                None if p == a => {}
                None => return None,
            }
        }
        Some(params)
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("auth", &self.auth)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_matching() {
        let route = Route::get("/orders/:id/items/:item");
        assert_eq!(
            route.match_path("/orders/42/items/7"),
            Some(vec![
                ("id".to_string(), "42".to_string()),
                ("item".to_string(), "7".to_string())
            ])
        );
        assert_eq!(route.match_path("/orders/42/items"), None);
        assert_eq!(route.match_path("/orders//items/7"), None);
        assert_eq!(Route::get("/").match_path("/"), Some(vec![]));
        assert_eq!(Route::get("/a").match_path("/b"), None);
    }

    #[test]
    fn method_is_upper_case() {
        assert_eq!(Route::new("patch", "/x").def().method, "PATCH");
    }
}
