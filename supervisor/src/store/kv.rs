//! Module storage (`ctx.storage`): key-value entries scoped to (workspace, module), with
//! revisions, optional expiry and compare-and-set.
//!
//! An expired entry behaves exactly as an absent one in every method. Expired rows are deleted
//! lazily (a write to the key replaces them) and by [`Store::purge_expired`], which
//! [`Store::start_sweeper`] runs periodically.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use super::util::{
    check_len, decode_page_token, into_page, json_text, now_ms, page_size, parse_json,
    require_workspace, signed, unsigned, MAX_NAME, MAX_VALUE,
};
use super::{Page, Store, StoreError};

/// Longest key, in bytes.
pub const MAX_KEY: usize = 512;

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageEntry {
    /// 1-512 bytes of UTF-8.
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// 1 when the key was created, +1 on every write.
    pub revision: u64,
    /// When it expires (milliseconds since the Unix epoch); 0 = never.
    pub expires_at_ms: u64,
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument("key: required".into()));
    }
    check_len("key", key, MAX_KEY)
}

fn check_scope(module: &str) -> Result<(), StoreError> {
    if module.is_empty() {
        return Err(StoreError::InvalidArgument("module: required".into()));
    }
    check_len("module", module, MAX_NAME)
}

fn row_to_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<StorageEntry> {
    Ok(StorageEntry {
        key: row.get(0)?,
        value: parse_json("module_storage.value", &row.get::<_, String>(1)?)?,
        revision: unsigned(row.get(2)?),
        expires_at_ms: unsigned(row.get(3)?),
    })
}

/// The live (not expired) revision of a key, 0 when absent or expired.
fn live_revision(
    conn: &Connection,
    ws: &str,
    module: &str,
    key: &str,
    now: u64,
) -> Result<u64, StoreError> {
    let revision: Option<i64> = conn
        .query_row(
            "SELECT revision FROM module_storage
             WHERE workspace_id = ?1 AND module = ?2 AND key = ?3
               AND (expires_at_ms = 0 OR expires_at_ms > ?4)",
            rusqlite::params![ws, module, key, signed(now)],
            |row| row.get(0),
        )
        .optional()?;
    Ok(revision.map(unsigned).unwrap_or(0))
}

/// A validated write: key, value text and TTL.
struct Write {
    ws: String,
    module: String,
    key: String,
    value: Value,
    value_text: String,
    ttl_ms: u64,
}

impl Write {
    fn new(
        ws: &str,
        module: &str,
        key: &str,
        value: Value,
        ttl_ms: u64,
    ) -> Result<Self, StoreError> {
        check_scope(module)?;
        check_key(key)?;
        let value_text = json_text("value", &value, MAX_VALUE)?;
        Ok(Self {
            ws: ws.to_string(),
            module: module.to_string(),
            key: key.to_string(),
            value,
            value_text,
            ttl_ms,
        })
    }

    /// The same write, for the PostgreSQL store.
    fn for_postgres(&self) -> super::postgres::kv::KvWrite<'_> {
        super::postgres::kv::KvWrite {
            ws: &self.ws,
            module: &self.module,
            key: &self.key,
            value: &self.value,
            value_text: &self.value_text,
            ttl_ms: self.ttl_ms,
        }
    }

    /// Stores the value with revision `current + 1` (a `current` of 0 creates the key).
    fn apply(self, conn: &Connection, current: u64, now: u64) -> Result<StorageEntry, StoreError> {
        if current == 0 {
            require_workspace(conn, &self.ws)?;
        }
        let expires_at_ms = if self.ttl_ms == 0 {
            0
        } else {
            now.saturating_add(self.ttl_ms)
        };
        let revision = current + 1;
        conn.execute(
            "INSERT INTO module_storage
                (workspace_id, module, key, value, revision, expires_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (workspace_id, module, key) DO UPDATE SET
                value = excluded.value, revision = excluded.revision,
                expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms",
            rusqlite::params![
                self.ws,
                self.module,
                self.key,
                self.value_text,
                signed(revision),
                signed(expires_at_ms),
                signed(now)
            ],
        )?;
        Ok(StorageEntry {
            key: self.key,
            value: self.value,
            revision,
            expires_at_ms,
        })
    }
}

