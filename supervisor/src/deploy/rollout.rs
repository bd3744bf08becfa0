//! Rolling a deployment out to the other live nodes of a cluster once this node switched: every
//! peer is asked at once to switch; if one cannot, this node and every peer go back to the
//! active version (the candidate was never recorded active) and the deployment fails, naming
//! the node. On one node (SQLite) there is nothing to roll out.

use std::time::Duration;

use super::cluster::{NodeReport, Reply, Request, CONVERGE_TIMEOUT};
use super::Deployer;
use crate::store::Deployment;
use crate::supervision::membership::{self, Peer};

/// What rolling out gave.
#[derive(Debug, Default)]
pub(super) struct Rollout {
    /// Every node's report (empty on one node).
    pub nodes: Vec<NodeReport>,
    /// Why the deployment failed, and the failed candidate's output lines.
    pub failure: Option<(String, Vec<String>)>,
}

/// Extra time a peer gets beyond the module's start timeout (fetching the package).
const PEER_SLACK: Duration = Duration::from_secs(30);

impl Deployer {
    /// Asks every live peer to switch to `record` (this node did: `here` says how), and on any
    /// failure brings every node back to the active version. `start_timeout`: the module's.
    pub(super) async fn roll_out(
        &self,
        record: &Deployment,
        here: &str,
        start_timeout: Duration,
    ) -> Rollout {
        let Some(link) = self.cluster.get() else {
            return Rollout::default();
        };
        let mut nodes = vec![report(&self_peer(), "switched", here.to_string())];
        let peers = match membership::live_peers(&self.store).await {
            Ok(peers) => peers,
            Err(e) => {
                let reason = format!("cannot list the cluster's live nodes: {e}");
                return self
                    .roll_back_all(record, &[], nodes, (reason, Vec::new()))
                    .await;
            }
        };
        if peers.is_empty() {
            return Rollout {
                nodes,
                failure: None,
            };
        }
        let request = Request::Switch {
            deployment: record.id.clone(),
        };
        let answers = link
            .ask_all(&peers, &request, start_timeout + PEER_SLACK)
            .await;
        let mut failures = Vec::new();
        let mut logs = Vec::new();
        for (peer, answer) in peers.iter().zip(answers) {
            let (state, message) = match answer {
                Ok(Reply {
                    ok: true, message, ..
                }) => ("switched", message),
                Ok(Reply {
                    ok: false,
                    message,
                    logs: lines,
                    ..
                }) => {
                    if logs.is_empty() {
                        logs = lines;
                    }
                    ("failed", message)
                }
                Err(message) => ("unreachable", message),
            };
            if state != "switched" {
                failures.push(format!("node {} {state}: {message}", peer.node));
            }
            nodes.push(report(peer, state, message));
        }
        if failures.is_empty() {
            return Rollout {
                nodes,
                failure: None,
            };
        }
        let reason = format!(
            "not every node took it over, so every node went back to the active version: {}",
            failures.join("; ")
        );
        self.roll_back_all(record, &peers, nodes, (reason, logs))
            .await
    }

    /// Brings this node and `peers` back to what the store holds active for `record`'s module.
    async fn roll_back_all(
        &self,
        record: &Deployment,
        peers: &[Peer],
        mut nodes: Vec<NodeReport>,
        failure: (String, Vec<String>),
    ) -> Rollout {
        let (workspace, module) = (&record.workspace, &record.module);
        let here = self.converge_claimed(workspace, module).await;
        back(&mut nodes[0], here);
        if let Some(link) = self.cluster.get() {
            let switched: Vec<Peer> = peers
                .iter()
                .filter(|peer| {
                    nodes
                        .iter()
                        .any(|n| n.instance == peer.instance && n.state == "switched")
                })
                .cloned()
                .collect();
            let request = Request::Converge {
                workspace: workspace.clone(),
                module: module.clone(),
            };
            let answers = link.ask_all(&switched, &request, CONVERGE_TIMEOUT).await;
            for (peer, answer) in switched.iter().zip(answers) {
                if let Some(node) = nodes.iter_mut().find(|n| n.instance == peer.instance) {
                    back(
                        node,
                        match answer {
                            Ok(Reply {
                                ok: true, message, ..
                            }) => Ok(message),
                            Ok(Reply { message, .. }) | Err(message) => Err(message),
                        },
                    );
                }
            }
        }
        Rollout {
            nodes,
            failure: Some(failure),
        }
    }
}

/// This node as a peer of the others.
fn self_peer() -> Peer {
    Peer {
        node: membership::node_id(),
        instance: membership::instance_id(),
    }
}

fn report(peer: &Peer, state: &str, message: String) -> NodeReport {
    NodeReport {
        node: peer.node.clone(),
        instance: peer.instance.clone(),
        state: state.to_string(),
        message,
    }
}

/// Records on a node that switched whether it went back.
fn back(node: &mut NodeReport, outcome: Result<String, String>) {
    if node.state != "switched" {
        return;
    }
    match outcome {
        Ok(message) => {
            node.state = "rolled_back".into();
            node.message = message;
        }
        Err(e) => {
            node.state = "not_rolled_back".into();
            node.message = format!(
                "{e} (it catches up with the store within {}s)",
                super::reconcile::INTERVAL.as_secs()
            );
        }
    }
}
