//! Seccomp: the system calls a module may not make.
//!
//! The policy is a deny-list with a default of *allow*: every system call is permitted except
//! those in [`DENIED`], which fail with `EPERM` (or `ENOSYS` for `clone3`, see below) instead
//! of killing the module, so that programs probing for features keep working. The other layers
//! of the sandbox (namespaces, the private read-only root, dropped capabilities, Landlock,
//! resource limits) do the confining; this filter removes kernel interfaces that are either
//! pure attack surface for a module or would let it undo those layers. The groups:
//!
//! * **Other processes' memory** (`ptrace`, `process_vm_readv`, `process_vm_writev`): reading
//!   or changing the memory of processes the module can see.
//! * **The mount table** (`mount`, `umount2`, `pivot_root`, `chroot`, the new mount API
//!   `open_tree`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `fspick`, `mount_setattr`):
//!   the filesystem view is fixed by the spawn helper before `exec`.
//! * **Namespaces** (`unshare`, `setns`, `clone` with a `CLONE_NEW*` flag, `clone3`): new
//!   namespaces, user namespaces above all, open large kernel interfaces to unprivileged code
//!   and could build a different view of the system. `clone3` passes its flags in memory that
//!   a seccomp filter cannot read, so it fails with `ENOSYS`: the C library then falls back to
//!   `clone`, whose flags are checked, and plain `fork`s and threads keep working.
//! * **Kernel code and kernel-wide state** (`kexec_load`, `kexec_file_load`, `init_module`,
//!   `finit_module`, `delete_module`, `bpf`, `perf_event_open`, `lookup_dcookie`,
//!   `userfaultfd`): loading code into the kernel, observing other processes, and interfaces
//!   that are mostly used to exploit kernel bugs (`userfaultfd` stalls the kernel at chosen
//!   points).
//! * **Kernel keyrings** (`keyctl`, `add_key`, `request_key`): not isolated by namespaces, so
//!   keys could be shared with, or read from, other processes of the host.
//! * **Host administration** (`reboot`, `swapon`, `swapoff`, `syslog`, `acct`, `quotactl`,
//!   `quotactl_fd`, `vhangup`, `iopl`, `ioperm`) and **the system clock** (`settimeofday`,
//!   `clock_settime`, `clock_adjtime`, `adjtimex`): no business of a module.
//! * **File handles** (`name_to_handle_at`, `open_by_handle_at`): open files by handle,
//!   bypassing the mount view (the classic container escape).
//! * **Execution domain** (`personality` with anything but 0 or the query `0xffffffff`):
//!   e.g. `ADDR_NO_RANDOMIZE` turns address-space randomisation off for programs it runs.
//! * **Terminal input injection** (`ioctl` with `TIOCSTI` or `TIOCLINUX`): pushing keystrokes
//!   into a terminal shared with the supervisor.
//! * **Obsolete calls** (`uselib`, `nfsservctl`).
//! * **io_uring** (`io_uring_setup`, `io_uring_enter`, `io_uring_register`): the kernel performs
//!   the operations of a ring without the system calls this filter sees (a denied `socket` or
//!   `openat` could be submitted through a ring), and it is a frequent exploit target.
//! * **Socket families** (`socket` and `socketpair`): only `AF_UNIX`, `AF_INET`, `AF_INET6`
//!   and `AF_NETLINK` with protocol `NETLINK_ROUTE` (which the C library's resolver uses to list
//!   addresses) may be created; `socketpair` only with `AF_UNIX`. Everything else fails with
//!   `EPERM`: above all `AF_VSOCK`, which no network namespace isolates (on a virtual machine it
//!   reaches the hypervisor and the host's services), and raw packet, `AF_ALG` (the kernel's
//!   crypto API), Bluetooth, TIPC, RDS, XDP and the other netlink protocols (`NETLINK_SOCK_DIAG`
//!   lists the sockets of the whole network namespace, the host's under `relaxed`). Which
//!   network the allowed families reach depends on the profile: under `strict` its own network
//!   namespace (its own loopback only), under `relaxed` the host's.
//!
//! Syscalls that do not exist on an architecture (`iopl`, `ioperm` and `uselib` on aarch64)
//! are skipped. Only the native ABI is allowed: a call through another ABI of the same CPU
//! (32-bit `int 0x80` on x86_64, AArch32 on aarch64) kills the process (its syscall numbers
//! differ, a deny-list by number would not apply), and on x86_64 every x32 call fails with
//! `EPERM` for the same reason.
//!
//! The spawn helper calls [`install`] last, right before `exec`: after the mounts,
//! `pivot_root`, dropping capabilities, `PR_SET_NO_NEW_PRIVS` and Landlock, none of which
//! would be possible once the filter is in place. The filter is inherited across `fork` and
//! `exec` and cannot be removed.

use std::fmt;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use serde::Serialize;

