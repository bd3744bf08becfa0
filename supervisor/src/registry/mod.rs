//! What the running modules offer, derived from their manifests when they become ready:
//! route tables and the compiled schemas of nodes and blocks.

pub mod routes;
pub mod schemas;

pub use routes::{percent_decode, Lookup, RouteEntry, RouteTable};
pub use schemas::ModuleSchemas;
