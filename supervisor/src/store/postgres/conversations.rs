//! conversations on PostgreSQL (see `store/conversations.rs`).
