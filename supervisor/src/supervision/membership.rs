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
/// A node heard from within this is live (six heartbeats: longer than a heartbeat can wait
/// for a pooled connection, so a busy node is not taken for a dead one).
pub const LIVE_WITHIN: Duration = Duration::from_secs(30);
/// How long one heartbeat may take before it is given up (the next one tries again).
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(4);
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

/// This process's id: `<hostname>:<pid>:<8 random hex digits>`, drawn once per process (what
/// it writes in cron run history). The random part tells apart processes that share a host
/// name and a pid (containers running the supervisor as pid 1).
pub fn instance_id() -> String {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_string());
            format!(
                "{host}:{}:{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
        })
        .clone()
}

/// This node's id, once [`Heartbeat::start`] ran.
static NODE_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Another live node sharing the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its node id (`[cluster] node_id`).
    pub node: String,
    /// Its process ([`instance_id`]).
    pub instance: String,
}

/// Records this node's id before its first heartbeat (so start-up, which runs before it, does
/// not take this node's previous process for another live node).
pub fn set_node_id(id: &str) {
    let _ = NODE_ID.set(id.to_string());
}

/// This node's id once [`Heartbeat::start`] ran, else this process's [`instance_id`].
pub fn node_id() -> String {
    NODE_ID.get().cloned().unwrap_or_else(instance_id)
}

/// The other live nodes sharing `store` (none on SQLite).
pub async fn live_peers(store: &Store) -> Result<Vec<Peer>, crate::store::StoreError> {
    if !store.is_shared() {
        return Ok(Vec::new());
    }
    let me = instance_id();
    let my_node = NODE_ID.get();
    Ok(store
        .list_nodes(LIVE_WITHIN.as_millis() as u64)
        .await?
        .into_iter()
        // This node's own row may still name its previous process (restarted within the
        // liveness window): that process is gone, its runs are not live.
        .filter(|node| Some(&node.id) != my_node && node.instance != me)
        .map(|node| Peer {
            node: node.id,
            instance: node.instance,
        })
        .collect())
}

/// The processes ([`instance_id`]) of the other live nodes sharing `store` (none on SQLite).
pub async fn other_live_instances(store: &Store) -> Result<Vec<String>, crate::store::StoreError> {
    Ok(live_peers(store)
        .await?
        .into_iter()
        .map(|peer| peer.instance)
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
        secrets: serde_json::json!({
            "active": keys.active,
            "keys": keys.keys,
            "check_values": keys.check_values,
        }),
    }
}

/// This node's heartbeats: one recorded before [`Heartbeat::start`] returns (so other nodes
/// count this process live before its crons start), then one every [`HEARTBEAT_INTERVAL`]
/// until [`Heartbeat::leave`].
pub struct Heartbeat {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    store: Store,
    identity: NodeIdentity,
}

impl Heartbeat {
    /// Records the first heartbeat, then keeps beating in a task. A failed heartbeat is logged
    /// (once per failure streak) and tried again at the next tick.
    pub async fn start(
        supervisor: Arc<Supervisor>,
        store: Store,
        identity: NodeIdentity,
        keyring: Arc<Keyring>,
    ) -> Heartbeat {
        let _ = NODE_ID.set(identity.id.clone());
        let _ = store.node_leave("", FORGET_AFTER.as_millis() as u64).await;
        let mut failing = beat(&store, &identity, &supervisor, &keyring, false).await;
        let stop = tokio_util::sync::CancellationToken::new();
        let task = {
            let (stop, store, identity) = (stop.clone(), store.clone(), identity.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    failing = beat(&store, &identity, &supervisor, &keyring, failing).await;
                }
            })
        };
        Heartbeat {
            stop,
            task,
            store,
            identity,
        }
    }

    /// Stops beating (waiting for a heartbeat under way, so none lands after), then removes
    /// this node's record. Call it once the modules have stopped: until then their runs are
    /// live.
    pub async fn leave(self) {
        self.stop.cancel();
        let _ = self.task.await;
        if let Err(e) = self
            .store
            .node_leave(&self.identity.id, FORGET_AFTER.as_millis() as u64)
            .await
        {
            tracing::warn!(node = %self.identity.id, "cannot remove this node's record: {e}");
        }
    }
}

/// Records one heartbeat within [`HEARTBEAT_TIMEOUT`]; returns whether it failed (logging the
/// first failure of a streak, `failing` telling whether the last one failed too).
async fn beat(
    store: &Store,
    identity: &NodeIdentity,
    supervisor: &Supervisor,
    keyring: &Keyring,
    failing: bool,
) -> bool {
    let node = snapshot(identity, supervisor, keyring);
    let error = match tokio::time::timeout(HEARTBEAT_TIMEOUT, store.node_heartbeat(&node)).await {
        Ok(Ok(())) => return false,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {HEARTBEAT_TIMEOUT:?}"),
    };
    if !failing {
        tracing::warn!(node = %identity.id, "cannot record this node's heartbeat: {error}");
    }
    true
}
