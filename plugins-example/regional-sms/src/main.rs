//! `regional-sms`: a Block for a regional SMS platform, with its own connection flow.
//!
//! * Block `regional-sms` ("Regional SMS"): a connection is `{"base_url", "api_token",
//!   "sender_id"}`; `api_token` is a secret field (encrypted at rest, never returned by the
//!   API). The connection test calls the provider's `GET /v1/account` with
//!   `Authorization: Bearer <api_token>` and labels the connection with the account's phone
//!   number (or name); a rejected token fails the test with the provider's reason.
//! * Action `send_message`: `{"to": "+33612345678", "text": "hi"}` is sent from the
//!   connection's `sender_id` (`POST /v1/messages`) and answers `{"message_id", "status"}`.
//!   A rejection by the provider (4xx) is final; a failing or unreachable provider (5xx,
//!   429, network error) is reported as retryable.
//! * Node `sms_send` 1.0.0 ("Send SMS"): the same send as a workflow step, with the
//!   connection chosen in the workflow (`connection_block = "regional-sms"`); branch `sent`.
//!
//! Over the supervisor's HTTP API (with the workspace's `X-API-Key`):
//!
//! ```text
//! POST /v1/blocks/regional-sms/connections
//! {"name": "Main", "config": {"base_url": "http://127.0.0.1:8089", "api_token": "demo-token-123", "sender_id": "ACME"}}
//!
//! POST /v1/blocks/regional-sms/connections/{id}/actions/send_message
//! {"input": {"to": "+33612345678", "text": "hi"}}
//! ```
//!
//! `fake-sms-provider` (built with this crate) serves the provider's API on loopback for
//! trying this out. The module talks plain HTTP only. The API token is never logged.

mod provider;

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::EXIT_DO_NOT_RESTART;
use serde_json::{json, Value};

use provider::{Provider, Settings, Sms};

/// The block id, also the node's `connection_block`.
const BLOCK_ID: &str = "regional-sms";

/// The module, with its HTTP client for the provider.
struct RegionalSms {
    provider: Provider,
}

impl ConvoticModule for RegionalSms {
    fn name(&self) -> &str {
        "regional-sms"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn register(&self, sdk: &mut Sdk) {
        let for_test = self.provider.clone();
        let for_action = self.provider.clone();
        let for_node = self.provider.clone();

        sdk.register_block(
            Block::new(BLOCK_ID)
                .name("Regional SMS")
                .description(
                    "Send text messages through a regional SMS platform with your own account.",
                )
                .icon("message-square")
                .connection_schema(json!({
                    "type": "object",
                    "required": ["base_url", "api_token", "sender_id"],
                    "properties": {
                        "base_url": {
                            "type": "string",
                            "format": "uri",
                            "description": "Provider API base URL, e.g. https://api.regional-sms.example"
                        },
                        "api_token": {
                            "type": "string",
                            "minLength": 8,
                            "description": "API token (secret)"
                        },
                        "sender_id": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9]{3,11}$",
                            "description": "Sender id shown to recipients: 3 to 11 letters or digits"
                        }
                    },
                    "additionalProperties": false
                }))
                .secret_fields(["api_token"])
                .test_connection(move |conn: Connection, _ctx: Context| {
                    let provider = for_test.clone();
                    async move {
                        let settings = Settings::from_connection(&conn)?;
                        provider.test(&settings).await
                    }
                })
                .action(
                    Action::new("send_message")
                        .display_name("Send message")
                        .description("Sends a text message from the connection's sender id.")
                        .input_schema(sms_input_schema())
                        .output_schema(sms_output_schema())
                        .handler(move |call: ActionCall, ctx: Context| {
                            let provider = for_action.clone();
                            async move {
                                let sms: Sms = call.input_as()?;
                                send(&provider, &call.connection, &sms, &ctx).await
                            }
                        }),
                ),
        );

