//! `convotic.host.v1.Conversations`: the conversations of the caller's workspace.

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::conversations_server::Conversations;
use tonic::{Request, Response, Status};

use super::scope::{json_bytes, page_token, parse_json, parse_optional_json, Scope};
use crate::store::{Conversation, ConversationPatch, NewConversation};

const FIELDS: &[(&str, &str)] = &[("attributes", "attributes_json")];

/// The Conversations service of one instance.
pub struct HostConversations {
    scope: Scope,
}

impl HostConversations {
    /// Conversations of `scope`'s workspace.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    fn reply(
        &self,
        result: Result<Conversation, crate::store::StoreError>,
    ) -> Result<Response<pb::Conversation>, Status> {
        result
            .map(|c| Response::new(to_proto(c)))
            .map_err(|e| self.scope.status(e, FIELDS))
    }
}

fn to_proto(c: Conversation) -> pb::Conversation {
    pb::Conversation {
        attributes_json: json_bytes(&c.attributes),
        id: c.id,
        contact_id: c.contact_id,
        channel: c.channel,
        status: c.status,
        subject: c.subject,
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
        closed_at_ms: c.closed_at_ms,
    }
}

#[tonic::async_trait]
impl Conversations for HostConversations {
    async fn create(
        &self,
        request: Request<pb::CreateConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let r = request.into_inner();
        let new = NewConversation {
            attributes: parse_json("attributes_json", &r.attributes_json)?,
            contact_id: r.contact_id,
            channel: r.channel,
            subject: r.subject,
        };
        let s = &self.scope;
        self.reply(s.store.create_conversation(s.workspace(), new).await)
    }

    async fn get(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        self.reply(s.store.get_conversation(s.workspace(), &id).await)
    }

    async fn update(
        &self,
        request: Request<pb::UpdateConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let r = request.into_inner();
        let patch = ConversationPatch {
            attributes: parse_optional_json("attributes_json", &r.attributes_json)?,
            subject: r.subject,
        };
        let s = &self.scope;
        self.reply(
            s.store
                .update_conversation(s.workspace(), &r.id, patch)
                .await,
        )
    }

    async fn list(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let r = request.into_inner();
        let s = &self.scope;
        let page = s
            .store
            .list_conversations(
                s.workspace(),
                &r.contact_id,
                &r.status,
                r.page_size,
                &r.page_token,
            )
            .await
            .map_err(|e| s.status(e, FIELDS))?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: page.items.into_iter().map(to_proto).collect(),
            next_page_token: page_token(page.next_page_token),
        }))
    }

    async fn close(
        &self,
        request: Request<pb::CloseConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        self.reply(s.store.close_conversation(s.workspace(), &id).await)
    }
}
