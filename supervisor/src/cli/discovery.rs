//! How CLI commands find a running supervisor: it writes `<data_dir>/supervisor.json` (its
//! listen address, pid and process start time) when it starts and removes it when it stops;
//! the admin token is `<data_dir>/admin-token`. A supervisor that was killed leaves the file
//! behind: [`Endpoint::is_running`] tells it apart from a live one.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::process::stale_roots::ProcessIdentity;

/// File name of the discovery file.
pub const FILE_NAME: &str = "supervisor.json";

/// Where a running supervisor listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// HTTP address.
    pub listen: SocketAddr,
    /// Its pid.
    pub pid: u32,
    /// Its process start time in clock ticks since boot (absent in files of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// When it started, in ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
}

impl Endpoint {
    /// The endpoint of this process listening on `listen`.
    pub fn current(listen: SocketAddr) -> Self {
        let me = ProcessIdentity::current();
        Self {
            listen,
            pid: std::process::id(),
            start_ticks: me.map(|m| m.start_ticks),
            started_at_ms: me.and_then(|m| m.started_at_ms()),
        }
    }

    /// Whether the recorded supervisor process still runs (same pid and, when recorded, same
    /// start time: a recycled pid is not it).
    pub fn is_running(&self) -> bool {
        match self.start_ticks {
            Some(start_ticks) => ProcessIdentity {
                pid: self.pid,
                start_ticks,
            }
            .is_running(),
            None => crate::process::stale_roots::process_start_ticks(self.pid).is_some(),
        }
    }
}

/// Writes the discovery file.
pub fn write_endpoint(data_dir: &Path, endpoint: &Endpoint) -> io::Result<()> {
    let text = serde_json::to_string_pretty(endpoint).map_err(io::Error::other)?;
    let temporary = data_dir.join(format!("{FILE_NAME}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(temporary, path(data_dir))
}

/// Reads the discovery file.
pub fn read_endpoint(data_dir: &Path) -> io::Result<Endpoint> {
    let text = std::fs::read_to_string(path(data_dir))?;
    serde_json::from_str(&text).map_err(io::Error::other)
}

/// Removes the discovery file.
pub fn remove_endpoint(data_dir: &Path) {
    let _ = std::fs::remove_file(path(data_dir));
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// File in the data dir naming the PostgreSQL store a supervisor of that dir uses (kept after
/// it stops), so a CLI command given only `--data-dir` does not write to an unused SQLite file.
pub const POSTGRES_MARKER: &str = "store-is-postgres";

/// Records (`Some(target)`, never a password) or clears (`None`) the PostgreSQL marker.
pub fn mark_postgres_store(data_dir: &Path, target: Option<&str>) -> io::Result<()> {
    let marker = data_dir.join(POSTGRES_MARKER);
    match target {
        Some(target) => std::fs::write(marker, format!("{target}\n")),
        None => match std::fs::remove_file(marker) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// The PostgreSQL store recorded for `data_dir`, if any.
pub fn postgres_store_of(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(POSTGRES_MARKER))
        .ok()
        .map(|s| s.trim().to_string())
}
