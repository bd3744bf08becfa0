//! Block connections on PostgreSQL (see `store/connections.rs`). The sealed secrets are
//! `BYTEA` columns.
//!
//! An insert counts the block's connections and inserts in one `SERIALIZABLE` transaction, so
//! supervisors racing to add connections never take a block past
//! [`MAX_CONNECTIONS_PER_BLOCK`]; every other write is one statement (`UPDATE ... RETURNING`,
//! and a reseal only applies while the secrets are still sealed with the expected key).

use serde_json::{Map, Value};

use super::util::{parse_json, require_workspace, signed, unsigned};
use super::{pg_transaction, PgError, PgStore};
use crate::secrets::Sealed;
use crate::store::util::now_ms;
use crate::store::{StoreError, StoredConnection, MAX_CONNECTIONS_PER_BLOCK};

const COLUMNS: &str = "id, workspace_id, block_id, name, config, secret_fields, secret_key_id, \
    secret_nonce, secret_ciphertext, account_label, created_at_ms, updated_at_ms, \
    last_tested_at_ms, last_test_ok, last_test_message";

fn row_to_connection(row: &tokio_postgres::Row) -> Result<StoredConnection, PgError> {
    let config = match parse_json("block_connections.config", row.get(4))? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let secret_fields: Vec<String> =
        serde_json::from_value(parse_json("block_connections.secret_fields", row.get(5))?)
            .unwrap_or_default();
    let key_id: String = row.get(6);
    let sealed = if key_id.is_empty() {
        None
    } else {
        Some(Sealed {
            key_id,
            nonce: row.get(7),
            ciphertext: row.get(8),
        })
    };
    Ok(StoredConnection {
        id: row.get(0),
        workspace: row.get(1),
        block_id: row.get(2),
        name: row.get(3),
        config,
        secret_fields,
        sealed,
        account_label: row.get(9),
        created_at_ms: unsigned(row.get(10)),
        updated_at_ms: unsigned(row.get(11)),
        last_tested_at_ms: unsigned(row.get(12)),
        last_test_ok: row.get(13),
        last_test_message: row.get(14),
    })
}

fn rows_to_connections(rows: &[tokio_postgres::Row]) -> Result<Vec<StoredConnection>, PgError> {
    rows.iter().map(row_to_connection).collect()
}

/// The error of a connection that is not there.
fn not_found(block: &str, id: &str) -> StoreError {
    StoreError::NotFound(format!("connection {id:?} of block {block:?} not found"))
}

