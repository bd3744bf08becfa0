//! What the spawn helper is asked to build for one module instance: the profile, the paths the
//! module may see (and how), its limits and the host uid it runs as. The supervisor computes a
//! [`SandboxSpec`] and sends it to the helper as JSON on the helper's control socket
//! (`crate::process::control`), never on its command line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How much a module is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Every layer: user, mount, PID, IPC, UTS and network namespaces (loopback only), a
    /// minimal read-only root, no capabilities, rlimits, cgroup limits, Landlock, seccomp.
    #[default]
    Strict,
    /// `strict` with the host's network (the module can open TCP connections).
    Relaxed,
    /// No sandbox: the module runs as the supervisor's user with its view of the system (only
    /// the PID namespace that keeps its process tree contained). Logged as a warning.
    None,
}

impl Profile {
    /// The name written in configs: `strict`, `relaxed` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Strict => "strict",
            Profile::Relaxed => "relaxed",
            Profile::None => "none",
        }
    }

    /// Whether the module gets its own network namespace.
    pub fn isolates_network(self) -> bool {
        self == Profile::Strict
    }
}

/// Resource limits of one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// Memory (cgroup; `RLIMIT_AS` when no memory cgroup is available).
    pub memory_bytes: Option<u64>,
    /// Processes and threads (cgroup; `RLIMIT_NPROC` when no pids cgroup is available).
    pub pids: Option<u64>,
    /// CPU time, in thousandths of a CPU (cgroup only).
    pub cpu_millis: Option<u64>,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file the module may write (`RLIMIT_FSIZE`).
    pub file_size_bytes: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory_bytes: Some(512 * 1024 * 1024),
            pids: Some(256),
            cpu_millis: None,
            open_files: 4096,
            file_size_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl From<&ResourceLimits> for super::cgroup::Limits {
    fn from(limits: &ResourceLimits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            pids: limits.pids,
            cpu_millis: limits.cpu_millis,
        }
    }
}

/// Everything the helper needs to build the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The profile.
    pub profile: Profile,
    /// Hostname inside the UTS namespace.
    pub hostname: String,
    /// Host uid and gid the module runs as (it is uid 0 without capabilities inside its user
    /// namespace).
    pub uid: u32,
    /// Host gid.
    pub gid: u32,
    /// An empty directory the new root is built on (a tmpfs is mounted over it).
    pub root_dir: PathBuf,
    /// Mounted read-only with execute (system libraries, interpreters, the module's files).
    pub read_exec: Vec<PathBuf>,
    /// Mounted read-only, no execute (configuration files).
    pub read_only: Vec<PathBuf>,
    /// Mounted read-write (the module's data dir and its instance runtime dir).
    pub read_write: Vec<PathBuf>,
    /// Directory the module starts in.
    pub working_dir: PathBuf,
    /// `cgroup.procs` files to join before anything else (empty: no cgroup).
    pub cgroup_procs: Vec<PathBuf>,
    /// Whether a memory / pids cgroup limits the module (else rlimits stand in).
    pub cgroup_memory: bool,
    /// Whether a pids cgroup limits the module.
    pub cgroup_pids: bool,
    /// The limits.
    pub limits: ResourceLimits,
}

/// System directories every sandboxed module can read and execute (those that exist; on a
/// merged-/usr system `/bin`, `/lib`... are symlinks into `/usr` and are recreated as such).
pub const SYSTEM_EXEC_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Configuration files every sandboxed module can read.
pub const SYSTEM_READ_PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/mime.types",
];

/// Extra configuration files of the `relaxed` profile (name resolution).
pub const NETWORK_READ_PATHS: &[&str] = &["/etc/resolv.conf"];

/// First host uid of sandboxed modules; each module gets a stable uid above it.
pub const SANDBOX_UID_BASE: u32 = 0x0100_0000;

/// The stable host uid (and gid) of a module: [`SANDBOX_UID_BASE`] plus a hash of its
/// workspace and name, so its data dir keeps the same owner across restarts and two modules
/// practically never share a uid.
pub fn sandbox_uid(workspace: &str, name: &str) -> u32 {
    // FNV-1a: stable across builds and platforms.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in workspace.bytes().chain([b'/']).chain(name.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    SANDBOX_UID_BASE + hash % SANDBOX_UID_BASE
}

/// Whether `inner` is `outer` or below it.
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    inner.starts_with(outer)
}

/// The paths of a module's own files to expose read-only with execute: the directory of its
/// command, and its working dir when configured, unless one holds the supervisor's data dir (then
/// only the command file itself), and the operator's extra `read_only_paths`. A deployed
/// package's directory (`package_dir`, inside the data dir) is the one exception shown.
pub fn module_paths(
    command: &Path,
    working_dir: Option<&Path>,
    extra: &[PathBuf],
    supervisor_data: &Path,
    package_dir: Option<&Path>,
) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut add = |path: &Path| {
        // A deployed package lies in the data dir; it alone of the data dir is shown.
        let in_package = package_dir.is_some_and(|p| is_within(path, p));
        if !in_package && (is_within(supervisor_data, path) || is_within(path, supervisor_data)) {
            return false;
        }
        if !paths.iter().any(|p: &PathBuf| path.starts_with(p)) {
            paths.push(path.to_path_buf());
        }
        true
    };
    let command_dir = command.parent().unwrap_or(Path::new("/"));
    if command_dir == Path::new("/") || !add(command_dir) {
        add(command);
    }
    if let Some(dir) = working_dir {
        add(dir);
    }
    for path in extra {
        add(path);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_and_above_the_base() {
        let a = sandbox_uid("ws_a", "mod");
        assert_eq!(a, sandbox_uid("ws_a", "mod"));
        assert_ne!(a, sandbox_uid("ws_b", "mod"));
        assert!((SANDBOX_UID_BASE..2 * SANDBOX_UID_BASE).contains(&a));
    }

    #[test]
    fn module_paths_never_expose_the_supervisor_data() {
        let data = Path::new("/srv/convotic/data");
        let paths = module_paths(
            Path::new("/srv/convotic/modules/m/bin/m"),
            Some(Path::new("/srv/convotic")),
            &[PathBuf::from("/opt/node")],
            data,
            None,
        );
        assert_eq!(
            paths,
            vec![
                PathBuf::from("/srv/convotic/modules/m/bin"),
                PathBuf::from("/opt/node")
            ]
        );
        // A command whose directory holds the data dir: only the command itself.
        let paths = module_paths(Path::new("/srv/convotic/m"), None, &[], data, None);
        assert_eq!(paths, vec![PathBuf::from("/srv/convotic/m")]);
    }

    #[test]
    fn a_deployed_package_alone_of_the_data_dir_is_shown() {
        let data = Path::new("/srv/data");
        let package = Path::new("/srv/data/packages/ws_a/m/dep_1");
        let paths = module_paths(
            &package.join("bin/m"),
            Some(package),
            &[PathBuf::from("/srv/data/keys")],
            data,
            Some(package),
        );
        assert_eq!(paths, vec![package.join("bin"), package.to_path_buf()]);
        // Without the exception the package would be hidden like the rest of the data dir.
        let hidden = module_paths(&package.join("bin/m"), Some(package), &[], data, None);
        assert!(hidden.is_empty(), "{hidden:?}");
    }
}
