//! Config reload across a cluster: a reload sent to one node (`POST /admin/v1/reload`, SIGHUP
//! stays local) is passed to every other live node, which reloads its own config file; each
//! answers with its report.

use std::time::Duration;

use serde::Serialize;

use super::cluster::{Reply, Request};
use super::Deployer;
use crate::supervision::membership;

/// How long a peer may take to reload (modules it starts or switches included).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// What one other node answered to a reload.
#[derive(Debug, Serialize)]
pub struct NodeReload {
    /// Its node id.
    pub node: String,
    /// Whether its config was valid and every change took over.
    pub ok: bool,
    /// Why not, or a summary.
    pub message: String,
    /// Its reload report (as `POST /admin/v1/reload` answers), when it reloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

impl Deployer {
    /// Gives this node the reloader its peers' reload requests use.
    pub fn set_reloader(&self, reloader: std::sync::Arc<crate::supervision::reload::Reloader>) {
        let _ = self.reloader.set(reloader);
    }

    /// Asks every other live node of a cluster to reload its config file; their answers (none
    /// on one node).
    pub async fn reload_peers(&self) -> Vec<NodeReload> {
        let Some(link) = self.cluster.get() else {
            return Vec::new();
        };
        let peers = match membership::live_peers(&self.store).await {
            Ok(peers) => peers,
            Err(e) => {
                return vec![NodeReload {
                    node: "?".into(),
                    ok: false,
                    message: format!("cannot list the cluster's live nodes: {e}"),
                    report: None,
                }]
            }
        };
        let answers = link.ask_all(&peers, &Request::Reload, RELOAD_TIMEOUT).await;
        peers
            .into_iter()
            .zip(answers)
            .map(|(peer, answer)| match answer {
                Ok(reply) => NodeReload {
                    node: peer.node,
                    ok: reply.ok,
                    message: reply.message,
                    report: reply.report,
                },
                Err(message) => NodeReload {
                    node: peer.node,
                    ok: false,
                    message,
                    report: None,
                },
            })
            .collect()
    }

    /// Reloads this node's config file for a peer.
    pub(super) async fn reload_here(&self) -> Reply {
        let Some(reloader) = self.reloader.get() else {
            return Reply::refused("this node cannot reload yet (still starting)".into());
        };
        match reloader.reload().await {
            Ok(report) => {
                let applied = report.changed.iter().all(|c| c.applied);
                let message = format!(
                    "{} added, {} removed, {} changed{}, {} unchanged",
                    report.added.len(),
                    report.removed.len(),
                    report.changed.len(),
                    if applied { "" } else { " (not all applied)" },
                    report.unchanged.len()
                );
                Reply {
                    ok: applied,
                    report: serde_json::to_value(&report).ok(),
                    ..Reply::done(message)
                }
            }
            Err(e) => Reply::refused(format!("{e}; nothing was changed")),
        }
    }
}
