//! How CLI commands find a running supervisor: it writes `<data_dir>/supervisor.json` (its
//! listen address and pid) when it starts and removes it when it stops; the admin token is
//! `<data_dir>/admin-token`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the discovery file.
pub const FILE_NAME: &str = "supervisor.json";

/// Where a running supervisor listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// HTTP address.
    pub listen: SocketAddr,
    /// Its pid.
    pub pid: u32,
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
