//! `ctx.contacts()`: contact records of the workspace.

use convotic_proto::host::v1 as pb;
use pb::contacts_client::ContactsClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, next_token, optional, Context};
use crate::error::HostError;

/// A contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Id in an external system, may be empty.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Email address, may be empty.
    pub email: String,
    /// Phone number, may be empty.
    pub phone: String,
    /// Custom attributes (a JSON object).
    pub attributes: Value,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// Last update, ms since the Unix epoch.
    pub updated_at_ms: u64,
}

impl Contact {
    fn from_proto(call: &'static str, c: pb::Contact) -> Result<Self, HostError> {
        Ok(Contact {
            attributes: decode_json(call, &c.attributes_json)?,
            id: c.id,
            external_id: c.external_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            created_at_ms: c.created_at_ms,
            updated_at_ms: c.updated_at_ms,
        })
    }
}

/// A contact to create.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    /// Id in an external system (unique in the workspace), may be empty.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// Custom attributes (a JSON object), `Value::Null` for none.
    pub attributes: Value,
}

/// Changes to a contact. Fields left `None` (attributes: `Value::Null`) are not changed.
#[derive(Debug, Clone, Default)]
pub struct ContactUpdate {
    /// New external id.
    pub external_id: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New email address.
    pub email: Option<String>,
    /// New phone number.
    pub phone: Option<String>,
    /// Merged into the existing attributes: keys replace existing keys, a `null` value
    /// removes one.
    pub attributes: Value,
}

/// One page of contacts.
#[derive(Debug, Clone, Default)]
pub struct ContactPage {
    /// The contacts.
    pub contacts: Vec<Contact>,
    /// Token of the next page, `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Client of the Contacts service; see [`Context::contacts`].
#[derive(Debug, Clone)]
pub struct Contacts {
    ctx: Context,
}

fn client(channel: super::HostChannel) -> ContactsClient<super::HostChannel> {
    ContactsClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)
}

impl Contacts {
    pub(crate) fn new(ctx: Context) -> Self {
        Contacts { ctx }
    }

    /// The contact with this id, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Contact>, HostError> {
        const CALL: &str = "contacts.get";
        let request = pb::GetContactRequest { id: id.to_string() };
        let found = optional(
            self.ctx
                .call(
                    CALL,
                    request,
                    |ch, req| async move { client(ch).get(req).await },
                )
                .await,
        )?;
        found.map(|c| Contact::from_proto(CALL, c)).transpose()
    }

    /// The contact with this external id, or `None`.
    pub async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<Contact>, HostError> {
        const CALL: &str = "contacts.find_by_external_id";
        let request = pb::FindByExternalIdRequest {
            external_id: external_id.to_string(),
        };
        let found = optional(
            self.ctx
                .call(CALL, request, |ch, req| async move {
                    client(ch).find_by_external_id(req).await
                })
                .await,
        )?;
        found.map(|c| Contact::from_proto(CALL, c)).transpose()
    }

    /// Creates a contact (ALREADY_EXISTS when the external id is taken).
    pub async fn create(&self, contact: NewContact) -> Result<Contact, HostError> {
        const CALL: &str = "contacts.create";
        let request = pb::CreateContactRequest {
            external_id: contact.external_id,
            name: contact.name,
            email: contact.email,
            phone: contact.phone,
            attributes_json: encode_json(CALL, contact.attributes)?,
        };
        let created = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).create(req).await
            })
            .await?;
        Contact::from_proto(CALL, created)
    }

    /// Updates a contact and returns it as stored.
    pub async fn update(&self, id: &str, update: ContactUpdate) -> Result<Contact, HostError> {
        const CALL: &str = "contacts.update";
        let request = pb::UpdateContactRequest {
            id: id.to_string(),
            external_id: update.external_id,
            name: update.name,
            email: update.email,
            phone: update.phone,
            attributes_json: encode_json(CALL, update.attributes)?,
        };
        let updated = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).update(req).await
            })
            .await?;
        Contact::from_proto(CALL, updated)
    }

    /// Deletes a contact; `false` when it did not exist.
    pub async fn delete(&self, id: &str) -> Result<bool, HostError> {
        const CALL: &str = "contacts.delete";
        let request = pb::DeleteContactRequest { id: id.to_string() };
        let response = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).delete(req).await
            })
            .await?;
        Ok(response.deleted)
    }

    /// One page of contacts: `page_size` 1-500 (0 = 50), `page_token` from the previous
    /// page (`None` for the first).
    pub async fn list(
        &self,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<ContactPage, HostError> {
        const CALL: &str = "contacts.list";
        let request = pb::ListContactsRequest {
            page_size,
            page_token: page_token.unwrap_or_default().to_string(),
        };
        let response = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).list(req).await
            })
            .await?;
        Ok(ContactPage {
            contacts: response
                .contacts
                .into_iter()
                .map(|c| Contact::from_proto(CALL, c))
                .collect::<Result<_, _>>()?,
            next_page_token: next_token(response.next_page_token),
        })
    }
}
