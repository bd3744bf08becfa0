//! One delivery attempt to a target, and what its answer means:
//!
//! | target | accepted | retried | failed for good |
//! |---|---|---|---|
//! | `webhook` (signed JSON POST) | 2xx | 408, 425, 429, 5xx, no answer, connection error | other 4xx, a redirect |
//! | `block` (a Block action with a connection) | the action's output (`delivered` at once when its `status` says so) | a module error marked retryable, 502/503/504 (module not ready, gone, late) | any other refusal (bad input, no such connection, ...) |
//! | `nats` (JetStream publish) | the stream's ack | no ack, no connection | — |
//!
//! The item's id is the idempotency key: `Idempotency-Key` header, `idempotency_key` in the
//! Block action's input, `Nats-Msg-Id` (the stream drops a duplicate within its window).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::integrations::{CallInfo, Integrations};
use crate::store::delivery::{Claimed, Outbox};

/// Most bytes of a target's answer quoted in an error.
const QUOTED: usize = 300;

/// How an attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The target took it.
    Accepted {
        /// Its id for the item, if it gave one.
        provider_id: Option<String>,
        /// Whether it says the item already reached its recipient (a Block's `status:
        /// "delivered"`).
        delivered: bool,
    },
    /// Failed; trying again may succeed.
    Retryable(String),
    /// Refused; trying again will not help.
    Final(String),
}

/// What the targets need: Blocks, an HTTP client, JetStream.
pub struct Targets {
    integrations: Arc<Integrations>,
    http: reqwest::Client,
    jetstream: Option<async_nats::jetstream::Context>,
    allow_private: bool,
}

impl Targets {
    /// Targets over `integrations` (Blocks) and `nats` (when `[nats]` is set); webhooks go to
    /// public addresses only unless `allow_private`.
    pub fn new(
        integrations: Arc<Integrations>,
        nats: Option<async_nats::Client>,
        allow_private: bool,
    ) -> Self {
        // No proxy from the environment: the address check must see the real destination.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convotic-supervisor/", env!("CARGO_PKG_VERSION")));
        if let Some(resolver) = super::address::resolver(allow_private) {
            builder = builder.dns_resolver(resolver);
        }
        let http = builder.build().unwrap_or_else(|e| {
            // Building fails only without a usable TLS backend; nothing can be sent then.
            tracing::error!("cannot build the delivery HTTP client: {e}");
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(std::sync::Arc::new(super::address::PublicOnly))
                .build()
                .unwrap_or_default()
        });
        Self {
            integrations,
            http,
            jetstream: nats.map(async_nats::jetstream::new),
            allow_private,
        }
    }

    /// One attempt of `item` to its target.
    pub async fn attempt(&self, item: &Claimed) -> Attempt {
        match item.target.kind.as_str() {
            "webhook" => self.webhook(item).await,
            "block" if item.outbox == Outbox::Messages => self.block(item).await,
            "nats" => self.nats(item).await,
            other => Attempt::Final(format!("target kind {other:?} cannot take this item")),
        }
    }

