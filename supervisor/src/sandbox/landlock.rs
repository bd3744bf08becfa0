//! Landlock: the filesystem access a module keeps after its sandbox is built.
//!
//! The spawn helper calls [`restrict`] in the module's process right before `exec`, after the
//! mounts, `pivot_root`, dropping capabilities and `no_new_privs`, and before seccomp. From then
//! on the process, and everything it starts, can open files only below the paths it was given,
//! and only in the way each list allows:
//!
//! * `read_exec`: read files, list directories, execute files;
//! * `read_only`: read files, list directories;
//! * `read_write`: everything Landlock controls except executing files and creating character
//!   or block devices: read, write, truncate, create and remove files, directories, symbolic
//!   links, named pipes and sockets, rename and link between directories, device `ioctl`s, and
//!   connecting to Unix sockets by path.
//!
//! Writable directories are not executable: a module cannot download or write a program and
//! then run it. A path that must be both (rare) goes in `read_exec` and `read_write`, whose
//! rights add up. Character and block devices cannot be created anywhere.
//!
//! Everything that is not below one of the paths is out of reach, including `/proc` and `/dev`:
//! the caller lists what the module's runtime needs ([`RUNTIME_READ_ONLY`] and
//! [`RUNTIME_READ_WRITE`] are the usual ones). Files opened before the restriction (standard
//! input and output, inherited sockets) keep working.
//!
//! Landlock is applied on a best-effort basis: the ruleset asks for every filesystem right the
//! `landlock` crate knows (ABI 9), and the running kernel enforces those it supports; the
//! returned [`LandlockStatus`] says which case applied. Network rights are not handled here
//! (the network namespace isolates the module). One scope is: abstract Unix sockets
//! (`LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`, ABI 6). A module may connect only to abstract
//! sockets created inside its own Landlock domain; abstract sockets belong to the network
//! namespace, so under `relaxed` (the host's network namespace) this is what keeps the module
//! away from the host's abstract sockets (D-Bus, X11, systemd...). Under `strict` its own
//! network namespace has none. On a kernel older than ABI 6 the scope is not enforced (status
//! "partially enforced", and `doctor` says so: [`ABSTRACT_UNIX_SCOPE_ABI`]).
//!
//! [`probe`] and [`abi_version`] tell whether the running kernel offers Landlock, without
//! restricting anything, for `doctor`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Serialize;

/// The highest Landlock ABI whose filesystem rights are requested (the newest the `landlock`
/// crate knows). Older kernels enforce the subset they support.
const REQUESTED_ABI: ABI = ABI::V9;

/// [`REQUESTED_ABI`] as a number: a kernel with at least this ABI enforces the whole ruleset.
pub const REQUESTED_ABI_VERSION: i32 = 9;

/// The first Landlock ABI with the abstract Unix socket scope (Linux 6.12).
pub const ABSTRACT_UNIX_SCOPE_ABI: i32 = 6;

/// `LANDLOCK_CREATE_RULESET_VERSION`: makes `landlock_create_ruleset` return the ABI version.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1 << 0;

/// Paths that language runtimes commonly read, to pass in `read_only` (those missing from the
/// module's root are skipped): process information, the cgroup limits and CPU list that Go,
/// Java and Node read to size themselves.
pub const RUNTIME_READ_ONLY: &[&str] = &["/proc", "/sys/fs/cgroup", "/sys/devices/system/cpu"];

/// Device files that programs commonly open for writing, to pass in `read_write` (those
/// missing from the module's root are skipped), and the POSIX shared-memory directory.
pub const RUNTIME_READ_WRITE: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/shm",
];

/// What the kernel enforced of the Landlock ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockStatus {
    /// Every requested right is enforced.
    FullyEnforced,
    /// The kernel supports an older Landlock ABI: the rights it knows are enforced, the newer
    /// ones (e.g. truncation before ABI 3, device `ioctl`s before ABI 5) are not restricted.
    PartiallyEnforced,
    /// Nothing is enforced, and why (e.g. Landlock is not enabled in this kernel).
    NotEnforced(String),
}

impl LandlockStatus {
    /// Whether at least part of the ruleset is enforced.
    pub fn is_enforced(&self) -> bool {
        !matches!(self, LandlockStatus::NotEnforced(_))
    }
}

impl fmt::Display for LandlockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockStatus::FullyEnforced => f.write_str("fully enforced"),
            LandlockStatus::PartiallyEnforced => f.write_str("partially enforced"),
            LandlockStatus::NotEnforced(reason) => write!(f, "not enforced: {reason}"),
        }
    }
}

