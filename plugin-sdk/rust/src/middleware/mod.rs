//! Route middleware: code that runs before a route's handler and may answer by itself (e.g.
//! reject a request whose signature is wrong) or pass the request on with [`Next::run`].
//!
//! ```
//! use convotic_plugin_sdk::prelude::*;
//!
//! let require_tenant = middleware_fn("require-tenant", |req: RouteRequest, ctx: Context, next: Next| async move {
//!     if req.header("x-tenant").is_none() {
//!         return Ok(RouteResponse::json(400, serde_json::json!({"error": "x-tenant missing"})));
//!     }
//!     next.run(req, ctx).await
//! });
//! let route = Route::get("/items").middleware(require_tenant).handler(|_req, _ctx| async move {
//!     Ok(RouteResponse::json(200, serde_json::json!([])))
//! });
//! ```
//!
//! [`signature`] has a ready-made middleware checking HMAC-signed webhooks.

pub mod signature;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::Handler;
use crate::types::{RouteRequest, RouteResponse};

/// A route middleware. Its name is listed in the manifest (for diagnostics).
///
/// Most middleware is written with [`middleware_fn`]; implement this trait for middleware with
/// configuration or state.
pub trait Middleware: Send + Sync + 'static {
    /// The middleware's name, e.g. `hmac-signature`.
    fn name(&self) -> &str;

    /// Handles a request: answer it directly, or call `next.run(req, ctx)` to pass it on (and
    /// possibly change the response on the way back).
    fn call<'a>(
        &'a self,
        req: RouteRequest,
        ctx: Context,
        next: Next,
    ) -> BoxFuture<'a, Result<RouteResponse, HandlerError>>;
}

/// The rest of the chain after a middleware: the following middleware, then the handler.
pub struct Next {
    chain: Arc<[Arc<dyn Middleware>]>,
    index: usize,
    handler: Handler<RouteRequest, RouteResponse>,
}

impl Next {
    /// The start of a chain.
    pub(crate) fn new(
        chain: Arc<[Arc<dyn Middleware>]>,
        handler: Handler<RouteRequest, RouteResponse>,
    ) -> Self {
        Next {
            chain,
            index: 0,
            handler,
        }
    }

    /// Runs the rest of the chain.
    pub fn run(
        self,
        req: RouteRequest,
        ctx: Context,
    ) -> BoxFuture<'static, Result<RouteResponse, HandlerError>> {
        match self.chain.get(self.index).cloned() {
            Some(middleware) => {
                let next = Next {
                    chain: self.chain,
                    index: self.index + 1,
                    handler: self.handler,
                };
                Box::pin(async move { middleware.call(req, ctx, next).await })
            }
            None => (self.handler)(req, ctx),
        }
    }
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rest: Vec<&str> = self.chain[self.index.min(self.chain.len())..]
            .iter()
            .map(|m| m.name())
            .collect();
        f.debug_struct("Next").field("middleware", &rest).finish()
    }
}

/// A middleware made of a name and an `async` closure; see [`middleware_fn`].
pub struct FnMiddleware<F> {
    name: String,
    f: F,
}

impl<F, Fut> Middleware for FnMiddleware<F>
where
    F: Fn(RouteRequest, Context, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<RouteResponse, HandlerError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn call<'a>(
        &'a self,
        req: RouteRequest,
        ctx: Context,
        next: Next,
    ) -> BoxFuture<'a, Result<RouteResponse, HandlerError>> {
        Box::pin((self.f)(req, ctx, next))
    }
}

/// Makes a middleware from a name and an `async` closure `(req, ctx, next)`.
pub fn middleware_fn<F, Fut>(name: impl Into<String>, f: F) -> FnMiddleware<F>
where
    F: Fn(RouteRequest, Context, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<RouteResponse, HandlerError>> + Send + 'static,
{
    FnMiddleware {
        name: name.into(),
        f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::boxed;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn handler(calls: Arc<AtomicUsize>) -> Handler<RouteRequest, RouteResponse> {
        boxed(move |req: RouteRequest, _ctx: Context| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(RouteResponse::json(200, json!({"path": req.path})))
            }
        })
    }

    #[tokio::test]
    async fn short_circuit_skips_the_handler() {
        let calls = Arc::new(AtomicUsize::new(0));
        let deny: Arc<dyn Middleware> =
            Arc::new(middleware_fn("deny", |_req, _ctx, _next| async {
                Ok(RouteResponse::json(401, json!({"error": "no"})))
            }));
        let next = Next::new(Arc::from(vec![deny]), handler(calls.clone()));
        let response = next
            .run(RouteRequest::default(), Context::detached("m"))
            .await
            .unwrap();
        assert_eq!(response.status, 401);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn chain_runs_in_order_and_can_change_the_response() {
        let calls = Arc::new(AtomicUsize::new(0));
        let tag: Arc<dyn Middleware> = Arc::new(middleware_fn(
            "tag",
            |req: RouteRequest, ctx: Context, next: Next| async move {
                let response = next.run(req, ctx).await?;
                Ok(response.header("x-tag", "1"))
            },
        ));
        let rewrite: Arc<dyn Middleware> = Arc::new(middleware_fn(
            "rewrite",
            |mut req: RouteRequest, ctx: Context, next: Next| async move {
                req.path = "/rewritten".into();
                next.run(req, ctx).await
            },
        ));
        let next = Next::new(Arc::from(vec![tag, rewrite]), handler(calls.clone()));
        assert_eq!(
            format!("{next:?}"),
            r#"Next { middleware: ["tag", "rewrite"] }"#
        );
        let response = next
            .run(RouteRequest::default(), Context::detached("m"))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.headers.get("x-tag").map(String::as_str), Some("1"));
        assert_eq!(
            response.body,
            crate::types::ResponseBody::Json(json!({"path": "/rewritten"}))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
