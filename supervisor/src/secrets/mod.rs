//! Encryption of Block connection secrets at rest.
//!
//! Secrets are sealed with XChaCha20-Poly1305 (a 256-bit key, a random 192-bit nonce per
//! message, so random nonces never collide in practice). The associated data binds a
//! ciphertext to its record (workspace, connection id, block), so a ciphertext copied onto
//! another row does not open. Each ciphertext is stored with the id of its key, which lets keys
//! rotate: new secrets are sealed with the active key and old ones still open with theirs.
//!
//! Keys live in a key directory (`[secrets] key_dir`, default `<data_dir>/keys`, mode 0700):
//! one `<id>.key` file per key (base64 of 32 bytes, mode 0600) and an `active` file naming the
//! key that seals new secrets. On first start an empty directory gets a generated key.
//! `convotic-supervisor secrets rotate` adds a key and makes it active; the running supervisor
//! notices (it re-reads the directory when it changes). A ciphertext whose key is gone fails
//! with [`SecretsError::MissingKey`], which names the key id and where it was looked for.

mod keyfile;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

pub use keyfile::{generate_key, is_key_id, KEY_EXTENSION};

/// Length of a key, in bytes.
pub const KEY_BYTES: usize = 32;
/// Length of a nonce, in bytes.
pub const NONCE_BYTES: usize = 24;
/// Name of the file holding the active key's id.
pub const ACTIVE_FILE: &str = "active";

/// Why sealing or opening failed. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// The ciphertext names a key this supervisor does not have.
    #[error("the secret is encrypted with key {id:?}, which is not in {dir}; put {id}{ext} back in that directory (or restore it from your backup) and retry", ext = KEY_EXTENSION)]
    MissingKey {
        /// The key id stored with the ciphertext.
        id: String,
        /// The key directory searched.
        dir: String,
    },
    /// The key exists but the ciphertext does not open with it (wrong key material under that
    /// id, or the record was tampered with).
    #[error("the secret does not decrypt with key {id:?}: the key file holds different key material than the one that encrypted it, or the stored record was altered")]
    Undecryptable {
        /// The key id.
        id: String,
    },
    /// The key directory or a key file is unusable.
    #[error("{0}")]
    KeyDir(String),
}

/// A sealed secret, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the key that sealed it.
    pub key_id: String,
    /// The random nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with its authentication tag.
    pub ciphertext: Vec<u8>,
}

/// What the key directory holds, as last read.
#[derive(Default)]
struct Loaded {
    keys: HashMap<String, [u8; KEY_BYTES]>,
    active: Option<String>,
    /// Modification time of the directory when it was read.
    stamp: Option<SystemTime>,
}

/// The keys, loaded from a key directory and re-read when the directory changes.
pub struct Keyring {
    dir: PathBuf,
    active_override: Option<String>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .field("active", &self.active_key_id())
            .finish_non_exhaustive()
    }
}

/// A summary for `secrets status` and the logs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyringStatus {
    /// The key directory.
    pub dir: String,
    /// The key that seals new secrets.
    pub active: Option<String>,
    /// Every key id found, sorted.
    pub keys: Vec<String>,
    /// Each key's check value (see [`key_check_value`]), by id: tells two keys that share an
    /// id apart without revealing either.
    pub check_values: std::collections::BTreeMap<String, String>,
}

/// A key's check value: the first 8 bytes of HMAC-SHA256(key, "convotic key check value"), in
/// hex. Equal keys have equal values; the value reveals nothing usable about the key.
pub fn key_check_value(key: &[u8; KEY_BYTES]) -> String {
    use hmac::{KeyInit as HmacKeyInit, Mac};
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as HmacKeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"convotic key check value");
    hex::encode(&mac.finalize().into_bytes()[..8])
}

impl Keyring {
    /// Opens the key directory `dir`, creating it (0700) with a first generated key when it
    /// holds none. `active_override` (the config's `active_key`) wins over the `active` file.
    pub fn open_or_create(
        dir: &Path,
        active_override: Option<String>,
    ) -> Result<Self, SecretsError> {
        keyfile::ensure_dir(dir)?;
        if keyfile::list_ids(dir)?.is_empty() && active_override.is_none() {
            let id = generate_key(dir)?;
            tracing::info!(key_id = %id, dir = %dir.display(), "generated the first secrets key");
        }
        Self::open(dir, active_override)
    }

