//! Deployments across a cluster: the nodes sharing a PostgreSQL store talk over NATS core
//! request-reply (docs/cluster.md).
//!
//! Every node answers on its own subject `convotic.cluster.node.<digest of its instance id>`
//! and listens to the broadcast subject `convotic.cluster.converge`. Two requests exist:
//!
//! * `switch` a deployment under way (`deploying` in the store): the node fetches the package
//!   from the store if it lacks it, runs its zero-downtime switch, and answers whether the new
//!   version took over;
//! * `converge` a module: the node makes what it runs match the store (the active deployment,
//!   disabled, or removed), so a failed deployment is rolled back everywhere and a removal,
//!   enable or disable reaches every node;
//! * `reload`: the node reloads its own config file (a reload sent to one node reaches all).
//!
//! A request names records; it never carries a package or a spec, and every decision is taken
//! from the store, which only the admin API writes. Requests and answers are signed with the
//! cluster key kept in the store (`cluster_auth.rs`): a NATS publisher without access to the
//! store can neither make a node act nor fake a node's answer.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::cluster_auth::{ClusterAuth, Opened, Refusal};
use super::Deployer;
use crate::supervision::membership::{self, Peer};

/// Subject every node listens on for converge announcements (no answer expected).
const BROADCAST: &str = "convotic.cluster.converge";
/// Largest request a node reads (they carry ids only).
const MAX_REQUEST: usize = 4096;
/// Requests handled at once by one node (each may wait for a module to start).
const CONCURRENT_REQUESTS: usize = 16;
/// Longest a node waits for its own reload asked by another node.
const RELOAD_WITHIN: Duration = Duration::from_secs(15 * 60);
/// Largest answer read from a node.
const MAX_ANSWER: usize = 256 * 1024;
/// How often refused requests are logged at most.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);
/// How long a converge request may take on a peer (a switch back included).
pub(super) const CONVERGE_TIMEOUT: Duration = Duration::from_secs(40);

/// What a node is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Request {
    /// Switch to deployment `deployment` (under way).
    Switch {
        /// Its id.
        deployment: String,
    },
    /// Make `workspace/module` match the store.
    Converge {
        /// The workspace.
        workspace: String,
        /// The module.
        module: String,
    },
    /// Reload this node's own config file.
    Reload,
}

/// A node's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Reply {
    /// Whether it did what it was asked.
    pub ok: bool,
    /// What happened, or why not.
    pub message: String,
    /// For a failed switch: the candidate's last output lines.
    #[serde(default)]
    pub logs: Vec<String>,
    /// For a reload: what it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// The node is stopping and takes part in no operation: not a failure.
    #[serde(default)]
    pub leaving: bool,
}

/// What one node reported for a deployment (stored with it, shown by the API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeReport {
    /// The node id.
    pub node: String,
    /// Its process.
    pub instance: String,
    /// `switched`, `failed`, `unreachable`, `left` (stopping: it starts the active version when
    /// it comes back), `rolled_back` or `not_rolled_back`.
    pub state: String,
    /// What happened.
    pub message: String,
}

/// This node's link to the others.
pub(super) struct ClusterLink {
    client: async_nats::Client,
    auth: Arc<ClusterAuth>,
}

/// The subject node `instance` answers on.
fn subject_of(instance: &str) -> String {
    let digest = sha2::Sha256::digest(instance.as_bytes());
    format!("convotic.cluster.node.{}", hex::encode(&digest[..12]))
}

impl ClusterLink {
    /// A link over `client`, signing with the cluster key `key`.
    pub(super) fn new(client: async_nats::Client, key: Vec<u8>) -> Self {
        Self {
            client,
            auth: Arc::new(ClusterAuth::new(key)),
        }
    }

    /// Asks `peer` and waits up to `timeout` for its answer; a peer that cannot be reached
    /// answers `Err` with the reason.
    pub(super) async fn ask(
        &self,
        peer: &Peer,
        request: &Request,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let subject = subject_of(&peer.instance);
        let inbox = self.client.new_inbox();
        let (payload, nonce) = self.auth.seal_request(&subject, Some(&inbox), request);
        let sent = self
            .client
            .send_request(
                subject,
                async_nats::Request::new()
                    .inbox(inbox)
                    .payload(payload.into())
                    .timeout(Some(timeout)),
            )
            .await;
        let message = match sent {
            Ok(message) => message,
            Err(e) => {
                return Err(match e.kind() {
                    async_nats::RequestErrorKind::TimedOut => {
                        format!("no answer within {}", humantime::format_duration(timeout))
                    }
                    async_nats::RequestErrorKind::NoResponders => {
                        "it does not listen on NATS (stopping, or not connected)".to_string()
                    }
                    _ => format!("cannot reach it over NATS: {e}"),
                })
            }
        };
        if message.payload.len() > MAX_ANSWER {
            return Err(format!(
                "its answer is {} bytes: too large",
                message.payload.len()
            ));
        }
        self.auth
            .open_reply(&nonce, &message.payload)
            .map_err(|e| format!("its answer was refused: {e}"))
    }

    /// Asks every peer at once; the answers in `peers` order.
    pub(super) async fn ask_all(
        &self,
        peers: &[Peer],
        request: &Request,
        timeout: Duration,
    ) -> Vec<Result<Reply, String>> {
        futures::future::join_all(peers.iter().map(|peer| self.ask(peer, request, timeout))).await
    }

    /// Tells every node (including ones that joined since) to converge `workspace/module`;
    /// nobody answers.
    pub(super) async fn announce(&self, workspace: &str, module: &str) {
        let request = Request::Converge {
            workspace: workspace.to_string(),
            module: module.to_string(),
        };
        let (payload, _) = self.auth.seal_request(BROADCAST, None, &request);
        if let Err(e) = self.client.publish(BROADCAST, payload.into()).await {
            tracing::warn!("cannot announce {workspace}/{module} to the cluster: {e}");
        }
    }
}