/// Whether the running kernel offers Landlock, as found by [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Availability {
    /// Landlock is enabled; `abi` is the kernel's ABI version.
    Available {
        /// The kernel's Landlock ABI version (1 on Linux 5.13, 7 on 6.15...).
        abi: i32,
    },
    /// The kernel has Landlock but it is not enabled (`EOPNOTSUPP`): it is missing from the
    /// `lsm=` boot parameter or from the kernel's default LSM list.
    NotEnabled,
    /// The kernel has no Landlock (`ENOSYS`: built without it, older than 5.13, or the
    /// system call is blocked by a seccomp filter of the environment).
    NotImplemented,
    /// The probe failed with another error.
    Failed {
        /// The `errno` of the failure.
        errno: i32,
    },
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Availability::Available { abi } if abi >= REQUESTED_ABI_VERSION => {
                write!(f, "available (ABI {abi})")
            }
            Availability::Available { abi } => write!(
                f,
                "available (ABI {abi}; rights added after it, up to ABI \
                 {REQUESTED_ABI_VERSION}, are not enforced)"
            ),
            Availability::NotEnabled => f.write_str(
                "not enabled: the kernel has Landlock but it is not in its active LSM list \
                 (add `landlock` to the `lsm=` boot parameter)",
            ),
            Availability::NotImplemented => f.write_str(
                "not implemented: the kernel is built without Landlock or is older than 5.13",
            ),
            Availability::Failed { errno } => write!(
                f,
                "unknown: probing Landlock failed: {}",
                io::Error::from_raw_os_error(errno)
            ),
        }
    }
}

/// Asks the kernel whether it offers Landlock and which ABI version, without restricting the
/// calling process (`landlock_create_ruleset` with `LANDLOCK_CREATE_RULESET_VERSION`).
pub fn probe() -> Availability {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION, the attribute pointer must be NULL and the
    // size 0; the kernel only returns its ABI version (or an error) and creates no file
    // descriptor, so no memory or resource is handed over.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if version > 0 {
        return Availability::Available {
            abi: i32::try_from(version).unwrap_or(i32::MAX),
        };
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => Availability::NotEnabled,
        Some(libc::ENOSYS) => Availability::NotImplemented,
        Some(errno) => Availability::Failed { errno },
        None => Availability::Failed { errno: 0 },
    }
}

/// The running kernel's Landlock ABI version, or `None` when Landlock is not available.
pub fn abi_version() -> Option<i32> {
    match probe() {
        Availability::Available { abi } => Some(abi),
        _ => None,
    }
}

/// Every filesystem right the ruleset handles: what is not granted by a rule is denied.
fn handled_access() -> BitFlags<AccessFs> {
    AccessFs::from_all(REQUESTED_ABI)
}

/// Rights of `read_only` paths.
fn read_access() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir
}

/// Rights of `read_exec` paths.
fn read_exec_access() -> BitFlags<AccessFs> {
    read_access() | AccessFs::Execute
}

/// Rights of `read_write` paths: all handled rights but executing and creating devices.
fn read_write_access() -> BitFlags<AccessFs> {
    handled_access() & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock)
}

/// Opens `path` for a Landlock rule (`O_PATH`): `None` if it does not exist.
fn open_rule_path(path: &Path) -> Result<Option<File>, String> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("landlock: opening {}: {e}", path.display())),
    }
}

/// Adds one rule per existing path of `paths`, granting `access` (only the rights that apply
/// to files when the path is not a directory).
fn add_rules(
    mut ruleset: RulesetCreated,
    paths: &[PathBuf],
    access: BitFlags<AccessFs>,
    what: &str,
) -> Result<RulesetCreated, String> {
    for path in paths {
        let Some(file) = open_rule_path(path)? else {
            continue;
        };
        let is_dir = file
            .metadata()
            .map_err(|e| format!("landlock: stat of {}: {e}", path.display()))?
            .is_dir();
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(REQUESTED_ABI)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(file, access))
            .map_err(|e| format!("landlock: {what} rule for {}: {e}", path.display()))?;
    }
    Ok(ruleset)
}

