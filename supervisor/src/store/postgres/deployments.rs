//! deployments on PostgreSQL (see `store/deployments.rs`).
