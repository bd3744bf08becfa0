//! Module storage on PostgreSQL (see `store/kv.rs`).
//!
//! Every write is one statement, atomic under the row's lock, so two supervisors racing on a
//! key behave as two writes through SQLite's single writer: revisions never repeat, and of two
//! compare-and-sets expecting the same revision exactly one wins.

use serde_json::Value;

use super::util::{parse_json, prefix_upper_bound, signed, unsigned};
use super::{PgError, PgStore};
use crate::store::util::{into_page, now_ms};
use crate::store::{Page, StorageEntry, StoreError};

const COLUMNS: &str = "key, value, revision, expires_at_ms";

fn row_to_entry(row: &tokio_postgres::Row) -> Result<StorageEntry, PgError> {
    Ok(StorageEntry {
        key: row.get(0),
        value: parse_json("module_storage.value", row.get(1))?,
        revision: unsigned(row.get(2)),
        expires_at_ms: unsigned(row.get(3)),
    })
}

/// A validated write (see `kv.rs`): where, what, and the value's JSON text.
pub(crate) struct KvWrite<'a> {
    /// Workspace.
    pub ws: &'a str,
    /// Module.
    pub module: &'a str,
    /// Key.
    pub key: &'a str,
    /// Value.
    pub value: &'a Value,
    /// Its JSON text.
    pub value_text: &'a str,
    /// 0 = never expires.
    pub ttl_ms: u64,
}

impl KvWrite<'_> {
    fn expires_at_ms(&self, now: u64) -> u64 {
        if self.ttl_ms == 0 {
            0
        } else {
            now.saturating_add(self.ttl_ms)
        }
    }
}

/// The error of a write to a workspace that does not exist.
fn missing_workspace(ws: &str) -> impl Fn(PgError) -> PgError + '_ {
    move |e| {
        if e.is_foreign_key_violation() {
            StoreError::NotFound(format!("workspace {ws} not found")).into()
        } else {
            e
        }
    }
}

