//! PID 1 of a module's PID namespace and the last steps before the module's `exec`, shared by
//! the plain spawn helper ([`super::helper`]) and the sandboxed one ([`super::sandboxed`]):
//! fork and exec the module with an empty signal mask and only the standard streams, reap every
//! child, forward signals, report the module's status to the helper over a pipe, and exit the
//! way the module did.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use nix::sys::signal::{
    kill, sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, ForkResult, Pid};

/// Signals forwarded to the module.
pub(super) const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// How the module's process tree is contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Containment {
    /// A PID namespace: the whole tree dies with its PID 1.
    PidNamespace,
    /// A child subreaper: leftovers are killed when the module exits.
    Subreaper,
}

/// A type with no values: what a function that never returns successfully returns.
pub(super) enum Never {}

/// The body of a namespace's PID 1: `start` forks the module (a failure is reported as exit
/// code [`convotic_proto::EXIT_DO_NOT_RESTART`] with the message on stderr), then init reaps
/// every child and forwards signals until the module exits, and reports its status.
pub(super) fn namespace_init(
    status_write: OwnedFd,
    handled: &SigSet,
    start: impl FnOnce() -> Result<Pid, String>,
) -> ! {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        std::process::exit(126);
    }
    // Signals sent to a namespace's init are dropped unless it has a handler: install no-op
    // handlers; the signals stay blocked and are taken with sigwait.
    for signal in handled.iter() {
        let action = SigAction::new(
            SigHandler::Handler(noop_handler),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler is an empty extern "C" function, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
    let module = match start() {
        Ok(pid) => pid,
        Err(message) => {
            eprintln!("convotic spawn helper: {message}");
            write_status(
                &status_write,
                &WaitStatus::Exited(Pid::from_raw(0), convotic_proto::EXIT_DO_NOT_RESTART),
            );
            std::process::exit(0)
        }
    };
    let status = reap_until_exit(module, Containment::PidNamespace, handled);
    write_status(&status_write, &status);
    // Exiting kills every other process of the namespace.
    std::process::exit(0)
}

pub(super) extern "C" fn noop_handler(_: libc::c_int) {}

/// Forks and execs the module with an empty signal mask.
pub(super) fn spawn_module(argv: &[CString]) -> Result<Pid, String> {
    // SAFETY: single-threaded process (helper or namespace init), see `run`.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            cloexec_above_stderr();
            let error = match execvp(&argv[0], argv) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            eprintln!(
                "convotic spawn helper: cannot execute {}: {}",
                argv[0].to_string_lossy(),
                error.desc()
            );
            std::process::exit(127)
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Waits (with sigwait) until `module` exits, reaping every other child and forwarding
/// signals. Returns the module's status.
pub(super) fn reap_until_exit(
    module: Pid,
    containment: Containment,
    handled: &SigSet,
) -> WaitStatus {
    loop {
        if let Some(status) = reap(module, containment) {
            return status;
        }
        let Ok(signal) = handled.wait() else { continue };
        if signal == Signal::SIGCHLD {
            continue;
        }
        match containment {
            // -1 inside a PID namespace: every process of the namespace but its init.
            Containment::PidNamespace => {
                let _ = kill(Pid::from_raw(-1), signal);
            }
            Containment::Subreaper => {
                let _ = kill(module, signal);
            }
        }
    }
}

/// Reaps every exited child; returns the module's status once it has exited (after, for a
/// subreaper, killing and reaping the leftovers).
fn reap(module: Pid, containment: Containment) -> Option<WaitStatus> {
    let mut module_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(status) => {
                if status.pid() == Some(module) {
                    module_status = Some(status);
                }
            }
        }
    }
    let status = module_status?;
    if containment == Containment::Subreaper {
        kill_leftover_children();
    }
    Some(status)
}

/// Subreaper mode: SIGKILL every remaining child (orphans reparented to us) until none is left.
fn kill_leftover_children() {
    let me = std::process::id() as i32;
    for _ in 0..100 {
        let children = super::tree::children_of(me);
        if children.is_empty() {
            return;
        }
        for child in children {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        }
        while let Ok(status) = waitpid(Pid::from_raw(-1), None) {
            if matches!(status, WaitStatus::StillAlive) {
                break;
            }
        }
    }
}

/// The helper's side in PID-namespace mode: forwards signals to init and waits for it.
pub(super) fn wait_for_init(init: Pid, status_read: OwnedFd, handled: &SigSet) -> WaitStatus {
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) | Err(_) => {
                return read_status(&status_read).unwrap_or(WaitStatus::Signaled(
                    init,
                    Signal::SIGKILL,
                    false,
                ))
            }
        }
        let Ok(signal) = handled.wait() else { continue };
        if signal != Signal::SIGCHLD {
            let _ = kill(init, signal);
        }
    }
}

pub(super) fn write_status(fd: &OwnedFd, status: &WaitStatus) {
    let (kind, value) = match status {
        WaitStatus::Exited(_, code) => (0u8, *code),
        WaitStatus::Signaled(_, signal, _) => (1u8, *signal as i32),
        _ => (0u8, 1),
    };
    let mut bytes = [kind, 0, 0, 0, 0];
    bytes[1..].copy_from_slice(&value.to_le_bytes());
    let _ = nix::unistd::write(fd, &bytes);
}

fn read_status(fd: &OwnedFd) -> Option<WaitStatus> {
    let mut bytes = [0u8; 5];
    let n = nix::unistd::read(fd, &mut bytes).ok()?;
    if n != 5 {
        return None;
    }
    let value = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let pid = Pid::from_raw(0);
    match bytes[0] {
        0 => Some(WaitStatus::Exited(pid, value)),
        _ => Signal::try_from(value)
            .ok()
            .map(|signal| WaitStatus::Signaled(pid, signal, false)),
    }
}

/// Exits with the module's code, or dies by the module's signal.
pub(super) fn reflect(status: WaitStatus) -> ! {
    match status {
        WaitStatus::Exited(_, code) => std::process::exit(code),
        WaitStatus::Signaled(_, signal, _) => {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default disposition installs no handler code.
            let _ = unsafe { sigaction(signal, &default) };
            let mut set = SigSet::empty();
            set.add(signal);
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
            let _ = nix::sys::signal::raise(signal);
            std::process::exit(128 + signal as i32)
        }
        _ => std::process::exit(1),
    }
}

/// Marks every descriptor above stderr close-on-exec: called right before the module's
/// `exec`, so it starts with stdin, stdout and stderr only, whatever a layer below opened.
pub(super) fn cloexec_above_stderr() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on open descriptors.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if result == 0 {
        return;
    }
    // Kernels before 5.11: one by one, up to the soft limit of open files.
    let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft.min(65_536) as i32)
        .unwrap_or(4096);
    for fd in 3..max {
        // SAFETY: F_SETFD only changes flags; an fd that is not open just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