/// Restricts the calling thread (and every process it later starts) to the given paths: read
/// and execute below `read_exec`, read below `read_only`, read and write (no execute, no device
/// creation) below `read_write`. Paths that do not exist are skipped.
///
/// Also sets `no_new_privs` (required by Landlock without `CAP_SYS_ADMIN`; the spawn helper
/// has set it already). Meant for the single-threaded spawn helper: other threads of the
/// process would stay unrestricted.
///
/// Returns what the kernel enforced; a kernel without Landlock is not an error but
/// [`LandlockStatus::NotEnforced`]. Errors are failures to open a path or of the Landlock
/// system calls.
pub fn restrict(
    read_only: &[PathBuf],
    read_exec: &[PathBuf],
    read_write: &[PathBuf],
) -> Result<LandlockStatus, String> {
    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled_access())
        .map_err(|e| format!("landlock: handled rights: {e}"))?
        .scope(Scope::AbstractUnixSocket)
        .map_err(|e| format!("landlock: abstract Unix socket scope: {e}"))?
        .create()
        .map_err(|e| format!("landlock: creating the ruleset: {e}"))?;
    let ruleset = add_rules(ruleset, read_exec, read_exec_access(), "read-exec")?;
    let ruleset = add_rules(ruleset, read_only, read_access(), "read-only")?;
    let ruleset = add_rules(ruleset, read_write, read_write_access(), "read-write")?;
    let status = ruleset
        .restrict_self()
        .map_err(|e| format!("landlock: restricting the process: {e}"))?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockStatus::FullyEnforced,
        RulesetStatus::PartiallyEnforced => LandlockStatus::PartiallyEnforced,
        RulesetStatus::NotEnforced => LandlockStatus::NotEnforced(not_enforced_reason(probe())),
    })
}

