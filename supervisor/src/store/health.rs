//! Storage health: whether the filesystem holding the database is full or read-only.
//!
//! SQLite reports a full disk as `SQLITE_FULL` and a read-only database as `SQLITE_READONLY`,
//! but a filesystem turned read-only under an open connection (ext4 `errors=remount-ro`) shows
//! up as a plain `SQLITE_IOERR` ("disk I/O error"). [`StorageHealth::refine`] then looks at the
//! data dir ([`StorageHealth::diagnose`]: `statvfs`, and a small probe file created and removed,
//! because recent kernels mark an ext4 that failed "emergency read-only" without the read-only
//! flag `statvfs` shows) and names the cause when it is one of those two ([`StorageFault`]).
//! [`StorageHealth::status`] is what `/readyz` and the `convotic_storage_status` metric report:
//! read-only when the filesystem is mounted read-only or a write found it read-only and a new
//! probe still does; full when it has no free block left, or a write failed for lack of space
//! and nothing has been freed since.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::StoreError;

/// Free space below which the filesystem counts as full, in bytes.
const FULL_BELOW: u64 = 64 * 1024;
/// Space that must be freed after a failed write before the filesystem counts as not full.
const FREED_ENOUGH: u64 = 1024 * 1024;

/// Why the storage cannot take writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageFault {
    /// No space left on the device.
    Full,
    /// The filesystem (or the database file) is read-only.
    ReadOnly,
    /// An I/O error whose cause is not known (yet): see [`StorageHealth::refine`].
    Io,
    /// The database server (PostgreSQL) does not answer.
    Unreachable,
    /// A transaction kept losing races with concurrent writers (PostgreSQL serialization
    /// failures or deadlocks, after every retry): retry shortly.
    Contended,
}

impl StorageFault {
    /// The error code of HTTP answers (`storage_full`, `storage_read_only`, `storage_io`).
    pub fn code(self) -> &'static str {
        match self {
            StorageFault::Full => "storage_full",
            StorageFault::ReadOnly => "storage_read_only",
            StorageFault::Io => "storage_io",
            StorageFault::Unreachable => "storage_unreachable",
            StorageFault::Contended => "storage_contended",
        }
    }

    /// The words of messages: "no space left on device", "read-only file system", ...
    pub fn describe(self) -> &'static str {
        match self {
            StorageFault::Full => "no space left on device",
            StorageFault::ReadOnly => "read-only file system",
            StorageFault::Io => "disk I/O error",
            StorageFault::Unreachable => "the database server does not answer",
            StorageFault::Contended => {
                "too many concurrent writes to the same records; retry shortly"
            }
        }
    }
}

/// The storage's state, as `/readyz` and the metric report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageStatus {
    /// Writes can succeed.
    Ok,
    /// No space left.
    Full,
    /// Mounted read-only.
    ReadOnly,
    /// The database server (PostgreSQL) does not answer.
    Unreachable,
}

impl StorageStatus {
    /// `ok`, `full`, `read_only` or `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageStatus::Ok => "ok",
            StorageStatus::Full => "full",
            StorageStatus::ReadOnly => "read_only",
            StorageStatus::Unreachable => "unreachable",
        }
    }
}

/// What `statvfs` says of a filesystem.
#[derive(Debug, Clone, Copy)]
struct FsState {
    read_only: bool,
    /// Bytes this process may still allocate.
    free: u64,
}

/// `statvfs` of `dir`; `None` when it fails.
// The block count and size types differ between targets (u64 here): keep the conversions.
#[allow(clippy::useless_conversion)]
fn fs_state(dir: &Path) -> Option<FsState> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    // Root may use the reserved blocks; others only the available ones.
    let blocks = if nix::unistd::geteuid().is_root() {
        stat.blocks_free()
    } else {
        stat.blocks_available()
    };
    Some(FsState {
        read_only: stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        free: u64::from(blocks).saturating_mul(u64::from(stat.fragment_size())),
    })
}