/// The error a denied call fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Errno {
    /// `EPERM`: the operation is not permitted.
    #[serde(rename = "EPERM")]
    Eperm,
    /// `ENOSYS`: the system call does not exist (the caller falls back to another).
    #[serde(rename = "ENOSYS")]
    Enosys,
}

impl Errno {
    /// The `errno` value.
    pub fn raw(self) -> i32 {
        match self {
            Errno::Eperm => libc::EPERM,
            Errno::Enosys => libc::ENOSYS,
        }
    }

    /// The symbolic name (`EPERM`).
    pub fn name(self) -> &'static str {
        match self {
            Errno::Eperm => "EPERM",
            Errno::Enosys => "ENOSYS",
        }
    }
}

/// Which calls of a denied system call are denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Every call.
    Always,
    /// Calls whose flags (first argument) include a `CLONE_NEW*` namespace flag.
    NamespaceFlags,
    /// Calls that change the persona: first argument neither 0 (`PER_LINUX`) nor
    /// `0xffffffff` (query).
    PersonalityChange,
    /// Calls whose request (second argument) is `TIOCSTI` or `TIOCLINUX`.
    TerminalInjection,
    /// `socket` calls whose family (first argument) is not in [`ALLOWED_SOCKET_FAMILIES`], or
    /// is `AF_NETLINK` with a protocol (third argument) other than `NETLINK_ROUTE`.
    SocketFamily,
    /// `socketpair` calls whose family is not `AF_UNIX`.
    SocketPairFamily,
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            When::Always => "always",
            When::NamespaceFlags => "with a CLONE_NEW* flag",
            When::PersonalityChange => "other than 0 and 0xffffffff",
            When::TerminalInjection => "with TIOCSTI or TIOCLINUX",
            When::SocketFamily => "of a family other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK",
            When::SocketPairFamily => "of a family other than AF_UNIX",
        })
    }
}

/// One entry of the deny-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Denied {
    /// The system call's name.
    pub syscall: &'static str,
    /// Which of its calls are denied.
    pub when: When,
    /// The error they fail with.
    pub errno: Errno,
    /// Why.
    pub reason: &'static str,
}

impl Denied {
    /// Whether the system call exists on this architecture (else the entry is skipped).
    pub fn applies_here(&self) -> bool {
        syscall_number(self.syscall).is_some()
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.syscall)?;
        if self.when != When::Always {
            write!(f, " ({})", self.when)?;
        }
        write!(f, ": {}, {}", self.errno.name(), self.reason)
    }
}

const fn always(syscall: &'static str, reason: &'static str) -> Denied {
    Denied {
        syscall,
        when: When::Always,
        errno: Errno::Eperm,
        reason,
    }
}

const MEMORY: &str = "reads or changes the memory of other processes";
const MOUNTS: &str = "changes the mount table, fixed before the module starts";
const NAMESPACES: &str =
    "creates or joins namespaces (kernel attack surface, a different view of the system)";
const KERNEL_CODE: &str = "loads code into the kernel";
const KERNEL_SURFACE: &str =
    "kernel interface that can observe other processes and is a frequent exploit target";
const KEYRINGS: &str = "kernel keyrings are not isolated by namespaces";
const ADMIN: &str = "host administration";
const CLOCK: &str = "changes the system clock, shared by the whole host";
const PORTS: &str = "raw I/O port access";
const HANDLES: &str = "opens files by handle, bypassing the module's mount view";
const OBSOLETE: &str = "obsolete";
const IO_URING: &str =
    "performs operations without the system calls this filter checks; frequent exploit target";
const SOCKET_FAMILIES: &str = "only AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (NETLINK_ROUTE): \
     AF_VSOCK is not isolated by network namespaces and reaches the hypervisor of a virtual \
     machine; the other families are kernel attack surface";

