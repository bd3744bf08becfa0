//! The key directory on disk: `<id>.key` files (base64 of 32 random bytes, 0600) and the
//! `active` file naming the key that seals new secrets.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use base64::Engine;

use super::{SecretsError, ACTIVE_FILE, KEY_BYTES};

/// Extension of key files.
pub const KEY_EXTENSION: &str = ".key";

/// Whether `id` can name a key: 1-64 characters of `[A-Za-z0-9_-]`.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> SecretsError {
    SecretsError::KeyDir(format!("cannot {what} {}: {e}", path.display()))
}

/// Creates the directory (0700) if needed.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), SecretsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error("create the key directory", dir, e))
}

/// Modification time of the directory (changes when a key or `active` is written).
pub(super) fn dir_stamp(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

/// Ids of the key files in `dir`, sorted.
pub(super) fn list_ids(dir: &Path) -> Result<Vec<String>, SecretsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read the key directory", dir, e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read the key directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(KEY_EXTENSION) {
            if is_key_id(id) {
                ids.push(id.to_string());
            } else {
                tracing::warn!(file = %entry.path().display(), "ignoring a key file whose name is not a key id ([A-Za-z0-9_-], at most 64)");
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// Reads key `id`. A key readable by group or others is used, with a warning.
pub(super) fn read_key(dir: &Path, id: &str) -> Result<[u8; KEY_BYTES], SecretsError> {
    let path = dir.join(format!("{id}{KEY_EXTENSION}"));
    let text = std::fs::read_to_string(&path).map_err(|e| io_error("read key file", &path, e))?;
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "secrets key file is readable by other users; chmod 600 it");
        }
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| {
            SecretsError::KeyDir(format!("key file {} is not base64: {e}", path.display()))
        })?;
    <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
        SecretsError::KeyDir(format!(
            "key file {} holds {} bytes; a key is {KEY_BYTES} bytes (base64)",
            path.display(),
            bytes.len()
        ))
    })
}

/// The id in the `active` file, if there is one.
pub(super) fn read_active(dir: &Path) -> Result<Option<String>, SecretsError> {
    let path = dir.join(ACTIVE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_string();
            if is_key_id(&id) {
                Ok(Some(id))
            } else {
                Err(SecretsError::KeyDir(format!(
                    "{} must hold a key id ([A-Za-z0-9_-], at most 64), not {id:?}",
                    path.display()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", &path, e)),
    }
}

/// Makes `id` the active key (written to a temporary file, then renamed).
pub(super) fn write_active(dir: &Path, id: &str) -> Result<(), SecretsError> {
    let path = dir.join(ACTIVE_FILE);
    let temporary = dir.join(format!(".{ACTIVE_FILE}.tmp"));
    write_private(&temporary, format!("{id}\n").as_bytes(), false)?;
    std::fs::rename(&temporary, &path).map_err(|e| io_error("write", &path, e))
}

fn write_private(path: &Path, contents: &[u8], create_new: bool) -> Result<(), SecretsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    let mut file = options
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("chmod", path, e))
}

/// Writes a new random key to `dir` (0600) and returns its id, `key-YYYYMMDD-HHMMSS-xxxxxx` in
/// UTC with 6 random hex digits (with a `-N` suffix if that id is taken): two nodes of a
/// cluster generating a key in the same second get different ids. Does not make it active.
pub fn generate_key(dir: &Path) -> Result<String, SecretsError> {
    ensure_dir(dir)?;
    let base = format!(
        "key-{}-{:06x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    );
    let key: [u8; KEY_BYTES] = rand::random();
    let text = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    for n in 1..1000 {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let path = dir.join(format!("{id}{KEY_EXTENSION}"));
        match write_private(&path, text.as_bytes(), true) {
            Ok(()) => return Ok(id),
            Err(_) if path.exists() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(SecretsError::KeyDir(format!(
        "cannot find a free key id in {}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_private_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let a = generate_key(dir.path()).unwrap();
        let b = generate_key(dir.path()).unwrap();
        assert_ne!(a, b);
        assert!(is_key_id(&a) && is_key_id(&b));
        let mode = std::fs::metadata(dir.path().join(format!("{a}{KEY_EXTENSION}")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(
            read_key(dir.path(), &a).unwrap(),
            read_key(dir.path(), &b).unwrap()
        );
        assert_eq!(list_ids(dir.path()).unwrap().len(), 2);
        write_active(dir.path(), &b).unwrap();
        assert_eq!(read_active(dir.path()).unwrap(), Some(b));
    }

    #[test]
    fn bad_key_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("short.key"), "AAAA\n").unwrap();
        let error = read_key(dir.path(), "short").unwrap_err().to_string();
        assert!(
            error.contains("short.key") && error.contains("32 bytes"),
            "{error}"
        );
        std::fs::write(dir.path().join("junk.key"), "not base64!\n").unwrap();
        let error = read_key(dir.path(), "junk").unwrap_err().to_string();
        assert!(error.contains("not base64"), "{error}");
        std::fs::write(dir.path().join(ACTIVE_FILE), "../etc\n").unwrap();
        assert!(read_active(dir.path()).is_err());
    }
}
