//! Conversations on PostgreSQL (see `store/conversations.rs`).
//!
//! Creating one is a single `INSERT` whose foreign key to the contact is the reference check
//! (a contact deleted meanwhile by another supervisor cannot be referenced). An update reads,
//! merges the attributes and writes in one `SERIALIZABLE` transaction; closing is one
//! conditional `UPDATE`, so of two supervisors closing a conversation at once, one sets
//! `closed_at_ms` and the other answers the winner's record.

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::util::{page_query, params, parse_json, signed, unsigned};
use super::{pg_transaction, PgError, PgStore};
use crate::store::conversations::{STATUS_CLOSED, STATUS_OPEN};
use crate::store::util::{
    attributes_object, into_page, json_text, merge_attributes, now_ms, MAX_ATTRIBUTES,
};
use crate::store::{Conversation, ConversationPatch, Page, StoreError};

const COLUMNS: &str = "id, contact_id, channel, status, subject, attributes, created_at_ms, \
                       updated_at_ms, closed_at_ms";

/// A row of `COLUMNS`.
fn row_to_conversation(row: &tokio_postgres::Row) -> Result<Conversation, PgError> {
    Ok(Conversation {
        id: row.get(0),
        contact_id: row.get(1),
        channel: row.get(2),
        status: row.get(3),
        subject: row.get(4),
        attributes: parse_json("conversations.attributes", row.get(5))?,
        created_at_ms: unsigned(row.get(6)),
        updated_at_ms: unsigned(row.get(7)),
        closed_at_ms: unsigned(row.get(8)),
    })
}

/// One conversation of `ws` (also used by messages to check references).
pub(super) async fn load(
    client: &impl GenericClient,
    ws: &str,
    id: &str,
) -> Result<Option<Conversation>, PgError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM conversations WHERE workspace_id = $1 AND id = $2"
        ))
        .await?;
    client
        .query_opt(&statement, &[&ws, &id])
        .await?
        .map(|row| row_to_conversation(&row))
        .transpose()
}

/// The `NotFound` of a conversation that is not in the workspace.
fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("conversation {id} not found"))
}

impl PgStore {
    /// Inserts a validated `open` conversation into `ws` (its attributes already as JSON
    /// text); a contact that is not in `ws` is `InvalidArgument` naming `contact_id`.
    pub(crate) async fn create_conversation(
        &self,
        ws: &str,
        conversation: Conversation,
        attributes_text: &str,
    ) -> Result<Conversation, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO conversations (id, workspace_id, contact_id, channel, status,
                    subject, attributes, created_at_ms, updated_at_ms, closed_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 0)",
            )
            .await
            .map_err(PgError::from)?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &conversation.id,
                    &ws,
                    &conversation.contact_id,
                    &conversation.channel,
                    &STATUS_OPEN,
                    &conversation.subject,
                    &attributes_text,
                    &signed(conversation.created_at_ms),
                ],
            )
            .await
            .map_err(PgError::from);
        match inserted {
            Ok(_) => Ok(conversation),
            // The only foreign key: (workspace_id, contact_id) -> contacts.
            Err(e) if e.is_foreign_key_violation() => Err(StoreError::InvalidArgument(format!(
                "contact_id: no contact {} in this workspace",
                conversation.contact_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Conversation `id` of `ws`.
    pub(crate) async fn get_conversation(
        &self,
        ws: &str,
        id: &str,
    ) -> Result<Conversation, StoreError> {
        let client = self.client().await?;
        load(&client, ws, id).await?.ok_or_else(|| not_found(id))
    }

    /// Updates the subject and merges the attributes of conversation `id` of `ws`, in one
    /// transaction.
    pub(crate) async fn update_conversation(
        &self,
        ws: &str,
        id: &str,
        patch: ConversationPatch,
    ) -> Result<Conversation, StoreError> {
        pg_transaction!(self, |tx| {
            // The body may run again after a serialization failure: it patches a copy.
            let patch = patch.clone();
            let mut conversation = load(&tx, ws, id).await?.ok_or_else(|| not_found(id))?;
            if let Some(attributes) = patch.attributes {
                let mut merged = attributes_object("attributes", conversation.attributes)?;
                merge_attributes("attributes", &mut merged, attributes)?;
                conversation.attributes = Value::Object(merged);
            }
            let attributes_text =
                json_text("attributes", &conversation.attributes, MAX_ATTRIBUTES)?;
            if let Some(subject) = patch.subject {
                conversation.subject = subject;
            }
            conversation.updated_at_ms = now_ms().max(conversation.created_at_ms);
            let statement = tx
                .prepare_cached(
                    "UPDATE conversations SET subject = $3, attributes = $4, updated_at_ms = $5
                     WHERE workspace_id = $1 AND id = $2",
                )
                .await?;
            tx.execute(
                &statement,
                &[
                    &ws,
                    &id,
                    &conversation.subject,
                    &attributes_text,
                    &signed(conversation.updated_at_ms),
                ],
            )
            .await?;
            conversation
        })
    }

    /// Closes conversation `id` of `ws`: one conditional `UPDATE` of an open conversation;
    /// a closed one is answered as it is (its `closed_at_ms` kept).
    pub(crate) async fn close_conversation(
        &self,
        ws: &str,
        id: &str,
    ) -> Result<Conversation, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE conversations SET status = $3,
                    closed_at_ms = GREATEST($4, created_at_ms),
                    updated_at_ms = GREATEST($4, created_at_ms)
                 WHERE workspace_id = $1 AND id = $2 AND status <> $3
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(PgError::from)?;
        let closed = client
            .query_opt(&statement, &[&ws, &id, &STATUS_CLOSED, &signed(now_ms())])
            .await
            .map_err(PgError::from)?;
        match closed {
            Some(row) => Ok(row_to_conversation(&row)?),
            // Already closed (perhaps a moment ago by another supervisor), or absent.
            None => load(&client, ws, id).await?.ok_or_else(|| not_found(id)),
        }
    }

    /// One page of the conversations of `ws` after id `after`, oldest first, filtered by a
    /// non-empty `contact_id` or `status`.
    pub(crate) async fn list_conversations(
        &self,
        ws: &str,
        contact_id: &str,
        status: &str,
        limit: usize,
        after: &str,
    ) -> Result<Page<Conversation>, StoreError> {
        let client = self.client().await?;
        let (sql, values) = page_query(
            COLUMNS,
            "conversations",
            ws,
            after,
            &[("contact_id", contact_id), ("status", status)],
            limit,
        );
        let statement = client.prepare_cached(&sql).await.map_err(PgError::from)?;
        let rows = client
            .query(&statement, &params(&values))
            .await
            .map_err(PgError::from)?;
        let items = rows
            .iter()
            .map(row_to_conversation)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |c| &c.id))
    }
}
