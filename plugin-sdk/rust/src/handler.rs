//! Type-erased handlers: every `async` closure or function a module registers is stored as an
//! `Arc<dyn Fn(Request, Context) -> BoxFuture<Result<Response, HandlerError>>>`.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::Context;
use crate::error::HandlerError;

/// A stored handler taking `Req` and answering `Res`.
pub(crate) type Handler<Req, Res> =
    Arc<dyn Fn(Req, Context) -> BoxFuture<'static, Result<Res, HandlerError>> + Send + Sync>;

/// Erases the type of an `async` handler.
pub(crate) fn boxed<Req, Res, F, Fut>(f: F) -> Handler<Req, Res>
where
    F: Fn(Req, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Res, HandlerError>> + Send + 'static,
    Req: 'static,
    Res: 'static,
{
    Arc::new(move |req, ctx| Box::pin(f(req, ctx)))
}

/// Erases the type of an `async` handler whose output converts into `Res`.
pub(crate) fn boxed_into<Req, Out, Res, F, Fut>(f: F) -> Handler<Req, Res>
where
    F: Fn(Req, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Out, HandlerError>> + Send + 'static,
    Out: Into<Res> + 'static,
    Req: 'static,
    Res: 'static,
{
    Arc::new(move |req, ctx| {
        let fut = f(req, ctx);
        Box::pin(async move { fut.await.map(Into::into) })
    })
}
