//! Write Convotic Custom Modules in Rust.
//!
//! A module is a program the Convotic supervisor starts as its own process. It registers what
//! it offers — HTTP **routes**, background **workers**, workflow **nodes**, **blocks** (an
//! integration with its own connection flow and actions) and **crons** — and the SDK serves them
//! over the Convotic plugin protocol (gRPC on a Unix socket). Handlers are `async` functions of
//! `(request, Context)`; the [`Context`] (`ctx`) gives typed access to the workspace's contacts,
//! conversations, messages, workflows, key-value storage and logger.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use convotic_plugin_sdk::prelude::*;
//! use serde_json::json;
//!
//! struct Hello;
//!
//! impl ConvoticModule for Hello {
//!     fn name(&self) -> &str {
//!         "hello-rust"
//!     }
//!
//!     fn version(&self) -> &str {
//!         "1.0.0"
//!     }
//!
//!     fn register(&self, sdk: &mut Sdk) {
//!         sdk.register_route(Route::get("/hello/:name").handler(
//!             |req: RouteRequest, _ctx: Context| async move {
//!                 let name = req.params.get("name").cloned().unwrap_or_default();
//!                 Ok(RouteResponse::json(200, json!({ "hello": name })))
//!             },
//!         ));
//!
//!         sdk.register_worker_handler(
//!             WorkerHandler::new("orders.created")
//!                 .concurrency(4)
//!                 .timeout(Duration::from_secs(60))
//!                 .handler(|msg: WorkerMessage, ctx: Context| async move {
//!                     ctx.logger().info_with("order created", msg.payload);
//!                     Ok(())
//!                 }),
//!         );
//!
//!         sdk.register_cron(Cron::new("nightly-sync", "0 2 * * *").handler(
//!             |_tick: CronTick, ctx: Context| async move {
//!                 ctx.storage().set("last-sync", json!({ "ok": true })).await?;
//!                 Ok(())
//!             },
//!         ));
//!     }
//! }
//!
//! fn main() {
//!     convotic_plugin_sdk::run(Hello)
//! }
//! ```
//!
//! [`run`] serves the module the way the supervisor expects and exits the process when it is
//! stopped; [`serve`] does the same inside an existing tokio runtime and returns (for tests
//! and embedding), with explicit [`ServeOptions`].
//!
//! Routes can run [`Middleware`] before their handler; [`SignatureVerifier`] (see
//! [`signature`]) is a ready-made one that admits only webhook calls signed with a shared
//! secret (`t=<unix ms>,v1=<hex HMAC-SHA256>`), for routes registered with `auth(false)`.
//!
//! Errors: handlers return `Result<_, HandlerError>`; `?` converts any
//! [`std::error::Error`] (see [`HandlerError`] for how each kind is reported).
//!
//! The SDK does not validate registrations: the supervisor checks the manifest when the module
//! starts and refuses an invalid one with a message naming the bad entry.

#![warn(missing_docs)]

mod context;
mod dispatch;
mod error;
mod handler;
mod logging;
mod manifest;
mod middleware;
mod module;
mod registry;
mod serve;
mod service;
mod shutdown;
pub mod testing;
mod types;
mod work;

pub use context::{
    Contact, ContactPage, ContactUpdate, Contacts, Context, Conversation, ConversationFilter,
    ConversationPage, ConversationUpdate, Conversations, Logger, Messages, NewContact,
    NewConversation, OutboundMessage, OutgoingMessage, Storage, StorageEntry, StoragePage,
    WorkflowRun, Workflows,
};
pub use convotic_proto::host::v1::LogLevel;
/// Exit code (EX_CONFIG, 78) by which a module tells the supervisor not to restart it, e.g.
/// when required configuration is missing.
pub use convotic_proto::EXIT_DO_NOT_RESTART;
pub use error::{HandlerError, HandlerErrorKind, HostError, SdkError};
pub use manifest::SDK_NAME;
pub use middleware::signature::{SignatureError, SignatureVerifier};
pub use middleware::{middleware_fn, signature, FnMiddleware, Middleware, Next};
pub use module::{ConvoticModule, Sdk};
pub use registry::{Action, Block, CatchUp, Cron, NodeHandler, Overlap, Route, WorkerHandler};
pub use serve::{run, serve, started_by_supervisor, ServeOptions, DEFAULT_THREADS, THREADS_ENV};
pub use types::{
    ActionCall, Connection, CronReport, CronTick, NodeInvocation, NodeOutput, ResponseBody,
    RouteRequest, RouteResponse, TestResult, WorkerMessage,
};

/// Re-export of the future type middleware returns.
pub use futures::future::BoxFuture;

/// Everything a module usually needs: `use convotic_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        middleware_fn, Action, ActionCall, Block, CatchUp, Connection, Context, ConvoticModule,
        Cron, CronTick, HandlerError, Middleware, Next, NodeHandler, NodeInvocation, NodeOutput,
        Overlap, Route, RouteRequest, RouteResponse, Sdk, SignatureVerifier, TestResult,
        WorkerHandler, WorkerMessage,
    };
}
