//! Probing what this kernel and these privileges allow, for `convotic-supervisor doctor`: each
//! namespace is tried with `unshare` in a forked child (so the probing process is unchanged),
//! alongside Landlock, seccomp and cgroups.

use serde::Serialize;

/// One sandbox layer: available or not, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Name, e.g. `user namespace`.
    pub layer: String,
    /// Whether it can be used.
    pub available: bool,
    /// Detail, or how to enable it.
    pub detail: String,
    /// Whether the `strict` profile cannot work without it.
    pub required: bool,
}

fn layer(name: &str, available: bool, detail: String, required: bool) -> Layer {
    Layer {
        layer: name.into(),
        available,
        detail,
        required,
    }
}

/// Tries `unshare(flags)` in a forked child; the errno on failure.
fn try_unshare(flags: libc::c_int) -> Result<(), std::io::Error> {
    // SAFETY: the child only makes raw system calls (unshare, _exit) before exiting, which is
    // safe after fork even in a multi-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: raw system calls in the forked child, see above.
        unsafe {
            let code = if libc::unshare(flags) == 0 {
                0
            } else {
                *libc::__errno_location()
            };
            libc::_exit(code)
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    if libc::WIFEXITED(status) && code == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(code))
    }
}

/// Every layer, probed.
pub fn probe() -> Vec<Layer> {
    let root = nix::unistd::geteuid().is_root();
    let mut layers = vec![layer(
        "privileges",
        true,
        if root {
            "running as root: each module gets its own host uid".into()
        } else {
            "not root: modules run as the supervisor's uid inside their user namespace (no per-module uid)".into()
        },
        false,
    )];
    let userns_hint = "enable user namespaces (sysctl user.max_user_namespaces > 0; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile allowing userns for the supervisor)";
    for (name, flags, required) in [
        ("user namespace", libc::CLONE_NEWUSER, true),
        (
            "mount namespace + pivot_root",
            libc::CLONE_NEWUSER | libc::CLONE_NEWNS,
            true,
        ),
        (
            "pid namespace",
            libc::CLONE_NEWUSER | libc::CLONE_NEWPID,
            true,
        ),
        (
            "ipc namespace",
            libc::CLONE_NEWUSER | libc::CLONE_NEWIPC,
            true,
        ),
        (
            "uts namespace",
            libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
            true,
        ),
        (
            "network namespace (strict)",
            libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
            true,
        ),
    ] {
        let result = try_unshare(flags);
        layers.push(layer(
            name,
            result.is_ok(),
            match result {
                Ok(()) => "available".into(),
                Err(e) => format!("unshare failed: {e}; {userns_hint}"),
            },
            required,
        ));
    }
    let landlock = super::landlock::abi_version();
    layers.push(layer(
        "landlock",
        landlock.is_some(),
        match landlock {
            Some(abi) => format!("ABI v{abi}"),
            None => "not enabled in this kernel: boot with lsm=...,landlock (CONFIG_SECURITY_LANDLOCK); modules still get the private root".into(),
        },
        false,
    ));
    let scoped = landlock.is_some_and(|abi| abi >= super::landlock::ABSTRACT_UNIX_SCOPE_ABI);
    layers.push(layer(
        "abstract unix socket scope (relaxed)",
        scoped,
        if scoped {
            "Landlock scope: relaxed modules cannot connect to the host's abstract Unix sockets"
                .into()
        } else {
            format!(
                "needs Landlock ABI v{} (Linux 6.12): relaxed modules share the host's network \
                 namespace and CAN connect to its abstract Unix sockets (D-Bus, X11...); strict \
                 modules are not affected",
                super::landlock::ABSTRACT_UNIX_SCOPE_ABI
            )
        },
        false,
    ));
    let seccomp = super::seccomp::available();
    layers.push(layer(
        "seccomp filter",
        seccomp,
        if seccomp {
            format!("{} system calls denied", super::seccomp::DENIED.len())
        } else {
            "kernel without CONFIG_SECCOMP_FILTER".into()
        },
        true,
    ));
    let backend = super::cgroup::detect_host();
    for (name, available, detail) in super::cgroup::doctor_report(&backend) {
        layers.push(layer(&name, available, detail, false));
    }
    if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") {
        let (name, available, detail) = super::cgroup::join_cost_report(&mountinfo);
        layers.push(layer(&name, available, detail, false));
    }
    layers
}
