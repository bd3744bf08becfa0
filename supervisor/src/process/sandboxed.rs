//! The spawn helper's sandboxed path (profiles `strict` and `relaxed`), in this order:
//!
//! 1. join the instance's cgroups (memory, pids, cpu), so everything below is counted;
//! 2. `clone` PID 1 straight into new user, mount, PID, IPC and UTS namespaces (and a network
//!    namespace for `strict`); the helper, still outside, writes the user namespace's id maps
//!    (`setgroups` denied first) and then lets PID 1 go on;
//! 3. PID 1 builds the private root (`crate::sandbox::mounts`) and pivots into it, sets the
//!    hostname, brings up loopback, and forks the module;
//! 4. the module process starts its own session, applies its rlimits, drops every privilege
//!    (bounding set, ambient, securebits, uid/gid, capabilities, `no_new_privs`), applies
//!    Landlock, sends the sandbox report on the control socket (then closes it), marks every
//!    descriptor above stderr close-on-exec, installs seccomp last and execs the module.
//!
//! A sandbox that cannot be built is not silently weakened: the module exits with code 78 (not
//! restarted) and the failing step on stderr, which the supervisor shows as the last error.
//! Landlock alone is best effort (its status is reported).

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{execvp, fork, pipe2, ForkResult, Pid};

use super::pid1::{namespace_init, reflect, wait_for_init, Never};
use crate::sandbox::privileges::{self, INSIDE_ID};
use crate::sandbox::report::SandboxReport;
use crate::sandbox::spec::{Profile, SandboxSpec};
use crate::sandbox::{cgroup, landlock, seccomp};

/// Runs the module in the sandbox of `spec`; returns only on failure before the clone.
/// `control` is the helper's control socket, where the module process sends the sandbox
/// report.
pub(super) fn run(
    spec: &SandboxSpec,
    argv: &[CString],
    handled: &SigSet,
    control: OwnedFd,
) -> Result<Never, String> {
    if !spec.cgroup_procs.is_empty() {
        cgroup::join(&spec.cgroup_procs, std::process::id())
            .map_err(|e| format!("sandbox: joining the module's cgroups: {e}"))?;
    }
    let as_root = nix::unistd::geteuid().is_root();
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    if spec.profile.isolates_network() {
        flags |= libc::CLONE_NEWNET;
    }
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    let (status_read, status_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: the helper is single-threaded, so a raw clone without a new stack behaves like
    // fork (the child runs on a copy of this stack) and may run arbitrary code.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        let error = std::io::Error::last_os_error();
        eprintln!(
            "convotic spawn helper: sandbox: cannot create the module's namespaces (user, mount, pid, ipc, uts{}): {error}; run `convotic-supervisor doctor` to see what this host allows, or give the module sandbox = \"none\"",
            if spec.profile.isolates_network() { ", net" } else { "" }
        );
        std::process::exit(convotic_proto::EXIT_DO_NOT_RESTART);
    }
    if pid == 0 {
        drop(go_write);
        drop(status_read);
        let mut byte = [0u8; 1];
        if !matches!(nix::unistd::read(go_read.as_fd(), &mut byte), Ok(1)) {
            std::process::exit(126);
        }
        drop(go_read);
        sandbox_init(spec, argv, status_write, handled, as_root, control)
    }
    let init = Pid::from_raw(pid as i32);
    drop(control);
    drop(go_read);
    drop(status_write);
    if let Err(e) = privileges::write_id_maps(init.as_raw(), spec, as_root) {
        let _ = kill(init, Signal::SIGKILL);
        eprintln!("convotic spawn helper: sandbox: user namespace id maps: {e}");
        std::process::exit(convotic_proto::EXIT_DO_NOT_RESTART);
    }
    let _ = nix::unistd::write(&go_write, &[1u8]);
    drop(go_write);
    let status = wait_for_init(init, status_read, handled);
    reflect(status)
}

