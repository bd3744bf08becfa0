//! Workspace API keys (`X-API-Key`).
//!
//! A key reads `cvk_<key id>_<secret>`: an 8-character key id of `[a-z0-9]` and 43 characters
//! of base64url (32 random bytes). Only the key id and the SHA-256 of the whole key are stored;
//! the plaintext is returned once, by [`Store::create_key`]. Authentication looks the key up by
//! its id and compares the hashes in constant time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::OptionalExtension;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::util::{check_len, is_unique_violation, now_ms, random_lower_alnum, require_workspace};
use super::util::{signed, unsigned, MAX_NAME};
use super::{Store, StoreError};

/// Prefix of every key.
pub const KEY_PREFIX: &str = "cvk_";
/// Length of a key id.
const KEY_ID_LEN: usize = 8;
/// Length of the secret part (base64url of 32 bytes, unpadded).
const SECRET_LEN: usize = 43;
/// How long a successful authentication is remembered. Revocation through this store clears
/// the cache at once; through another process (the CLI) it takes effect within this time.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(4);
/// Most remembered authentications (the cache is emptied when full).
const AUTH_CACHE_MAX: usize = 4096;

/// An API key, without any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The key id (the 8 characters after `cvk_`).
    pub id: String,
    /// Workspace the key authenticates as.
    pub workspace: String,
    /// Free-form label.
    pub label: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<u64>,
    /// What it may do.
    pub scope: KeyScope,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Call the workspace's routes and platform APIs (`X-API-Key` on `/v1/...`).
    #[default]
    Routes,
    /// Deploy, roll back, remove, disable and enable the workspace's deployed modules, and
    /// nothing else.
    Deploy,
}

impl KeyScope {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Routes => "routes",
            KeyScope::Deploy => "deploy",
        }
    }

    pub(super) fn from_stored(text: &str) -> Self {
        if text == "deploy" {
            KeyScope::Deploy
        } else {
            KeyScope::Routes
        }
    }
}

