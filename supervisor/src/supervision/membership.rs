//! Cluster membership: this supervisor records itself in the store every
//! [`HEARTBEAT_INTERVAL`] (its node id, address, version, a snapshot of its modules' statuses
//! and the ids of the secrets keys it holds), and removes itself when it stops. Every supervisor sharing the store (PostgreSQL)
//! sees the others; a node silent for [`LIVE_WITHIN`] is no longer listed, and its row is
//! deleted after [`FORGET_AFTER`].

use std::sync::Arc;
use std::time::Duration;

use crate::secrets::Keyring;
use crate::store::{ClusterNode, Store};

use super::Supervisor;

/// How often a node records its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A node heard from within this is live (three missed heartbeats).
pub const LIVE_WITHIN: Duration = Duration::from_secs(15);
/// A node silent for this long is deleted by the next node that leaves or starts.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Who this supervisor is in the cluster.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// `[cluster] node_id`, default `<hostname>:<port>`.
    pub id: String,
    /// `[cluster] advertise`, default `http://<listen address>`.
    pub address: String,
    /// This process: [`instance_id`].
    pub instance: String,
    /// When this process started (ms since the Unix epoch).
    pub started_at_ms: u64,
}

/// This process's id: `<hostname>:<pid>` (what it writes in cron run history).
pub fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// The processes ([`instance_id`]) of the other live nodes sharing `store` (none on SQLite).
pub async fn other_live_instances(store: &Store) -> Result<Vec<String>, crate::store::StoreError> {
    if !store.is_shared() {
        return Ok(Vec::new());
    }
    let me = instance_id();
    Ok(store
        .list_nodes(LIVE_WITHIN.as_millis() as u64)
        .await?
        .into_iter()
        .map(|node| node.instance)
        .filter(|instance| *instance != me)
        .collect())
}

/// This node's record now: its modules' statuses and the ids of the secrets keys it holds.
pub fn snapshot(
    identity: &NodeIdentity,
    supervisor: &Supervisor,
    keyring: &Keyring,
) -> ClusterNode {
    let modules: Vec<_> = supervisor.modules().iter().map(|m| m.status()).collect();
    let keys = keyring.status();
    ClusterNode {
        id: identity.id.clone(),
        address: identity.address.clone(),
        instance: identity.instance.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at_ms: identity.started_at_ms,
        last_seen_ms: 0,
        modules: serde_json::to_value(modules).unwrap_or_default(),
        secrets: serde_json::json!({"active": keys.active, "keys": keys.keys}),
    }
}

/// Records a heartbeat now and every [`HEARTBEAT_INTERVAL`] until the task is aborted. A failed
/// heartbeat is logged (once per failure streak) and retried at the next tick.
pub fn start_heartbeat(
    supervisor: Arc<Supervisor>,
    store: Store,
    identity: NodeIdentity,
    keyring: Arc<Keyring>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = store.node_leave("", FORGET_AFTER.as_millis() as u64).await;
        let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let node = snapshot(&identity, &supervisor, &keyring);
            match store.node_heartbeat(&node).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(node = %identity.id, "cannot record this node's heartbeat: {e}");
                }
                Err(_) => {}
            }
        }
    })
}

/// Removes this node's record (it stops).
pub async fn leave(store: &Store, identity: &NodeIdentity) {
    if let Err(e) = store
        .node_leave(&identity.id, FORGET_AFTER.as_millis() as u64)
        .await
    {
        tracing::warn!(node = %identity.id, "cannot remove this node's record: {e}");
    }
}
