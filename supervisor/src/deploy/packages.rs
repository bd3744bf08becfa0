//! Packages on disk: `<data_dir>/packages/<ws>/<module>/<deployment id>/`, unpacked first into
//! `<data_dir>/packages/.incoming/<random>/` (removed on any refusal, and at start-up), flushed
//! to disk before the deployment that uses them is recorded active.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::error::DeployError;
use crate::package::{self, Limits, PackageManifest, MANIFEST_FILE};

/// Name of the directory holding archives being unpacked.
const INCOMING: &str = ".incoming";

/// A package unpacked into the incoming dir; removed on drop unless installed.
pub(super) struct Incoming {
    dir: TempDir,
    /// The manifest text, as read from the package.
    pub(super) manifest_text: String,
    /// The parsed manifest.
    pub(super) manifest: PackageManifest,
}

impl Incoming {
    /// Where it is unpacked.
    pub(super) fn dir(&self) -> &Path {
        &self.dir.path
    }
}

/// A directory removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The directory of the package of deployment `id`.
pub(super) fn package_dir(packages: &Path, workspace: &str, module: &str, id: &str) -> PathBuf {
    packages.join(workspace).join(module).join(id)
}

/// Removes what an earlier supervisor left half-unpacked.
pub(super) fn clear_incoming(packages: &Path) {
    let _ = std::fs::remove_dir_all(packages.join(INCOMING));
}

/// Unpacks `archive` into a new incoming dir and reads its manifest (blocking: run it on a
/// blocking thread).
pub(super) fn unpack(
    packages: &Path,
    archive: &[u8],
    limits: Limits,
) -> Result<Incoming, DeployError> {
    let incoming = packages.join(INCOMING);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&incoming)
        .map_err(|e| {
            DeployError::Unavailable(format!("cannot create {}: {e}", incoming.display()))
        })?;
    let dir = incoming.join(crate::names::new_request_id());
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&dir)
        .map_err(|e| DeployError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    let dir = TempDir {
        path: dir,
        keep: false,
    };
    package::unpack(archive, &dir.path, limits).map_err(|e| match e {
        package::ArchiveError::Io(message) => DeployError::Unavailable(message),
        other => DeployError::bad("bad_archive", other.to_string()),
    })?;
    let manifest_text = read_manifest(&dir.path)?;
    let manifest =
        package::parse(&manifest_text).map_err(|e| DeployError::bad("bad_manifest", e))?;
    Ok(Incoming {
        dir,
        manifest_text,
        manifest,
    })
}

/// Reads `convotic-module.toml` at the package root: a regular file (never through a link),
/// at most [`package::manifest::MAX_MANIFEST_BYTES`].
fn read_manifest(dir: &Path) -> Result<String, DeployError> {
    let path = dir.join(MANIFEST_FILE);
    let missing = || {
        DeployError::bad(
            "bad_manifest",
            format!("the package has no {MANIFEST_FILE} at its root (see docs/packages.md)"),
        )
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|_| missing())?;
    let meta = file.metadata().map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(missing());
    }
    let mut text = String::new();
    file.take(package::manifest::MAX_MANIFEST_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|_| {
            DeployError::bad("bad_manifest", format!("{MANIFEST_FILE} is not UTF-8 text"))
        })?;
    if text.len() as u64 > package::manifest::MAX_MANIFEST_BYTES {
        return Err(DeployError::bad(
            "bad_manifest",
            format!(
                "{MANIFEST_FILE} is over {} KiB",
                package::manifest::MAX_MANIFEST_BYTES / 1024
            ),
        ));
    }
    Ok(text)
}

/// Moves an unpacked package to its place and flushes it (files, then directories) to disk.
pub(super) fn install(mut incoming: Incoming, target: &Path) -> Result<(), DeployError> {
    let io = |what: &str, e: std::io::Error| DeployError::Unavailable(format!("{what}: {e}"));
    let parent = target.parent().unwrap_or(target);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(|e| io(&parent.display().to_string(), e))?;
    // One syncfs flushes every file of the package (far cheaper than one fsync per file).
    let dir = std::fs::File::open(incoming.dir()).map_err(|e| io("opening the package", e))?;
    nix::unistd::syncfs(&dir).map_err(|e| io("flushing the package", e.into()))?;
    std::fs::rename(incoming.dir(), target).map_err(|e| io("installing the package", e))?;
    incoming.dir.keep = true;
    // The new entry, and the directories created for it up to the packages dir.
    let mut dir = Some(parent);
    while let Some(current) = dir {
        let handle = std::fs::File::open(current).map_err(|e| io("opening the packages dir", e))?;
        handle
            .sync_all()
            .map_err(|e| io("flushing the packages dir", e))?;
        dir = current
            .parent()
            .filter(|_| current.file_name().is_some() && !current.ends_with("packages"));
    }
    Ok(())
}

/// Deletes the package directories of these deployments.
pub(super) fn delete(packages: &Path, workspace: &str, module: &str, ids: &[String]) {
    for id in ids {
        let dir = package_dir(packages, workspace, module, id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot delete the old package {}: {e}", dir.display());
            }
        }
    }
}
