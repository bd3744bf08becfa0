//! What a module registers ([`Route`], [`WorkerHandler`], [`NodeHandler`], [`Block`],
//! [`Cron`]) and the [`Registry`] the work dispatcher looks handlers up in.

mod block;
mod cron;
mod node;
mod route;
mod worker;

use std::collections::HashMap;
use std::time::Duration;

use convotic_proto::versions::compare_versions;
use serde_json::Value;

pub use block::{Action, Block};
pub use cron::{CatchUp, Cron, Overlap};
pub use node::NodeHandler;
pub use route::Route;
pub use worker::WorkerHandler;

use crate::module::Sdk;

/// A duration as protocol milliseconds: unset → 0 (the default), at least 1 ms otherwise,
/// saturating at `u32::MAX`.
pub(crate) fn millis(duration: Option<Duration>) -> u32 {
    match duration {
        None => 0,
        Some(d) => u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1),
    }
}

/// A JSON Schema as manifest text (`null` → empty, meaning "any JSON value").
pub(crate) fn schema_text(schema: &Value) -> String {
    if schema.is_null() {
        String::new()
    } else {
        schema.to_string()
    }
}

/// The registrations of a module, indexed for dispatch. When a key is registered twice the
/// first registration handles calls (the supervisor refuses such a manifest anyway).
pub(crate) struct Registry {
    sdk: Sdk,
    routes: HashMap<(String, String), usize>,
    workers: HashMap<String, usize>,
    worker_topics: HashMap<String, usize>,
    nodes: HashMap<String, Vec<usize>>,
    blocks: HashMap<String, usize>,
    crons: HashMap<String, usize>,
}

impl Registry {
    /// Indexes the registrations of `sdk`.
    pub(crate) fn new(sdk: Sdk) -> Self {
        let mut routes = HashMap::new();
        for (i, r) in sdk.routes.iter().enumerate() {
            routes
                .entry((r.method.clone(), r.path.clone()))
                .or_insert(i);
        }
        let mut workers = HashMap::new();
        let mut worker_topics = HashMap::new();
        for (i, w) in sdk.workers.iter().enumerate() {
            workers.entry(w.effective_name().to_string()).or_insert(i);
            worker_topics.entry(w.topic.clone()).or_insert(i);
        }
        let mut nodes: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in sdk.nodes.iter().enumerate() {
            nodes.entry(n.node_type.clone()).or_default().push(i);
        }
        let mut blocks = HashMap::new();
        for (i, b) in sdk.blocks.iter().enumerate() {
            blocks.entry(b.id.clone()).or_insert(i);
        }
        let mut crons = HashMap::new();
        for (i, c) in sdk.crons.iter().enumerate() {
            crons.entry(c.name.clone()).or_insert(i);
        }
        Registry {
            sdk,
            routes,
            workers,
            worker_topics,
            nodes,
            blocks,
            crons,
        }
    }

    /// The registrations.
    pub(crate) fn sdk(&self) -> &Sdk {
        &self.sdk
    }

    /// The route registered for `method` and pattern `route`; when `route` is empty, the first
    /// route whose pattern matches `path` (with its parameters).
    pub(crate) fn route(
        &self,
        method: &str,
        route: &str,
        path: &str,
    ) -> Option<(&Route, Vec<(String, String)>)> {
        if !route.is_empty() {
            let i = self.routes.get(&(method.to_string(), route.to_string()))?;
            return Some((&self.sdk.routes[*i], Vec::new()));
        }
        self.sdk
            .routes
            .iter()
            .filter(|r| r.method == method)
            .find_map(|r| r.match_path(path).map(|params| (r, params)))
    }

    /// The worker with this handler name, else the first on this topic.
    pub(crate) fn worker(&self, handler: &str, topic: &str) -> Option<&WorkerHandler> {
        let i = self
            .workers
            .get(handler)
            .or_else(|| self.worker_topics.get(topic))?;
        Some(&self.sdk.workers[*i])
    }

    /// The node of this type and version; an empty version picks the only or highest one.
    pub(crate) fn node(&self, node_type: &str, version: &str) -> Option<&NodeHandler> {
        let candidates = self.nodes.get(node_type)?;
        let mut nodes = candidates.iter().map(|i| &self.sdk.nodes[*i]);
        if version.is_empty() {
            nodes.max_by(|a, b| compare_versions(&a.version, &b.version))
        } else {
            nodes.find(|n| n.version == version)
        }
    }

    /// The block with this id.
    pub(crate) fn block(&self, id: &str) -> Option<&Block> {
        self.blocks.get(id).map(|i| &self.sdk.blocks[*i])
    }

    /// The cron with this name.
    pub(crate) fn cron(&self, name: &str) -> Option<&Cron> {
        self.crons.get(name).map(|i| &self.sdk.crons[*i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounding() {
        assert_eq!(millis(None), 0);
        assert_eq!(millis(Some(Duration::from_micros(1))), 1);
        assert_eq!(millis(Some(Duration::from_secs(60))), 60_000);
        assert_eq!(millis(Some(Duration::from_secs(u64::MAX))), u32::MAX);
    }

    #[test]
    fn lookups() {
        let mut sdk = Sdk::new();
        sdk.register_route(Route::get("/a/:id"));
        sdk.register_route(Route::get("/a/:id"));
        sdk.register_worker_handler(WorkerHandler::new("orders.created").name("orders"));
        sdk.register_node_handler(NodeHandler::new("n").version("1.2.0"));
        sdk.register_node_handler(NodeHandler::new("n").version("1.10.0"));
        sdk.register_node_handler(NodeHandler::new("n").version("1.9.0"));
        let registry = Registry::new(sdk);
        assert!(registry.route("GET", "/a/:id", "/a/1").is_some());
        assert!(registry.route("POST", "/a/:id", "/a/1").is_none());
        let (_, params) = registry.route("GET", "", "/a/7").unwrap();
        assert_eq!(params, vec![("id".to_string(), "7".to_string())]);
        assert!(registry.worker("orders", "").is_some());
        assert!(registry.worker("", "orders.created").is_some());
        assert!(registry.worker("x", "y").is_none());
        assert_eq!(registry.node("n", "").unwrap().version, "1.10.0");
        assert_eq!(registry.node("n", "1.2.0").unwrap().version, "1.2.0");
        assert!(registry.node("n", "3.0.0").is_none());
    }
}
