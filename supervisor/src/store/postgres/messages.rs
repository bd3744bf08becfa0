//! Outbound messages on PostgreSQL (see `store/messages.rs`).
//!
//! Queuing a message checks its contact and conversation and inserts it in one `SERIALIZABLE`
//! transaction: a contact or conversation deleted meanwhile by another supervisor makes the
//! transaction run again and answer the same `InvalidArgument` as SQLite, never a dangling
//! message. Waking the delivery loop is the caller's business (`Store::send_message`).

use super::util::{page_query, params, parse_json, signed, unsigned};
use super::{contacts, conversations, pg_transaction, PgError, PgStore};
use crate::store::messages::STATUS_QUEUED;
use crate::store::util::into_page;
use crate::store::{OutboundMessage, Page, StoreError};

const COLUMNS: &str = "id, contact_id, conversation_id, channel, text, content, status, module, \
     created_at_ms, updated_at_ms, attempts, provider_id, accepted_at_ms, finished_at_ms, \
     last_error, dead_lettered_at_ms, next_attempt_at_ms, \
     EXISTS (SELECT 1 FROM delivery_targets t WHERE t.workspace_id = messages.workspace_id \
             AND t.purpose = 'channel' AND t.name = messages.channel)";

/// A row of `COLUMNS`, with why a queued message waits.
fn row_to_message(row: &tokio_postgres::Row) -> Result<OutboundMessage, PgError> {
    let mut message = OutboundMessage {
        id: row.get(0),
        contact_id: row.get(1),
        conversation_id: row.get::<_, Option<String>>(2).unwrap_or_default(),
        channel: row.get(3),
        text: row.get(4),
        content: match row.get::<_, Option<&str>>(5) {
            Some(text) => parse_json("messages.content", text)?,
            None => serde_json::Value::Null,
        },
        status: row.get(6),
        module: row.get(7),
        created_at_ms: unsigned(row.get(8)),
        updated_at_ms: unsigned(row.get(9)),
        attempts: u32::try_from(unsigned(row.get(10))).unwrap_or(u32::MAX),
        provider_message_id: row.get(11),
        sent_at_ms: row.get::<_, Option<i64>>(12).map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(13).map(unsigned),
        last_error: row.get(14),
        dead_lettered_at_ms: row.get::<_, Option<i64>>(15).map(unsigned),
        waiting: None,
    };
    if message.status == STATUS_QUEUED {
        let channel = &message.channel;
        let next: i64 = row.get(16);
        let has_target: bool = row.get(17);
        message.waiting = Some(if !has_target {
            format!("channel {channel} has no delivery target: PUT /v1/channels/{channel}")
        } else if message.attempts > 0 {
            format!(
                "attempt {} is due at {} ms",
                message.attempts + 1,
                unsigned(next)
            )
        } else {
            "due now".to_string()
        });
    }
    Ok(message)
}

impl PgStore {
    /// Queues a validated message (`content_text`: its content as JSON text, `None` for none)
    /// in `ws` after checking, in the same transaction, that its contact is in `ws` and its
    /// conversation (if any) is a conversation of `ws` with that contact; answers the stored
    /// message.
    pub(crate) async fn send_message(
        &self,
        ws: &str,
        message: &OutboundMessage,
        content_text: Option<&str>,
    ) -> Result<OutboundMessage, StoreError> {
        pg_transaction!(self, |tx| {
            if contacts::load(&tx, ws, &message.contact_id)
                .await?
                .is_none()
            {
                return Err(StoreError::InvalidArgument(format!(
                    "contact_id: no contact {} in this workspace",
                    message.contact_id
                ))
                .into());
            }
            if !message.conversation_id.is_empty() {
                match conversations::load(&tx, ws, &message.conversation_id).await? {
                    None => {
                        return Err(StoreError::InvalidArgument(format!(
                            "conversation_id: no conversation {} in this workspace",
                            message.conversation_id
                        ))
                        .into())
                    }
                    Some(c) if c.contact_id != message.contact_id => {
                        return Err(StoreError::InvalidArgument(format!(
                            "conversation_id: conversation {} is with another contact",
                            message.conversation_id
                        ))
                        .into())
                    }
                    Some(_) => {}
                }
            }
            let conversation =
                (!message.conversation_id.is_empty()).then_some(message.conversation_id.as_str());
            let insert = tx
                .prepare_cached(
                    "INSERT INTO messages (id, workspace_id, contact_id, conversation_id, channel,
                        text, content, status, module, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &message.id,
                    &ws,
                    &message.contact_id,
                    &conversation,
                    &message.channel,
                    &message.text,
                    &content_text,
                    &message.status,
                    &message.module,
                    &signed(message.created_at_ms),
                ],
            )
            .await?;
            let select = tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1"))
                .await?;
            let row = tx.query_one(&select, &[&message.id]).await?;
            row_to_message(&row)?
        })
    }

    /// Message `id` of `ws`.
    pub(crate) async fn get_message(
        &self,
        ws: &str,
        id: &str,
    ) -> Result<OutboundMessage, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE workspace_id = $1 AND id = $2"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&ws, &id])
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_message(&row)?),
            None => Err(StoreError::NotFound(format!("message {id} not found"))),
        }
    }

    /// One page of the messages of `ws` after id `after`, oldest first, filtered by a
    /// non-empty `contact_id` or `status`.
    pub(crate) async fn list_messages(
        &self,
        ws: &str,
        contact_id: &str,
        status: &str,
        limit: usize,
        after: &str,
    ) -> Result<Page<OutboundMessage>, StoreError> {
        let client = self.client().await?;
        let (sql, values) = page_query(
            COLUMNS,
            "messages",
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
            .map(row_to_message)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |m| &m.id))
    }
}