    /// Opens an existing key directory without creating anything.
    pub fn open(dir: &Path, active_override: Option<String>) -> Result<Self, SecretsError> {
        let keyring = Self {
            dir: dir.to_path_buf(),
            active_override,
            loaded: RwLock::new(Loaded::default()),
        };
        keyring.reload()?;
        let active = keyring.active_key_id();
        match active {
            Some(id) if keyring.has_key(&id) => Ok(keyring),
            Some(id) => Err(SecretsError::KeyDir(format!(
                "the active secrets key {id:?} has no key file {}; create it with `convotic-supervisor secrets rotate` or fix [secrets] active_key",
                dir.join(format!("{id}{KEY_EXTENSION}")).display()
            ))),
            None => Err(SecretsError::KeyDir(format!(
                "{} holds several keys and no `{ACTIVE_FILE}` file naming the one to use; write its id there or set [secrets] active_key",
                dir.display()
            ))),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Id of the key that seals new secrets.
    pub fn active_key_id(&self) -> Option<String> {
        self.active_override
            .clone()
            .or_else(|| self.read().active.clone())
    }

    /// Whether a key with this id is loaded.
    pub fn has_key(&self, id: &str) -> bool {
        self.read().keys.contains_key(id)
    }

    /// The directory's keys and the active one.
    pub fn status(&self) -> KeyringStatus {
        self.refresh();
        let loaded = self.read();
        let mut keys: Vec<String> = loaded.keys.keys().cloned().collect();
        keys.sort();
        let check_values = loaded
            .keys
            .iter()
            .map(|(id, key)| (id.clone(), key_check_value(key)))
            .collect();
        drop(loaded);
        KeyringStatus {
            dir: self.dir.display().to_string(),
            active: self.active_key_id(),
            keys,
            check_values,
        }
    }

    /// Seals `plaintext` with the active key, binding it to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, SecretsError> {
        self.refresh();
        let id = self.active_key_id().ok_or_else(|| {
            SecretsError::KeyDir(format!(
                "no active secrets key in {}; run `convotic-supervisor secrets rotate`",
                self.dir.display()
            ))
        })?;
        let key = self.key(&id)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key));
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SecretsError::KeyDir("encryption failed".into()))?;
        Ok(Sealed {
            key_id: id,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a sealed secret bound to `aad`.
    pub fn open_sealed(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if !self.has_key(&sealed.key_id) {
            self.refresh();
        }
        let key = self.key(&sealed.key_id)?;
        if sealed.nonce.len() != NONCE_BYTES {
            return Err(SecretsError::Undecryptable {
                id: sealed.key_id.clone(),
            });
        }
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key));
        cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| SecretsError::Undecryptable {
                id: sealed.key_id.clone(),
            })
    }

    fn key(&self, id: &str) -> Result<[u8; KEY_BYTES], SecretsError> {
        self.read()
            .keys
            .get(id)
            .copied()
            .ok_or_else(|| SecretsError::MissingKey {
                id: id.to_string(),
                dir: self.dir.display().to_string(),
            })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the directory if it changed since the last read; a failure keeps what was
    /// loaded (and is logged).
    fn refresh(&self) {
        let stamp = keyfile::dir_stamp(&self.dir);
        if stamp.is_some() && stamp == self.read().stamp {
            return;
        }
        if let Err(e) = self.reload() {
            tracing::warn!(dir = %self.dir.display(), "cannot re-read the secrets keys: {e}");
        }
    }

    fn reload(&self) -> Result<(), SecretsError> {
        let stamp = keyfile::dir_stamp(&self.dir);
        let mut keys = HashMap::new();
        for id in keyfile::list_ids(&self.dir)? {
            keys.insert(id.clone(), keyfile::read_key(&self.dir, &id)?);
        }
        let active = match keyfile::read_active(&self.dir)? {
            Some(id) => Some(id),
            None if keys.len() == 1 => keys.keys().next().cloned(),
            None => None,
        };
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Loaded {
            keys,
            active,
            stamp,
        };
        Ok(())
    }
}

/// Generates a new key in `dir` and makes it the active one; returns its id.
pub fn rotate(dir: &Path) -> Result<String, SecretsError> {
    keyfile::ensure_dir(dir)?;
    let id = generate_key(dir)?;
    keyfile::write_active(dir, &id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let keyring = Keyring::open_or_create(&keys, None).unwrap();
        let first = keyring.active_key_id().unwrap();
        let sealed = keyring.seal(b"s3cret", b"ws|conn_1").unwrap();
        assert_eq!(sealed.key_id, first);
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(
            keyring.open_sealed(&sealed, b"ws|conn_1").unwrap(),
            b"s3cret"
        );
        // Bound to its record.
        assert!(matches!(
            keyring.open_sealed(&sealed, b"ws|conn_2"),
            Err(SecretsError::Undecryptable { .. })
        ));
        // Rotation while open: new secrets use the new key, old ones still open.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = rotate(&keys).unwrap();
        assert_ne!(first, second);
        let newer = keyring.seal(b"other", b"aad").unwrap();
        assert_eq!(newer.key_id, second);
        assert_eq!(
            keyring.open_sealed(&sealed, b"ws|conn_1").unwrap(),
            b"s3cret"
        );
        // A removed key is named.
        std::fs::remove_file(keys.join(format!("{first}{KEY_EXTENSION}"))).unwrap();
        let reopened = Keyring::open(&keys, None).unwrap();
        let error = reopened.open_sealed(&sealed, b"ws|conn_1").unwrap_err();
        assert!(matches!(&error, SecretsError::MissingKey { id, .. } if *id == first));
        assert!(error.to_string().contains(&first), "{error}");
        assert_eq!(reopened.open_sealed(&newer, b"aad").unwrap(), b"other");
    }

    #[test]
    fn several_keys_need_an_active_one() {
        let dir = tempfile::tempdir().unwrap();
        generate_key(dir.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = generate_key(dir.path()).unwrap();
        let error = Keyring::open(dir.path(), None).unwrap_err();
        assert!(error.to_string().contains("active"), "{error}");
        let keyring = Keyring::open(dir.path(), Some(second.clone())).unwrap();
        assert_eq!(keyring.active_key_id(), Some(second));
        let error = Keyring::open(dir.path(), Some("nope".into())).unwrap_err();
        assert!(error.to_string().contains("\"nope\""), "{error}");
    }
}