/// The deny-list: every system call [`install`] denies, when, with which error and why.
pub const DENIED: &[Denied] = &[
    always("ptrace", MEMORY),
    always("process_vm_readv", MEMORY),
    always("process_vm_writev", MEMORY),
    always("mount", MOUNTS),
    always("umount2", MOUNTS),
    always("pivot_root", MOUNTS),
    always("chroot", MOUNTS),
    always("open_tree", MOUNTS),
    always("move_mount", MOUNTS),
    always("fsopen", MOUNTS),
    always("fsconfig", MOUNTS),
    always("fsmount", MOUNTS),
    always("fspick", MOUNTS),
    always("mount_setattr", MOUNTS),
    always("unshare", NAMESPACES),
    always("setns", NAMESPACES),
    Denied {
        syscall: "clone",
        when: When::NamespaceFlags,
        errno: Errno::Eperm,
        reason: NAMESPACES,
    },
    Denied {
        syscall: "clone3",
        when: When::Always,
        errno: Errno::Enosys,
        reason: "its flags cannot be checked (they are in memory); the C library falls back \
                 to clone",
    },
    always("kexec_load", KERNEL_CODE),
    always("kexec_file_load", KERNEL_CODE),
    always("init_module", KERNEL_CODE),
    always("finit_module", KERNEL_CODE),
    always("delete_module", KERNEL_CODE),
    always("bpf", KERNEL_SURFACE),
    always("perf_event_open", KERNEL_SURFACE),
    always("lookup_dcookie", KERNEL_SURFACE),
    always(
        "userfaultfd",
        "stalls the kernel at chosen points, a common exploitation aid",
    ),
    always("keyctl", KEYRINGS),
    always("add_key", KEYRINGS),
    always("request_key", KEYRINGS),
    always("reboot", ADMIN),
    always("swapon", ADMIN),
    always("swapoff", ADMIN),
    always("syslog", "reads or clears the kernel log"),
    always("acct", ADMIN),
    always("quotactl", ADMIN),
    always("quotactl_fd", ADMIN),
    always("vhangup", "hangs up the terminal"),
    always("settimeofday", CLOCK),
    always("clock_settime", CLOCK),
    always("clock_adjtime", CLOCK),
    always("adjtimex", CLOCK),
    always("iopl", PORTS),
    always("ioperm", PORTS),
    always("name_to_handle_at", HANDLES),
    always("open_by_handle_at", HANDLES),
    Denied {
        syscall: "personality",
        when: When::PersonalityChange,
        errno: Errno::Eperm,
        reason: "changes the execution domain (e.g. turns address-space randomisation off)",
    },
    Denied {
        syscall: "ioctl",
        when: When::TerminalInjection,
        errno: Errno::Eperm,
        reason: "injects input into a terminal shared with the supervisor",
    },
    always("uselib", OBSOLETE),
    always("nfsservctl", OBSOLETE),
    always("io_uring_setup", IO_URING),
    always("io_uring_enter", IO_URING),
    always("io_uring_register", IO_URING),
    Denied {
        syscall: "socket",
        when: When::SocketFamily,
        errno: Errno::Eperm,
        reason: SOCKET_FAMILIES,
    },
    Denied {
        syscall: "socketpair",
        when: When::SocketPairFamily,
        errno: Errno::Eperm,
        reason: "only AF_UNIX socket pairs",
    },
];

/// The socket families a module may create (`socket`): Unix sockets, IPv4 and IPv6 (which
/// network they reach is the profile's network namespace), and netlink for the routing
/// protocol only (see [`NETLINK_ROUTE`]).
pub const ALLOWED_SOCKET_FAMILIES: [libc::c_int; 4] = [
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_NETLINK,
];

/// `NETLINK_ROUTE`: the one netlink protocol allowed (address and route listings, as the C
/// library's `getaddrinfo` and `getifaddrs` use).
const NETLINK_ROUTE: u64 = 0;

/// The namespace flags `clone` may not be called with.
const CLONE_NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// `TIOCSTI`: push a byte into a terminal's input queue.
const TIOCSTI: u64 = 0x5412;
/// `TIOCLINUX`: Linux console commands (including pasting the selection as input).
const TIOCLINUX: u64 = 0x541C;

/// The number of a system call on the architecture this is built for.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn syscall_number(name: &str) -> Option<i64> {
    let number = match name {
        "ptrace" => libc::SYS_ptrace,
        "process_vm_readv" => libc::SYS_process_vm_readv,
        "process_vm_writev" => libc::SYS_process_vm_writev,
        "mount" => libc::SYS_mount,
        "umount2" => libc::SYS_umount2,
        "pivot_root" => libc::SYS_pivot_root,
        "chroot" => libc::SYS_chroot,
        "open_tree" => libc::SYS_open_tree,
        "move_mount" => libc::SYS_move_mount,
        "fsopen" => libc::SYS_fsopen,
        "fsconfig" => libc::SYS_fsconfig,
        "fsmount" => libc::SYS_fsmount,
        "fspick" => libc::SYS_fspick,
        "mount_setattr" => libc::SYS_mount_setattr,
        "unshare" => libc::SYS_unshare,
        "setns" => libc::SYS_setns,
        "clone" => libc::SYS_clone,
        "clone3" => libc::SYS_clone3,
        "kexec_load" => libc::SYS_kexec_load,
        "kexec_file_load" => libc::SYS_kexec_file_load,
        "init_module" => libc::SYS_init_module,
        "finit_module" => libc::SYS_finit_module,
        "delete_module" => libc::SYS_delete_module,
        "bpf" => libc::SYS_bpf,
        "perf_event_open" => libc::SYS_perf_event_open,
        "lookup_dcookie" => libc::SYS_lookup_dcookie,
        "userfaultfd" => libc::SYS_userfaultfd,
        "keyctl" => libc::SYS_keyctl,
        "add_key" => libc::SYS_add_key,
        "request_key" => libc::SYS_request_key,
        "reboot" => libc::SYS_reboot,
        "swapon" => libc::SYS_swapon,
        "swapoff" => libc::SYS_swapoff,
        "syslog" => libc::SYS_syslog,
        "acct" => libc::SYS_acct,
        "quotactl" => libc::SYS_quotactl,
        "quotactl_fd" => libc::SYS_quotactl_fd,
        "vhangup" => libc::SYS_vhangup,
        "settimeofday" => libc::SYS_settimeofday,
        "clock_settime" => libc::SYS_clock_settime,
        "clock_adjtime" => libc::SYS_clock_adjtime,
        "adjtimex" => libc::SYS_adjtimex,
        #[cfg(target_arch = "x86_64")]
        "iopl" => libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        "ioperm" => libc::SYS_ioperm,
        "name_to_handle_at" => libc::SYS_name_to_handle_at,
        "open_by_handle_at" => libc::SYS_open_by_handle_at,
        "personality" => libc::SYS_personality,
        "ioctl" => libc::SYS_ioctl,
        #[cfg(target_arch = "x86_64")]
        "uselib" => libc::SYS_uselib,
        "nfsservctl" => libc::SYS_nfsservctl,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "io_uring_enter" => libc::SYS_io_uring_enter,
        "io_uring_register" => libc::SYS_io_uring_register,
        "socket" => libc::SYS_socket,
        "socketpair" => libc::SYS_socketpair,
        _ => return None,
    };
    Some(number)
}

