//! messages on PostgreSQL (see `store/messages.rs`).
