//! Node invocation over NATS request-reply, for a workflow engine running elsewhere.
//!
//! Subject: `convotic.nodes.<workspace>.invoke.<node type>`; request body: the same JSON as
//! `POST /v1/nodes/{type}/invoke`; reply body: the same JSON as the HTTP answer, with the HTTP
//! status in the `Convotic-Status` header. Each supervisor subscribes (queue group
//! `convotic-nodes`) only to the node types of its Ready modules, so with several supervisors
//! on one NATS a request goes to one that can serve it, and a type whose module stops is
//! unsubscribed (NATS answers "no responders" when nobody serves it). Access control is NATS's:
//! whoever may publish on the subject may invoke the node (restrict it with NATS permissions).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::{CallInfo, Integrations};

/// Queue group of the responders.
pub const QUEUE_GROUP: &str = "convotic-nodes";
/// Header carrying the status of a reply.
pub const STATUS_HEADER: &str = "Convotic-Status";
/// Header a request may carry with its request id.
pub const REQUEST_ID_HEADER: &str = "Convotic-Request-Id";
/// How often the subscriptions are matched to the Ready modules.
const RECONCILE_EVERY: Duration = Duration::from_millis(250);

/// The subject serving node `node_type` of `workspace`.
pub fn subject(workspace: &str, node_type: &str) -> String {
    format!("convotic.nodes.{workspace}.invoke.{node_type}")
}

/// Starts the responder; it runs until the runtime stops.
pub fn start(integrations: Arc<Integrations>, client: Client) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut serving: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut ticker = tokio::time::interval(RECONCILE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let wanted = wanted_subjects(&integrations);
            serving.retain(|subject, task| {
                let keep = wanted.contains_key(subject) && !task.is_finished();
                if !keep {
                    task.abort();
                    tracing::debug!(subject, "stopped serving node invocations");
                }
                keep
            });
            for (subject, (workspace, node_type)) in wanted {
                if serving.contains_key(&subject) {
                    continue;
                }
                match client
                    .queue_subscribe(subject.clone(), QUEUE_GROUP.to_string())
                    .await
                {
                    Ok(subscriber) => {
                        tracing::info!(subject, "serving node invocations over NATS");
                        let task = tokio::spawn(serve(
                            Arc::clone(&integrations),
                            client.clone(),
                            subscriber,
                            workspace,
                            node_type,
                        ));
                        serving.insert(subject, task);
                    }
                    Err(e) => {
                        tracing::warn!(subject, "cannot subscribe for node invocations: {e}")
                    }
                }
            }
        }
    })
}

/// Subject → (workspace, type) for every node of every Ready module.
fn wanted_subjects(integrations: &Integrations) -> HashMap<String, (String, String)> {
    let mut wanted = HashMap::new();
    for module in integrations.supervisor.modules().iter() {
        let workspace = &module.workspace;
        let Some(serving) = module.serving() else {
            continue;
        };
        for node in &serving.declared.manifest.nodes {
            wanted.insert(
                subject(workspace, &node.r#type),
                (workspace.clone(), node.r#type.clone()),
            );
        }
    }
    wanted
}

async fn serve(
    integrations: Arc<Integrations>,
    client: Client,
    mut subscriber: async_nats::Subscriber,
    workspace: String,
    node_type: String,
) {
    while let Some(message) = subscriber.next().await {
        let Some(reply) = message.reply.clone() else {
            tracing::warn!(subject = %message.subject, "node invocation without a reply subject ignored; use request-reply");
            continue;
        };
        let integrations = Arc::clone(&integrations);
        let client = client.clone();
        let (workspace, node_type) = (workspace.clone(), node_type.clone());
        tokio::spawn(async move {
            let request_id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(REQUEST_ID_HEADER))
                .map(|v| v.as_str().to_string())
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .unwrap_or_else(crate::names::new_request_id);
            let call = CallInfo {
                request_id: request_id.clone(),
                traceparent: message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("traceparent"))
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
            };
            let (status, body) = match integrations
                .invoke_node(&workspace, &node_type, &message.payload, &call)
                .await
            {
                Ok(answer) => (answer.status, answer.body),
                Err(error) => (error.status, error.body(&request_id)),
            };
            let mut headers = HeaderMap::new();
            headers.insert(STATUS_HEADER, status.as_u16().to_string().as_str());
            headers.insert(REQUEST_ID_HEADER, request_id.as_str());
            if let Err(e) = client
                .publish_with_headers(reply, headers, body.to_string().into())
                .await
            {
                tracing::warn!(
                    workspace,
                    node_type,
                    "cannot send a node invocation reply: {e}"
                );
            }
        });
    }
}