/// Creates, writes one byte to and removes a probe file in `dir`: the fault it met, if any.
fn probe_write(dir: &Path) -> Option<StorageFault> {
    use std::io::Write;
    let path = dir.join(format!(".convotic-write-probe-{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut file| file.write_all(b"x"));
    let _ = std::fs::remove_file(&path);
    match result.err()?.raw_os_error()? {
        libc::EROFS => Some(StorageFault::ReadOnly),
        libc::ENOSPC | libc::EDQUOT => Some(StorageFault::Full),
        _ => None,
    }
}

/// The storage health of one database's directory.
#[derive(Debug)]
pub struct StorageHealth {
    dir: PathBuf,
    /// Free bytes when a write last failed for lack of space; cleared by a successful write or
    /// once [`FREED_ENOUGH`] more is free.
    full_at: Mutex<Option<u64>>,
    /// A write found the filesystem read-only; cleared by a successful write or a probe that
    /// can write again.
    read_only: Mutex<bool>,
}

impl StorageHealth {
    /// The health of the filesystem holding `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            full_at: Mutex::new(None),
            read_only: Mutex::new(false),
        }
    }

    /// Why the filesystem cannot take writes right now, if it cannot: mounted read-only, a
    /// probe file that cannot be written (read-only, no space), or no free space left.
    pub fn diagnose(&self) -> Option<StorageFault> {
        let state = fs_state(&self.dir);
        if state.is_some_and(|s| s.read_only) {
            return Some(StorageFault::ReadOnly);
        }
        if let Some(fault) = probe_write(&self.dir) {
            return Some(fault);
        }
        state
            .is_some_and(|s| s.free < FULL_BELOW)
            .then_some(StorageFault::Full)
    }

    /// The current state (one `statvfs`; a probe write while a read-only filesystem was seen).
    pub fn status(&self) -> StorageStatus {
        let state = fs_state(&self.dir);
        if state.is_some_and(|s| s.read_only) {
            return StorageStatus::ReadOnly;
        }
        {
            let mut read_only = self.read_only.lock().unwrap_or_else(|e| e.into_inner());
            if *read_only {
                if probe_write(&self.dir) == Some(StorageFault::ReadOnly) {
                    return StorageStatus::ReadOnly;
                }
                *read_only = false;
            }
        }
        let free = state.map(|s| s.free);
        if free.is_some_and(|free| free < FULL_BELOW) {
            return StorageStatus::Full;
        }
        let mut full_at = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        match (*full_at, free) {
            (Some(at), Some(free)) if free < at.saturating_add(FREED_ENOUGH) => StorageStatus::Full,
            (Some(_), None) => StorageStatus::Full,
            _ => {
                *full_at = None;
                StorageStatus::Ok
            }
        }
    }

    /// Notes the outcome of a write: a success clears the memory of a full disk; a storage
    /// error is refined ([`StorageHealth::refine`]).
    pub fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok(value) => {
                if let Ok(mut full_at) = self.full_at.lock() {
                    *full_at = None;
                }
                if let Ok(mut read_only) = self.read_only.lock() {
                    *read_only = false;
                }
                Ok(value)
            }
            Err(e) => Err(self.refine(e)),
        }
    }

    /// Names the cause of a storage error from the filesystem's state: an I/O error on a
    /// read-only filesystem is [`StorageFault::ReadOnly`], on a full one [`StorageFault::Full`];
    /// an I/O error with neither cause stays [`StoreError::Internal`]. Remembers a full disk.
    pub fn refine(&self, error: StoreError) -> StoreError {
        let StoreError::Storage { fault, message } = error else {
            return error;
        };
        let fault = match fault {
            StorageFault::Io => match self.diagnose() {
                Some(found) => found,
                None => return StoreError::Internal(message),
            },
            other => other,
        };
        match fault {
            StorageFault::Full => {
                if let Ok(mut full_at) = self.full_at.lock() {
                    *full_at = Some(fs_state(&self.dir).map_or(0, |s| s.free));
                }
            }
            StorageFault::ReadOnly => {
                if let Ok(mut read_only) = self.read_only.lock() {
                    *read_only = true;
                }
            }
            StorageFault::Io | StorageFault::Unreachable | StorageFault::Contended => {}
        }
        StoreError::Storage {
            fault,
            message: format!("{}: {message}", fault.describe()),
        }
    }
}

/// The storage fault of a SQLite error, if it is one.
pub(super) fn fault_of(error: &rusqlite::Error) -> Option<StorageFault> {
    let rusqlite::Error::SqliteFailure(failure, _) = error else {
        return None;
    };
    match failure.code {
        rusqlite::ErrorCode::DiskFull => Some(StorageFault::Full),
        rusqlite::ErrorCode::ReadOnly => Some(StorageFault::ReadOnly),
        rusqlite::ErrorCode::SystemIoFailure => Some(StorageFault::Io),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_remembered_until_a_write_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let health = StorageHealth::new(dir.path().to_path_buf());
        assert_eq!(health.status(), StorageStatus::Ok);
        let full = health.refine(StoreError::Storage {
            fault: StorageFault::Full,
            message: "database or disk is full".into(),
        });
        assert!(
            matches!(&full, StoreError::Storage { fault: StorageFault::Full, message }
                if message.starts_with("no space left on device")),
            "{full:?}"
        );
        assert_eq!(health.status(), StorageStatus::Full);
        assert!(health.observe(Ok(())).is_ok());
        assert_eq!(health.status(), StorageStatus::Ok);
        // An unexplained I/O error stays internal.
        let io = health.refine(StoreError::Storage {
            fault: StorageFault::Io,
            message: "disk I/O error".into(),
        });
        assert!(matches!(io, StoreError::Internal(_)), "{io:?}");
    }
}
