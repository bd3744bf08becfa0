//! [`ConvoticModule`] (what a module is: a name, a version and a `register` function) and
//! [`Sdk`] (what `register` registers into).

use crate::registry::{Block, Cron, NodeHandler, Route, WorkerHandler};

/// A Convotic Custom Module.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
///
/// struct Hello;
///
/// impl ConvoticModule for Hello {
///     fn name(&self) -> &str { "hello" }
///     fn version(&self) -> &str { "1.0.0" }
///     fn register(&self, sdk: &mut Sdk) {
///         sdk.register_route(Route::get("/hello").handler(|_req, _ctx| async move {
///             Ok(RouteResponse::text(200, "hello"))
///         }));
///     }
/// }
/// ```
pub trait ConvoticModule {
    /// The module name: 1-64 characters of `[a-z0-9-]` starting with a letter. It must match
    /// the name the operator configured.
    fn name(&self) -> &str;

    /// The module version (semver recommended).
    fn version(&self) -> &str;

    /// Registers the module's routes, workers, nodes, blocks and crons.
    fn register(&self, sdk: &mut Sdk);
}

/// Collects a module's registrations. The SDK does not validate them: the supervisor checks
/// the manifest and refuses a module whose registrations are invalid, naming the bad entry.
#[derive(Debug, Default)]
pub struct Sdk {
    pub(crate) max_in_flight: u32,
    pub(crate) routes: Vec<Route>,
    pub(crate) workers: Vec<WorkerHandler>,
    pub(crate) nodes: Vec<NodeHandler>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) crons: Vec<Cron>,
}

impl Sdk {
    /// Default of [`Sdk::max_in_flight`].
    pub const DEFAULT_MAX_IN_FLIGHT: u32 = convotic_proto::DEFAULT_MAX_IN_FLIGHT;

    pub(crate) fn new() -> Self {
        Sdk {
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            ..Sdk::default()
        }
    }

    /// Collects the registrations of `module`.
    pub(crate) fn of(module: &dyn ConvoticModule) -> Self {
        let mut sdk = Sdk::new();
        module.register(&mut sdk);
        sdk
    }

    /// How many invocations the module works on at once across all lanes (default 64). The
    /// supervisor never sends more.
    pub fn max_in_flight(&mut self, n: u32) -> &mut Self {
        self.max_in_flight = n;
        self
    }

    /// Registers an HTTP route.
    pub fn register_route(&mut self, route: Route) -> &mut Self {
        self.routes.push(route);
        self
    }

    /// Registers a worker.
    pub fn register_worker_handler(&mut self, worker: WorkerHandler) -> &mut Self {
        self.workers.push(worker);
        self
    }

    /// Registers a workflow node type.
    pub fn register_node_handler(&mut self, node: NodeHandler) -> &mut Self {
        self.nodes.push(node);
        self
    }

    /// Registers a block.
    pub fn register_block(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }

    /// Registers a cron job.
    pub fn register_cron(&mut self, cron: Cron) -> &mut Self {
        self.crons.push(cron);
        self
    }
}
