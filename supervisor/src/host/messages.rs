//! `convotic.host.v1.Messages`: queue messages in the outbox of the caller's workspace.

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::messages_server::Messages;
use tonic::{Request, Response, Status};

use super::scope::{optional_json_bytes, parse_json, Scope};
use crate::store::{NewMessage, OutboundMessage};

const FIELDS: &[(&str, &str)] = &[("content", "content_json")];

/// The Messages service of one instance.
pub struct HostMessages {
    scope: Scope,
}

impl HostMessages {
    /// Messages of `scope`'s workspace, sent as `scope`'s module.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }
}

fn to_proto(m: OutboundMessage) -> pb::OutboundMessage {
    pb::OutboundMessage {
        content_json: optional_json_bytes(&m.content),
        id: m.id,
        contact_id: m.contact_id,
        conversation_id: m.conversation_id,
        channel: m.channel,
        text: m.text,
        status: m.status,
        created_at_ms: m.created_at_ms,
        provider_message_id: m.provider_message_id.unwrap_or_default(),
        error: m.last_error.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl Messages for HostMessages {
    async fn send(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::OutboundMessage>, Status> {
        let r = request.into_inner();
        let new = NewMessage {
            content: parse_json("content_json", &r.content_json)?,
            contact_id: r.contact_id,
            conversation_id: r.conversation_id,
            channel: r.channel,
            text: r.text,
        };
        let s = &self.scope;
        s.store
            .send_message(s.workspace(), s.module(), new)
            .await
            .map(|m| Response::new(to_proto(m)))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn get(
        &self,
        request: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::OutboundMessage>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        s.store
            .get_message(s.workspace(), &id)
            .await
            .map(|m| Response::new(to_proto(m)))
            .map_err(|e| s.status(e, FIELDS))
    }
}
