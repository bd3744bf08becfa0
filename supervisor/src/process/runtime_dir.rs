//! Private runtime directories holding each module instance's Unix sockets.
//!
//! Layout: `<runtime_dir>/cvt-<random>/<instance>/{plugin.sock,host.sock}`, every directory
//! 0700. Paths are kept short because a Unix socket path must fit in 108 bytes; a path that
//! would not fit is refused with an error naming it.
//!
//! The root belongs to the supervisor and nobody else can enter it; each instance's directory
//! is handed to the module's own host uid by the sandbox, so its contents are the module's:
//! the supervisor keeps a descriptor of the directory itself ([`InstanceDir::dir_fd`]), looks
//! names up relative to it without following links, and never reads a file there.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Longest socket path accepted (sun_path is 108 bytes including the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The supervisor's runtime root; removed (with everything below) on drop.
#[derive(Debug)]
pub struct RuntimeRoot {
    path: PathBuf,
}

impl RuntimeRoot {
    /// Creates `<parent>/cvt-<random>` with mode 0700, recording this process as its owner,
    /// after removing the roots of supervisors that are no longer running (see
    /// [`super::stale_roots`]).
    pub fn create(parent: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(parent)?;
        super::stale_roots::remove_stale(parent);
        for _ in 0..16 {
            let path = parent.join(format!("cvt-{:06x}", rand::random::<u32>() & 0xff_ffff));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let root = Self { path };
                    super::stale_roots::record_owner(&root.path)?;
                    return Ok(root);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "cannot create a runtime directory in {}",
            parent.display()
        )))
    }

    /// The root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the private directory of one instance. An existing directory of that name is
    /// an error (instance ids are random and never reused), never replaced.
    pub fn instance_dir(&self, instance: &str) -> io::Result<InstanceDir> {
        let path = self.path.join(instance);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        let dir_fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        let dir = InstanceDir {
            plugin_socket: path.join(PLUGIN_SOCKET_NAME),
            host_socket: path.join("host.sock"),
            dir_fd: Arc::new(OwnedFd::from(dir_fd)),
            path,
        };
        for socket in [&dir.plugin_socket, &dir.host_socket] {
            let len = socket.as_os_str().len();
            if len > MAX_SOCKET_PATH {
                return Err(io::Error::other(format!(
                    "socket path {} is {len} bytes, over the {MAX_SOCKET_PATH}-byte limit of \
                     Unix sockets: configure a shorter supervisor.runtime_dir",
                    socket.display()
                )));
            }
        }
        Ok(dir)
    }
}

impl Drop for RuntimeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One instance's runtime directory; removed on drop.
#[derive(Debug)]
pub struct InstanceDir {
    /// The directory.
    pub path: PathBuf,
    /// Where the module listens (`CONVOTIC_PLUGIN_SOCKET`).
    pub plugin_socket: PathBuf,
    /// Where the supervisor serves Host (`CONVOTIC_HOST_SOCKET`).
    pub host_socket: PathBuf,
    /// The directory itself, opened by the supervisor when it created it: names inside are
    /// looked up relative to it, so a link the module puts in place of a parent never counts.
    pub dir_fd: Arc<OwnedFd>,
}

/// File name of the module's socket in its instance dir.
pub const PLUGIN_SOCKET_NAME: &str = "plugin.sock";

impl Drop for InstanceDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_private_and_removed() {
        let parent = tempfile::tempdir().unwrap();
        let root = RuntimeRoot::create(parent.path()).unwrap();
        let root_path = root.path().to_path_buf();
        let dir = root.instance_dir("i1").unwrap();
        let mode = std::fs::metadata(&dir.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(dir.plugin_socket.ends_with("i1/plugin.sock"));
        drop(dir);
        assert!(!root_path.join("i1").exists());
        drop(root);
        assert!(!root_path.exists());
    }

    #[test]
    fn the_root_is_private_and_instance_dirs_are_never_reused() {
        use std::os::unix::fs::MetadataExt;
        let parent = tempfile::tempdir().unwrap();
        let root = RuntimeRoot::create(parent.path()).unwrap();
        let meta = std::fs::metadata(root.path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
        let _dir = root.instance_dir("ix").unwrap();
        let again = root.instance_dir("ix").unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn long_socket_paths_are_refused() {
        let parent = tempfile::tempdir().unwrap();
        let long = parent.path().join("x".repeat(100));
        let root = RuntimeRoot::create(&long).unwrap();
        let err = root.instance_dir("i1").unwrap_err().to_string();
        assert!(err.contains("runtime_dir"), "{err}");
    }
}
