//! `workspaces` and `keys`: commands that open the store directly (the data dir's SQLite file,
//! or the configured PostgreSQL database), so they work whether or not a supervisor is running
//! (WAL lets both use a SQLite file at once).

use std::future::Future;

use super::Target;
use crate::store::{Store, StoreError};

/// Opens the store of `target`'s data dir and runs `command` on a small runtime; returns the
/// exit code (1 with a message on stderr when anything fails).
pub(super) fn with_store<F, Fut>(target: &Target, command: F) -> i32
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let location = match super::client::store_location(target) {
        Ok(location) => location,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let store = match runtime.block_on(location.open()) {
        Ok(store) => store,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(command(store)) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    1
}

/// A store error as the CLI prints it, with a hint for an unknown workspace.
pub(super) fn explain(error: StoreError, workspace: &str) -> String {
    match error {
        StoreError::NotFound(m) if m.starts_with("workspace ") => format!(
            "{m}: create it with `convotic-supervisor workspaces create --id {workspace}` \
             (workspaces named in the config are created when the supervisor starts)"
        ),
        other => other.to_string(),
    }
}

/// A timestamp for tables: UTC, to the second.
pub(super) fn format_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14 22:13:20Z");
    }
}
