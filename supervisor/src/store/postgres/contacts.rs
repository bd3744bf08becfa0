//! Contacts on PostgreSQL (see `store/contacts.rs`).
//!
//! Creating a contact is one `INSERT`: the partial unique index on external ids and the
//! workspace foreign key decide, atomically, a duplicate external id (`Conflict`) and a missing
//! workspace (`NotFound`), so two supervisors creating the same external id see exactly one
//! winner. An update reads the contact, merges its attributes and writes it back in one
//! `SERIALIZABLE` transaction: two supervisors patching one contact never lose each other's
//! changes (the loser of a race is run again on the winner's state).

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::util::{page_query, params, parse_json, signed, unsigned};
use super::{pg_transaction, PgError, PgStore};
use crate::store::util::{
    attributes_object, into_page, json_text, merge_attributes, now_ms, MAX_ATTRIBUTES,
};
use crate::store::{Contact, ContactPatch, Page, StoreError};

const COLUMNS: &str =
    "id, external_id, name, email, phone, attributes, created_at_ms, updated_at_ms";

/// A row of `COLUMNS`.
fn row_to_contact(row: &tokio_postgres::Row) -> Result<Contact, PgError> {
    Ok(Contact {
        id: row.get(0),
        external_id: row.get(1),
        name: row.get(2),
        email: row.get(3),
        phone: row.get(4),
        attributes: parse_json("contacts.attributes", row.get(5))?,
        created_at_ms: unsigned(row.get(6)),
        updated_at_ms: unsigned(row.get(7)),
    })
}

/// One contact of `ws` (also used by conversations and messages to check references).
pub(super) async fn load(
    client: &impl GenericClient,
    ws: &str,
    id: &str,
) -> Result<Option<Contact>, PgError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2"
        ))
        .await?;
    client
        .query_opt(&statement, &[&ws, &id])
        .await?
        .map(|row| row_to_contact(&row))
        .transpose()
}

/// The `NotFound` of a contact that is not in the workspace.
fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("contact {id} not found"))
}

/// The `Conflict` of an external id another contact of the workspace has.
fn duplicate(external_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "external_id: a contact with external id {external_id:?} already exists in this workspace"
    ))
}

impl PgStore {
    /// Contact `id` of workspace `ws`.
    pub(crate) async fn get_contact(&self, ws: &str, id: &str) -> Result<Contact, StoreError> {
        let client = self.client().await?;
        load(&client, ws, id).await?.ok_or_else(|| not_found(id))
    }

    /// The contact of `ws` with this (non-empty, validated) external id.
    pub(crate) async fn find_contact_by_external_id(
        &self,
        ws: &str,
        external_id: &str,
    ) -> Result<Contact, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM contacts WHERE workspace_id = $1 AND external_id = $2"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&ws, &external_id])
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_contact(&row)?),
            None => Err(StoreError::NotFound(format!(
                "no contact with external id {external_id:?}"
            ))),
        }
    }

    /// Inserts a validated contact into `ws` (its attributes already as JSON text): a used
    /// non-empty external id is a `Conflict`, a missing workspace `NotFound`.
    pub(crate) async fn create_contact(
        &self,
        ws: &str,
        contact: Contact,
        attributes_text: &str,
    ) -> Result<Contact, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO contacts (id, workspace_id, external_id, name, email, phone,
                    attributes, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .await
            .map_err(PgError::from)?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &contact.id,
                    &ws,
                    &contact.external_id,
                    &contact.name,
                    &contact.email,
                    &contact.phone,
                    &attributes_text,
                    &signed(contact.created_at_ms),
                ],
            )
            .await
            .map_err(PgError::from);
        match inserted {
            Ok(_) => Ok(contact),
            Err(e) if e.is_unique_violation() => Err(duplicate(&contact.external_id)),
            Err(e) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound(format!("workspace {ws} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Updates contact `id` of `ws` in one transaction: set fields replace, attributes are
    /// merged; taking another contact's external id is a `Conflict`.
    pub(crate) async fn update_contact(
        &self,
        ws: &str,
        id: &str,
        patch: ContactPatch,
    ) -> Result<Contact, StoreError> {
        pg_transaction!(self, |tx| {
            // The body may run again after a serialization failure: it patches a copy.
            let patch = patch.clone();
            let mut contact = load(&tx, ws, id).await?.ok_or_else(|| not_found(id))?;
            if let Some(attributes) = patch.attributes {
                let mut merged = attributes_object("attributes", contact.attributes)?;
                merge_attributes("attributes", &mut merged, attributes)?;
                contact.attributes = Value::Object(merged);
            }
            let attributes_text = json_text("attributes", &contact.attributes, MAX_ATTRIBUTES)?;
            if let Some(v) = patch.external_id {
                contact.external_id = v;
            }
            if let Some(v) = patch.name {
                contact.name = v;
            }
            if let Some(v) = patch.email {
                contact.email = v;
            }
            if let Some(v) = patch.phone {
                contact.phone = v;
            }
            contact.updated_at_ms = now_ms().max(contact.created_at_ms);
            let statement = tx
                .prepare_cached(
                    "UPDATE contacts SET external_id = $3, name = $4, email = $5, phone = $6,
                        attributes = $7, updated_at_ms = $8
                     WHERE workspace_id = $1 AND id = $2",
                )
                .await?;
            let updated = tx
                .execute(
                    &statement,
                    &[
                        &ws,
                        &id,
                        &contact.external_id,
                        &contact.name,
                        &contact.email,
                        &contact.phone,
                        &attributes_text,
                        &signed(contact.updated_at_ms),
                    ],
                )
                .await
                .map_err(PgError::from);
            match updated {
                Ok(_) => {}
                Err(e) if e.is_unique_violation() => {
                    return Err(duplicate(&contact.external_id).into())
                }
                Err(e) => return Err(e),
            }
            contact
        })
    }

    /// Deletes contact `id` of `ws` (its conversations and messages go with it by cascade);
    /// whether it existed.
    pub(crate) async fn delete_contact(&self, ws: &str, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM contacts WHERE workspace_id = $1 AND id = $2")
            .await
            .map_err(PgError::from)?;
        let deleted = client
            .execute(&statement, &[&ws, &id])
            .await
            .map_err(PgError::from)?;
        Ok(deleted > 0)
    }

    /// One page of the contacts of `ws` after id `after`, oldest first.
    pub(crate) async fn list_contacts(
        &self,
        ws: &str,
        limit: usize,
        after: &str,
    ) -> Result<Page<Contact>, StoreError> {
        let client = self.client().await?;
        let (sql, values) = page_query(COLUMNS, "contacts", ws, after, &[], limit);
        let statement = client.prepare_cached(&sql).await.map_err(PgError::from)?;
        let rows = client
            .query(&statement, &params(&values))
            .await
            .map_err(PgError::from)?;
        let items = rows
            .iter()
            .map(row_to_contact)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |c| &c.id))
    }
}