/// Why nothing was enforced, from what the kernel says about Landlock.
fn not_enforced_reason(availability: Availability) -> String {
    match availability {
        Availability::Available { abi } => {
            format!("the kernel's Landlock (ABI {abi}) supports none of the requested rights")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    /// Set in the environment of the child process that applies the restriction.
    const CHILD_ENV: &str = "CONVOTIC_LANDLOCK_TEST_CHILD";
    /// The directory tree the child works in.
    const DIR_ENV: &str = "CONVOTIC_LANDLOCK_TEST_DIR";
    const ABSTRACT_ENV: &str = "CONVOTIC_LANDLOCK_TEST_ABSTRACT";
    /// Printed by the child when every check held.
    const CHILD_OK: &str = "landlock-child: ok";

    /// Runs the ignored test `function` of this module in a child process.
    fn run_child_test(
        function: &str,
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> (std::process::ExitStatus, String, String) {
        crate::sandbox::child_test::run_child_test(module_path!(), function, envs)
    }

    #[test]
    fn access_sets() {
        assert!(read_exec_access().contains(AccessFs::Execute));
        assert!(!read_access().contains(AccessFs::Execute));
        let rw = read_write_access();
        for right in [
            AccessFs::ReadFile,
            AccessFs::ReadDir,
            AccessFs::WriteFile,
            AccessFs::Truncate,
            AccessFs::RemoveFile,
            AccessFs::RemoveDir,
            AccessFs::MakeReg,
            AccessFs::MakeDir,
            AccessFs::MakeSym,
            AccessFs::MakeFifo,
            AccessFs::MakeSock,
            AccessFs::Refer,
        ] {
            assert!(rw.contains(right), "{right:?}");
        }
        for right in [AccessFs::Execute, AccessFs::MakeChar, AccessFs::MakeBlock] {
            assert!(!rw.contains(right), "{right:?}");
        }
        assert_eq!(REQUESTED_ABI as i32, REQUESTED_ABI_VERSION);
    }

    #[test]
    fn status_text_and_json() {
        assert_eq!(LandlockStatus::FullyEnforced.to_string(), "fully enforced");
        assert_eq!(
            LandlockStatus::PartiallyEnforced.to_string(),
            "partially enforced"
        );
        let not = LandlockStatus::NotEnforced("no landlock".into());
        assert_eq!(not.to_string(), "not enforced: no landlock");
        assert!(!not.is_enforced());
        assert_eq!(
            serde_json::to_string(&LandlockStatus::FullyEnforced).unwrap(),
            r#""fully_enforced""#
        );
        assert_eq!(
            serde_json::to_string(&LandlockStatus::PartiallyEnforced).unwrap(),
            r#""partially_enforced""#
        );
        assert_eq!(
            serde_json::to_string(&not).unwrap(),
            r#"{"not_enforced":"no landlock"}"#
        );
        assert_eq!(
            serde_json::to_string(&Availability::Available { abi: 7 }).unwrap(),
            r#"{"state":"available","abi":7}"#
        );
    }

    #[test]
    fn probe_agrees_with_abi_version() {
        let availability = probe();
        println!("landlock: {availability}");
        match availability {
            Availability::Available { abi } => {
                assert!(abi >= 1);
                assert_eq!(abi_version(), Some(abi));
            }
            _ => assert_eq!(abi_version(), None),
        }
    }

    /// Applies Landlock in a child process (a re-run of this test binary limited to
    /// [`landlock_child`]) and checks there what it allows and denies.
    #[test]
    fn restrict_confines_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["ro", "rw", "forbidden"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("ro/file.txt"), b"readable").unwrap();
        std::fs::write(root.join("forbidden/secret.txt"), b"secret").unwrap();
        // An abstract Unix socket outside the child's Landlock domain.
        let name = format!("convotic-landlock-test-{}", std::process::id());
        let _listener = abstract_listener(&name).unwrap();

        let (status, stdout, stderr) = run_child_test(
            "landlock_child",
            &[
                (CHILD_ENV, "1".as_ref()),
                (DIR_ENV, root.as_os_str()),
                (ABSTRACT_ENV, name.as_ref()),
            ],
        );
        assert!(
            status.success() && stderr.contains(CHILD_OK),
            "child failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        if abi_version().is_none() {
            println!(
                "Landlock is not available on this kernel ({}): checked only that restrict() \
                 reports it not enforced",
                probe()
            );
        }
    }

    /// The child side of [`restrict_confines_the_process`]; does nothing unless run by it.
    #[test]
    #[ignore = "run as a child process by restrict_confines_the_process"]
    fn landlock_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let code = match run_child() {
            Ok(()) => {
                eprintln!("{CHILD_OK}");
                0
            }
            Err(failures) => {
                for failure in failures {
                    eprintln!("landlock-child: FAILED: {failure}");
                }
                1
            }
        };
        std::process::exit(code);
    }

    /// Expects `result` to be a permission error (`EACCES`).
    fn expect_denied<T: fmt::Debug>(failures: &mut Vec<String>, what: &str, result: io::Result<T>) {
        match result {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            other => failures.push(format!("{what}: expected EACCES, got {other:?}")),
        }
    }

    /// Expects `result` to succeed.
    fn expect_allowed<T>(failures: &mut Vec<String>, what: &str, result: io::Result<T>) {
        if let Err(e) = result {
            failures.push(format!("{what}: expected success, got {e}"));
        }
    }

    fn run_child() -> Result<(), Vec<String>> {
        let root = PathBuf::from(std::env::var_os(DIR_ENV).expect("test dir"));
        let ro = root.join("ro");
        let rw = root.join("rw");
        let forbidden = root.join("forbidden");
        let mut failures = Vec::new();

        // Prepared before the restriction: a copy of an executable in the writable dir.
        let true_bin = ["/usr/bin/true", "/bin/true"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let copied_bin = rw.join("true-copy");
        if let Some(bin) = &true_bin {
            std::fs::copy(bin, &copied_bin).unwrap();
            std::fs::set_permissions(&copied_bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let hostname_exists = Path::new("/etc/hostname").exists();

        let read_exec: Vec<PathBuf> = ["/usr", "/bin", "/lib", "/lib64", "/lib32"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let read_only = vec![ro.clone(), PathBuf::from("/does/not/exist")];
        let read_write = vec![rw.clone(), root.join("missing-too")];
        let status = match restrict(&read_only, &read_exec, &read_write) {
            Ok(status) => status,
            Err(e) => return Err(vec![format!("restrict failed: {e}")]),
        };
        eprintln!("landlock-child: status: {status}");

        let Some(abi) = abi_version() else {
            if status.is_enforced() {
                return Err(vec![format!(
                    "Landlock is unavailable ({}) but restrict() reported {status}",
                    probe()
                )]);
            }
            return Ok(());
        };
        let expected = if abi >= REQUESTED_ABI_VERSION {
            LandlockStatus::FullyEnforced
        } else {
            LandlockStatus::PartiallyEnforced
        };
        if status != expected {
            failures.push(format!(
                "kernel ABI {abi}: expected {expected}, got {status}"
            ));
        }

        // Read-only paths.
        expect_allowed(
            &mut failures,
            "read ro/file.txt",
            std::fs::read(ro.join("file.txt")),
        );
        expect_allowed(&mut failures, "list ro", std::fs::read_dir(&ro));
        expect_denied(
            &mut failures,
            "write ro/new.txt",
            std::fs::write(ro.join("new.txt"), b"x"),
        );
        expect_denied(
            &mut failures,
            "append to ro/file.txt",
            OpenOptions::new().append(true).open(ro.join("file.txt")),
        );

        // Everything else.
        expect_denied(
            &mut failures,
            "read forbidden/secret.txt",
            std::fs::read(forbidden.join("secret.txt")),
        );
        expect_denied(
            &mut failures,
            "list forbidden",
            std::fs::read_dir(&forbidden),
        );
        expect_denied(&mut failures, "list /etc", std::fs::read_dir("/etc"));
        if hostname_exists {
            expect_denied(
                &mut failures,
                "read /etc/hostname",
                std::fs::read("/etc/hostname"),
            );
        }
        expect_denied(
            &mut failures,
            "read /proc/self/status",
            std::fs::read("/proc/self/status"),
        );

        // Read-write paths.
        let new_file = rw.join("new.txt");
        expect_allowed(
            &mut failures,
            "write rw/new.txt",
            std::fs::write(&new_file, b"data"),
        );
        expect_allowed(
            &mut failures,
            "truncate rw/new.txt",
            std::fs::write(&new_file, b"other"),
        );
        match std::fs::read(&new_file) {
            Ok(data) if data == b"other" => {}
            other => failures.push(format!("read back rw/new.txt: {other:?}")),
        }
        expect_allowed(
            &mut failures,
            "mkdir rw/sub",
            std::fs::create_dir(rw.join("sub")),
        );
        expect_allowed(
            &mut failures,
            "rename into rw/sub",
            std::fs::rename(&new_file, rw.join("sub/moved.txt")),
        );
        expect_allowed(
            &mut failures,
            "symlink in rw",
            std::os::unix::fs::symlink("sub/moved.txt", rw.join("link")),
        );
        expect_allowed(
            &mut failures,
            "remove rw/sub/moved.txt",
            std::fs::remove_file(rw.join("sub/moved.txt")),
        );
        expect_allowed(
            &mut failures,
            "rmdir rw/sub",
            std::fs::remove_dir(rw.join("sub")),
        );
        expect_denied(
            &mut failures,
            "mknod of a character device in rw",
            mknod_char(&rw.join("null-copy")),
        );
        match std::fs::rename(rw.join("link"), forbidden.join("link")) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EXDEV)) => {}
            other => failures.push(format!("rename out of rw: expected EACCES, got {other:?}")),
        }

        // Abstract Unix sockets: the host's (the test's) are out of reach from ABI 6; one the
        // child creates itself stays reachable.
        let host_socket = std::env::var(ABSTRACT_ENV).expect("abstract socket name");
        let connected = abstract_connect(&host_socket);
        if abi >= ABSTRACT_UNIX_SCOPE_ABI {
            match connected {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                other => failures.push(format!(
                    "connect to the host's abstract socket: expected EPERM, got {other:?}"
                )),
            }
            let own = format!("{host_socket}-own");
            match abstract_listener(&own).and_then(|_l| abstract_connect(&own)) {
                Ok(_) => {}
                Err(e) => failures.push(format!("connect to its own abstract socket: {e}")),
            }
        } else {
            eprintln!("landlock-child: ABI {abi} has no abstract Unix socket scope");
        }

        // Execution.
        if let Some(bin) = &true_bin {
            match Command::new(bin).status() {
                Ok(status) if status.success() => {}
                other => failures.push(format!("exec {}: {other:?}", bin.display())),
            }
            expect_denied(
                &mut failures,
                "exec of a program in rw",
                Command::new(&copied_bin).status(),
            );
        }

        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    fn abstract_address(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
    }

    /// A listening Unix socket at abstract address `name`.
    fn abstract_listener(name: &str) -> io::Result<std::os::unix::net::UnixListener> {
        std::os::unix::net::UnixListener::bind_addr(&abstract_address(name)?)
    }

    /// Connects to abstract address `name`.
    fn abstract_connect(name: &str) -> io::Result<std::os::unix::net::UnixStream> {
        std::os::unix::net::UnixStream::connect_addr(&abstract_address(name)?)
    }

    /// `mknod` of a character device (1:3, like `/dev/null`).
    fn mknod_char(path: &Path) -> io::Result<()> {
        let mut bytes = path.as_os_str().as_bytes().to_vec();
        bytes.push(0);
        // SAFETY: `bytes` is a NUL-terminated path that outlives the call; mknod only reads it.
        let rc = unsafe {
            libc::mknod(
                bytes.as_ptr().cast(),
                libc::S_IFCHR | 0o600,
                libc::makedev(1, 3),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
