//! delivery on PostgreSQL (see `store/delivery.rs`).
