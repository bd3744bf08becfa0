//! keys on PostgreSQL (see `store/keys.rs`).