/// No syscall table for other architectures: [`install`] refuses them.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn syscall_number(_name: &str) -> Option<i64> {
    None
}

/// Whether the filter can be built for the architecture this is running on.
fn target_arch() -> Result<TargetArch, String> {
    match std::env::consts::ARCH {
        "x86_64" | "aarch64" => TargetArch::try_from(std::env::consts::ARCH)
            .map_err(|e| format!("seccomp: architecture: {e}")),
        other => Err(format!(
            "seccomp: no filter for the {other} architecture (x86_64 and aarch64 only)"
        )),
    }
}

/// One condition on an argument's lower 32 bits (the kernel reads these arguments as `int`).
fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| format!("seccomp: condition: {e}"))
}

/// The seccompiler rules of a [`When`]: none for `Always` (every call matches), else any
/// matching rule denies the call.
fn rules(when: When) -> Result<Vec<SeccompRule>, String> {
    let rule = |conditions| SeccompRule::new(conditions).map_err(|e| format!("seccomp: rule: {e}"));
    match when {
        When::Always => Ok(Vec::new()),
        When::NamespaceFlags => CLONE_NAMESPACE_FLAGS
            .iter()
            .map(|&flag| {
                let flag = flag as u32 as u64;
                rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag), flag)?])
            })
            .collect(),
        When::PersonalityChange => Ok(vec![rule(vec![
            condition(0, SeccompCmpOp::Ne, 0)?,
            condition(0, SeccompCmpOp::Ne, 0xffff_ffff)?,
        ])?]),
        When::TerminalInjection => Ok(vec![
            rule(vec![condition(1, SeccompCmpOp::Eq, TIOCSTI)?])?,
            rule(vec![condition(1, SeccompCmpOp::Eq, TIOCLINUX)?])?,
        ]),
        When::SocketFamily => {
            let not_allowed = ALLOWED_SOCKET_FAMILIES
                .iter()
                .map(|&family| condition(0, SeccompCmpOp::Ne, family as u64))
                .collect::<Result<Vec<_>, _>>()?;
            let netlink_other_protocol = vec![
                condition(0, SeccompCmpOp::Eq, libc::AF_NETLINK as u64)?,
                condition(2, SeccompCmpOp::Ne, NETLINK_ROUTE)?,
            ];
            Ok(vec![rule(not_allowed)?, rule(netlink_other_protocol)?])
        }
        When::SocketPairFamily => Ok(vec![rule(vec![condition(
            0,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?]),
    }
}

/// The BPF program of the entries of [`DENIED`] that fail with `errno` (`None` if there are
/// none on this architecture).
fn errno_program(arch: TargetArch, errno: Errno) -> Result<Option<BpfProgram>, String> {
    let mut map = std::collections::BTreeMap::new();
    for entry in DENIED.iter().filter(|d| d.errno == errno) {
        let Some(number) = syscall_number(entry.syscall) else {
            continue;
        };
        if map.insert(number, rules(entry.when)?).is_some() {
            return Err(format!("seccomp: {} is listed twice", entry.syscall));
        }
    }
    if map.is_empty() {
        return Ok(None);
    }
    let filter = SeccompFilter::new(
        map,
        SeccompAction::Allow,
        SeccompAction::Errno(errno.raw() as u32),
        arch,
    )
    .map_err(|e| format!("seccomp: filter: {e}"))?;
    let program = BpfProgram::try_from(filter).map_err(|e| format!("seccomp: compiling: {e}"))?;
    Ok(Some(program))
}

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `__X32_SYSCALL_BIT`: set in the numbers of x32 system calls.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Fails every x32 system call (`EPERM`), on x86_64: their numbers are not those the
/// deny-list checks. Other architectures are left to the other programs.
fn x32_program() -> BpfProgram {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // struct seccomp_data { int nr; __u32 arch; ... }
        insn(LD_W_ABS, 0, 0, 4),
        insn(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        insn(LD_W_ABS, 0, 0, 0),
        insn(JSET_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// The BPF programs [`install`] loads, named for error messages.
fn programs() -> Result<Vec<(&'static str, BpfProgram)>, String> {
    let arch = target_arch()?;
    let mut programs = Vec::new();
    if let Some(program) = errno_program(arch, Errno::Eperm)? {
        programs.push(("EPERM", program));
    }
    if let Some(program) = errno_program(arch, Errno::Enosys)? {
        programs.push(("ENOSYS", program));
    }
    if arch == TargetArch::x86_64 {
        programs.push(("x32", x32_program()));
    }
    Ok(programs)
}

/// Installs the deny-list filter on the calling thread; it is inherited by every thread and
/// process the thread starts, across `exec`.
///
/// Meant for the single-threaded spawn helper, as the very last step before `exec` (other
/// threads of the process would stay unfiltered: no `TSYNC`). Loading a filter requires
/// `no_new_privs` or `CAP_SYS_ADMIN`; the helper has set `no_new_privs` already, and this sets
/// it again (a no-op) before loading. The filter is made of up to three programs (the `EPERM`
/// entries, the `ENOSYS` entry, the x32 guard): on an error the earlier ones may already be
/// loaded, and the caller must not `exec` the module.
pub fn install() -> Result<(), String> {
    for (name, program) in programs()? {
        seccompiler::apply_filter(&program)
            .map_err(|e| format!("seccomp: loading the {name} filter: {e}"))?;
    }
    Ok(())
}

/// Whether the kernel can load the filter: seccomp filters with the `ERRNO` and
/// `KILL_PROCESS` actions are available (`seccomp(SECCOMP_GET_ACTION_AVAIL)`, Linux 4.14).
/// Changes nothing in the calling process.
pub fn available() -> bool {
    [libc::SECCOMP_RET_ERRNO, libc::SECCOMP_RET_KILL_PROCESS]
        .into_iter()
        .all(|action: u32| {
            // SAFETY: SECCOMP_GET_ACTION_AVAIL with flags 0 only reads the u32 action through
            // the pointer, which points to a live local for the duration of the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_GET_ACTION_AVAIL,
                    0,
                    &action as *const u32,
                )
            };
            rc == 0
        })
}

/// The seccomp mode of the calling thread from `/proc/thread-self/status` (0: none,
/// 1: strict, 2: filter), or `None` when the kernel does not report one. Seccomp is per
/// thread: `/proc/self/status` shows the main thread's.
pub fn current_mode() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/thread-self/status")
        .or_else(|_| std::fs::read_to_string("/proc/self/status"))
        .ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::CStr;
    use std::io;
    use std::process::Command;

    use super::*;

    /// Set in the environment of the child process that installs the filter.
    const CHILD_ENV: &str = "CONVOTIC_SECCOMP_TEST_CHILD";
    /// Printed by the child when every check held.
    const CHILD_OK: &str = "seccomp-child: ok";

    /// Runs the ignored test `function` of this module in a child process.
    fn run_child_test(
        function: &str,
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> (std::process::ExitStatus, String, String) {
        crate::sandbox::child_test::run_child_test(module_path!(), function, envs)
    }

    #[test]
    fn deny_list_is_consistent() {
        let mut seen = HashSet::new();
        for entry in DENIED {
            assert!(seen.insert(entry.syscall), "{} twice", entry.syscall);
            assert!(!entry.reason.is_empty());
            let arch_specific = ["iopl", "ioperm", "uselib"].contains(&entry.syscall);
            if !arch_specific || cfg!(target_arch = "x86_64") {
                assert!(entry.applies_here(), "{} has no number here", entry.syscall);
            }
        }
        assert_eq!(
            DENIED
                .iter()
                .filter(|d| d.errno == Errno::Enosys)
                .map(|d| d.syscall)
                .collect::<Vec<_>>(),
            ["clone3"]
        );
        let clone = DENIED.iter().find(|d| d.syscall == "clone").unwrap();
        assert_eq!(clone.when, When::NamespaceFlags);
        assert_eq!(
            clone.to_string(),
            format!("clone (with a CLONE_NEW* flag): EPERM, {NAMESPACES}")
        );
        let json = serde_json::to_value(clone).unwrap();
        assert_eq!(json["when"], "namespace_flags");
        assert_eq!(json["errno"], "EPERM");
    }

    #[test]
    fn programs_compile() {
        let programs = programs().unwrap();
        let names: Vec<_> = programs.iter().map(|(name, _)| *name).collect();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(names, ["EPERM", "ENOSYS", "x32"]);
        } else {
            assert_eq!(names, ["EPERM", "ENOSYS"]);
        }
        for (_, program) in programs {
            assert!(!program.is_empty() && program.len() < 4096);
        }
    }

    #[test]
    fn seccomp_is_available() {
        println!(
            "seccomp available: {}, mode of this process: {:?}",
            available(),
            current_mode()
        );
        assert!(current_mode().is_some());
    }

    /// Installs the filter in a child process (a re-run of this test binary limited to
    /// [`seccomp_child`]) and checks there what it denies and what still works.
    #[test]
    fn install_denies_the_list_and_keeps_the_rest() {
        assert!(
            available(),
            "seccomp filters are not available on this kernel"
        );
        let (status, stdout, stderr) =
            run_child_test("seccomp_child", &[(CHILD_ENV, "1".as_ref())]);
        assert!(
            status.success() && stderr.contains(CHILD_OK),
            "child failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }

    /// The child side of [`install_denies_the_list_and_keeps_the_rest`]; does nothing unless
    /// run by it.
    #[test]
    #[ignore = "run as a child process by install_denies_the_list_and_keeps_the_rest"]
    fn seccomp_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let failures = run_child();
        for failure in &failures {
            eprintln!("seccomp-child: FAILED: {failure}");
        }
        if failures.is_empty() {
            eprintln!("{CHILD_OK}");
            std::process::exit(0);
        }
        std::process::exit(1);
    }

    /// A raw system call and the `errno` it left (`-1` and the errno on failure).
    fn call(f: impl FnOnce() -> libc::c_long) -> (libc::c_long, i32) {
        let rc = f();
        let errno = if rc == -1 {
            io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        };
        (rc, errno)
    }

    /// Expects `(rc, errno)` to be a failure with `errno`.
    fn expect_errno(
        failures: &mut Vec<String>,
        what: &str,
        result: (libc::c_long, i32),
        errno: i32,
    ) {
        if result != (-1, errno) {
            failures.push(format!(
                "{what}: expected -1/{}, got {}/{}",
                io::Error::from_raw_os_error(errno),
                result.0,
                io::Error::from_raw_os_error(result.1)
            ));
        }
    }

    /// Forks; the child runs `f` (raw system calls only: the parent is multi-threaded) and
    /// exits with its result, which the parent returns.
    fn fork_and_wait(f: impl FnOnce() -> i32) -> Result<i32, String> {
        // SAFETY: the child only makes raw system calls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = f();
            // SAFETY: _exit is async-signal-safe and ends the child.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; status points to a live local.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        if waited == pid && libc::WIFEXITED(status) {
            Ok(libc::WEXITSTATUS(status))
        } else {
            Err(format!("waitpid {waited}, status {status:#x}"))
        }
    }

    /// Creates a socket (or a pair) and closes it, returning `(rc, errno)`.
    fn try_socket(pair: bool, family: i32, kind: i32, protocol: i32) -> (libc::c_long, i32) {
        let mut fds = [-1; 2];
        let r = call(|| {
            // SAFETY: socket/socketpair take plain values; fds is a live array of two ints.
            let rc = unsafe {
                if pair {
                    libc::socketpair(family, kind, protocol, fds.as_mut_ptr())
                } else {
                    libc::socket(family, kind, protocol)
                }
            };
            rc.into()
        });
        let opened = if pair { fds.to_vec() } else { vec![r.0 as i32] };
        for fd in opened.into_iter().filter(|&fd| fd >= 0) {
            // SAFETY: closes a descriptor this function just created.
            unsafe { libc::close(fd) };
        }
        r
    }

    /// The socket families the filter denies and those it keeps (run with the filter
    /// installed).
    fn check_socket_families() -> Vec<String> {
        let mut failures = Vec::new();
        let stream = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        let dgram = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
        let raw = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        for (what, pair, family, kind, protocol) in [
            ("socket(AF_VSOCK, STREAM)", false, libc::AF_VSOCK, stream, 0),
            ("socket(AF_VSOCK, DGRAM)", false, libc::AF_VSOCK, dgram, 0),
            ("socket(AF_PACKET)", false, libc::AF_PACKET, raw, 0),
            (
                "socket(AF_ALG)",
                false,
                libc::AF_ALG,
                libc::SOCK_SEQPACKET,
                0,
            ),
            (
                "socket(AF_NETLINK, SOCK_DIAG)",
                false,
                libc::AF_NETLINK,
                raw,
                4,
            ),
            ("socketpair(AF_VSOCK)", true, libc::AF_VSOCK, stream, 0),
            ("socketpair(AF_INET)", true, libc::AF_INET, stream, 0),
        ] {
            let r = try_socket(pair, family, kind, protocol);
            expect_errno(&mut failures, what, r, libc::EPERM);
        }
        for (what, pair, family, kind, protocol) in [
            ("socket(AF_UNIX)", false, libc::AF_UNIX, stream, 0),
            ("socket(AF_INET)", false, libc::AF_INET, stream, 0),
            ("socket(AF_INET6, DGRAM)", false, libc::AF_INET6, dgram, 0),
            ("socket(AF_NETLINK, ROUTE)", false, libc::AF_NETLINK, raw, 0),
            ("socketpair(AF_UNIX)", true, libc::AF_UNIX, stream, 0),
        ] {
            let r = try_socket(pair, family, kind, protocol);
            if r.0 < 0 {
                failures.push(format!(
                    "{what} should be allowed: {}",
                    io::Error::from_raw_os_error(r.1)
                ));
            }
        }
        failures
    }

    fn run_child() -> Vec<String> {
        let mut failures = Vec::new();
        let true_bin = ["/usr/bin/true", "/bin/true"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());

        // SAFETY: PR_SET_NO_NEW_PRIVS only sets a flag of the calling thread.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if rc != 0 {
            return vec![format!(
                "PR_SET_NO_NEW_PRIVS: {}",
                io::Error::last_os_error()
            )];
        }
        if let Err(e) = install() {
            return vec![format!("install: {e}")];
        }

        let missing: &CStr = c"/nonexistent-convotic-seccomp-test";
        let none: &CStr = c"none";
        let tmpfs: &CStr = c"tmpfs";

        // Namespaces. Each call below fails in a way the filter's EPERM is told apart from
        // (e.g. unshare(CLONE_NEWUSER) of a multi-threaded process fails with EINVAL).
        // SAFETY: unshare takes only flags.
        let r = call(|| unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into());
        expect_errno(&mut failures, "unshare(CLONE_NEWUSER)", r, libc::EPERM);
        // SAFETY: unshare takes only flags.
        let r = call(|| unsafe { libc::unshare(libc::CLONE_NEWNS) }.into());
        expect_errno(&mut failures, "unshare(CLONE_NEWNS)", r, libc::EPERM);
        // SAFETY: setns with an invalid descriptor touches nothing.
        let r = call(|| unsafe { libc::setns(-1, 0) }.into());
        expect_errno(&mut failures, "setns", r, libc::EPERM);
        for (name, flag) in [
            ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
            ("CLONE_NEWNET", libc::CLONE_NEWNET),
            ("CLONE_NEWPID", libc::CLONE_NEWPID),
        ] {
            // SAFETY: a fork-like clone (no CLONE_VM, no new stack); should it ever create a
            // child, the child exits at once without touching any state.
            let r = call(|| unsafe {
                let rc = libc::syscall(libc::SYS_clone, flag | libc::SIGCHLD, 0, 0, 0, 0);
                if rc == 0 {
                    libc::_exit(99);
                }
                rc
            });
            expect_errno(&mut failures, &format!("clone({name})"), r, libc::EPERM);
        }
        // SAFETY: clone3 with a NULL argument and size 0 creates nothing (EFAULT/EINVAL
        // without the filter).
        let r = call(|| unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) });
        expect_errno(&mut failures, "clone3", r, libc::ENOSYS);

        // Mounts, on a path that does not exist (ENOENT without the filter).
        let r = call(|| {
            // SAFETY: all pointers are NUL-terminated static strings or NULL.
            let rc = unsafe {
                libc::mount(
                    none.as_ptr(),
                    missing.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            rc.into()
        });
        expect_errno(&mut failures, "mount", r, libc::EPERM);
        // SAFETY: a NUL-terminated static path.
        let r = call(|| unsafe { libc::umount2(missing.as_ptr(), 0) }.into());
        expect_errno(&mut failures, "umount2", r, libc::EPERM);
        // SAFETY: NUL-terminated static paths.
        let r = call(|| unsafe { libc::chroot(missing.as_ptr()) }.into());
        expect_errno(&mut failures, "chroot", r, libc::EPERM);

        // Other processes.
        // SAFETY: empty iovec arrays: nothing is read.
        let r = call(|| unsafe {
            libc::syscall(
                libc::SYS_process_vm_readv,
                libc::getppid(),
                std::ptr::null::<libc::iovec>(),
                0,
                std::ptr::null::<libc::iovec>(),
                0,
                0,
            )
        });
        expect_errno(&mut failures, "process_vm_readv", r, libc::EPERM);

        // Kernel interfaces.
        // SAFETY: bpf with a NULL attribute and size 0 reads nothing.
        let r = call(|| unsafe { libc::syscall(libc::SYS_bpf, 0, std::ptr::null::<u8>(), 0) });
        expect_errno(&mut failures, "bpf", r, libc::EPERM);
        // SAFETY: KEYCTL_GET_KEYRING_ID (0) of the session keyring, without creating it.
        let r = call(|| unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) });
        expect_errno(&mut failures, "keyctl", r, libc::EPERM);
        // SAFETY: userfaultfd takes only flags; a descriptor would be leaked in this
        // short-lived child at worst.
        let r = call(|| unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) });
        expect_errno(&mut failures, "userfaultfd", r, libc::EPERM);

        // Terminal injection: on an invalid descriptor (EBADF without the filter).
        let byte = 0u8;
        for (name, request) in [("TIOCSTI", TIOCSTI), ("TIOCLINUX", TIOCLINUX)] {
            // SAFETY: the descriptor is invalid; the pointer is to a live local byte.
            let r =
                call(|| unsafe { libc::syscall(libc::SYS_ioctl, -1, request, &byte as *const u8) });
            expect_errno(&mut failures, &format!("ioctl({name})"), r, libc::EPERM);
        }
        let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: TCGETS writes a termios into the buffer on success; the descriptor is
        // invalid anyway.
        let r = call(|| unsafe {
            libc::syscall(libc::SYS_ioctl, -1, libc::TCGETS, termios.as_mut_ptr())
        });
        expect_errno(&mut failures, "ioctl(TCGETS), allowed", r, libc::EBADF);

        // Personality: queries and PER_LINUX allowed, changes denied.
        // SAFETY: personality takes only a value.
        let r = call(|| unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu32) });
        if r.0 < 0 {
            failures.push(format!("personality(query): {r:?}"));
        }
        // SAFETY: as above.
        let r = call(|| unsafe { libc::syscall(libc::SYS_personality, 0) });
        if r.0 < 0 {
            failures.push(format!("personality(PER_LINUX): {r:?}"));
        }
        // SAFETY: as above (denied before it takes effect).
        let r = call(|| unsafe { libc::syscall(libc::SYS_personality, libc::ADDR_NO_RANDOMIZE) });
        expect_errno(
            &mut failures,
            "personality(ADDR_NO_RANDOMIZE)",
            r,
            libc::EPERM,
        );

        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: getpid through the x32 ABI takes no arguments.
            let r = call(|| unsafe {
                libc::syscall(libc::SYS_getpid | X32_SYSCALL_BIT as libc::c_long)
            });
            expect_errno(&mut failures, "x32 getpid", r, libc::EPERM);
        }

        // io_uring: a ring of 0 entries with no parameters (EFAULT/EINVAL without the filter).
        for (name, number) in [
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("io_uring_enter", libc::SYS_io_uring_enter),
            ("io_uring_register", libc::SYS_io_uring_register),
        ] {
            // SAFETY: invalid descriptor / zero sizes and NULL pointers: nothing is read or
            // created without the filter either.
            let r =
                call(|| unsafe { libc::syscall(number, 0, std::ptr::null::<u8>(), 0, 0, 0, 0) });
            expect_errno(&mut failures, name, r, libc::EPERM);
        }

        // Socket families.
        failures.extend(check_socket_families());

        // What must keep working.
        match fork_and_wait(|| 7) {
            Ok(7) => {}
            other => failures.push(format!("fork: {other:?}")),
        }
        match std::thread::spawn(|| 6 * 7).join() {
            Ok(42) => {}
            other => failures.push(format!("thread: {other:?}")),
        }
        // The test runs in a thread of its own: /proc/self/status is the main thread's, the
        // filter's mode shows in /proc/thread-self/status.
        if let Err(e) = std::fs::read("/proc/self/status") {
            failures.push(format!("read /proc/self/status: {e}"));
        }
        if current_mode() != Some(2) {
            failures.push(format!("current_mode: {:?}", current_mode()));
        }
        if let Some(bin) = true_bin {
            match Command::new(bin).status() {
                Ok(status) if status.success() => {}
                other => failures.push(format!("spawn {bin}: {other:?}")),
            }
        }
        // PTRACE_TRACEME in a forked child: should it succeed in this multi-threaded process,
        // the traced thread could not be reaped by a parent that does not trace.
        match fork_and_wait(|| {
            // SAFETY: PTRACE_TRACEME takes no pointers; errno is read right after the call.
            let (rc, errno) = unsafe {
                let rc = libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                (rc, *libc::__errno_location())
            };
            if rc == -1 && errno == libc::EPERM {
                0
            } else {
                1
            }
        }) {
            Ok(0) => {}
            other => failures.push(format!(
                "ptrace(PTRACE_TRACEME) did not fail with EPERM: {other:?}"
            )),
        }
        failures
    }
}