    async fn webhook(&self, item: &Claimed) -> Attempt {
        let Some(full_url) = item.target.config["url"].as_str() else {
            return Attempt::Final("the webhook target has no url".into());
        };
        // Errors and logs name the URL without its credentials or query.
        let shown = redacted(full_url);
        let url = shown.as_str();
        if !self.allow_private {
            let refused = reqwest::Url::parse(full_url)
                .ok()
                .and_then(|parsed| super::address::literal_refusal(&parsed));
            if let Some(refused) = refused {
                return Attempt::Final(format!("POST {url}: {refused}"));
            }
        }
        let mut body = item.payload.clone();
        body["attempt"] = json!(item.attempt);
        let body = body.to_string().into_bytes();
        let target = &item.target;
        let stored = target.secret.as_deref().unwrap_or_default();
        let secret = match super::secret::open(
            &self.integrations.keyring,
            (&target.workspace, &target.purpose, &target.name),
            stored,
        ) {
            Ok(secret) => secret,
            // A missing key may come back (a key dir restored): retry, then dead-letter.
            Err(e) => return Attempt::Retryable(format!("POST {url}: {e}")),
        };
        let signature = crate::signature::sign(&secret, now_ms(), &body);
        let sent = self
            .http
            .post(full_url)
            .header("content-type", "application/json")
            .header(crate::signature::HEADER, signature)
            .header("idempotency-key", &item.id)
            .header("x-convotic-attempt", item.attempt.to_string())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let why = format!("POST {url}: {}", error_chain(&e));
                // The name resolves only to private addresses: trying again will not help.
                return if why.contains("allow_private_targets") {
                    Attempt::Final(why)
                } else {
                    Attempt::Retryable(why)
                };
            }
        };
        let status = response.status().as_u16();
        let text = read_bounded(response).await;
        let quoted: String = text.chars().take(QUOTED).collect();
        match status {
            200..=299 => {
                let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                Attempt::Accepted {
                    provider_id: provider_id(&answer),
                    delivered: false,
                }
            }
            408 | 425 | 429 | 500..=599 => {
                Attempt::Retryable(format!("POST {url}: HTTP {status}: {quoted}"))
            }
            _ => Attempt::Final(format!("POST {url}: HTTP {status}: {quoted}")),
        }
    }

    async fn block(&self, item: &Claimed) -> Attempt {
        let config = &item.target.config;
        let (Some(block), Some(action), Some(connection)) = (
            config["block"].as_str(),
            config["action"].as_str(),
            config["connection_id"].as_str(),
        ) else {
            return Attempt::Final("the block target lacks block, action or connection_id".into());
        };
        let field = config["to"].as_str().unwrap_or("phone");
        if item.payload["text"].as_str().unwrap_or_default().is_empty() {
            return Attempt::Final(format!(
                "the message has no text (only content): {block}.{action} sends text"
            ));
        }
        let to = item.payload["contact"][field].as_str().unwrap_or_default();
        if to.is_empty() {
            return Attempt::Final(format!(
                "contact {} has no {field}: the channel's Block sends to the contact's {field}",
                item.payload["contact"]["id"].as_str().unwrap_or("?")
            ));
        }
        let input = json!({
            "input": {
                "to": to,
                "text": item.payload["text"],
                "idempotency_key": item.id,
            }
        });
        let call = CallInfo {
            request_id: item.id.clone(),
            traceparent: String::new(),
        };
        let result = self
            .integrations
            .call_action(
                &item.workspace,
                block,
                connection,
                action,
                input.to_string().as_bytes(),
                &call,
            )
            .await;
        match result {
            Ok(answer) => Attempt::Accepted {
                provider_id: provider_id(&answer.body["output"]),
                delivered: answer.body["output"]["status"] == "delivered",
            },
            Err(e) => {
                let why = format!("{block}.{action}: {} ({})", e.message, e.code);
                let transient = matches!(e.status.as_u16(), 502..=504);
                if e.retryable == Some(true) || (e.retryable.is_none() && transient) {
                    Attempt::Retryable(why)
                } else {
                    Attempt::Final(why)
                }
            }
        }
    }

    async fn nats(&self, item: &Claimed) -> Attempt {
        let Some(jetstream) = &self.jetstream else {
            return Attempt::Retryable(
                "the nats target needs [nats] in the supervisor's configuration".into(),
            );
        };
        let subject = match item.outbox {
            Outbox::Messages => format!(
                "convotic.{}.messages.{}",
                item.workspace,
                item.payload["channel"].as_str().unwrap_or_default()
            ),
            Outbox::WorkflowRuns => format!("convotic.{}.workflows.trigger", item.workspace),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", item.id.as_str());
        let body = item.payload.to_string();
        let published = jetstream
            .publish_with_headers(subject.clone(), headers, body.into())
            .await;
        let ack = match published {
            Ok(ack) => ack.await,
            Err(e) => return Attempt::Retryable(format!("publish to {subject}: {e}")),
        };
        match ack {
            Ok(ack) => Attempt::Accepted {
                provider_id: Some(format!("{}:{}", ack.stream, ack.sequence)),
                delivered: false,
            },
            Err(e) => Attempt::Retryable(format!("publish to {subject}: no ack: {e}")),
        }
    }
}

/// Most bytes of a target's answer read (its id and an error's first words are all that is
/// used; the rest is dropped unread).
const ANSWER_BYTES: usize = 64 * 1024;

/// The start of a response's body, at most [`ANSWER_BYTES`], as text.
async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = ANSWER_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `url` without user info, query or fragment (what errors and logs show).
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(an invalid URL)".to_string(),
    }
}

/// The target's id for the item in its answer: `message_id`, `id` or `provider_id`.
fn provider_id(answer: &Value) -> Option<String> {
    ["message_id", "id", "provider_id"]
        .iter()
        .find_map(|key| answer[key].as_str())
        .map(|id| id.chars().take(256).collect())
}

/// An error with its sources (reqwest's own message omits the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redacted("https://user:pw@hooks.example.com/in?token=abc#x"),
            "https://hooks.example.com/in"
        );
        assert_eq!(redacted("not a url"), "(an invalid URL)");
    }

    #[test]
    fn provider_ids_come_from_the_usual_fields() {
        assert_eq!(
            provider_id(&json!({"message_id": "sms_1", "status": "sent"})),
            Some("sms_1".into())
        );
        assert_eq!(provider_id(&json!({"id": "x"})), Some("x".into()));
        assert_eq!(provider_id(&json!({"id": 3})), None);
        assert_eq!(provider_id(&Value::Null), None);
    }
}
