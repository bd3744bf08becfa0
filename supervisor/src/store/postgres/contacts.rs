//! contacts on PostgreSQL (see `store/contacts.rs`).
