//! Package archives: a gzip'd tar, identified by the SHA-256 of its bytes.
//!
//! [`unpack`] treats an archive as hostile input. Into a fresh directory it writes only regular
//! files (mode 0644, or 0755 when the archive marks them executable), directories (0755) and
//! symlinks that resolve inside the package; it refuses absolute paths, `..` components,
//! links (hard or symbolic) leaving the tree, device files and fifos, an entry written twice,
//! more than [`Limits::max_entries`] entries and more than [`Limits::max_unpacked_bytes`] of
//! content (counted as it is decompressed, so a gzip bomb stops at the cap). It never follows a
//! link while writing: every parent of an entry must be a directory it created. Each refusal
//! names the entry. Ownership and times from the archive are ignored.
//!
//! [`pack`] is the author's side: a deterministic archive (sorted, mtime 0, uid 0) of the files
//! a package's manifest selects, links followed, so the same content always has the same digest.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Longest entry name, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Deepest entry (path components).
pub const MAX_DEPTH: usize = 48;

/// The caps of one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes of file content once unpacked. Default 256 MiB.
    pub max_unpacked_bytes: u64,
    /// Most entries (files, directories, links). Default 20,000.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 256 * 1024 * 1024,
            max_entries: 20_000,
        }
    }
}

impl Limits {
    /// Largest archive (compressed) worth reading: the content cap plus tar's own overhead
    /// (headers and padding) for every entry. Incompressible content is not smaller gzip'd.
    pub fn max_archive_bytes(&self) -> u64 {
        self.max_unpacked_bytes + self.max_entries * 2048 + 1024 * 1024
    }
}

/// Why an archive was refused. The message names the entry and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The bytes are not a gzip'd tar (or are truncated).
    #[error("the archive is not a valid gzip'd tar: {0}")]
    Malformed(String),
    /// An entry is not acceptable.
    #[error("archive entry {entry:?}: {problem}")]
    Entry {
        /// The entry's path as written in the archive.
        entry: String,
        /// What is wrong.
        problem: String,
    },
    /// Over a cap.
    #[error("{0}")]
    TooLarge(String),
    /// Writing the unpacked files failed.
    #[error("cannot unpack: {0}")]
    Io(String),
}

