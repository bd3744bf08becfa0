//! Workspace API keys on PostgreSQL (see `store/keys.rs`).
//!
//! A key is created by one `INSERT ... ON CONFLICT (id) DO NOTHING` (an id already taken, by
//! this supervisor or another, is drawn again), revoked by one conditional `UPDATE` (of two
//! supervisors revoking the same key exactly one reports it), and authenticated by its id (the
//! primary key) with the stored SHA-256 compared in constant time, as on SQLite.

use subtle::ConstantTimeEq;

use super::util::{require_workspace, signed, unsigned};
use super::{PgError, PgStore};
use crate::store::keys::{draw_key, key_hash};
use crate::store::util::now_ms;
use crate::store::{ApiKey, KeyScope, StoreError};

/// Attempts at drawing an unused key id (a collision is 1 in 36^8 per pair).
const KEY_ID_ATTEMPTS: usize = 5;

fn row_to_key(row: &tokio_postgres::Row) -> ApiKey {
    ApiKey {
        id: row.get(0),
        workspace: row.get(1),
        label: row.get(2),
        created_at_ms: unsigned(row.get(3)),
        revoked_at_ms: row.get::<_, Option<i64>>(4).map(unsigned),
        scope: KeyScope::from_stored(row.get(5)),
    }
}

impl PgStore {
    /// Creates a key of `scope` for `workspace`; returns it and its plaintext. An unknown
    /// workspace is [`StoreError::NotFound`].
    pub(crate) async fn create_scoped_key(
        &self,
        workspace: &str,
        label: &str,
        scope: KeyScope,
    ) -> Result<(ApiKey, String), StoreError> {
        let client = self.client().await?;
        require_workspace(&**client, workspace).await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO api_keys (id, workspace_id, label, sha256, created_at_ms, scope)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO NOTHING",
            )
            .await
            .map_err(PgError::from)?;
        for _ in 0..KEY_ID_ATTEMPTS {
            let (key, plaintext) = draw_key(workspace, label, scope);
            let inserted = client
                .execute(
                    &statement,
                    &[
                        &key.id,
                        &key.workspace,
                        &key.label,
                        &key_hash(&plaintext),
                        &signed(key.created_at_ms),
                        &scope.as_str(),
                    ],
                )
                .await
                .map_err(PgError::from)
                .map_err(|e| {
                    if e.is_foreign_key_violation() {
                        StoreError::NotFound(format!("workspace {workspace} not found")).into()
                    } else {
                        e
                    }
                })?;
            if inserted == 1 {
                return Ok((key, plaintext));
            }
        }
        Err(StoreError::Internal(
            "could not draw an unused key id".into(),
        ))
    }

    /// The keys of `workspace`, oldest first, revoked ones included.
    pub(crate) async fn list_keys(&self, workspace: &str) -> Result<Vec<ApiKey>, StoreError> {
        let client = self.client().await?;
        require_workspace(&**client, workspace).await?;
        let statement = client
            .prepare_cached(
                "SELECT id, workspace_id, label, created_at_ms, revoked_at_ms, scope FROM api_keys
                 WHERE workspace_id = $1 ORDER BY created_at_ms, id",
            )
            .await
            .map_err(PgError::from)?;
        let rows = client
            .query(&statement, &[&workspace])
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_key).collect())
    }

    /// Revokes an active key of `workspace`; whether this call revoked it.
    pub(crate) async fn revoke_key(
        &self,
        workspace: &str,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE api_keys SET revoked_at_ms = $3
                 WHERE workspace_id = $1 AND id = $2 AND revoked_at_ms IS NULL",
                &[&workspace, &key_id, &signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        Ok(changed > 0)
    }

    /// The workspace of unrevoked key `key_id` when its stored hash equals `presented_hash`
    /// (compared in constant time) and it has `scope`.
    pub(crate) async fn lookup_key(
        &self,
        key_id: &str,
        presented_hash: &str,
        scope: KeyScope,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT workspace_id, sha256, scope FROM api_keys
                 WHERE id = $1 AND revoked_at_ms IS NULL",
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&key_id])
            .await
            .map_err(PgError::from)?;
        // Compare against something of the same length even when the id is unknown.
        let (workspace, stored, stored_scope): (String, String, String) = match row {
            Some(row) => (row.get(0), row.get(1), row.get(2)),
            None => (String::new(), "0".repeat(64), String::new()),
        };
        let equal: bool = stored.as_bytes().ct_eq(presented_hash.as_bytes()).into();
        let scoped = KeyScope::from_stored(&stored_scope) == scope;
        Ok((equal && scoped && !workspace.is_empty()).then_some(workspace))
    }
}