impl PgStore {
    /// Stores a new connection, unless its block already has
    /// [`MAX_CONNECTIONS_PER_BLOCK`] connections in the workspace. `config` and
    /// `secret_fields` are the JSON texts of those columns; `label` and `message` are truncated.
    pub(crate) async fn connection_insert(
        &self,
        connection: &StoredConnection,
        config: &str,
        secret_fields: &str,
        label: &str,
        message: &str,
    ) -> Result<StoredConnection, StoreError> {
        let (key_id, nonce, ciphertext): (&str, &[u8], &[u8]) = match &connection.sealed {
            Some(s) => (&s.key_id, &s.nonce, &s.ciphertext),
            None => ("", &[], &[]),
        };
        let insert = format!(
            "INSERT INTO block_connections ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $12, $13)
             RETURNING {COLUMNS}"
        );
        pg_transaction!(self, |tx| {
            require_workspace(&*tx, &connection.workspace).await?;
            let count: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM block_connections
                     WHERE workspace_id = $1 AND block_id = $2",
                    &[&connection.workspace, &connection.block_id],
                )
                .await?
                .get(0);
            if count as usize >= MAX_CONNECTIONS_PER_BLOCK {
                return Err(StoreError::FailedPrecondition(format!(
                    "block {:?} already has {MAX_CONNECTIONS_PER_BLOCK} connections in this workspace; delete some first",
                    connection.block_id
                ))
                .into());
            }
            let row = tx
                .query_one(
                    &insert,
                    &[
                        &connection.id,
                        &connection.workspace,
                        &connection.block_id,
                        &connection.name,
                        &config,
                        &secret_fields,
                        &key_id,
                        &nonce,
                        &ciphertext,
                        &label,
                        &signed(now_ms()),
                        &connection.last_test_ok,
                        &message,
                    ],
                )
                .await?;
            row_to_connection(&row)?
        })
    }

    /// One connection of `block` in `ws`.
    pub(crate) async fn connection_get(
        &self,
        ws: &str,
        block: &str,
        id: &str,
    ) -> Result<StoredConnection, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM block_connections
                 WHERE workspace_id = $1 AND block_id = $2 AND id = $3"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&ws, &block, &id])
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_connection(&row)?),
            None => Err(not_found(block, id)),
        }
    }

    /// Every connection of `block` in `ws`, oldest first (by id).
    pub(crate) async fn connection_list(
        &self,
        ws: &str,
        block: &str,
    ) -> Result<Vec<StoredConnection>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM block_connections
                 WHERE workspace_id = $1 AND block_id = $2 ORDER BY id"
            ))
            .await
            .map_err(PgError::from)?;
        let rows = client
            .query(&statement, &[&ws, &block])
            .await
            .map_err(PgError::from)?;
        Ok(rows_to_connections(&rows)?)
    }

    /// Deletes a connection.
    pub(crate) async fn connection_delete(
        &self,
        ws: &str,
        block: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM block_connections
                 WHERE workspace_id = $1 AND block_id = $2 AND id = $3",
                &[&ws, &block, &id],
            )
            .await
            .map_err(PgError::from)?;
        if deleted == 0 {
            return Err(not_found(block, id));
        }
        Ok(())
    }

    /// Records the result of a connection test (the account label only changes on success);
    /// `message` and `label` are already truncated.
    pub(crate) async fn connection_record_test(
        &self,
        ws: &str,
        block: &str,
        id: &str,
        ok: bool,
        message: &str,
        label: &str,
    ) -> Result<StoredConnection, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE block_connections SET last_tested_at_ms = $4, last_test_ok = $5,
                    last_test_message = $6,
                    account_label = CASE WHEN $5 AND $7 <> '' THEN $7 ELSE account_label END
                 WHERE workspace_id = $1 AND block_id = $2 AND id = $3
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(
                &statement,
                &[&ws, &block, &id, &signed(now_ms()), &ok, &message, &label],
            )
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_connection(&row)?),
            None => Err(not_found(block, id)),
        }
    }

    /// How many connections each key id seals (`""` for connections without secrets), in
    /// byte order of the key id.
    pub(crate) async fn connection_key_usage(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT secret_key_id, COUNT(*) FROM block_connections
                 GROUP BY secret_key_id ORDER BY secret_key_id",
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), unsigned(row.get(1))))
            .collect())
    }

    /// Connections (any workspace) whose secrets are sealed with a key other than `key_id`.
    pub(crate) async fn connections_sealed_with_other_keys(
        &self,
        key_id: &str,
    ) -> Result<Vec<StoredConnection>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM block_connections
                     WHERE secret_key_id <> '' AND secret_key_id <> $1 ORDER BY id"
                ),
                &[&key_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows_to_connections(&rows)?)
    }

    /// Replaces the sealed secrets of a connection if they are still sealed with
    /// `previous_key_id`; whether it did.
    pub(crate) async fn connection_reseal(
        &self,
        id: &str,
        previous_key_id: &str,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let updated = client
            .execute(
                "UPDATE block_connections SET secret_key_id = $3, secret_nonce = $4,
                    secret_ciphertext = $5, updated_at_ms = $6
                 WHERE id = $1 AND secret_key_id = $2",
                &[
                    &id,
                    &previous_key_id,
                    &sealed.key_id,
                    &sealed.nonce,
                    &sealed.ciphertext,
                    &signed(now_ms()),
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(updated == 1)
    }
}
