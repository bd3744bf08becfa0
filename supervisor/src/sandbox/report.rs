//! What the sandbox of a running instance actually consists of: written by the spawn helper
//! just before `exec` into the instance's runtime dir, read by the supervisor for `ps`, the
//! admin API and `doctor`.

use serde::{Deserialize, Serialize};

use super::spec::Profile;

/// File name of the report in the instance's runtime dir.
pub const REPORT_FILE: &str = "sandbox.json";

/// The layers one module instance got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxReport {
    /// The profile.
    pub profile: Option<Profile>,
    /// Namespaces entered (`user`, `mount`, `pid`, `ipc`, `uts`, `net`).
    pub namespaces: Vec<String>,
    /// `pivot_root` into a minimal read-only root.
    pub private_root: bool,
    /// Uid the module has inside its user namespace, and on the host.
    pub uid_inside: u32,
    /// Host uid.
    pub uid_host: u32,
    /// Whether every capability was dropped and `no_new_privs` set.
    pub privileges_dropped: bool,
    /// The resource limits set with setrlimit, e.g. `nofile=4096`.
    pub rlimits: Vec<String>,
    /// Cgroup limits (`memory`, `pids`, `cpu`), empty when none.
    pub cgroup: Vec<String>,
    /// Landlock: `fully enforced`, `partially enforced` or why not.
    pub landlock: String,
    /// Seccomp: `enforced` or why not.
    pub seccomp: String,
}

impl SandboxReport {
    /// Reads the report of an instance, if the helper wrote one.
    pub fn read(dir: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(REPORT_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}