/// Recent successful authentications, by key hash.
#[derive(Default)]
pub(super) struct AuthCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl AuthCache {
    fn get(&self, hash: &str) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(ws, _)| ws.clone())
    }

    fn put(&self, hash: String, workspace: String) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= AUTH_CACHE_MAX {
                entries.clear();
            }
            entries.insert(hash, (workspace, Instant::now()));
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// The key id of a well-formed key.
fn parse_key(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_at_checked(KEY_ID_LEN)?;
    let secret = secret.strip_prefix('_')?;
    let id_ok = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

/// Hex SHA-256 of a whole key.
pub(super) fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key of `scope` for `workspace` with a random id and secret, and its plaintext.
pub(super) fn draw_key(workspace: &str, label: &str, scope: KeyScope) -> (ApiKey, String) {
    let id = random_lower_alnum(KEY_ID_LEN);
    let secret: [u8; 32] = rand::random();
    let plaintext = format!("{KEY_PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    let key = ApiKey {
        id,
        workspace: workspace.to_string(),
        label: label.to_string(),
        created_at_ms: now_ms(),
        revoked_at_ms: None,
        scope,
    };
    (key, plaintext)
}

impl Store {
    /// Creates a key for `workspace`; returns it and its plaintext, which is not stored and
    /// cannot be shown again. An unknown workspace is [`StoreError::NotFound`].
    pub async fn create_key(
        &self,
        workspace: &str,
        label: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        self.create_scoped_key(workspace, label, KeyScope::Routes)
            .await
    }

    /// Like [`Self::create_key`], for a key of `scope`.
    pub async fn create_scoped_key(
        &self,
        workspace: &str,
        label: &str,
        scope: KeyScope,
    ) -> Result<(ApiKey, String), StoreError> {
        check_len("label", label, MAX_NAME)?;
        if let Some(pg) = self.pg() {
            return pg.create_scoped_key(workspace, label, scope).await;
        }
        let workspace = workspace.to_string();
        let label = label.to_string();
        self.write(move |conn| {
            require_workspace(conn, &workspace)?;
            // A key id collision (1 in 36^8 per pair) is retried with a new id.
            for _ in 0..5 {
                let (key, plaintext) = draw_key(&workspace, &label, scope);
                let inserted = conn.execute(
                    "INSERT INTO api_keys (id, workspace_id, label, sha256, created_at_ms, scope)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![
                        key.id,
                        key.workspace,
                        key.label,
                        key_hash(&plaintext),
                        signed(key.created_at_ms),
                        scope.as_str()
                    ],
                );
                match inserted {
                    Ok(_) => return Ok((key, plaintext)),
                    Err(e) if is_unique_violation(&e) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(StoreError::Internal(
                "could not draw an unused key id".into(),
            ))
        })
        .await
    }

    /// The keys of `workspace`, oldest first, revoked ones included; never any secret.
    pub async fn list_keys(&self, workspace: &str) -> Result<Vec<ApiKey>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.list_keys(workspace).await;
        }
        let workspace = workspace.to_string();
        self.read(move |conn| {
            require_workspace(conn, &workspace)?;
            let mut stmt = conn.prepare(
                "SELECT id, workspace_id, label, created_at_ms, revoked_at_ms, scope FROM api_keys
                 WHERE workspace_id = ?1 ORDER BY created_at_ms, id",
            )?;
            let rows = stmt.query_map([&workspace], |row| {
                Ok(ApiKey {
                    id: row.get(0)?,
                    workspace: row.get(1)?,
                    label: row.get(2)?,
                    created_at_ms: unsigned(row.get(3)?),
                    revoked_at_ms: row.get::<_, Option<i64>>(4)?.map(unsigned),
                    scope: KeyScope::from_stored(&row.get::<_, String>(5)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Revokes key `key_id` of `workspace`. `true` when this call revoked it, `false` when the
    /// workspace has no active key with that id (absent, another workspace's, already revoked).
    pub async fn revoke_key(&self, workspace: &str, key_id: &str) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            let revoked = pg.revoke_key(workspace, key_id).await?;
            if revoked {
                self.inner.auth_cache.clear();
            }
            return Ok(revoked);
        }
        let workspace = workspace.to_string();
        let key_id = key_id.to_string();
        let revoked = self
            .write(move |conn| {
                let changed = conn.execute(
                    "UPDATE api_keys SET revoked_at_ms = ?3
                     WHERE workspace_id = ?1 AND id = ?2 AND revoked_at_ms IS NULL",
                    rusqlite::params![workspace, key_id, signed(now_ms())],
                )?;
                Ok(changed > 0)
            })
            .await?;
        if revoked {
            self.inner.auth_cache.clear();
        }
        Ok(revoked)
    }

    /// The workspace a presented key authenticates as: `Some` for a valid, unrevoked key,
    /// `None` for anything else (malformed, unknown, revoked, wrong secret).
    /// Only keys of scope `routes` authenticate here; deploy keys see [`Self::authenticate_deploy`].
    pub async fn authenticate(&self, presented: &str) -> Result<Option<String>, StoreError> {
        let Some(key_id) = parse_key(presented) else {
            return Ok(None);
        };
        let hash = key_hash(presented);
        if let Some(workspace) = self.inner.auth_cache.get(&hash) {
            return Ok(Some(workspace));
        }
        let found = self.lookup(key_id, hash.clone(), KeyScope::Routes).await?;
        if let Some(workspace) = &found {
            self.inner.auth_cache.put(hash, workspace.clone());
        }
        Ok(found)
    }

    /// The workspace and key id of a valid, unrevoked key of scope `deploy`; `None` for
    /// anything else. Not cached: a revocation takes effect at once.
    pub async fn authenticate_deploy(
        &self,
        presented: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let Some(key_id) = parse_key(presented) else {
            return Ok(None);
        };
        let id = key_id.to_string();
        let found = self
            .lookup(key_id, key_hash(presented), KeyScope::Deploy)
            .await?;
        Ok(found.map(|workspace| (workspace, id)))
    }

    /// The workspace of key `key_id` when its stored hash equals `presented_hash` and it has
    /// `scope`, compared in constant time.
    async fn lookup(
        &self,
        key_id: &str,
        presented_hash: String,
        scope: KeyScope,
    ) -> Result<Option<String>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.lookup_key(key_id, &presented_hash, scope).await;
        }
        let key_id = key_id.to_string();
        self.read(move |conn| {
            let row: Option<(String, String, String)> = conn
                .query_row(
                    "SELECT workspace_id, sha256, scope FROM api_keys
                     WHERE id = ?1 AND revoked_at_ms IS NULL",
                    [&key_id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            // Compare against something of the same length even when the id is unknown.
            let (workspace, stored, stored_scope) =
                row.unwrap_or_else(|| (String::new(), "0".repeat(64), String::new()));
            let equal: bool = stored.as_bytes().ct_eq(presented_hash.as_bytes()).into();
            let scoped = KeyScope::from_stored(&stored_scope) == scope;
            Ok((equal && scoped && !workspace.is_empty()).then_some(workspace))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;

    #[test]
    fn key_parsing() {
        let good = format!("cvk_abcd1234_{}", "A".repeat(43));
        assert_eq!(parse_key(&good), Some("abcd1234"));
        assert_eq!(parse_key(&good[..good.len() - 1]), None);
        assert_eq!(parse_key(&format!("cvk_ABCD1234_{}", "A".repeat(43))), None);
        assert_eq!(parse_key(&format!("cvk_abcd1234-{}", "A".repeat(43))), None);
        assert_eq!(
            parse_key(&format!("cvk_abcd1234_{}=", "A".repeat(42))),
            None
        );
        assert_eq!(parse_key("cvk_é"), None);
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn create_authenticate_revoke() {
            let (_dir, store) = two_workspaces().await;
            let (key, plaintext) = store.create_key("ws_a", "ci").await.unwrap();
            assert_eq!(plaintext.len(), 4 + 8 + 1 + 43);
            assert!(plaintext.starts_with(&format!("cvk_{}_", key.id)));
            assert_eq!(
                store.authenticate(&plaintext).await.unwrap().as_deref(),
                Some("ws_a")
            );
            // Wrong secret, malformed, unknown id.
            let mut wrong = plaintext.clone();
            let last = if wrong.ends_with('A') { "B" } else { "A" };
            wrong.replace_range(wrong.len() - 1.., last);
            assert_eq!(store.authenticate(&wrong).await.unwrap(), None);
            assert_eq!(store.authenticate("cvk_short").await.unwrap(), None);
            assert_eq!(store.authenticate("").await.unwrap(), None);
            let unknown = format!("cvk_zzzzzzzz_{}", &plaintext[13..]);
            assert_eq!(store.authenticate(&unknown).await.unwrap(), None);

            let keys = store.list_keys("ws_a").await.unwrap();
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].label, "ci");
            assert_eq!(keys[0].revoked_at_ms, None);
            assert!(store.list_keys("ws_b").await.unwrap().is_empty());
            assert!(matches!(
                store.list_keys("ws_nope").await,
                Err(StoreError::NotFound(_))
            ));

            // Another workspace cannot revoke it.
            assert!(!store.revoke_key("ws_b", &key.id).await.unwrap());
            assert!(store.revoke_key("ws_a", &key.id).await.unwrap());
            assert!(!store.revoke_key("ws_a", &key.id).await.unwrap());
            assert_eq!(store.authenticate(&plaintext).await.unwrap(), None);
            assert!(store.list_keys("ws_a").await.unwrap()[0]
                .revoked_at_ms
                .is_some());
        }

        #[tokio::test]
        async fn revocation_by_another_process_takes_effect() {
            let (dir, store) = two_workspaces().await;
            let (key, plaintext) = store.create_key("ws_a", "").await.unwrap();
            assert!(store.authenticate(&plaintext).await.unwrap().is_some());
            // A second store on the same file stands for the CLI.
            let other = dir.open_again();
            assert!(other.revoke_key("ws_a", &key.id).await.unwrap());
            assert_eq!(other.authenticate(&plaintext).await.unwrap(), None);
            // The first store forgets its cached answer within the cache lifetime.
            assert!(AUTH_CACHE_TTL <= Duration::from_secs(5));
            store.inner.auth_cache.clear();
            assert_eq!(store.authenticate(&plaintext).await.unwrap(), None);
        }

        #[tokio::test]
        async fn each_scope_authenticates_only_where_it_applies() {
            let (_dir, store) = two_workspaces().await;
            let (routes, routes_key) = store.create_key("ws_a", "app").await.unwrap();
            let (deploy, deploy_key) = store
                .create_scoped_key("ws_a", "ci", KeyScope::Deploy)
                .await
                .unwrap();
            assert_eq!(routes.scope, KeyScope::Routes);
            assert_eq!(deploy.scope, KeyScope::Deploy);
            assert_eq!(store.authenticate(&deploy_key).await.unwrap(), None);
            assert_eq!(store.authenticate_deploy(&routes_key).await.unwrap(), None);
            assert_eq!(
                store.authenticate_deploy(&deploy_key).await.unwrap(),
                Some(("ws_a".to_string(), deploy.id.clone()))
            );
            // Both created within one millisecond may list in either order.
            let listed = store.list_keys("ws_a").await.unwrap();
            let scope_of = |id: &str| listed.iter().find(|k| k.id == id).map(|k| k.scope);
            assert_eq!(scope_of(&routes.id), Some(KeyScope::Routes));
            assert_eq!(scope_of(&deploy.id), Some(KeyScope::Deploy));
            assert!(store.revoke_key("ws_a", &deploy.id).await.unwrap());
            assert_eq!(store.authenticate_deploy(&deploy_key).await.unwrap(), None);
        }

        #[tokio::test]
        async fn unknown_workspace_has_no_keys() {
            let (_dir, store) = two_workspaces().await;
            assert!(matches!(
                store.create_key("ws_nope", "").await,
                Err(StoreError::NotFound(m)) if m.contains("ws_nope")
            ));
        }

        #[tokio::test]
        async fn two_supervisors_share_keys_and_revoke_each_once() {
            let (dir, store) = two_workspaces().await;
            let other = dir.open_again();
            // Both create keys at the same time: every key is stored, under a distinct id.
            let create = |s: Store, side: &'static str| async move {
                let mut made = Vec::new();
                for i in 0..8 {
                    made.push(s.create_key("ws_a", &format!("{side}{i}")).await.unwrap());
                }
                made
            };
            let (mine, theirs) = tokio::join!(
                create(store.clone(), "mine"),
                create(other.clone(), "theirs")
            );
            let made: Vec<(ApiKey, String)> = mine.into_iter().chain(theirs).collect();
            let listed = store.list_keys("ws_a").await.unwrap();
            assert_eq!(listed.len(), 16);
            assert_eq!(other.list_keys("ws_a").await.unwrap(), listed);
            let mut ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 16);
            // A key made through one supervisor authenticates through the other.
            for (_, plaintext) in &made {
                assert_eq!(
                    other.authenticate(plaintext).await.unwrap().as_deref(),
                    Some("ws_a")
                );
                assert_eq!(
                    store.authenticate(plaintext).await.unwrap().as_deref(),
                    Some("ws_a")
                );
            }
            // Both revoke each key at the same time: exactly one of them revokes it.
            for (key, _) in &made {
                let (a, b) = tokio::join!(
                    store.revoke_key("ws_a", &key.id),
                    other.revoke_key("ws_a", &key.id)
                );
                assert!(a.unwrap() ^ b.unwrap(), "key {} revoked twice or never", key.id);
            }
            // Each supervisor revoked some keys and so emptied its own cache; the other's cached
            // answers last at most AUTH_CACHE_TTL (see revocation_by_another_process_takes_effect).
            store.inner.auth_cache.clear();
            other.inner.auth_cache.clear();
            for (_, plaintext) in &made {
                assert_eq!(store.authenticate(plaintext).await.unwrap(), None);
                assert_eq!(other.authenticate(plaintext).await.unwrap(), None);
            }
            assert!(other
                .list_keys("ws_a")
                .await
                .unwrap()
                .iter()
                .all(|k| k.revoked_at_ms.is_some()));
        }
    }
}