/// What [`unpack`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Entries read.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Unpacks `archive` (gzip'd tar bytes) into `dest`, an empty directory the caller created.
/// On error `dest` may hold part of the package: the caller removes it.
pub fn unpack(archive: &[u8], dest: &Path, limits: Limits) -> Result<Unpacked, ArchiveError> {
    // The decompressed stream is capped: content plus headers can never legitimately exceed
    // this, and tar reads extension headers (pax, long names) into memory.
    let cap = limits.max_unpacked_bytes + limits.max_entries * 3 * 512 + 1024 * 1024;
    let decoder = flate2::read::GzDecoder::new(archive).take(cap);
    let mut tar = tar::Archive::new(decoder);
    let mut unpacked = Unpacked::default();
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let entries = tar
        .entries()
        .map_err(|e| ArchiveError::Malformed(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed_or_capped(e, cap))?;
        unpacked.entries += 1;
        if unpacked.entries > limits.max_entries {
            return Err(ArchiveError::TooLarge(format!(
                "the archive has more than {} entries",
                limits.max_entries
            )));
        }
        let raw_bytes = entry.path_bytes();
        let raw =
            String::from_utf8_lossy(&raw_bytes[..raw_bytes.len().min(MAX_PATH_BYTES)]).into_owned();
        let refuse = |problem: &str| ArchiveError::Entry {
            entry: shown(&raw),
            problem: problem.to_string(),
        };
        if raw_bytes.len() > MAX_PATH_BYTES {
            return Err(refuse(&format!("its name is over {MAX_PATH_BYTES} bytes")));
        }
        drop(raw_bytes);
        let relative = safe_relative(&raw).map_err(|p| refuse(&p))?;
        let Some(relative) = relative else {
            continue; // "." or "./": the root itself.
        };
        if relative.components().count() > MAX_DEPTH {
            return Err(refuse(&format!(
                "it is nested more than {MAX_DEPTH} directories deep"
            )));
        }
        let target = dest.join(&relative);
        // Directories created for an entry's parents count as entries too.
        unpacked.entries += check_parents(dest, &relative).map_err(|p| refuse(&p))?;
        if unpacked.entries > limits.max_entries {
            return Err(ArchiveError::TooLarge(format!(
                "the archive has more than {} entries (directories included)",
                limits.max_entries
            )));
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                match std::fs::symlink_metadata(&target) {
                    Ok(meta) if meta.is_dir() => continue,
                    Ok(_) => return Err(refuse("a directory of this path was already written as a file or link")),
                    Err(_) => {}
                }
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&target)
                    .map_err(|e| ArchiveError::Io(format!("{}: {e}", target.display())))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if !written.insert(relative.clone()) || target.symlink_metadata().is_ok() {
                    return Err(refuse("appears twice in the archive"));
                }
                let size = entry.header().size().map_err(|e| refuse(&e.to_string()))?;
                if unpacked.bytes.saturating_add(size) > limits.max_unpacked_bytes {
                    return Err(too_large(limits));
                }
                let executable = entry.header().mode().map(|m| m & 0o111 != 0).unwrap_or(false);
                let copied = write_file(&mut entry, &target, executable, size)
                    .map_err(|e| ArchiveError::Io(format!("{}: {e}", target.display())))?;
                unpacked.bytes += copied;
                if unpacked.bytes > limits.max_unpacked_bytes {
                    return Err(too_large(limits));
                }
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                check_link_inside(&relative, &link).map_err(|p| refuse(&p))?;
                if !written.insert(relative.clone()) || target.symlink_metadata().is_ok() {
                    return Err(refuse("appears twice in the archive"));
                }
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| ArchiveError::Io(format!("{}: {e}", target.display())))?;
                links.push((relative, link));
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let source = match safe_relative(&link) {
                    Ok(Some(source)) => source,
                    _ => return Err(refuse(&format!("hard link to {link:?} points outside the package"))),
                };
                unpacked.entries += check_parents(dest, &source).map_err(|p| refuse(&p))?;
                let source_path = dest.join(&source);
                let meta = std::fs::symlink_metadata(&source_path).map_err(|_| {
                    refuse(&format!("hard link to {link:?}, which is not a file written before it"))
                })?;
                if !meta.is_file() {
                    return Err(refuse(&format!("hard link to {link:?}, which is not a regular file")));
                }
                if !written.insert(relative.clone()) || target.symlink_metadata().is_ok() {
                    return Err(refuse("appears twice in the archive"));
                }
                // A copy, not a link: the package's files stay independent of each other.
                unpacked.bytes += meta.len();
                if unpacked.bytes > limits.max_unpacked_bytes {
                    return Err(too_large(limits));
                }
                let mut from = std::fs::File::open(&source_path)
                    .map_err(|e| ArchiveError::Io(format!("{}: {e}", source_path.display())))?;
                let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
                write_file(&mut from, &target, executable, meta.len())
                    .map_err(|e| ArchiveError::Io(format!("{}: {e}", target.display())))?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(refuse("device files are not allowed in a package"))
            }
            tar::EntryType::Fifo => return Err(refuse("fifos are not allowed in a package")),
            tar::EntryType::XGlobalHeader => continue,
            // Extension headers are consumed by the tar reader; anything else is unknown.
            other => {
                return Err(refuse(&format!(
                    "entry type {other:?} is not allowed in a package (only files, directories and links)"
                )))
            }
        }
    }
    // Every link was checked lexically when written; now that the whole tree exists, resolve
    // each for real (links to links included) and refuse one that leaves the package.
    let root = std::fs::canonicalize(dest).map_err(|e| ArchiveError::Io(e.to_string()))?;
    for (relative, link) in links {
        let resolved =
            std::fs::canonicalize(dest.join(&relative)).map_err(|_| ArchiveError::Entry {
                entry: relative.display().to_string(),
                problem: format!("symlink to {link:?} points to nothing in the package"),
            })?;
        if !resolved.starts_with(&root) {
            return Err(ArchiveError::Entry {
                entry: relative.display().to_string(),
                problem: format!("symlink to {link:?} points outside the package"),
            });
        }
    }
    Ok(unpacked)
}

fn too_large(limits: Limits) -> ArchiveError {
    ArchiveError::TooLarge(format!(
        "the archive unpacks to more than {} MiB (the limit)",
        limits.max_unpacked_bytes / (1024 * 1024)
    ))
}

/// A read error of the tar stream: truncated or garbage, or cut at the decompression cap.
fn malformed_or_capped(error: io::Error, cap: u64) -> ArchiveError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        ArchiveError::Malformed(format!(
            "{error} (truncated, or over {} MiB decompressed)",
            cap / (1024 * 1024)
        ))
    } else {
        ArchiveError::Malformed(error.to_string())
    }
}

