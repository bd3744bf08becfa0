//! The module's filesystem view, built by the namespace's PID 1 in its private mount namespace
//! and entered with `pivot_root`: a small read-only tmpfs root holding
//!
//! * the system directories (`/usr`, `/lib`...) and configuration files, read-only (system
//!   directories that are symlinks, as on merged-/usr systems, are recreated as symlinks);
//! * the module's own files, read-only;
//! * its data dir and instance runtime dir (the two sockets), read-write, at their host paths so
//!   the paths in its environment stay valid;
//! * a fresh `/proc` (its PID namespace only), a minimal `/dev` (null, zero, full, random,
//!   urandom, tty) and a private tmpfs `/tmp`.
//!
//! Nothing else of the host exists in it: not other modules' directories, not the supervisor's
//! data, not `/root` or `/home`. Every bind mount is `nosuid,nodev`, read-only ones also keep the
//! flags the kernel locked on the source (remounting without them fails in a user namespace).

use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use super::spec::SandboxSpec;

/// Size of the root tmpfs (it only holds mount points and symlinks).
const ROOT_TMPFS: &str = "mode=0755,size=4m";
/// Size of `/tmp`.
const TMP_TMPFS: &str = "mode=1777,size=64m";
/// Device nodes bound from the host.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// How a path is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read-only, programs may run from it.
    Execute,
    /// Read-only, nothing runs from it.
    Read,
    /// Read-write.
    Write,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

/// Builds the root and pivots into it; afterwards `/` is the new root and the host's is gone.
pub fn enter_root(spec: &SandboxSpec) -> Result<(), String> {
    let root = &spec.root_dir;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making the mounts private: {e}"))?;
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(ROOT_TMPFS),
    )
    .map_err(|e| err("mounting the root tmpfs on", root, e))?;
    let tmp = root.join("tmp");
    mkdir(&tmp)?;
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(TMP_TMPFS),
    )
    .map_err(|e| err("mounting", &tmp, e))?;
    let proc = root.join("proc");
    mkdir(&proc)?;
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| err("mounting", &proc, e))?;
    build_dev(root)?;
    for path in &spec.read_exec {
        expose(root, path, Access::Execute)?;
    }
    for path in &spec.read_only {
        expose(root, path, Access::Read)?;
    }
    for path in &spec.read_write {
        expose(root, path, Access::Write)?;
    }
    nix::unistd::chdir(root).map_err(|e| err("chdir", root, e))?;
    // pivot_root(".", "."): the old root ends up mounted on top of the new one; detaching it
    // leaves the new root alone (no directory for the old root needed).
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detaching the host root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("making the root read-only: {e}"))?;
    let working_dir = &spec.working_dir;
    if nix::unistd::chdir(working_dir).is_err() {
        nix::unistd::chdir("/tmp").map_err(|e| format!("chdir /tmp: {e}"))?;
    }
    Ok(())
}

fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| err("creating", path, e))
}

/// `root` + `path` (absolute, without `..`).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let mut target = root.to_path_buf();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => target.push(part),
            _ => return Err(format!("{} is not a plain absolute path", path.display())),
        }
    }
    Ok(target)
}

fn build_dev(root: &Path) -> Result<(), String> {
    let dev = root.join("dev");
    mkdir(&dev)?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )
    .map_err(|e| err("mounting", &dev, e))?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        std::fs::File::create(&target).map_err(|e| err("creating", &target, e))?;
        mount(
            Some(&host),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err("binding", &host, e))?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(to, dev.join(link));
    }
    let shm = dev.join("shm");
    mkdir(&shm)?;
    std::fs::set_permissions(&shm, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .map_err(|e| err("chmod", &shm, e))
}

/// Binds `path` at the same place under `root`, with `access`.
fn expose(root: &Path, path: &Path, access: Access) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(()); // absent on this host
    };
    let target = inside(root, path)?;
    if std::fs::symlink_metadata(&target).is_ok() {
        return Ok(()); // already there (an earlier, wider path covers it)
    }
    if meta.file_type().is_symlink() && path.parent() == Some(Path::new("/")) {
        // Merged /usr: /lib -> usr/lib. Recreate the link; its target is exposed separately.
        let to = std::fs::read_link(path).map_err(|e| err("reading link", path, e))?;
        return std::os::unix::fs::symlink(&to, &target).map_err(|e| err("linking", &target, e));
    }
    let is_dir = std::fs::metadata(path)
        .map_err(|e| err("reading", path, e))?
        .is_dir();
    if is_dir {
        mkdir(&target)?;
    } else {
        if let Some(parent) = target.parent() {
            mkdir(parent)?;
        }
        std::fs::File::create(&target).map_err(|e| err("creating", &target, e))?;
    }
    // Read-write paths are bound without their submounts: the new root's own tmpfs is mounted
    // inside the instance dir, and must not appear writable inside itself.
    let recursive = if access == Access::Write {
        MsFlags::empty()
    } else {
        MsFlags::MS_REC
    };
    mount(
        Some(path),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | recursive,
        None::<&str>,
    )
    .map_err(|e| err("binding", path, e))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    match access {
        Access::Execute => flags |= MsFlags::MS_RDONLY,
        Access::Read => flags |= MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC,
        Access::Write => {}
    }
    flags |= locked_flags(&target);
    mount(None::<&str>, &target, None::<&str>, flags, None::<&str>)
        .map_err(|e| err("remounting", &target, e))
}

/// Flags of the mount at `path` that a remount inside a user namespace must keep.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(stat) = statvfs(path) else {
        return MsFlags::empty();
    };
    let have = stat.flags();
    let mut flags = MsFlags::empty();
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(st) {
            flags |= ms;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_placed_under_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            inside(root, Path::new("/usr/lib")).unwrap(),
            PathBuf::from("/r/usr/lib")
        );
        assert!(inside(root, Path::new("/a/../etc")).is_err());
    }
}