/// Answers the requests of other nodes for as long as the process runs.
pub(super) async fn serve(deployer: Arc<Deployer>, link: &ClusterLink) {
    let (client, auth) = (link.client.clone(), Arc::clone(&link.auth));
    let own = subject_of(&membership::instance_id());
    let (mine, broadcast) = match (
        client.subscribe(own.clone()).await,
        client.subscribe(BROADCAST).await,
    ) {
        (Ok(mine), Ok(broadcast)) => (mine, broadcast),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(
                "cannot listen for deployments from other nodes on {own}: {e}; this node \
                 catches up with the store every {}s instead",
                super::reconcile::INTERVAL.as_secs()
            );
            return;
        }
    };
    // Requests that wait for an answer and announcements have slots of their own, so a flood
    // of announcements never makes a switch answer "busy".
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REQUESTS));
    let announcements = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REQUESTS));
    let mut requests = futures::stream::select(mine, broadcast);
    let mut last_refusal_logged: Option<std::time::Instant> = None;
    while let Some(message) = requests.next().await {
        let reply_to = message.reply.as_ref().map(|r| r.as_str());
        let opened = if message.payload.len() > MAX_REQUEST {
            Err(Refusal {
                why: format!("a request of {} bytes is too large", message.payload.len()),
                answerable: None,
            })
        } else {
            auth.open_request(message.subject.as_str(), reply_to, &message.payload)
        };
        let Opened { request, nonce } = match opened {
            Ok(opened) => opened,
            Err(Refusal { why, answerable }) => {
                // Logged at most once a minute: whoever floods the subject cannot flood the log.
                if last_refusal_logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
                    last_refusal_logged = Some(std::time::Instant::now());
                    tracing::warn!(
                        subject = %message.subject,
                        "a cluster request was refused: {why} (further refusals within a \
                         minute are not logged)"
                    );
                }
                // Answered only when signed for this reply subject (a replay, a stale request):
                // an unsigned request's reply subject is anyone's choice, NATS's API included.
                if let (Some(nonce), Some(to)) = (answerable, message.reply) {
                    let refusal = Reply::refused(format!("refused by the node asked: {why}"));
                    let body = auth.seal_reply(&nonce, &refusal);
                    let client = client.clone();
                    tokio::spawn(async move {
                        let _ = client.publish(to, body.into()).await;
                    });
                }
                continue;
            }
        };
        let (deployer, client, auth) = (Arc::clone(&deployer), client.clone(), Arc::clone(&auth));
        let pool = if message.reply.is_some() {
            &slots
        } else {
            &announcements
        };
        // Never queued: a node flooded with requests answers "busy" at once (an announcement
        // is dropped: the catch-up does the same within seconds).
        let Ok(slot) = Arc::clone(pool).try_acquire_owned() else {
            if let Some(to) = message.reply {
                let busy = Reply::refused(format!(
                    "this node is handling {CONCURRENT_REQUESTS} cluster requests already"
                ));
                let _ = client
                    .publish(to, auth.seal_reply(&nonce, &busy).into())
                    .await;
            }
            continue;
        };
        tokio::spawn(async move {
            let _slot = slot;
            let reply = answer(&deployer, request).await;
            if let Some(to) = message.reply {
                let body = auth.seal_reply(&nonce, &reply);
                if let Err(e) = client.publish(to, body.into()).await {
                    tracing::warn!("cannot answer a cluster request: {e}");
                }
            }
        });
    }
}

/// Runs one request.
async fn answer(deployer: &Deployer, request: Request) -> Reply {
    if deployer.is_leaving() {
        return Reply {
            leaving: true,
            ..Reply::refused("this node is stopping".into())
        };
    }
    match request {
        Request::Switch { deployment } => deployer.switch_for_peer(&deployment).await,
        Request::Converge { workspace, module } => {
            match deployer.converge(&workspace, &module).await {
                Ok(message) => Reply::done(message),
                Err(e) => Reply::refused(e),
            }
        }
        // Every other request is bounded by the switch it runs (start timeouts, stop graces).
        Request::Reload => {
            match tokio::time::timeout(RELOAD_WITHIN, deployer.reload_here()).await {
                Ok(reply) => reply,
                Err(_) => Reply::refused(format!(
                    "the reload was not done within {}",
                    humantime::format_duration(RELOAD_WITHIN)
                )),
            }
        }
    }
}

impl Reply {
    /// A refusal saying why.
    pub(super) fn refused(message: String) -> Self {
        Reply {
            ok: false,
            message,
            logs: Vec::new(),
            report: None,
            leaving: false,
        }
    }

    /// Done, saying what was done.
    pub(super) fn done(message: String) -> Self {
        Reply {
            ok: true,
            message,
            logs: Vec::new(),
            report: None,
            leaving: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_single_tokens_whatever_the_host_name() {
        let subject = subject_of("db-1.example.com:42:0badcafe");
        assert_eq!(subject.split('.').count(), 4, "{subject}");
        assert_ne!(subject, subject_of("db-1.example.com:42:0badcaff"));
    }

    #[test]
    fn requests_read_as_sent() {
        let text = serde_json::to_string(&Request::Switch {
            deployment: "dep_1".into(),
        })
        .unwrap();
        assert_eq!(text, r#"{"op":"switch","deployment":"dep_1"}"#);
        assert!(serde_json::from_str::<Request>(r#"{"op":"run","cmd":"rm"}"#).is_err());
    }
}
