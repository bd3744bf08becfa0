//! [`NodeHandler`]: a workflow node type for the visual builder.

use std::future::Future;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;
use serde_json::Value;

use super::{millis, schema_text};
use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::{boxed, Handler};
use crate::types::{NodeInvocation, NodeOutput};

/// A workflow node type: its definition in the builder and the handler that runs it.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
/// use serde_json::json;
///
/// let node = NodeHandler::new("loyalty_lookup")
///     .version("1.0.0")
///     .display_name("Loyalty Lookup")
///     .category("Data")
///     .input_schema(json!({"type": "object", "properties": {"email": {"type": "string"}}}))
///     .branches(["found", "not_found"])
///     .handler(|inv: NodeInvocation, _ctx: Context| async move {
///         Ok(NodeOutput::branch("not_found", json!({"email": inv.input["email"]})))
///     });
/// ```
#[derive(Clone)]
pub struct NodeHandler {
    pub(crate) node_type: String,
    pub(crate) version: String,
    pub(crate) display_name: String,
    pub(crate) description: String,
    pub(crate) category: String,
    pub(crate) icon: String,
    pub(crate) input_schema: String,
    pub(crate) output_schema: String,
    pub(crate) branches: Vec<String>,
    pub(crate) connection_block: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) handler: Option<Handler<NodeInvocation, NodeOutput>>,
}

impl NodeHandler {
    /// A node of type `node_type` (`[a-z0-9_.-]`, unique in the workspace).
    pub fn new(node_type: impl Into<String>) -> Self {
        NodeHandler {
            node_type: node_type.into(),
            version: String::new(),
            display_name: String::new(),
            description: String::new(),
            category: String::new(),
            icon: String::new(),
            input_schema: String::new(),
            output_schema: String::new(),
            branches: Vec::new(),
            connection_block: String::new(),
            timeout: None,
            handler: None,
        }
    }

    /// Version of the node definition (semver). Several versions of a type may be registered.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Name shown in the builder.
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// Description shown in the builder.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Category in the builder's palette.
    #[must_use]
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = category.into();
        self
    }

    /// Icon: a URL, a `data:` URI or the name of a built-in icon.
    #[must_use]
    pub fn icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = icon.into();
        self
    }

    /// JSON Schema of the input (default: any JSON value).
    #[must_use]
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema_text(&schema);
        self
    }

    /// JSON Schema of the output (default: any JSON value).
    #[must_use]
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = schema_text(&schema);
        self
    }

    /// Named output branches (default: one branch, `default`).
    #[must_use]
    pub fn branches<I, S>(mut self, branches: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.branches = branches.into_iter().map(Into::into).collect();
        self
    }

    /// Id of a block whose connection the node needs; the invocation then carries it.
    #[must_use]
    pub fn connection_block(mut self, block_id: impl Into<String>) -> Self {
        self.connection_block = block_id.into();
        self
    }

    /// Deadline of one invocation (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the handler: an `async` function of `(NodeInvocation, Context)`.
    #[must_use]
    pub fn handler<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(NodeInvocation, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<NodeOutput, HandlerError>> + Send + 'static,
    {
        self.handler = Some(boxed(f));
        self
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::NodeDef {
        pb::NodeDef {
            r#type: self.node_type.clone(),
            version: self.version.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            icon: self.icon.clone(),
            input_schema: self.input_schema.clone(),
            output_schema: self.output_schema.clone(),
            branches: self.branches.clone(),
            connection_block: self.connection_block.clone(),
            timeout_ms: millis(self.timeout),
        }
    }
}

impl std::fmt::Debug for NodeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandler")
            .field("type", &self.node_type)
            .field("version", &self.version)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}
