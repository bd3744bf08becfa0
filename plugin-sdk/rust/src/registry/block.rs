//! [`Block`] and [`Action`]: an integration with its own connection flow and actions.

use std::future::Future;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;
use serde_json::Value;

use super::{millis, schema_text};
use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::{boxed, Handler};
use crate::types::{ActionCall, Connection, TestResult};

/// A Block integration: connection schema, secret fields, a connection test and actions.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
/// use serde_json::json;
///
/// let block = Block::new("regional-sms")
///     .name("Regional SMS")
///     .connection_schema(json!({"type": "object", "properties": {"api_key": {"type": "string"}}}))
///     .secret_fields(["api_key"])
///     .test_connection(|conn: Connection, _ctx: Context| async move {
///         Ok(if conn.get_str("api_key").is_some() { TestResult::ok() } else { TestResult::failed("api_key missing") })
///     })
///     .action(Action::new("send_message").handler(|call: ActionCall, _ctx: Context| async move {
///         Ok(json!({"queued": true, "to": call.input["to"]}))
///     }));
/// ```
#[derive(Clone)]
pub struct Block {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) icon: String,
    pub(crate) connection_schema: String,
    pub(crate) secret_fields: Vec<String>,
    pub(crate) actions: Vec<Action>,
    pub(crate) test_timeout: Option<Duration>,
    pub(crate) test: Option<Handler<Connection, TestResult>>,
}

impl Block {
    /// A block with id `id` (`[a-z0-9_.-]`).
    pub fn new(id: impl Into<String>) -> Self {
        Block {
            id: id.into(),
            name: String::new(),
            description: String::new(),
            icon: String::new(),
            connection_schema: String::new(),
            secret_fields: Vec::new(),
            actions: Vec::new(),
            test_timeout: None,
            test: None,
        }
    }

    /// Display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Icon: a URL, a `data:` URI or the name of a built-in icon.
    #[must_use]
    pub fn icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = icon.into();
        self
    }

    /// JSON Schema of a connection's configuration.
    #[must_use]
    pub fn connection_schema(mut self, schema: Value) -> Self {
        self.connection_schema = schema_text(&schema);
        self
    }

    /// Top-level configuration properties that are secrets (encrypted at rest, never
    /// returned by any API).
    #[must_use]
    pub fn secret_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.secret_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Deadline of a connection test (default 30 s).
    #[must_use]
    pub fn test_timeout(mut self, timeout: Duration) -> Self {
        self.test_timeout = Some(timeout);
        self
    }

    /// Sets the connection test: an `async` function of `(Connection, Context)`.
    #[must_use]
    pub fn test_connection<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Connection, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TestResult, HandlerError>> + Send + 'static,
    {
        self.test = Some(boxed(f));
        self
    }

    /// Adds an action.
    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::BlockDef {
        pb::BlockDef {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            icon: self.icon.clone(),
            connection_schema: self.connection_schema.clone(),
            secret_fields: self.secret_fields.clone(),
            actions: self.actions.iter().map(Action::def).collect(),
            test_timeout_ms: millis(self.test_timeout),
        }
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("id", &self.id)
            .field("actions", &self.actions)
            .field("has_test", &self.test.is_some())
            .finish_non_exhaustive()
    }
}

/// An action of a [`Block`].
#[derive(Clone)]
pub struct Action {
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) description: String,
    pub(crate) input_schema: String,
    pub(crate) output_schema: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) handler: Option<Handler<ActionCall, Value>>,
}

impl Action {
    /// An action named `name` (`[a-z0-9_.-]`, unique in the block).
    pub fn new(name: impl Into<String>) -> Self {
        Action {
            name: name.into(),
            display_name: String::new(),
            description: String::new(),
            input_schema: String::new(),
            output_schema: String::new(),
            timeout: None,
            handler: None,
        }
    }

    /// Display name.
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// Description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// JSON Schema of the input.
    #[must_use]
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema_text(&schema);
        self
    }

    /// JSON Schema of the output.
    #[must_use]
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = schema_text(&schema);
        self
    }

    /// Deadline of one call (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the handler: an `async` function of `(ActionCall, Context)` returning JSON.
    #[must_use]
    pub fn handler<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ActionCall, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
    {
        self.handler = Some(boxed(f));
        self
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::ActionDef {
        pb::ActionDef {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            input_schema: self.input_schema.clone(),
            output_schema: self.output_schema.clone(),
            timeout_ms: millis(self.timeout),
        }
    }
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action")
            .field("name", &self.name)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}
