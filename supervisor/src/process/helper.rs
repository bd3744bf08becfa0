//! The spawn helper: the supervisor binary re-executed as `convotic-supervisor __spawn-helper`.
//!
//! It runs single-threaded, before any async runtime exists, so process-setup code never runs
//! after `fork` inside the supervisor's multi-threaded runtime (the way bubblewrap and nsjail
//! work). It:
//!
//! 1. re-arms `PR_SET_PDEATHSIG=SIGKILL` and checks its parent is still the supervisor;
//! 2. closes inherited file descriptors above its control socket (fd 3, see [`super::control`]),
//!    reads the sandbox spec from that socket (never from argv, which `ps` shows to every
//!    user) and resets signal dispositions;
//! 3. enters a new PID namespace (or, unprivileged, a user + PID namespace);
//! 4. forks PID 1 of that namespace, which forks and execs the module, reaps every zombie and
//!    forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to every process of the namespace.
//!
//! With a sandbox (profiles `strict` and `relaxed`), step 3 and 4 are those of
//! [`super::sandboxed`]: cgroups joined, user/mount/PID/IPC/UTS(/net) namespaces, a private root,
//! privileges dropped, Landlock and seccomp. Its arguments: `<parent pid> <command> [args...]`.
//!
//! Every descriptor the helper creates is close-on-exec, and right before `exec` the module
//! process marks every descriptor above stderr close-on-exec too: the module starts with
//! stdin, stdout and stderr only (nothing of the helper, such as the status pipe of its PID 1,
//! through which it could forge its own exit status).
//!
//! When the supervisor dies, the helper gets SIGKILL (PDEATHSIG), PID 1 gets SIGKILL in turn
//! (its own PDEATHSIG), and the kernel kills every process of the namespace: no module process
//! or descendant survives, even one that called `setsid` or double-forked.
//!
//! When no PID namespace can be created, the helper becomes a child subreaper instead and kills
//! the module's leftover descendants when the module exits; a SIGKILL of the supervisor can then
//! leave grandchildren behind, so a warning is printed (it lands in the module's log).
//!
//! The helper exits with the module's exit code, or dies by the module's fatal signal, so the
//! supervisor sees the module's own status.

use std::ffi::{CString, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::unistd::{fork, getppid, pipe2, ForkResult};

use super::pid1::{
    namespace_init, reap_until_exit, reflect, spawn_module, wait_for_init, Containment, Never,
    FORWARDED,
};
use crate::sandbox::spec::SandboxSpec;

/// The hidden first argument that selects helper mode.
pub const HELPER_ARG: &str = "__spawn-helper";

/// Entry point of helper mode. `args` are the arguments after [`HELPER_ARG`]:
/// `<expected parent pid> <command> [args...]`; the sandbox spec arrives on the control
/// socket. Never returns.
pub fn main(args: Vec<OsString>) -> ! {
    match run(args) {
        Ok(never) => match never {},
        Err(message) => {
            eprintln!("convotic spawn helper: {message}");
            std::process::exit(126)
        }
    }
}

fn run(args: Vec<OsString>) -> Result<Never, String> {
    let mut args = args.into_iter();
    let expected_parent: i32 = args
        .next()
        .and_then(|a| a.to_str().and_then(|s| s.parse().ok()))
        .ok_or("missing parent pid argument")?;
    let argv: Vec<CString> = args
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "argument contains a NUL byte"))
        .collect::<Result<_, _>>()?;
    if argv.is_empty() {
        return Err("missing command".into());
    }

    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    if getppid().as_raw() != expected_parent {
        return Err("the supervisor exited before the module started".into());
    }
    close_inherited_fds();
    let control = take_control_socket()?;
    let spec: Option<SandboxSpec> = {
        let mut reader = std::os::unix::net::UnixStream::from(
            control
                .try_clone()
                .map_err(|e| format!("control socket: {e}"))?,
        );
        let _ = reader.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let frame =
            super::control::read_frame_blocking(&mut reader, super::control::MAX_SPEC_BYTES)
                .map_err(|e| format!("reading the sandbox spec: {e}"))?;
        serde_json::from_slice(&frame).map_err(|e| format!("bad sandbox spec: {e}"))?
    };
    reset_signals()?;
    let handled = handled_signals();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), None).map_err(|e| e.to_string())?;

    if let Some(spec) = spec {
        return super::sandboxed::run(&spec, &argv, &handled, control);
    }
    // Without a sandbox there is no report: the supervisor sees end of file.
    drop(control);
    let containment = enter_pid_namespace();
    if containment == Containment::Subreaper {
        eprintln!(
            "convotic spawn helper: warning: no PID namespace available (needs root or user \
             namespaces); descendants of the module may outlive a SIGKILL of the supervisor"
        );
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
        let module = spawn_module(&argv)?;
        let status = reap_until_exit(module, Containment::Subreaper, &handled);
        reflect(status)
    } else {
        let (status_read, status_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
        // SAFETY: the helper is single-threaded (it runs before any runtime or thread is
        // started), so the child may run arbitrary code after fork.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                drop(status_read);
                run_namespace_init(&argv, status_write, &handled)
            }
            ForkResult::Parent { child } => {
                drop(status_write);
                let status = wait_for_init(child, status_read, &handled);
                reflect(status)
            }
        }
    }
}

/// Tries a PID namespace, first directly (root), then inside a new user namespace.
fn enter_pid_namespace() -> Containment {
    if unshare(CloneFlags::CLONE_NEWPID).is_ok() {
        return Containment::PidNamespace;
    }
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    if unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID).is_ok() {
        let maps = std::fs::write("/proc/self/setgroups", "deny")
            .and_then(|_| std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1")))
            .and_then(|_| std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1")));
        if let Err(e) = maps {
            eprintln!("convotic spawn helper: warning: user namespace id maps: {e}");
        }
        return Containment::PidNamespace;
    }
    Containment::Subreaper
}

/// PID 1 of the module's namespace: starts the module, reaps, forwards signals, and reports
/// the module's status to the helper through `status_write`.
fn run_namespace_init(argv: &[CString], status_write: OwnedFd, handled: &SigSet) -> ! {
    namespace_init(status_write, handled, || spawn_module(argv))
}

fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Restores the default disposition of every catchable signal.
fn reset_signals() -> Result<(), String> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: restoring the default disposition installs no handler code.
        let _ = unsafe { sigaction(signal, &default) };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(|e| e.to_string())
}

/// Takes the control socket the spawner placed at [`super::control::CONTROL_FD`], marking it
/// close-on-exec so no `exec` ever passes it on.
fn take_control_socket() -> Result<OwnedFd, String> {
    let fd = super::control::CONTROL_FD;
    // SAFETY: F_SETFD only changes the flags of the descriptor (it fails with EBADF when fd 3
    // is not open, and then nothing is taken).
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(format!(
            "no control socket at fd {fd}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd 3 is open (checked above) and nothing else in the helper owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes every descriptor above the control socket, so nothing of the supervisor leaks into
/// the module.
fn close_inherited_fds() {
    let first = super::control::CONTROL_FD as u32 + 1;
    // SAFETY: close_range only closes descriptors; no Rust object owns fds > 3 at this point
    // of the helper (it has opened nothing yet).
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if result != 0 {
        // Older kernels: close one by one.
        let max = std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(1024);
        for fd in first as i32..=max {
            // SAFETY: see above; closing an fd that is not open just fails with EBADF.
            unsafe { libc::close(fd) };
        }
    }
}
