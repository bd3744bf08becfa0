//! [`WorkerHandler`]: a background handler consuming messages of a topic.

use std::future::Future;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;

use super::millis;
use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::{boxed, Handler};
use crate::types::WorkerMessage;

/// A worker: consumes the messages published on a topic.
///
/// The handler's result decides what happens to the message: `Ok(())` acknowledges it, an
/// error delivers it again later (up to `max_attempts`), [`HandlerError::discard`] and
/// [`HandlerError::bad_input`] move it to dead letters at once.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
/// use std::time::Duration;
///
/// let worker = WorkerHandler::new("orders.created")
///     .concurrency(4)
///     .max_attempts(5)
///     .timeout(Duration::from_secs(60))
///     .handler(|msg: WorkerMessage, ctx: Context| async move {
///         ctx.logger().info_with("order created", msg.payload.clone());
///         Ok(())
///     });
/// ```
#[derive(Clone)]
pub struct WorkerHandler {
    pub(crate) topic: String,
    pub(crate) name: String,
    pub(crate) concurrency: u32,
    pub(crate) max_attempts: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) handler: Option<Handler<WorkerMessage, ()>>,
}

impl WorkerHandler {
    /// A worker on `topic` (segments of `[A-Za-z0-9_-]` separated by `.`).
    pub fn new(topic: impl Into<String>) -> Self {
        WorkerHandler {
            topic: topic.into(),
            name: String::new(),
            concurrency: 0,
            max_attempts: 0,
            timeout: None,
            handler: None,
        }
    }

    /// Handler name, unique in the module (default: the topic).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Messages handled at once (default 1).
    #[must_use]
    pub fn concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Deliveries before the message goes to dead letters (default 5).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Deadline of one delivery (default 60 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the handler: an `async` function of `(WorkerMessage, Context)`.
    #[must_use]
    pub fn handler<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(WorkerMessage, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.handler = Some(boxed(f));
        self
    }

    /// The handler name the supervisor uses: the name, or the topic when unnamed.
    pub(crate) fn effective_name(&self) -> &str {
        if self.name.is_empty() {
            &self.topic
        } else {
            &self.name
        }
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::WorkerDef {
        pb::WorkerDef {
            topic: self.topic.clone(),
            name: self.effective_name().to_string(),
            concurrency: self.concurrency,
            max_attempts: self.max_attempts,
            timeout_ms: millis(self.timeout),
        }
    }
}

impl std::fmt::Debug for WorkerHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandler")
            .field("topic", &self.topic)
            .field("name", &self.name)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}
