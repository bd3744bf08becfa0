//! Rolling a deployment out to the other live nodes of a cluster once this node switched: every
//! peer is asked at once to switch; if one cannot, the deployment is recorded failed (naming the
//! node) and then this node and every peer go back to the active version (the candidate was
//! never recorded active). On one node (SQLite) there is nothing to roll out.

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
    /// The peers asked.
    pub peers: Vec<Peer>,
}

/// Extra time a peer gets beyond its switch (fetching the package from the store).
const PEER_SLACK: Duration = Duration::from_secs(30);

impl Deployer {
    /// Asks every live peer to switch to `record` (this node did: `here` says how) and collects
    /// their reports. `switch_time`: how long its switch may take (all replicas).
    pub(super) async fn roll_out(
        &self,
        record: &Deployment,
        here: &str,
        switch_time: Duration,
    ) -> Rollout {
        let Some(link) = self.cluster.get() else {
            return Rollout::default();
        };
        let mut nodes = vec![report(&self_peer(), "switched", here.to_string())];
        let peers = match membership::live_peers(&self.store).await {
            Ok(peers) => peers,
            Err(e) => {
                let reason = format!("cannot list the cluster's live nodes: {e}");
                return Rollout {
                    nodes,
                    failure: Some((reason, Vec::new())),
                    peers: Vec::new(),
                };
            }
        };
        if peers.is_empty() {
            return Rollout {
                nodes,
                failure: None,
                peers,
            };
        }
        let request = Request::Switch {
            deployment: record.id.clone(),
        };
        let answers = link
            .ask_all(&peers, &request, switch_time + PEER_SLACK)
            .await;
        let mut failures = Vec::new();
        let mut logs = Vec::new();
        for (peer, answer) in peers.iter().zip(answers) {
            let (state, message) = match answer {
                Ok(Reply {
                    ok: true, message, ..
                }) => ("switched", message),
                Ok(Reply {
                    leaving: true,
                    message,
                    ..
                }) => ("left", message),
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
            if !matches!(state, "switched" | "left") {
                failures.push(format!("node {} {state}: {message}", peer.node));
            }
            nodes.push(report(peer, state, message));
        }
        let failure = (!failures.is_empty()).then(|| {
            (
                format!(
                    "not every node took it over (every node goes back to what ran before): {}",
                    failures.join("; ")
                ),
                logs,
            )
        });
        Rollout {
            nodes,
            failure,
            peers,
        }
    }

    /// Once `record` is recorded failed: brings this node and every peer (those that did not
    /// answer too) back to what the store holds for its module; notes on each report whether
    /// that node went back.
    pub(super) async fn roll_back_all(
        &self,
        record: &Deployment,
        peers: &[Peer],
        nodes: &mut [NodeReport],
    ) {
        let (workspace, module) = (&record.workspace, &record.module);
        let here = self.converge_claimed(workspace, module).await;
        if let Some(first) = nodes.first_mut() {
            back(first, here);
        }
        if let Some(link) = self.cluster.get() {
            let request = Request::Converge {
                workspace: workspace.clone(),
                module: module.clone(),
            };
            let answers = link.ask_all(peers, &request, CONVERGE_TIMEOUT).await;
            for (peer, answer) in peers.iter().zip(answers) {
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
    }
}

/// This node as a peer of the others.
pub(super) fn self_peer() -> Peer {
    Peer {
        node: membership::node_id(),
        instance: membership::instance_id(),
    }
}

/// A report of `peer`.
pub(super) fn report(peer: &Peer, state: &str, message: String) -> NodeReport {
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