/// PID 1 of the sandbox.
fn sandbox_init(
    spec: &SandboxSpec,
    argv: &[CString],
    status_write: OwnedFd,
    handled: &SigSet,
    as_root: bool,
    control: OwnedFd,
) -> ! {
    namespace_init(status_write, handled, move || {
        crate::sandbox::mounts::enter_root(spec).map_err(|e| format!("sandbox: {e}"))?;
        privileges::set_hostname(&spec.hostname).map_err(|e| format!("sandbox: {e}"))?;
        if spec.profile.isolates_network() {
            if let Err(e) = privileges::loopback_up() {
                eprintln!("convotic spawn helper: sandbox: warning: {e}");
            }
        }
        // SAFETY: PID 1 is single-threaded, so the child may run arbitrary code.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => become_module(spec, argv, as_root, control),
            ForkResult::Parent { child } => {
                drop(control);
                Ok(child)
            }
        }
    })
}

/// The module process: last layers, then exec. Never returns.
fn become_module(spec: &SandboxSpec, argv: &[CString], as_root: bool, control: OwnedFd) -> ! {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let fail = |step: &str, e: String| -> ! {
        eprintln!("convotic spawn helper: sandbox: {step}: {e}");
        std::process::exit(convotic_proto::EXIT_DO_NOT_RESTART)
    };
    let _ = nix::unistd::setsid();
    let rlimits = privileges::apply_rlimits(spec).unwrap_or_else(|e| fail("rlimits", e));
    privileges::drop_privileges(as_root).unwrap_or_else(|e| fail("dropping privileges", e));
    let mut read_write = spec.read_write.clone();
    read_write.extend(["/tmp", "/dev"].map(Into::into));
    let mut read_only = spec.read_only.clone();
    read_only.push("/proc".into());
    let landlock = match landlock::restrict(&read_only, &spec.read_exec, &read_write) {
        Ok(status) => status.to_string(),
        Err(e) => format!("not enforced: {e}"),
    };
    let mut namespaces: Vec<String> = ["user", "mount", "pid", "ipc", "uts"]
        .map(String::from)
        .to_vec();
    if spec.profile.isolates_network() {
        namespaces.push("net".into());
    }
    let mut cgroup = Vec::new();
    if spec.cgroup_memory {
        cgroup.push("memory".to_string());
    }
    if spec.cgroup_pids {
        cgroup.push("pids".to_string());
    }
    if spec.limits.cpu_millis.is_some() && !spec.cgroup_procs.is_empty() {
        cgroup.push("cpu".to_string());
    }
    let seccomp_available = seccomp::available();
    let report = SandboxReport {
        profile: Some(spec.profile),
        namespaces,
        private_root: true,
        uid_inside: if as_root { INSIDE_ID } else { 0 },
        uid_host: if as_root {
            spec.uid
        } else {
            nix::unistd::geteuid().as_raw()
        },
        privileges_dropped: true,
        rlimits,
        cgroup,
        landlock,
        seccomp: if seccomp_available {
            "enforced".into()
        } else {
            "not available in this kernel".into()
        },
    };
    if let Ok(text) = serde_json::to_vec(&report) {
        if let Err(e) = super::control::send_frame(control.as_fd(), &text) {
            eprintln!("convotic spawn helper: sandbox: warning: sending the sandbox report: {e}");
        }
    }
    drop(control);
    super::pid1::cloexec_above_stderr();
    if seccomp_available {
        seccomp::install().unwrap_or_else(|e| fail("seccomp", e));
    }
    debug_assert!(spec.profile != Profile::None);
    let error = match execvp(&argv[0], argv) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    eprintln!(
        "convotic spawn helper: cannot execute {} in the sandbox: {} (is it inside a path the module may read? see read_only_paths)",
        argv[0].to_string_lossy(),
        error.desc()
    );
    std::process::exit(127)
}
