//! Block connections: a workspace's configured accounts of a Block. The public part of the
//! configuration is stored as JSON; the secret fields are stored only sealed (see
//! `crate::secrets`), with the id of the key that sealed them.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::util::{
    check_required, json_text, new_id, now_ms, parse_json, require_workspace, signed,
    truncate_utf8, unsigned, MAX_NAME, MAX_TEXT, MAX_VALUE,
};
use super::{Store, StoreError};
use crate::secrets::Sealed;

/// Most connections one block of one workspace may have.
pub const MAX_CONNECTIONS_PER_BLOCK: usize = 1000;

/// A stored connection.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConnection {
    /// `conn_` + time-ordered suffix.
    pub id: String,
    /// Its workspace.
    pub workspace: String,
    /// The block it configures.
    pub block_id: String,
    /// A name for people.
    pub name: String,
    /// The configuration without its secret fields.
    pub config: Map<String, Value>,
    /// Names of the fields held in `sealed`.
    pub secret_fields: Vec<String>,
    /// The secret fields as a sealed JSON object; `None` when there are none.
    pub sealed: Option<Sealed>,
    /// The account the credentials belong to, from the last successful test.
    pub account_label: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Last change.
    pub updated_at_ms: u64,
    /// Last connection test.
    pub last_tested_at_ms: u64,
    /// Whether that test passed.
    pub last_test_ok: bool,
    /// What it said.
    pub last_test_message: String,
}

/// A new connection id (needed before sealing: the id is part of the associated data).
pub fn new_connection_id() -> String {
    new_id("conn_")
}

const COLUMNS: &str = "id, workspace_id, block_id, name, config, secret_fields, secret_key_id, \
    secret_nonce, secret_ciphertext, account_label, created_at_ms, updated_at_ms, \
    last_tested_at_ms, last_test_ok, last_test_message";

fn row_to_connection(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredConnection> {
    let config = match parse_json("block_connections.config", &row.get::<_, String>(4)?)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let secret_fields: Vec<String> = serde_json::from_value(parse_json(
        "block_connections.secret_fields",
        &row.get::<_, String>(5)?,
    )?)
    .unwrap_or_default();
    let key_id: String = row.get(6)?;
    let sealed = if key_id.is_empty() {
        None
    } else {
        Some(Sealed {
            key_id,
            nonce: row.get(7)?,
            ciphertext: row.get(8)?,
        })
    };
    Ok(StoredConnection {
        id: row.get(0)?,
        workspace: row.get(1)?,
        block_id: row.get(2)?,
        name: row.get(3)?,
        config,
        secret_fields,
        sealed,
        account_label: row.get(9)?,
        created_at_ms: unsigned(row.get(10)?),
        updated_at_ms: unsigned(row.get(11)?),
        last_tested_at_ms: unsigned(row.get(12)?),
        last_test_ok: row.get(13)?,
        last_test_message: row.get(14)?,
    })
}

fn get(conn: &Connection, ws: &str, block: &str, id: &str) -> Result<StoredConnection, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM block_connections
             WHERE workspace_id = ?1 AND block_id = ?2 AND id = ?3"
        ),
        [ws, block, id],
        row_to_connection,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("connection {id:?} of block {block:?} not found")))
}

