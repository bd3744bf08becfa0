//! `ctx.messages()`: sending messages to contacts through the outbox.

use convotic_proto::host::v1 as pb;
use pb::messages_client::MessagesClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, optional, Context};
use crate::error::HostError;

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMessage {
    /// The recipient.
    pub contact_id: String,
    /// Conversation to attach to, may be empty.
    pub conversation_id: String,
    /// Channel, e.g. `sms`.
    pub channel: String,
    /// The text.
    pub text: String,
    /// Optional structured content (template id, media...), `Value::Null` for none.
    pub content: Value,
}

/// A message in the outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundMessage {
    /// Message id.
    pub id: String,
    /// The recipient.
    pub contact_id: String,
    /// The conversation, may be empty.
    pub conversation_id: String,
    /// Channel.
    pub channel: String,
    /// The text.
    pub text: String,
    /// Structured content.
    pub content: Value,
    /// `queued` (waiting for a delivery attempt), `sending`, `sent` (a target accepted it),
    /// `delivered` (the provider reported it delivered) or `failed`.
    pub status: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// The provider's id for the message once a target accepted it, empty before.
    pub provider_message_id: String,
    /// Why the last delivery attempt failed (or why the message failed for good); empty when
    /// there is none.
    pub error: String,
}

impl OutboundMessage {
    fn from_proto(call: &'static str, m: pb::OutboundMessage) -> Result<Self, HostError> {
        Ok(OutboundMessage {
            content: decode_json(call, &m.content_json)?,
            id: m.id,
            contact_id: m.contact_id,
            conversation_id: m.conversation_id,
            channel: m.channel,
            text: m.text,
            status: m.status,
            created_at_ms: m.created_at_ms,
            provider_message_id: m.provider_message_id,
            error: m.error,
        })
    }
}

/// Client of the Messages service; see [`Context::messages`].
#[derive(Debug, Clone)]
pub struct Messages {
    ctx: Context,
}

fn client(channel: super::HostChannel) -> MessagesClient<super::HostChannel> {
    MessagesClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

impl Messages {
    pub(crate) fn new(ctx: Context) -> Self {
        Messages { ctx }
    }

    /// Queues a message in the outbox.
    pub async fn send(&self, message: OutgoingMessage) -> Result<OutboundMessage, HostError> {
        const CALL: &str = "messages.send";
        let request = pb::SendMessageRequest {
            contact_id: message.contact_id,
            conversation_id: message.conversation_id,
            channel: message.channel,
            text: message.text,
            content_json: encode_json(CALL, message.content)?,
        };
        let sent = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).send(req).await
            })
            .await?;
        OutboundMessage::from_proto(CALL, sent)
    }

    /// The message of the workspace with this id, with its current delivery status, or `None`
    /// when there is no such message.
    pub async fn get(&self, id: &str) -> Result<Option<OutboundMessage>, HostError> {
        const CALL: &str = "messages.get";
        let request = pb::GetMessageRequest { id: id.to_string() };
        let found = optional(
            self.ctx
                .call(
                    CALL,
                    request,
                    |ch, req| async move { client(ch).get(req).await },
                )
                .await,
        )?;
        found
            .map(|m| OutboundMessage::from_proto(CALL, m))
            .transpose()
    }
}