        sdk.register_node_handler(
            NodeHandler::new("sms_send")
                .version("1.0.0")
                .display_name("Send SMS")
                .description("Sends a text message through a Regional SMS connection.")
                .category("Messaging")
                .icon("message-square")
                .connection_block(BLOCK_ID)
                .input_schema(sms_input_schema())
                .output_schema(sms_output_schema())
                .branches(["sent"])
                .handler(move |inv: NodeInvocation, ctx: Context| {
                    let provider = for_node.clone();
                    async move {
                        let sms: Sms = inv.input_as()?;
                        let conn = node_connection(&inv)?;
                        let sent = send(&provider, conn, &sms, &ctx).await?;
                        Ok(NodeOutput::branch("sent", sent))
                    }
                }),
        );
    }
}

/// Input of `send_message` and `sms_send`.
fn sms_input_schema() -> Value {
    json!({
        "type": "object",
        "required": ["to", "text"],
        "properties": {
            "to": {
                "type": "string",
                "pattern": "^\\+[1-9][0-9]{6,14}$",
                "description": "Recipient in E.164 format, e.g. +33612345678"
            },
            "text": { "type": "string", "minLength": 1, "maxLength": 1600 },
            "idempotency_key": {
                "type": "string",
                "maxLength": 256,
                "description": "The provider sends a message once per key"
            }
        }
    })
}

/// Output of `send_message` and `sms_send`.
fn sms_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["message_id", "status"],
        "properties": {
            "message_id": { "type": "string" },
            "status": { "type": "string" }
        }
    })
}

/// The connection a node invocation carries. The supervisor resolves the one chosen in the
/// workflow and passes it along, secrets decrypted; it is absent only when none was chosen.
fn node_connection(inv: &NodeInvocation) -> Result<&Connection, HandlerError> {
    let conn = inv.connection.as_ref().ok_or_else(|| {
        HandlerError::new("sms_send needs a Regional SMS connection, and none was given")
    })?;
    if !conn.block_id.is_empty() && conn.block_id != BLOCK_ID {
        return Err(HandlerError::new(format!(
            "sms_send needs a {BLOCK_ID} connection, not one of block {}",
            conn.block_id
        )));
    }
    Ok(conn)
}

/// Sends `sms` with the connection's settings; logs the outcome (never the token).
async fn send(
    provider: &Provider,
    conn: &Connection,
    sms: &Sms,
    ctx: &Context,
) -> Result<Value, HandlerError> {
    let settings = Settings::from_connection(conn)?;
    match provider.send(&settings, sms).await {
        Ok(sent) => {
            ctx.logger().info_with(
                "message sent",
                json!({
                    "connection_id": conn.id,
                    "message_id": sent["message_id"],
                    "status": sent["status"],
                }),
            );
            Ok(sent)
        }
        Err(err) => {
            ctx.logger().warn_with(
                "message not sent",
                json!({
                    "connection_id": conn.id,
                    "error": err.message(),
                    "retryable": err.is_retryable(),
                }),
            );
            Err(err)
        }
    }
}

fn main() {
    let provider = match Provider::new() {
        Ok(provider) => provider,
        Err(err) => {
            eprintln!("regional-sms: cannot build the HTTP client: {err}");
            std::process::exit(EXIT_DO_NOT_RESTART);
        }
    };
    convotic_plugin_sdk::run(RegionalSms { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_needs_a_regional_sms_connection() {
        let mut inv = NodeInvocation::default();
        assert!(node_connection(&inv).is_err());
        inv.connection = Some(Connection {
            block_id: "other-block".into(),
            ..Connection::default()
        });
        assert!(node_connection(&inv).is_err());
        inv.connection = Some(Connection {
            id: "conn_1".into(),
            block_id: BLOCK_ID.into(),
            config: json!({}),
        });
        assert_eq!(node_connection(&inv).unwrap().id, "conn_1");
    }
}
