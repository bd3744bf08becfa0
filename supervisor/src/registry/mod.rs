//! What the running modules offer, derived from their manifests when they become ready:
//! route tables today; the node, block, worker and cron catalogs build on the same place.

pub mod routes;

pub use routes::{percent_decode, Lookup, RouteEntry, RouteTable};
