//! `ctx.conversations()`: conversations of the workspace.

use convotic_proto::host::v1 as pb;
use pb::conversations_client::ConversationsClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, next_token, optional, Context};
use crate::error::HostError;

/// A conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// Conversation id.
    pub id: String,
    /// The contact it is with.
    pub contact_id: String,
    /// Channel, e.g. `whatsapp`, `sms`, `email`, `web`.
    pub channel: String,
    /// `open` or `closed`.
    pub status: String,
    /// Subject, may be empty.
    pub subject: String,
    /// Custom attributes (a JSON object).
    pub attributes: Value,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// Last update, ms since the Unix epoch.
    pub updated_at_ms: u64,
    /// When it was closed (0 while open), ms since the Unix epoch.
    pub closed_at_ms: u64,
}

impl Conversation {
    fn from_proto(call: &'static str, c: pb::Conversation) -> Result<Self, HostError> {
        Ok(Conversation {
            attributes: decode_json(call, &c.attributes_json)?,
            id: c.id,
            contact_id: c.contact_id,
            channel: c.channel,
            status: c.status,
            subject: c.subject,
            created_at_ms: c.created_at_ms,
            updated_at_ms: c.updated_at_ms,
            closed_at_ms: c.closed_at_ms,
        })
    }
}

/// A conversation to create.
#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    /// The contact it is with.
    pub contact_id: String,
    /// Channel, e.g. `whatsapp`.
    pub channel: String,
    /// Subject, may be empty.
    pub subject: String,
    /// Custom attributes, `Value::Null` for none.
    pub attributes: Value,
}

/// Changes to a conversation; `None` / `Value::Null` fields are not changed.
#[derive(Debug, Clone, Default)]
pub struct ConversationUpdate {
    /// New subject.
    pub subject: Option<String>,
    /// Merged into the existing attributes like contact attributes.
    pub attributes: Value,
}

/// Which conversations to list; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Only conversations with this contact.
    pub contact_id: String,
    /// Only conversations with this status (`open` / `closed`).
    pub status: String,
    /// Page size, 0 = the host's default.
    pub page_size: u32,
    /// Token from the previous page, empty for the first.
    pub page_token: String,
}

/// One page of conversations.
#[derive(Debug, Clone, Default)]
pub struct ConversationPage {
    /// The conversations.
    pub conversations: Vec<Conversation>,
    /// Token of the next page, `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Client of the Conversations service; see [`Context::conversations`].
#[derive(Debug, Clone)]
pub struct Conversations {
    ctx: Context,
}

fn client(channel: super::HostChannel) -> ConversationsClient<super::HostChannel> {
    ConversationsClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

impl Conversations {
    pub(crate) fn new(ctx: Context) -> Self {
        Conversations { ctx }
    }

    /// Creates a conversation.
    pub async fn create(&self, conversation: NewConversation) -> Result<Conversation, HostError> {
        const CALL: &str = "conversations.create";
        let request = pb::CreateConversationRequest {
            contact_id: conversation.contact_id,
            channel: conversation.channel,
            subject: conversation.subject,
            attributes_json: encode_json(CALL, conversation.attributes)?,
        };
        let created = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).create(req).await
            })
            .await?;
        Conversation::from_proto(CALL, created)
    }

    /// The conversation with this id, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Conversation>, HostError> {
        const CALL: &str = "conversations.get";
        let request = pb::GetConversationRequest { id: id.to_string() };
        let found = optional(
            self.ctx
                .call(
                    CALL,
                    request,
                    |ch, req| async move { client(ch).get(req).await },
                )
                .await,
        )?;
        found.map(|c| Conversation::from_proto(CALL, c)).transpose()
    }

    /// Updates a conversation and returns it as stored.
    pub async fn update(
        &self,
        id: &str,
        update: ConversationUpdate,
    ) -> Result<Conversation, HostError> {
        const CALL: &str = "conversations.update";
        let request = pb::UpdateConversationRequest {
            id: id.to_string(),
            subject: update.subject,
            attributes_json: encode_json(CALL, update.attributes)?,
        };
        let updated = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).update(req).await
            })
            .await?;
        Conversation::from_proto(CALL, updated)
    }

    /// One page of conversations matching the filter.
    pub async fn list(&self, filter: ConversationFilter) -> Result<ConversationPage, HostError> {
        const CALL: &str = "conversations.list";
        let request = pb::ListConversationsRequest {
            contact_id: filter.contact_id,
            status: filter.status,
            page_size: filter.page_size,
            page_token: filter.page_token,
        };
        let response = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).list(req).await
            })
            .await?;
        Ok(ConversationPage {
            conversations: response
                .conversations
                .into_iter()
                .map(|c| Conversation::from_proto(CALL, c))
                .collect::<Result<_, _>>()?,
            next_page_token: next_token(response.next_page_token),
        })
    }

    /// Closes a conversation and returns it.
    pub async fn close(&self, id: &str) -> Result<Conversation, HostError> {
        const CALL: &str = "conversations.close";
        let request = pb::CloseConversationRequest { id: id.to_string() };
        let closed = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).close(req).await
            })
            .await?;
        Conversation::from_proto(CALL, closed)
    }
}
