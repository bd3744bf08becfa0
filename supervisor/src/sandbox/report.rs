//! What the sandbox of a running instance actually consists of: sent by the spawn helper's code
//! in the module process just before `exec`, on the helper's control socket
//! (`crate::process::control`), and shown by the supervisor in `ps` and the admin API. It is
//! never a file: the runtime dir is writable by the module, and nothing there is trusted.

use serde::{Deserialize, Serialize};

use super::spec::Profile;

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
