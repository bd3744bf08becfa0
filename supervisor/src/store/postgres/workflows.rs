//! workflows on PostgreSQL (see `store/workflows.rs`).