impl PgStore {
    /// The live entry of a key.
    pub(crate) async fn kv_get(
        &self,
        ws: &str,
        module: &str,
        key: &str,
    ) -> Result<StorageEntry, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM module_storage
                 WHERE workspace_id = $1 AND module = $2 AND key = $3
                   AND (expires_at_ms = 0 OR expires_at_ms > $4)"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&ws, &module, &key, &signed(now_ms())])
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_entry(&row)?),
            None => Err(StoreError::NotFound(format!("key {key:?} not found"))),
        }
    }

    /// Sets a key unconditionally: revision + 1 of the live entry, 1 over an absent or expired
    /// one.
    pub(crate) async fn kv_set(&self, write: KvWrite<'_>) -> Result<StorageEntry, StoreError> {
        let now = now_ms();
        let expires_at_ms = write.expires_at_ms(now);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO module_storage AS s
                    (workspace_id, module, key, value, revision, expires_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, 1, $5, $6)
                 ON CONFLICT (workspace_id, module, key) DO UPDATE SET
                    value = excluded.value,
                    revision = CASE WHEN s.expires_at_ms = 0 OR s.expires_at_ms > $6
                                    THEN s.revision + 1 ELSE 1 END,
                    expires_at_ms = excluded.expires_at_ms,
                    updated_at_ms = excluded.updated_at_ms
                 RETURNING revision",
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &write.ws,
                    &write.module,
                    &write.key,
                    &write.value_text,
                    &signed(expires_at_ms),
                    &signed(now),
                ],
            )
            .await
            .map_err(PgError::from)
            .map_err(missing_workspace(write.ws))?;
        Ok(StorageEntry {
            key: write.key.to_string(),
            value: write.value.clone(),
            revision: unsigned(row.get(0)),
            expires_at_ms,
        })
    }

    /// Sets a key only if its live revision is `expected` (0 = absent or expired).
    pub(crate) async fn kv_compare_and_set(
        &self,
        write: KvWrite<'_>,
        expected: u64,
    ) -> Result<StorageEntry, StoreError> {
        let now = now_ms();
        let expires_at_ms = write.expires_at_ms(now);
        let client = self.client().await?;
        let (ws, module, key, text) = (write.ws, write.module, write.key, write.value_text);
        let (expires, now_i, expected_i) = (signed(expires_at_ms), signed(now), signed(expected));
        let row = if expected == 0 {
            // Create, or replace an expired entry; a live one is left alone.
            let statement = client
                .prepare_cached(
                    "INSERT INTO module_storage AS s
                        (workspace_id, module, key, value, revision, expires_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, 1, $5, $6)
                     ON CONFLICT (workspace_id, module, key) DO UPDATE SET
                        value = excluded.value, revision = 1,
                        expires_at_ms = excluded.expires_at_ms,
                        updated_at_ms = excluded.updated_at_ms
                     WHERE s.expires_at_ms <> 0 AND s.expires_at_ms <= $6
                     RETURNING revision",
                )
                .await
                .map_err(PgError::from)?;
            client
                .query_opt(&statement, &[&ws, &module, &key, &text, &expires, &now_i])
                .await
        } else {
            let statement = client
                .prepare_cached(
                    "UPDATE module_storage SET
                        value = $4, revision = revision + 1,
                        expires_at_ms = $5, updated_at_ms = $6
                     WHERE workspace_id = $1 AND module = $2 AND key = $3 AND revision = $7
                       AND (expires_at_ms = 0 OR expires_at_ms > $6)
                     RETURNING revision",
                )
                .await
                .map_err(PgError::from)?;
            client
                .query_opt(
                    &statement,
                    &[&ws, &module, &key, &text, &expires, &now_i, &expected_i],
                )
                .await
        };
        let row = row
            .map_err(PgError::from)
            .map_err(missing_workspace(write.ws))?;
        if let Some(row) = row {
            return Ok(StorageEntry {
                key: write.key.to_string(),
                value: write.value.clone(),
                revision: unsigned(row.get(0)),
                expires_at_ms,
            });
        }
        let current = client
            .query_opt(
                "SELECT revision FROM module_storage
                 WHERE workspace_id = $1 AND module = $2 AND key = $3
                   AND (expires_at_ms = 0 OR expires_at_ms > $4)",
                &[&write.ws, &write.module, &write.key, &signed(now)],
            )
            .await
            .map_err(PgError::from)?
            .map_or(0, |row| unsigned(row.get(0)));
        let state = if current == 0 {
            "is absent".to_string()
        } else {
            format!("is at revision {current}")
        };
        Err(StoreError::FailedPrecondition(format!(
            "key {:?} {state}, expected revision {expected}",
            write.key
        )))
    }

    /// Deletes a key; whether it was live.
    pub(crate) async fn kv_delete(
        &self,
        ws: &str,
        module: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "DELETE FROM module_storage WHERE workspace_id = $1 AND module = $2 AND key = $3
                 RETURNING expires_at_ms",
                &[&ws, &module, &key],
            )
            .await
            .map_err(PgError::from)?;
        let now = now_ms();
        Ok(row.is_some_and(|row| {
            let expires = unsigned(row.get(0));
            expires == 0 || expires > now
        }))
    }

    /// One page of the live entries whose key starts with `prefix`, in byte order.
    pub(crate) async fn kv_list(
        &self,
        ws: &str,
        module: &str,
        prefix: &str,
        limit: usize,
        after: &str,
    ) -> Result<Page<StorageEntry>, StoreError> {
        let client = self.client().await?;
        let upper = prefix_upper_bound(prefix);
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM module_storage
                 WHERE workspace_id = $1 AND module = $2 AND key >= $3
                   AND ($4::text IS NULL OR key < $4) AND key > $5
                   AND (expires_at_ms = 0 OR expires_at_ms > $6)
                 ORDER BY key LIMIT $7"
            ))
            .await
            .map_err(PgError::from)?;
        let rows = client
            .query(
                &statement,
                &[
                    &ws,
                    &module,
                    &prefix,
                    &upper,
                    &after,
                    &signed(now_ms()),
                    &((limit + 1) as i64),
                ],
            )
            .await
            .map_err(PgError::from)?;
        let items = rows
            .iter()
            .map(row_to_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |e| &e.key))
    }

    /// Deletes every expired entry; how many.
    pub(crate) async fn purge_expired(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM module_storage WHERE expires_at_ms > 0 AND expires_at_ms <= $1",
                &[&signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        Ok(n as usize)
    }
}