/// Writes a new file (never through an existing path: `O_EXCL` and `O_NOFOLLOW`), copying at
/// most `size` bytes; returns the bytes written.
fn write_file(from: &mut impl Read, target: &Path, executable: bool, size: u64) -> io::Result<u64> {
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)?;
    let copied = io::copy(&mut from.take(size), &mut file)?;
    file.flush()?;
    Ok(copied)
}

/// The path of an entry as a plain relative path: `Ok(None)` for the root itself; an error
/// for an absolute path, a `..` component or an empty or non-UTF-8 name.
fn safe_relative(raw: &str) -> Result<Option<PathBuf>, String> {
    if raw.is_empty() {
        return Err("the entry has an empty name".into());
    }
    if raw.contains('\u{FFFD}') {
        return Err("the name is not valid UTF-8".into());
    }
    if raw.contains('\0') {
        return Err("the name contains a NUL byte".into());
    }
    let mut out = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains '..'".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed in a package".into())
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Each parent of `relative` below `dest` must be a real directory (created by this unpack),
/// never a link: writing through a link could leave the tree. Returns how many it created.
fn check_parents(dest: &Path, relative: &Path) -> Result<u64, String> {
    let mut created = 0;
    let mut current = dest.to_path_buf();
    let parents: Vec<_> = relative.components().collect();
    for component in &parents[..parents.len().saturating_sub(1)] {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "its parent {} is a symlink; entries are never written through links",
                    current.strip_prefix(dest).unwrap_or(&current).display()
                ))
            }
            Ok(_) => {
                return Err(format!(
                    "its parent {} is a file",
                    current.strip_prefix(dest).unwrap_or(&current).display()
                ))
            }
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&current)
                    .map_err(|e| format!("cannot create {}: {e}", current.display()))?;
                created += 1;
            }
        }
    }
    Ok(created)
}

/// An entry name as shown in errors: at most 200 characters.
fn shown(name: &str) -> String {
    match name.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &name[..at]),
        None => name.to_string(),
    }
}

/// A symlink's target must be relative and, resolved from the link's directory, stay inside
/// the package (checked again on the real tree at the end).
fn check_link_inside(relative: &Path, link: &str) -> Result<(), String> {
    if link.is_empty() {
        return Err("symlink with an empty target".into());
    }
    if link.starts_with('/') {
        return Err(format!(
            "symlink to the absolute path {link:?} points outside the package"
        ));
    }
    let mut depth: i64 = relative.components().count() as i64 - 1;
    for component in Path::new(link).components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("symlink to {link:?} points outside the package"));
        }
    }
    Ok(())
}

/// A packed package: the archive bytes and their digest.
#[derive(Debug, Clone)]
pub struct Packed {
    /// Gzip'd tar bytes.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub digest: String,
    /// Files in the archive.
    pub files: u64,
    /// Bytes of content before compression.
    pub content_bytes: u64,
}

/// One file to put in an archive: where it goes and where it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    /// Path inside the archive.
    pub name: PathBuf,
    /// Path on disk (links followed when read).
    pub source: PathBuf,
}

/// Packs `files` (sorted by name, links followed) into a deterministic gzip'd tar.
pub fn pack(files: &[PackFile], limits: Limits) -> Result<Packed, String> {
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.dedup_by(|a, b| a.name == b.name);
    if files.len() as u64 > limits.max_entries {
        return Err(format!(
            "the package has {} files, over the limit of {}: exclude what the module does not need at run time",
            files.len(),
            limits.max_entries
        ));
    }
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut content_bytes = 0u64;
    for file in &files {
        let meta = std::fs::metadata(&file.source)
            .map_err(|e| format!("{}: {e}", file.source.display()))?;
        content_bytes += meta.len();
        if content_bytes > limits.max_unpacked_bytes {
            return Err(format!(
                "the package's files total more than {} MiB, the limit: exclude what the module does not need at run time",
                limits.max_unpacked_bytes / (1024 * 1024)
            ));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len());
        let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let reader = std::fs::File::open(&file.source)
            .map_err(|e| format!("{}: {e}", file.source.display()))?;
        builder
            .append_data(&mut header, &file.name, reader.take(meta.len()))
            .map_err(|e| format!("packing {}: {e}", file.name.display()))?;
    }
    let encoder = builder.into_inner().map_err(|e| e.to_string())?;
    let bytes = encoder.finish().map_err(|e| e.to_string())?;
    Ok(Packed {
        digest: digest(&bytes),
        bytes,
        files: files.len() as u64,
        content_bytes,
    })
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
