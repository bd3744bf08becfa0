//! `convotic.host.v1.Contacts`: the contacts of the caller's workspace.

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::contacts_server::Contacts;
use tonic::{Request, Response, Status};

use super::scope::{json_bytes, page_token, parse_json, parse_optional_json, Scope};
use crate::store::{Contact, ContactPatch, NewContact};

const FIELDS: &[(&str, &str)] = &[("attributes", "attributes_json")];

/// The Contacts service of one instance.
pub struct HostContacts {
    scope: Scope,
}

impl HostContacts {
    /// Contacts of `scope`'s workspace.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }
}

fn to_proto(c: Contact) -> pb::Contact {
    pb::Contact {
        attributes_json: json_bytes(&c.attributes),
        id: c.id,
        external_id: c.external_id,
        name: c.name,
        email: c.email,
        phone: c.phone,
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
    }
}

#[tonic::async_trait]
impl Contacts for HostContacts {
    async fn get(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        s.store
            .get_contact(s.workspace(), &id)
            .await
            .map(|c| Response::new(to_proto(c)))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn find_by_external_id(
        &self,
        request: Request<pb::FindByExternalIdRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let external_id = request.into_inner().external_id;
        let s = &self.scope;
        s.store
            .find_contact_by_external_id(s.workspace(), &external_id)
            .await
            .map(|c| Response::new(to_proto(c)))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn create(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let r = request.into_inner();
        let new = NewContact {
            attributes: parse_json("attributes_json", &r.attributes_json)?,
            external_id: r.external_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
        };
        let s = &self.scope;
        s.store
            .create_contact(s.workspace(), new)
            .await
            .map(|c| Response::new(to_proto(c)))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn update(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let r = request.into_inner();
        let patch = ContactPatch {
            attributes: parse_optional_json("attributes_json", &r.attributes_json)?,
            external_id: r.external_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
        };
        let s = &self.scope;
        s.store
            .update_contact(s.workspace(), &r.id, patch)
            .await
            .map(|c| Response::new(to_proto(c)))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<pb::DeleteContactResponse>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        s.store
            .delete_contact(s.workspace(), &id)
            .await
            .map(|deleted| Response::new(pb::DeleteContactResponse { deleted }))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn list(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let r = request.into_inner();
        let s = &self.scope;
        let page = s
            .store
            .list_contacts(s.workspace(), r.page_size, &r.page_token)
            .await
            .map_err(|e| s.status(e, FIELDS))?;
        Ok(Response::new(pb::ListContactsResponse {
            contacts: page.items.into_iter().map(to_proto).collect(),
            next_page_token: page_token(page.next_page_token),
        }))
    }
}
