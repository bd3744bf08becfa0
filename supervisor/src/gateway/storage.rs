//! How a full, read-only or unreachable storage shows over HTTP: `503` with `Retry-After` and
//! the code `storage_full` / `storage_read_only` / `storage_unreachable` for calls that fail, a `storage` entry in `/readyz`
//! (not ready while the storage cannot take writes); the `convotic_storage_status` gauge is
//! in [`crate::metrics`].

use warp::http::StatusCode;

use crate::store::{StorageFault, StorageStatus, Store};

/// `Retry-After` (seconds) of a `503` caused by the storage.
pub const RETRY_AFTER: u32 = 5;

/// The status and error code of a write that failed for `fault`: 503 for a full or read-only
/// storage (retry once it is fixed), 500 `internal` for an unexplained I/O error.
pub fn status_and_code(fault: StorageFault) -> (StatusCode, &'static str) {
    match fault {
        StorageFault::Full
        | StorageFault::ReadOnly
        | StorageFault::Unreachable
        | StorageFault::Contended => (StatusCode::SERVICE_UNAVAILABLE, fault.code()),
        StorageFault::Io => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The storage's state for `/readyz`: `None` when writes can succeed, else
/// `{"status": "full" | "read_only", "code": "storage_full" | ..., "path": ...}`.
pub fn readiness(store: &Store) -> Option<serde_json::Value> {
    let (status, fault) = match store.storage_status() {
        StorageStatus::Ok => return None,
        status @ StorageStatus::Full => (status, StorageFault::Full),
        status @ StorageStatus::ReadOnly => (status, StorageFault::ReadOnly),
        status @ StorageStatus::Unreachable => (status, StorageFault::Unreachable),
    };
    Some(serde_json::json!({
        "status": status.as_str(),
        "code": fault.code(),
        "message": format!("{}: {}", fault.describe(), store.location()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_read_only_are_503_with_their_code() {
        assert_eq!(
            status_and_code(StorageFault::Full),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_full")
        );
        assert_eq!(
            status_and_code(StorageFault::ReadOnly),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_read_only")
        );
        assert_eq!(
            status_and_code(StorageFault::Contended),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_contended")
        );
        let (_dir, store) = crate::store::test_support::temp_store();
        assert!(readiness(&store).is_none());
    }
}
