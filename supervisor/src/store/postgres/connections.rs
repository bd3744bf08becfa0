//! connections on PostgreSQL (see `store/connections.rs`).