/// `key >= prefix AND key < prefix || x'F5'`: every UTF-8 string starting with `prefix`, and
/// nothing else (no UTF-8 byte is 0xF5 or above), in a form the primary key index serves.
const PREFIX_RANGE: &str = "key >= ?3 AND key < (?3 || CAST(x'F5' AS TEXT))";

impl Store {
    /// Entry `key` of `module` in `ws`; absent or expired is [`StoreError::NotFound`].
    pub async fn kv_get(
        &self,
        ws: &str,
        module: &str,
        key: &str,
    ) -> Result<StorageEntry, StoreError> {
        check_scope(module)?;
        check_key(key)?;
        if let Some(pg) = self.pg() {
            return pg.kv_get(ws, module, key).await;
        }
        let (ws, module, key) = (ws.to_string(), module.to_string(), key.to_string());
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT key, value, revision, expires_at_ms FROM module_storage
                 WHERE workspace_id = ?1 AND module = ?2 AND key = ?3
                   AND (expires_at_ms = 0 OR expires_at_ms > ?4)",
            )?
            .query_row(
                rusqlite::params![ws, module, key, signed(now_ms())],
                row_to_entry,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("key {key:?} not found")))
        })
        .await
    }

    /// Sets `key` unconditionally. `ttl_ms` > 0 expires it that many milliseconds from now; 0
    /// means never (and removes an earlier expiry).
    pub async fn kv_set(
        &self,
        ws: &str,
        module: &str,
        key: &str,
        value: Value,
        ttl_ms: u64,
    ) -> Result<StorageEntry, StoreError> {
        let write = Write::new(ws, module, key, value, ttl_ms)?;
        if let Some(pg) = self.pg() {
            return pg.kv_set(write.for_postgres()).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            let current = live_revision(&tx, &write.ws, &write.module, &write.key, now)?;
            let entry = write.apply(&tx, current, now)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// Sets `key` only if its current revision is `expected_revision` (0 = the key must be
    /// absent); otherwise [`StoreError::FailedPrecondition`] naming the current revision.
    pub async fn kv_compare_and_set(
        &self,
        ws: &str,
        module: &str,
        key: &str,
        value: Value,
        expected_revision: u64,
        ttl_ms: u64,
    ) -> Result<StorageEntry, StoreError> {
        let write = Write::new(ws, module, key, value, ttl_ms)?;
        if let Some(pg) = self.pg() {
            return pg
                .kv_compare_and_set(write.for_postgres(), expected_revision)
                .await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            let current = live_revision(&tx, &write.ws, &write.module, &write.key, now)?;
            if current != expected_revision {
                let state = if current == 0 {
                    "is absent".to_string()
                } else {
                    format!("is at revision {current}")
                };
                return Err(StoreError::FailedPrecondition(format!(
                    "key {:?} {state}, expected revision {expected_revision}",
                    write.key
                )));
            }
            let entry = write.apply(&tx, current, now)?;
            tx.commit()?;
            Ok(entry)
        })
        .await
    }

    /// Deletes `key`; `false` when it was absent (or expired).
    pub async fn kv_delete(&self, ws: &str, module: &str, key: &str) -> Result<bool, StoreError> {
        check_scope(module)?;
        check_key(key)?;
        if let Some(pg) = self.pg() {
            return pg.kv_delete(ws, module, key).await;
        }
        let (ws, module, key) = (ws.to_string(), module.to_string(), key.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let live = live_revision(&tx, &ws, &module, &key, now_ms())? > 0;
            tx.execute(
                "DELETE FROM module_storage WHERE workspace_id = ?1 AND module = ?2 AND key = ?3",
                [&ws, &module, &key],
            )?;
            tx.commit()?;
            Ok(live)
        })
        .await
    }

    /// Entries of `module` in `ws` whose key starts with `prefix` (empty = all), in ascending
    /// byte order of their keys, values included.
    pub async fn kv_list(
        &self,
        ws: &str,
        module: &str,
        prefix: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<StorageEntry>, StoreError> {
        check_scope(module)?;
        check_len("prefix", prefix, MAX_KEY)?;
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        if let Some(pg) = self.pg() {
            return pg.kv_list(ws, module, prefix, limit, &after).await;
        }
        let (ws, module, prefix) = (ws.to_string(), module.to_string(), prefix.to_string());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT key, value, revision, expires_at_ms FROM module_storage
                 WHERE workspace_id = ?1 AND module = ?2 AND {PREFIX_RANGE} AND key > ?4
                   AND (expires_at_ms = 0 OR expires_at_ms > ?5)
                 ORDER BY key LIMIT ?6"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![
                    ws,
                    module,
                    prefix,
                    after,
                    signed(now_ms()),
                    (limit + 1) as i64
                ],
                row_to_entry,
            )?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, limit, |e| &e.key))
        })
        .await
    }

    /// Deletes every expired entry; returns how many.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.purge_expired().await;
        }
        self.write(|conn| {
            Ok(conn.execute(
                "DELETE FROM module_storage WHERE expires_at_ms > 0 AND expires_at_ms <= ?1",
                [signed(now_ms())],
            )?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;
    use serde_json::json;
    use std::time::Duration;

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn revisions_and_isolation() {
            let (_dir, store) = two_workspaces().await;
            let first = store
                .kv_set("ws_a", "m1", "k", json!({"v": 1}), 0)
                .await
                .unwrap();
            assert_eq!(first.revision, 1);
            assert_eq!(first.expires_at_ms, 0);
            let second = store
                .kv_set("ws_a", "m1", "k", json!([2]), 0)
                .await
                .unwrap();
            assert_eq!(second.revision, 2);
            assert_eq!(store.kv_get("ws_a", "m1", "k").await.unwrap(), second);
            // Another module, another workspace: invisible.
            assert!(matches!(
                store.kv_get("ws_a", "m2", "k").await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store.kv_get("ws_b", "m1", "k").await,
                Err(StoreError::NotFound(_))
            ));
            assert!(store
                .kv_list("ws_a", "m2", "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(store
                .kv_list("ws_b", "m1", "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(!store.kv_delete("ws_b", "m1", "k").await.unwrap());
            assert!(!store.kv_delete("ws_a", "m2", "k").await.unwrap());
            assert_eq!(
                store
                    .kv_set("ws_b", "m1", "k", json!(0), 0)
                    .await
                    .unwrap()
                    .revision,
                1
            );
            // Delete, then the revision starts again at 1.
            assert!(store.kv_delete("ws_a", "m1", "k").await.unwrap());
            assert!(!store.kv_delete("ws_a", "m1", "k").await.unwrap());
            assert_eq!(
                store
                    .kv_set("ws_a", "m1", "k", json!(3), 0)
                    .await
                    .unwrap()
                    .revision,
                1
            );
            assert_eq!(
                store.kv_get("ws_b", "m1", "k").await.unwrap().value,
                json!(0)
            );
        }

        #[tokio::test]
        async fn validation() {
            let (_dir, store) = two_workspaces().await;
            let long = "k".repeat(513);
            for (result, field) in [
                (store.kv_set("ws_a", "m", "", json!(1), 0).await, "key"),
                (store.kv_set("ws_a", "m", &long, json!(1), 0).await, "key"),
                (
                    store
                        .kv_set("ws_a", "m", "k", json!("x".repeat(1024 * 1024)), 0)
                        .await,
                    "value",
                ),
            ] {
                assert!(matches!(
                    result,
                    Err(StoreError::InvalidArgument(m)) if m.starts_with(field)
                ));
            }
            store
                .kv_set("ws_a", "m", &"k".repeat(512), json!(null), 0)
                .await
                .unwrap();
            assert!(matches!(
                store.kv_set("ws_nope", "m", "k", json!(1), 0).await,
                Err(StoreError::NotFound(_))
            ));
        }

        #[tokio::test]
        async fn compare_and_set() {
            let (_dir, store) = two_workspaces().await;
            // 0 = must be absent.
            let created = store
                .kv_compare_and_set("ws_a", "m", "lock", json!("a"), 0, 0)
                .await
                .unwrap();
            assert_eq!(created.revision, 1);
            let err = store
                .kv_compare_and_set("ws_a", "m", "lock", json!("b"), 0, 0)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::FailedPrecondition(m) if m.contains("revision 1")),
                "{err}"
            );
            let err = store
                .kv_compare_and_set("ws_a", "m", "lock", json!("b"), 5, 0)
                .await
                .unwrap_err();
            assert!(matches!(&err, StoreError::FailedPrecondition(m) if m.contains("revision 1")));
            let updated = store
                .kv_compare_and_set("ws_a", "m", "lock", json!("b"), 1, 0)
                .await
                .unwrap();
            assert_eq!(updated.revision, 2);
            assert_eq!(
                store.kv_get("ws_a", "m", "lock").await.unwrap().value,
                json!("b")
            );
            // Absent key with a non-zero expectation.
            let err = store
                .kv_compare_and_set("ws_a", "m", "other", json!(1), 1, 0)
                .await
                .unwrap_err();
            assert!(matches!(&err, StoreError::FailedPrecondition(m) if m.contains("absent")));
            // Another module's key of the same name does not count.
            store
                .kv_compare_and_set("ws_a", "m2", "lock", json!("c"), 0, 0)
                .await
                .unwrap();
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_compare_and_set_has_one_winner() {
            let (_dir, store) = two_workspaces().await;
            let attempts: Vec<_> = (0..16)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .kv_compare_and_set("ws_a", "m", "leader", json!(i), 0, 0)
                            .await
                    })
                })
                .collect();
            let mut winners = 0;
            for attempt in attempts {
                match attempt.await.unwrap() {
                    Ok(entry) => {
                        assert_eq!(entry.revision, 1);
                        winners += 1;
                    }
                    Err(e) => assert!(matches!(e, StoreError::FailedPrecondition(_)), "{e}"),
                }
            }
            assert_eq!(winners, 1);
        }

        #[tokio::test]
        async fn ttl_expiry() {
            let (_dir, store) = two_workspaces().await;
            let entry = store
                .kv_set("ws_a", "m", "short", json!(1), 300)
                .await
                .unwrap();
            assert!(entry.expires_at_ms > 0);
            store
                .kv_set("ws_a", "m", "long", json!(1), 60_000)
                .await
                .unwrap();
            store
                .kv_set("ws_a", "m", "forever", json!(1), 0)
                .await
                .unwrap();
            assert_eq!(
                store.kv_get("ws_a", "m", "short").await.unwrap().revision,
                1
            );
            tokio::time::sleep(Duration::from_millis(350)).await;
            assert!(matches!(
                store.kv_get("ws_a", "m", "short").await,
                Err(StoreError::NotFound(_))
            ));
            let keys: Vec<String> = store
                .kv_list("ws_a", "m", "", 0, "")
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|e| e.key)
                .collect();
            assert_eq!(keys, ["forever", "long"]);
            // An expired key is absent for compare-and-set and starts again at revision 1.
            let again = store
                .kv_compare_and_set("ws_a", "m", "short", json!(2), 0, 30)
                .await
                .unwrap();
            assert_eq!(again.revision, 1);
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert!(!store.kv_delete("ws_a", "m", "short").await.unwrap());
            // Setting without TTL removes an expiry.
            store.kv_set("ws_a", "m", "t", json!(1), 30).await.unwrap();
            assert_eq!(
                store
                    .kv_set("ws_a", "m", "t", json!(1), 0)
                    .await
                    .unwrap()
                    .expires_at_ms,
                0
            );
            store
                .kv_set("ws_a", "m", "gone", json!(1), 1)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(store.purge_expired().await.unwrap(), 1);
            assert_eq!(store.purge_expired().await.unwrap(), 0);
        }

        #[tokio::test]
        async fn list_by_prefix_and_pages() {
            let (_dir, store) = two_workspaces().await;
            let keys = [
                "user:1",
                "user:2",
                "user:10",
                "user:é",
                "user:\u{10FFFF}",
                "user;",
                "users",
                "use",
                "order:1",
            ];
            for key in keys {
                store.kv_set("ws_a", "m", key, json!(key), 0).await.unwrap();
            }
            let mut seen = Vec::new();
            let mut token = String::new();
            loop {
                let page = store
                    .kv_list("ws_a", "m", "user:", 2, &token)
                    .await
                    .unwrap();
                seen.extend(page.items.into_iter().map(|e| e.key));
                match page.next_page_token {
                    Some(next) => token = next,
                    None => break,
                }
            }
            assert_eq!(
                seen,
                ["user:1", "user:10", "user:2", "user:é", "user:\u{10FFFF}"]
            );
            let all = store.kv_list("ws_a", "m", "", 0, "").await.unwrap();
            let mut sorted: Vec<&str> = keys.to_vec();
            sorted.sort();
            assert_eq!(
                all.items.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
                sorted
            );
            let unicode = store.kv_list("ws_a", "m", "user:é", 0, "").await.unwrap();
            assert_eq!(unicode.items.len(), 1);
        }
    }
}
