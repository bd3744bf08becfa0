//! Cluster membership on PostgreSQL (see `store/nodes.rs`).

use super::util::{parse_json, signed, unsigned};
use super::{PgError, PgStore};
use crate::store::{ClusterNode, StoreError};

impl PgStore {
    /// Upserts a node's heartbeat (`modules` is its snapshot's JSON text).
    pub(crate) async fn node_heartbeat(
        &self,
        node: &ClusterNode,
        modules: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO cluster_nodes
                    (id, address, version, started_at_ms, last_seen_ms, modules, instance,
                     secrets)
                 VALUES ($1, $2, $3, $4, (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                         $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address,
                    instance = excluded.instance, secrets = excluded.secrets,
                    version = excluded.version, started_at_ms = excluded.started_at_ms,
                    last_seen_ms = excluded.last_seen_ms, modules = excluded.modules",
                &[
                    &node.id,
                    &node.address,
                    &node.version,
                    &signed(node.started_at_ms),
                    &modules,
                    &node.instance,
                    &node.secrets.to_string(),
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(())
    }

    /// Deletes node `id` and the nodes silent since before `before_ms`.
    pub(crate) async fn node_leave(&self, id: &str, before_ms: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM cluster_nodes WHERE id = $1 OR last_seen_ms < $2",
                &[&id, &before_ms],
            )
            .await
            .map_err(PgError::from)?;
        Ok(())
    }

    /// The cluster key: `made` stored unless a key exists, then the stored one.
    pub(crate) async fn cluster_key(
        &self,
        made: &[u8],
        now_ms: i64,
    ) -> Result<Vec<u8>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO cluster_key (id, key, created_at_ms) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO NOTHING",
                &[&made, &now_ms],
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_one("SELECT key FROM cluster_key WHERE id = 1", &[])
            .await
            .map_err(PgError::from)?;
        Ok(row.get(0))
    }

    /// The nodes heard from within `window_ms` of the server's clock, by id.
    pub(crate) async fn list_nodes(&self, window_ms: i64) -> Result<Vec<ClusterNode>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, address, version, started_at_ms, last_seen_ms, modules, instance,
                        secrets
                 FROM cluster_nodes
                 WHERE last_seen_ms >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1
                 ORDER BY id",
                &[&window_ms],
            )
            .await
            .map_err(PgError::from)?;
        rows.iter()
            .map(|row| {
                Ok(ClusterNode {
                    id: row.get(0),
                    address: row.get(1),
                    version: row.get(2),
                    started_at_ms: unsigned(row.get(3)),
                    last_seen_ms: unsigned(row.get(4)),
                    modules: parse_json("cluster_nodes.modules", row.get(5))?,
                    instance: row.get(6),
                    secrets: parse_json("cluster_nodes.secrets", row.get(7))?,
                })
            })
            .collect::<Result<Vec<_>, PgError>>()
            .map_err(StoreError::from)
    }
}
