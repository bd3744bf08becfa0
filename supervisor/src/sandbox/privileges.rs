//! The process-level layers of the sandbox: user namespace id maps (written by the helper from
//! outside), hostname, loopback, resource limits, and dropping every privilege before `exec`
//! (bounding set, ambient and inheritable capabilities, uid/gid, `no_new_privs`).

use nix::sys::resource::{setrlimit, Resource};

use super::spec::SandboxSpec;

/// Uid and gid a module has inside its user namespace when the supervisor runs as root.
pub const INSIDE_ID: u32 = 1000;

/// Writes the id maps of `pid`'s new user namespace. As root: namespace root is host root
/// (only the namespace's PID 1, which builds the mounts, uses it) and [`INSIDE_ID`] is the
/// module's host uid/gid. Unprivileged: the only possible map, namespace root to our own ids.
pub fn write_id_maps(pid: i32, spec: &SandboxSpec, as_root: bool) -> Result<(), String> {
    let proc = format!("/proc/{pid}");
    let (uid_map, gid_map) = if as_root {
        (
            format!("0 0 1\n{INSIDE_ID} {} 1\n", spec.uid),
            format!("0 0 1\n{INSIDE_ID} {} 1\n", spec.gid),
        )
    } else {
        (
            format!("0 {} 1\n", nix::unistd::geteuid()),
            format!("0 {} 1\n", nix::unistd::getegid()),
        )
    };
    std::fs::write(format!("{proc}/setgroups"), "deny")
        .map_err(|e| format!("writing {proc}/setgroups: {e}"))?;
    std::fs::write(format!("{proc}/uid_map"), uid_map)
        .map_err(|e| format!("writing {proc}/uid_map: {e}"))?;
    std::fs::write(format!("{proc}/gid_map"), gid_map)
        .map_err(|e| format!("writing {proc}/gid_map: {e}"))
}

/// Sets the hostname of the UTS namespace.
pub fn set_hostname(name: &str) -> Result<(), String> {
    nix::unistd::sethostname(name).map_err(|e| format!("sethostname: {e}"))
}

/// Brings up `lo` in the new network namespace (its only interface), so the module can use
/// 127.0.0.1 for itself; nothing outside is reachable.
pub fn loopback_up() -> Result<(), String> {
    // SAFETY: plain socket(2) call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in `request` into it; the
    // pointer is valid for the duration of the call.
    let mut result = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) };
    if result == 0 {
        // SAFETY: the kernel filled the flags member of the union for SIOCGIFFLAGS.
        unsafe {
            request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: SIOCSIFFLAGS reads `request`, which is valid for the call.
        result = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) };
    }
    let error = std::io::Error::last_os_error();
    // SAFETY: `fd` is a descriptor this function opened and still owns.
    unsafe { libc::close(fd) };
    if result == 0 {
        Ok(())
    } else {
        Err(format!("bringing lo up: {error}"))
    }
}

/// Applies the resource limits. Memory and pids fall back to `RLIMIT_AS` and `RLIMIT_NPROC`
/// when no cgroup enforces them.
pub fn apply_rlimits(spec: &SandboxSpec) -> Result<Vec<String>, String> {
    let limits = &spec.limits;
    let mut applied = Vec::new();
    let mut set = |resource: Resource, name: &str, value: u64| -> Result<(), String> {
        setrlimit(resource, value, value).map_err(|e| format!("setrlimit {name}: {e}"))?;
        applied.push(format!("{name}={value}"));
        Ok(())
    };
    set(Resource::RLIMIT_CORE, "core", 0)?;
    set(Resource::RLIMIT_NOFILE, "nofile", limits.open_files)?;
    set(Resource::RLIMIT_FSIZE, "fsize", limits.file_size_bytes)?;
    if let (false, Some(memory)) = (spec.cgroup_memory, limits.memory_bytes) {
        set(Resource::RLIMIT_AS, "as", memory)?;
    }
    if let (false, Some(pids)) = (spec.cgroup_pids, limits.pids) {
        set(Resource::RLIMIT_NPROC, "nproc", pids)?;
    }
    Ok(applied)
}

/// Drops every privilege for good: empties the capability bounding set and the ambient set,
/// locks the securebits that stop uid 0 from regaining capabilities, switches to the module's
/// ids (as root), clears all capability sets and sets `no_new_privs`.
pub fn drop_privileges(as_root: bool) -> Result<(), String> {
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
        .unwrap_or(63);
    for cap in 0..=last_cap {
        // SAFETY: prctl with integer arguments only; EINVAL for caps this kernel lacks is fine.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    // SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
    // SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED: exec by uid 0 grants nothing.
    let securebits: libc::c_ulong = 0x01 | 0x02 | 0x04 | 0x08 | 0x20;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, securebits, 0, 0, 0) } != 0 {
        return Err(format!("securebits: {}", std::io::Error::last_os_error()));
    }
    if as_root {
        let gid = nix::unistd::Gid::from_raw(INSIDE_ID);
        let uid = nix::unistd::Uid::from_raw(INSIDE_ID);
        nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
        nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    }
    clear_capabilities()?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))
}

/// Empties the effective, permitted and inheritable capability sets.
fn clear_capabilities() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a version-3 header and two data structs, as the ABI requires; both
    // pointers are valid for the call.
    let result = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if result == 0 {
        Ok(())
    } else {
        Err(format!("capset: {}", std::io::Error::last_os_error()))
    }
}