impl Store {
    /// Stores a new connection (its id comes from [`new_connection_id`]).
    pub async fn connection_insert(
        &self,
        connection: StoredConnection,
    ) -> Result<StoredConnection, StoreError> {
        check_required("name", &connection.name, MAX_NAME)?;
        let config = json_text(
            "config",
            &Value::Object(connection.config.clone()),
            MAX_VALUE,
        )?;
        let secret_fields = serde_json::to_string(&connection.secret_fields)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let label = truncate_utf8(&connection.account_label, MAX_NAME);
        let message = truncate_utf8(&connection.last_test_message, MAX_TEXT);
        if let Some(pg) = self.pg() {
            return pg
                .connection_insert(&connection, &config, &secret_fields, &label, &message)
                .await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            require_workspace(&tx, &connection.workspace)?;
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM block_connections WHERE workspace_id = ?1 AND block_id = ?2",
                [&connection.workspace, &connection.block_id],
                |row| row.get(0),
            )?;
            if count as usize >= MAX_CONNECTIONS_PER_BLOCK {
                return Err(StoreError::FailedPrecondition(format!(
                    "block {:?} already has {MAX_CONNECTIONS_PER_BLOCK} connections in this workspace; delete some first",
                    connection.block_id
                )));
            }
            let now = now_ms();
            let (key_id, nonce, ciphertext) = match &connection.sealed {
                Some(s) => (s.key_id.clone(), s.nonce.clone(), s.ciphertext.clone()),
                None => (String::new(), Vec::new(), Vec::new()),
            };
            tx.execute(
                &format!("INSERT INTO block_connections ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?11, ?12, ?13)"),
                rusqlite::params![
                    connection.id,
                    connection.workspace,
                    connection.block_id,
                    connection.name,
                    config,
                    secret_fields,
                    key_id,
                    nonce,
                    ciphertext,
                    label,
                    signed(now),
                    connection.last_test_ok,
                    message,
                ],
            )?;
            let stored = get(&tx, &connection.workspace, &connection.block_id, &connection.id)?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    /// One connection of `block` in `ws`.
    pub async fn connection_get(
        &self,
        ws: &str,
        block: &str,
        id: &str,
    ) -> Result<StoredConnection, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connection_get(ws, block, id).await;
        }
        let (ws, block, id) = (ws.to_string(), block.to_string(), id.to_string());
        self.read(move |conn| get(conn, &ws, &block, &id)).await
    }

    /// Every connection of `block` in `ws`, oldest first.
    pub async fn connection_list(
        &self,
        ws: &str,
        block: &str,
    ) -> Result<Vec<StoredConnection>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connection_list(ws, block).await;
        }
        let (ws, block) = (ws.to_string(), block.to_string());
        self.read(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM block_connections
                 WHERE workspace_id = ?1 AND block_id = ?2 ORDER BY id"
            ))?;
            let rows = statement.query_map([&ws, &block], row_to_connection)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes a connection.
    pub async fn connection_delete(
        &self,
        ws: &str,
        block: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connection_delete(ws, block, id).await;
        }
        let (ws, block, id) = (ws.to_string(), block.to_string(), id.to_string());
        self.write(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM block_connections WHERE workspace_id = ?1 AND block_id = ?2 AND id = ?3",
                [&ws, &block, &id],
            )?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!(
                    "connection {id:?} of block {block:?} not found"
                )));
            }
            Ok(())
        })
        .await
    }

    /// Records the result of a connection test (the account label only changes on success).
    pub async fn connection_record_test(
        &self,
        ws: &str,
        block: &str,
        id: &str,
        ok: bool,
        message: &str,
        account_label: &str,
    ) -> Result<StoredConnection, StoreError> {
        let (ws, block, id) = (ws.to_string(), block.to_string(), id.to_string());
        let message = truncate_utf8(message, MAX_TEXT);
        let label = truncate_utf8(account_label, MAX_NAME);
        if let Some(pg) = self.pg() {
            return pg
                .connection_record_test(&ws, &block, &id, ok, &message, &label)
                .await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = signed(now_ms());
            let updated = tx.execute(
                "UPDATE block_connections SET last_tested_at_ms = ?4, last_test_ok = ?5,
                    last_test_message = ?6,
                    account_label = CASE WHEN ?5 AND ?7 <> '' THEN ?7 ELSE account_label END
                 WHERE workspace_id = ?1 AND block_id = ?2 AND id = ?3",
                rusqlite::params![ws, block, id, now, ok, message, label],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!(
                    "connection {id:?} of block {block:?} not found"
                )));
            }
            let stored = get(&tx, &ws, &block, &id)?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    /// How many connections each key id seals (`""` for connections without secrets).
    pub async fn connection_key_usage(&self) -> Result<Vec<(String, u64)>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connection_key_usage().await;
        }
        self.read(|conn| {
            let mut statement = conn.prepare(
                "SELECT secret_key_id, COUNT(*) FROM block_connections
                 GROUP BY secret_key_id ORDER BY secret_key_id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, unsigned(row.get(1)?)))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Connections (any workspace) whose secrets are sealed with a key other than `key_id`.
    pub async fn connections_sealed_with_other_keys(
        &self,
        key_id: &str,
    ) -> Result<Vec<StoredConnection>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connections_sealed_with_other_keys(key_id).await;
        }
        let key_id = key_id.to_string();
        self.read(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM block_connections
                 WHERE secret_key_id <> '' AND secret_key_id <> ?1 ORDER BY id"
            ))?;
            let rows = statement.query_map([&key_id], row_to_connection)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Replaces the sealed secrets of a connection if they are still sealed with
    /// `previous_key_id` (so a concurrent change is not overwritten); returns whether it did.
    pub async fn connection_reseal(
        &self,
        id: &str,
        previous_key_id: &str,
        sealed: Sealed,
    ) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.connection_reseal(id, previous_key_id, &sealed).await;
        }
        let (id, previous) = (id.to_string(), previous_key_id.to_string());
        self.write(move |conn| {
            let updated = conn.execute(
                "UPDATE block_connections SET secret_key_id = ?3, secret_nonce = ?4,
                    secret_ciphertext = ?5, updated_at_ms = ?6
                 WHERE id = ?1 AND secret_key_id = ?2",
                rusqlite::params![
                    id,
                    previous,
                    sealed.key_id,
                    sealed.nonce,
                    sealed.ciphertext,
                    signed(now_ms())
                ],
            )?;
            Ok(updated == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn store() -> (crate::store::test_support::TestGuard, Store) {
        crate::store::test_support::two_workspaces().await
    }

    fn connection(ws: &str) -> StoredConnection {
        StoredConnection {
            id: new_connection_id(),
            workspace: ws.into(),
            block_id: "sms".into(),
            name: "Main".into(),
            config: json!({"region": "eu"}).as_object().unwrap().clone(),
            secret_fields: vec!["token".into()],
            sealed: Some(Sealed {
                key_id: "k1".into(),
                nonce: vec![1; 24],
                ciphertext: vec![2; 40],
            }),
            account_label: "+33 1".into(),
            created_at_ms: 0,
            updated_at_ms: 0,
            last_tested_at_ms: 0,
            last_test_ok: true,
            last_test_message: "ok".into(),
        }
    }

    /// Supervisors sharing a PostgreSQL database race to add connections to a block that has
    /// room for four more: four are added, the others refused, never more than the cap. (Only
    /// PostgreSQL is shared by several supervisors; on SQLite a second process racing the
    /// supervisor's deferred transaction may be answered "database is locked".)
    #[tokio::test]
    async fn postgres_supervisors_racing_never_exceed_the_cap() {
        let _postgres = crate::store::test_support::use_postgres();
        let (dir, store) = store().await;
        let (second, third) = (dir.open_again(), dir.open_again());
        // Fill the block to four below the cap in one statement (996 inserts take seconds).
        let first = store.connection_insert(connection("ws_a")).await.unwrap();
        let filled = store
            .pg()
            .expect("PostgreSQL store")
            .client()
            .await
            .unwrap()
            .execute(
                "INSERT INTO block_connections
                 SELECT 'conn_fill_' || g, workspace_id, block_id, name, config, secret_fields,
                        secret_key_id, secret_nonce, secret_ciphertext, account_label,
                        created_at_ms, updated_at_ms, last_tested_at_ms, last_test_ok,
                        last_test_message
                 FROM block_connections, generate_series(1, $2::bigint) AS g WHERE id = $1",
                &[&first.id, &((MAX_CONNECTIONS_PER_BLOCK - 5) as i64)],
            )
            .await
            .unwrap();
        assert_eq!(filled as usize, MAX_CONNECTIONS_PER_BLOCK - 5);
        let add = |s: Store| async move {
            let mut results = Vec::new();
            for _ in 0..4 {
                results.push(s.connection_insert(connection("ws_a")).await);
            }
            results
        };
        let (a, b, c) = tokio::join!(add(store.clone()), add(second.clone()), add(third));
        let (added, refused): (Vec<_>, Vec<_>) =
            a.into_iter().chain(b).chain(c).partition(Result::is_ok);
        assert_eq!(added.len(), 4);
        for result in &refused {
            assert!(
                matches!(result, Err(StoreError::FailedPrecondition(m)) if m.contains("\"sms\"")),
                "{result:?}"
            );
        }
        assert_eq!(
            second.connection_list("ws_a", "sms").await.unwrap().len(),
            MAX_CONNECTIONS_PER_BLOCK
        );
        // The cap is per workspace and per block.
        second.connection_insert(connection("ws_b")).await.unwrap();
        let mut other_block = connection("ws_a");
        other_block.block_id = "mail".into();
        second.connection_insert(other_block).await.unwrap();
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn connections_are_scoped_tested_resealed_and_deleted() {
            let (_dir, store) = store().await;
            let stored = store.connection_insert(connection("ws_a")).await.unwrap();
            assert_eq!(stored.sealed.as_ref().unwrap().key_id, "k1");
            assert!(stored.created_at_ms > 0);
            assert!(store
                .connection_get("ws_b", "sms", &stored.id)
                .await
                .is_err());
            assert!(store
                .connection_list("ws_b", "sms")
                .await
                .unwrap()
                .is_empty());
            assert_eq!(store.connection_list("ws_a", "sms").await.unwrap().len(), 1);
            let tested = store
                .connection_record_test("ws_a", "sms", &stored.id, false, "bad token", "ignored")
                .await
                .unwrap();
            assert!(!tested.last_test_ok);
            assert_eq!(tested.account_label, "+33 1");
            assert_eq!(
                store.connection_key_usage().await.unwrap(),
                vec![("k1".into(), 1)]
            );
            let others = store
                .connections_sealed_with_other_keys("k2")
                .await
                .unwrap();
            assert_eq!(others.len(), 1);
            let resealed = Sealed {
                key_id: "k2".into(),
                nonce: vec![3; 24],
                ciphertext: vec![4; 40],
            };
            assert!(store
                .connection_reseal(&stored.id, "k1", resealed.clone())
                .await
                .unwrap());
            assert!(!store
                .connection_reseal(&stored.id, "k1", resealed)
                .await
                .unwrap());
            assert!(store
                .connections_sealed_with_other_keys("k2")
                .await
                .unwrap()
                .is_empty());
            assert!(store
                .connection_delete("ws_b", "sms", &stored.id)
                .await
                .is_err());
            store
                .connection_delete("ws_a", "sms", &stored.id)
                .await
                .unwrap();
            assert!(store
                .connection_get("ws_a", "sms", &stored.id)
                .await
                .is_err());
        }

        #[tokio::test]
        async fn unknown_workspace_is_refused() {
            let (_dir, store) = store().await;
            let error = store
                .connection_insert(connection("ws_zz"))
                .await
                .unwrap_err();
            assert!(matches!(error, StoreError::NotFound(_)), "{error}");
        }

        #[tokio::test]
        async fn two_supervisors_share_connections_and_reseal_once() {
            let (dir, store) = store().await;
            let other = dir.open_again();
            let stored = store.connection_insert(connection("ws_a")).await.unwrap();
            let theirs = other.connection_insert(connection("ws_a")).await.unwrap();
            assert_eq!(
                other.connection_get("ws_a", "sms", &stored.id).await.unwrap(),
                stored
            );
            let mut both = vec![stored.clone(), theirs];
            both.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(store.connection_list("ws_a", "sms").await.unwrap(), both);
            assert_eq!(other.connection_list("ws_a", "sms").await.unwrap(), both);

            // Both reseal the same connection from k1 at the same time: exactly one does.
            let sealed = |key: &str| Sealed {
                key_id: key.into(),
                nonce: vec![5; 24],
                ciphertext: vec![6; 40],
            };
            let (x, y) = tokio::join!(
                store.connection_reseal(&stored.id, "k1", sealed("k2")),
                other.connection_reseal(&stored.id, "k1", sealed("k3"))
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(x ^ y, "resealed twice or never");
            let winner = if x { "k2" } else { "k3" };
            let seen = other
                .connection_get("ws_a", "sms", &stored.id)
                .await
                .unwrap();
            assert_eq!(seen.sealed, Some(sealed(winner)));
            assert_eq!(
                store.connection_key_usage().await.unwrap(),
                vec![("k1".into(), 1), (winner.into(), 1)]
            );
            // A test recorded through one supervisor is seen by the other.
            let tested = other
                .connection_record_test("ws_a", "sms", &stored.id, true, "fine", "+33 2")
                .await
                .unwrap();
            assert_eq!(tested.account_label, "+33 2");
            assert_eq!(
                store.connection_get("ws_a", "sms", &stored.id).await.unwrap(),
                tested
            );
        }
    }
}
