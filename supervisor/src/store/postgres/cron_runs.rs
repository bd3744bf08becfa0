//! cron runs on PostgreSQL (see `store/cron_runs.rs`).
