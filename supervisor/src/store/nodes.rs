//! Cluster membership: each supervisor sharing the store records itself (its id, address and
//! a snapshot of its modules) every few seconds; a node is live while its last heartbeat is
//! recent. On SQLite the only node is this one; on PostgreSQL every node of the cluster.

use serde::Serialize;
use serde_json::Value;

use super::util::{check_required, json_text, now_ms, parse_json, signed, unsigned, MAX_NAME};
use super::{Store, StoreError};

/// Length of the cluster key, in bytes.
pub const CLUSTER_KEY_LEN: usize = 32;

/// Largest modules snapshot of one node, as JSON text.
pub const MAX_NODE_SNAPSHOT: usize = 1024 * 1024;

/// One supervisor of the cluster, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterNode {
    /// Its node id (`[cluster] node_id`, default `<hostname>:<port>`).
    pub id: String,
    /// Where its HTTP listener is reached.
    pub address: String,
    /// Its process (`<hostname>:<pid>`, the id it writes in cron run history).
    pub instance: String,
    /// Its version.
    pub version: String,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// Its last heartbeat (ms since the Unix epoch).
    pub last_seen_ms: u64,
    /// Its modules' statuses at that heartbeat (a JSON array).
    pub modules: Value,
    /// The secrets keys it holds: `{"active": id, "keys": [ids]}` (ids only, never a key).
    pub secrets: Value,
}

impl ClusterNode {
    fn check(&self) -> Result<String, StoreError> {
        check_required("node id", &self.id, MAX_NAME)?;
        check_required("node address", &self.address, MAX_NAME)?;
        check_required("node instance", &self.instance, MAX_NAME)?;
        check_required("node version", &self.version, MAX_NAME)?;
        json_text("node secrets", &self.secrets, MAX_NODE_SNAPSHOT)?;
        json_text("node modules", &self.modules, MAX_NODE_SNAPSHOT)
    }
}

fn row_to_node(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterNode> {
    Ok(ClusterNode {
        id: row.get(0)?,
        address: row.get(1)?,
        version: row.get(2)?,
        started_at_ms: unsigned(row.get(3)?),
        last_seen_ms: unsigned(row.get(4)?),
        modules: parse_json("cluster_nodes.modules", &row.get::<_, String>(5)?)?,
        instance: row.get(6)?,
        secrets: parse_json("cluster_nodes.secrets", &row.get::<_, String>(7)?)?,
    })
}

impl Store {
    /// Records `node`'s heartbeat (its `last_seen_ms` is set to now: on PostgreSQL the server's
    /// clock, so nodes with skewed clocks still judge each other's liveness alike).
    pub async fn node_heartbeat(&self, node: &ClusterNode) -> Result<(), StoreError> {
        let modules = node.check()?;
        let mut node = node.clone();
        node.last_seen_ms = now_ms();
        if let Some(pg) = self.pg() {
            return pg.node_heartbeat(&node, &modules).await;
        }
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO cluster_nodes
                    (id, address, version, started_at_ms, last_seen_ms, modules, instance,
                     secrets)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address,
                    instance = excluded.instance, secrets = excluded.secrets,
                    version = excluded.version, started_at_ms = excluded.started_at_ms,
                    last_seen_ms = excluded.last_seen_ms, modules = excluded.modules",
                rusqlite::params![
                    node.id,
                    node.address,
                    node.version,
                    signed(node.started_at_ms),
                    signed(node.last_seen_ms),
                    modules,
                    node.instance,
                    node.secrets.to_string()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Removes node `id` (it stops), and nodes silent for longer than `forget_after_ms`.
    pub async fn node_leave(&self, id: &str, forget_after_ms: u64) -> Result<(), StoreError> {
        let before = signed(now_ms().saturating_sub(forget_after_ms));
        if let Some(pg) = self.pg() {
            return pg.node_leave(id, before).await;
        }
        let id = id.to_string();
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM cluster_nodes WHERE id = ?1 OR last_seen_ms < ?2",
                rusqlite::params![id, before],
            )?;
            Ok(())
        })
        .await
    }

    /// The key the nodes sharing this store sign their requests to each other with
    /// ([`CLUSTER_KEY_LEN`] random bytes): made by the first node that asks, the same for every
    /// node afterwards. Whoever can read the store can read it; NATS publishers cannot.
    pub async fn cluster_key(&self) -> Result<Vec<u8>, StoreError> {
        let made: [u8; CLUSTER_KEY_LEN] = rand::random();
        let now = signed(now_ms());
        if let Some(pg) = self.pg() {
            return pg.cluster_key(&made, now).await;
        }
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO cluster_key (id, key, created_at_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO NOTHING",
                rusqlite::params![made.to_vec(), now],
            )?;
            let key: Vec<u8> =
                conn.query_row("SELECT key FROM cluster_key WHERE id = 1", [], |row| {
                    row.get(0)
                })?;
            Ok(key)
        })
        .await
    }

    /// The nodes heard from within `live_within_ms` (by the server's clock on PostgreSQL), by
    /// id.
    pub async fn list_nodes(&self, live_within_ms: u64) -> Result<Vec<ClusterNode>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.list_nodes(signed(live_within_ms)).await;
        }
        let since = signed(now_ms().saturating_sub(live_within_ms));
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, address, version, started_at_ms, last_seen_ms, modules, instance,
                        secrets
                 FROM cluster_nodes WHERE last_seen_ms >= ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([since], row_to_node)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use serde_json::json;

    fn node(id: &str) -> ClusterNode {
        ClusterNode {
            id: id.into(),
            address: format!("http://{id}:8080"),
            instance: format!("{id}:1"),
            version: "1.0.0".into(),
            started_at_ms: 1,
            last_seen_ms: 0,
            modules: json!([{"name": "m", "state": "ready"}]),
            secrets: json!({"active": "k1", "keys": ["k1"]}),
        }
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn nodes_see_each_other_and_leave() {
            let (guard, a) = temp_store();
            let b = guard.open_again();
            a.node_heartbeat(&node("node-a")).await.unwrap();
            b.node_heartbeat(&node("node-b")).await.unwrap();
            b.node_heartbeat(&node("node-b")).await.unwrap();
            let seen = a.list_nodes(60_000).await.unwrap();
            let ids: Vec<&str> = seen.iter().map(|n| n.id.as_str()).collect();
            assert_eq!(ids, ["node-a", "node-b"]);
            assert_eq!(seen[1].modules, json!([{"name": "m", "state": "ready"}]));
            assert_eq!(seen[1].secrets, json!({"active": "k1", "keys": ["k1"]}));
            assert!(seen[1].last_seen_ms > 0);
            // Silent nodes are not live.
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            assert!(a.list_nodes(10).await.unwrap().is_empty());
            b.node_leave("node-b", 3_600_000).await.unwrap();
            let ids: Vec<String> = a
                .list_nodes(60_000)
                .await
                .unwrap()
                .into_iter()
                .map(|n| n.id)
                .collect();
            assert_eq!(ids, ["node-a"]);
            // One cluster key, whoever asks first.
            let (key_a, key_b) = tokio::join!(a.cluster_key(), b.cluster_key());
            let key_a = key_a.unwrap();
            assert_eq!(key_a.len(), CLUSTER_KEY_LEN);
            assert_eq!(key_a, key_b.unwrap());
            assert_eq!(a.cluster_key().await.unwrap(), key_a);
            assert!(matches!(
                a.node_heartbeat(&node("")).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("node id")
            ));
        }
    }
}
