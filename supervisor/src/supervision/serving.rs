//! What a ready instance serves, published as one value: its work client together with what
//! its manifest declared (routes, the compiled node and block schemas). A reader holding a
//! [`Serving`] sends to the instance whose routes and schemas it checked, never one instance's
//! routes with another's client; switching versions is publishing the next value.

use std::sync::Arc;

use convotic_proto::plugin::v1::Manifest;

use crate::protocol::WorkClient;
use crate::registry::{ModuleSchemas, RouteTable};

/// What one instance's manifest declared, derived once when it became ready.
#[derive(Debug)]
pub struct Declared {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Its route table.
    pub routes: RouteTable,
    /// Its nodes' and blocks' compiled schemas.
    pub schemas: ModuleSchemas,
}

impl Declared {
    /// Derives the route table and compiles the schemas of a validated manifest.
    pub fn new(manifest: Manifest) -> Self {
        let routes = RouteTable::new(&manifest.routes);
        // The manifest validator compiled every schema already; this cannot fail in practice.
        let schemas = ModuleSchemas::compile(&manifest).unwrap_or_else(|e| {
            tracing::error!(module = %manifest.name, "cannot compile the manifest's schemas: {e}");
            ModuleSchemas::default()
        });
        Self {
            manifest,
            routes,
            schemas,
        }
    }
}

/// A ready instance: where to send work, and what it declared.
#[derive(Clone)]
pub struct Serving {
    /// The instance id.
    pub instance: String,
    /// Its work client.
    pub work: WorkClient,
    /// What its manifest declared.
    pub declared: Arc<Declared>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("instance", &self.instance)
            .field("module", &self.declared.manifest.name)
            .field("version", &self.declared.manifest.version)
            .finish()
    }
}
