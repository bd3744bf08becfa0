//! Outbound messages (`ctx.messages`): queued in an outbox with a status the delivery loop
//! moves on (`queued` → `sending` → `sent` → `delivered`, or `failed`; see [`super::delivery`]).

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::util::{
    check_len, check_required, decode_page_token, into_page, json_text, new_id, now_ms, page_query,
    page_size, parse_json, signed, unsigned, MAX_ATTRIBUTES, MAX_NAME, MAX_TEXT,
};
use super::{contacts, conversations, Page, Store, StoreError};

/// Status of a message waiting in the outbox.
pub const STATUS_QUEUED: &str = "queued";

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundMessage {
    /// `msg_` + time-ordered suffix.
    pub id: String,
    /// Recipient.
    pub contact_id: String,
    /// Conversation it belongs to; empty for none.
    pub conversation_id: String,
    /// Channel to send it on.
    pub channel: String,
    /// Text body.
    pub text: String,
    /// Structured content (template id, media...); `null` for none.
    pub content: Value,
    /// `queued`, `sending`, `sent`, `delivered` or `failed`.
    pub status: String,
    /// The module that sent it; empty when sent through the HTTP API.
    pub module: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch of the last status change.
    pub updated_at_ms: u64,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The target's id for it (the provider's message id).
    pub provider_message_id: Option<String>,
    /// When the target accepted it.
    pub sent_at_ms: Option<u64>,
    /// When the target reported it delivered (or failed).
    pub finished_at_ms: Option<u64>,
    /// Why the last attempt failed (or why it failed for good).
    pub last_error: Option<String>,
    /// When its delivery failed for good (it is a dead letter: `POST .../redrive`).
    pub dead_lettered_at_ms: Option<u64>,
    /// Why a queued message is waiting (no target for its channel, a retry later).
    pub waiting: Option<String>,
}

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewMessage {
    /// Recipient: a contact of the workspace (required).
    pub contact_id: String,
    /// Conversation of that contact to attach to; empty for none.
    pub conversation_id: String,
    /// Channel (required).
    pub channel: String,
    /// Text body; this or `content` is required.
    pub text: String,
    /// Structured content; `null` for none.
    pub content: Value,
}

const COLUMNS: &str = "id, contact_id, conversation_id, channel, text, content, status, module, \
     created_at_ms, updated_at_ms, attempts, provider_id, accepted_at_ms, finished_at_ms, \
     last_error, dead_lettered_at_ms, next_attempt_at_ms, \
     EXISTS (SELECT 1 FROM delivery_targets t WHERE t.workspace_id = messages.workspace_id \
             AND t.purpose = 'channel' AND t.name = messages.channel)";

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboundMessage> {
    Ok(OutboundMessage {
        id: row.get(0)?,
        contact_id: row.get(1)?,
        conversation_id: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
        channel: row.get(3)?,
        text: row.get(4)?,
        content: match row.get::<_, Option<String>>(5)? {
            Some(text) => parse_json("messages.content", &text)?,
            None => Value::Null,
        },
        status: row.get(6)?,
        module: row.get(7)?,
        created_at_ms: unsigned(row.get(8)?),
        updated_at_ms: unsigned(row.get(9)?),
        attempts: row.get(10)?,
        provider_message_id: row.get(11)?,
        sent_at_ms: row.get::<_, Option<i64>>(12)?.map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(13)?.map(unsigned),
        last_error: row.get(14)?,
        dead_lettered_at_ms: row.get::<_, Option<i64>>(15)?.map(unsigned),
        waiting: None,
    })
    .map(|mut message| {
        let channel = message.channel.clone();
        let next: i64 = row.get(16).unwrap_or(0);
        let has_target: bool = row.get(17).unwrap_or(false);
        if message.status == STATUS_QUEUED {
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
        message
    })
}

impl Store {
    /// Queues a message to a contact of `ws`, sent by `module` (empty for the HTTP API).
    /// A contact or conversation not in `ws`, or a conversation of another contact, is
    /// [`StoreError::InvalidArgument`] naming the field.
    pub async fn send_message(
        &self,
        ws: &str,
        module: &str,
        new: NewMessage,
    ) -> Result<OutboundMessage, StoreError> {
        check_required("contact_id", &new.contact_id, MAX_NAME)?;
        check_required("channel", &new.channel, MAX_NAME)?;
        check_len("conversation_id", &new.conversation_id, MAX_NAME)?;
        check_len("text", &new.text, MAX_TEXT)?;
        if new.text.is_empty() && new.content.is_null() {
            return Err(StoreError::InvalidArgument(
                "text: required when there is no content".into(),
            ));
        }
        let content_text = match &new.content {
            Value::Null => None,
            content => Some(json_text("content", content, MAX_ATTRIBUTES)?),
        };
        let now = now_ms();
        let message = OutboundMessage {
            id: new_id("msg_"),
            contact_id: new.contact_id,
            conversation_id: new.conversation_id,
            channel: new.channel,
            text: new.text,
            content: new.content,
            status: STATUS_QUEUED.into(),
            module: module.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
            attempts: 0,
            provider_message_id: None,
            sent_at_ms: None,
            finished_at_ms: None,
            last_error: None,
            dead_lettered_at_ms: None,
            waiting: None,
        };
        let ws = ws.to_string();
        let waker = self.outbox_waker();
        if let Some(pg) = self.pg() {
            let stored = pg
                .send_message(&ws, &message, content_text.as_deref())
                .await?;
            waker.notify_waiters();
            return Ok(stored);
        }
        let stored = self
            .write(move |conn| {
                if contacts::load(conn, &ws, &message.contact_id)?.is_none() {
                    return Err(StoreError::InvalidArgument(format!(
                        "contact_id: no contact {} in this workspace",
                        message.contact_id
                    )));
                }
                if !message.conversation_id.is_empty() {
                    match conversations::load(conn, &ws, &message.conversation_id)? {
                        None => {
                            return Err(StoreError::InvalidArgument(format!(
                                "conversation_id: no conversation {} in this workspace",
                                message.conversation_id
                            )))
                        }
                        Some(c) if c.contact_id != message.contact_id => {
                            return Err(StoreError::InvalidArgument(format!(
                                "conversation_id: conversation {} is with another contact",
                                message.conversation_id
                            )))
                        }
                        Some(_) => {}
                    }
                }
                let conversation = (!message.conversation_id.is_empty())
                    .then_some(message.conversation_id.as_str());
                conn.execute(
                    "INSERT INTO messages (id, workspace_id, contact_id, conversation_id, channel,
                    text, content, status, module, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    rusqlite::params![
                        message.id,
                        ws,
                        message.contact_id,
                        conversation,
                        message.channel,
                        message.text,
                        content_text,
                        message.status,
                        message.module,
                        signed(now)
                    ],
                )?;
                Ok(conn.query_row(
                    &format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"),
                    [&message.id],
                    row_to_message,
                )?)
            })
            .await?;
        waker.notify_waiters();
        Ok(stored)
    }

    /// Message `id` of `ws`.
    pub async fn get_message(&self, ws: &str, id: &str) -> Result<OutboundMessage, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.get_message(ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM messages WHERE workspace_id = ?1 AND id = ?2"),
                [&ws, &id],
                row_to_message,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("message {id} not found")))
        })
        .await
    }

    /// Messages of `ws` in creation order, oldest first; a non-empty `contact_id` or `status`
    /// filters.
    pub async fn list_messages(
        &self,
        ws: &str,
        contact_id: &str,
        status: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<OutboundMessage>, StoreError> {
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        if let Some(pg) = self.pg() {
            return pg
                .list_messages(ws, contact_id, status, limit, &after)
                .await;
        }
        let (ws, contact_id, status) = (ws.to_string(), contact_id.to_string(), status.to_string());
        self.read(move |conn| {
            let (sql, params) = page_query(
                COLUMNS,
                "messages",
                &ws,
                &after,
                &[("contact_id", &contact_id), ("status", &status)],
                limit,
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), row_to_message)?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, limit, |m| &m.id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;
    use crate::store::{NewContact, NewConversation};
    use serde_json::json;

    /// PostgreSQL only: sends from two supervisors racing the deletion of their contact each
    /// either queue a message (removed with the contact) or fail on the contact, never leave a
    /// dangling message or an internal error. (On SQLite, one supervisor's single writer
    /// orders the writes; several processes on one file are not a cluster.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_sends_racing_a_contact_deletion() {
        let _postgres = crate::store::test_support::use_postgres();
        let (guard, store) = two_workspaces().await;
        let other = guard.open_again();
        for _ in 0..3 {
            let ada = store
                .create_contact("ws_a", NewContact::default())
                .await
                .unwrap()
                .id;
            let sends: Vec<_> = (0..8)
                .map(|i| {
                    let store = if i % 2 == 0 {
                        store.clone()
                    } else {
                        other.clone()
                    };
                    let new = NewMessage {
                        contact_id: ada.clone(),
                        channel: "sms".into(),
                        text: format!("hello {i}"),
                        ..Default::default()
                    };
                    tokio::spawn(async move { store.send_message("ws_a", "", new).await })
                })
                .collect();
            tokio::task::yield_now().await;
            assert!(store.delete_contact("ws_a", &ada).await.unwrap());
            for send in sends {
                match send.await.unwrap() {
                    Ok(_) => {}
                    Err(e) => assert!(
                        matches!(&e, StoreError::InvalidArgument(m) if m.starts_with("contact_id")),
                        "{e}"
                    ),
                }
            }
            assert!(other
                .list_messages("ws_a", &ada, "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
        }
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn send_get_list() {
            let (_dir, store) = two_workspaces().await;
            let ada = store
                .create_contact("ws_a", NewContact::default())
                .await
                .unwrap()
                .id;
            let bob = store
                .create_contact("ws_a", NewContact::default())
                .await
                .unwrap()
                .id;
            let conversation = store
                .create_conversation(
                    "ws_a",
                    NewConversation {
                        contact_id: ada.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .id;
            let sent = store
                .send_message(
                    "ws_a",
                    "mod-a",
                    NewMessage {
                        contact_id: ada.clone(),
                        conversation_id: conversation.clone(),
                        channel: "sms".into(),
                        text: "hello".into(),
                        content: Value::Null,
                    },
                )
                .await
                .unwrap();
            assert_eq!(sent.status, "queued");
            assert_eq!(sent.module, "mod-a");
            assert_eq!(store.get_message("ws_a", &sent.id).await.unwrap(), sent);
            assert!(matches!(
                store.get_message("ws_b", &sent.id).await,
                Err(StoreError::NotFound(_))
            ));
            let templated = store
                .send_message(
                    "ws_a",
                    "",
                    NewMessage {
                        contact_id: bob.clone(),
                        channel: "whatsapp".into(),
                        content: json!({"template": "welcome"}),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(templated.conversation_id, "");
            assert_eq!(
                store
                    .get_message("ws_a", &templated.id)
                    .await
                    .unwrap()
                    .content,
                json!({"template": "welcome"})
            );

            // Bad references and missing fields.
            let bad = |contact_id: &str, conversation_id: &str, text: &str| NewMessage {
                contact_id: contact_id.into(),
                conversation_id: conversation_id.into(),
                channel: "sms".into(),
                text: text.into(),
                content: Value::Null,
            };
            for (message, field) in [
                (bad(&bob, &conversation, "x"), "conversation_id"),
                (bad("ct_nope", "", "x"), "contact_id"),
                (bad(&ada, "cv_nope", "x"), "conversation_id"),
                (bad(&ada, "", ""), "text"),
            ] {
                assert!(matches!(
                    store.send_message("ws_a", "", message).await,
                    Err(StoreError::InvalidArgument(m)) if m.starts_with(field)
                ));
            }
            assert!(matches!(
                store.send_message("ws_b", "", bad(&ada, "", "x")).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("contact_id")
            ));

            let all = store.list_messages("ws_a", "", "", 1, "").await.unwrap();
            assert_eq!(all.items, vec![sent.clone()]);
            let rest = store
                .list_messages("ws_a", "", "", 1, all.next_page_token.as_deref().unwrap())
                .await
                .unwrap();
            assert_eq!(rest.items, vec![templated]);
            assert_eq!(rest.next_page_token, None);
            let ada_only = store.list_messages("ws_a", &ada, "", 0, "").await.unwrap();
            assert_eq!(ada_only.items, vec![sent]);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_supervisors_share_the_outbox() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let ada = store
                .create_contact("ws_a", NewContact::default())
                .await
                .unwrap()
                .id;
            let conversation = other
                .create_conversation(
                    "ws_a",
                    NewConversation {
                        contact_id: ada.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .id;
            let sends: Vec<_> = (0..8)
                .map(|i| {
                    let store = if i % 2 == 0 { store.clone() } else { other.clone() };
                    let new = NewMessage {
                        contact_id: ada.clone(),
                        conversation_id: conversation.clone(),
                        channel: "sms".into(),
                        text: format!("hello {i}"),
                        content: Value::Null,
                    };
                    tokio::spawn(async move { store.send_message("ws_a", "m", new).await })
                })
                .collect();
            let mut sent = Vec::new();
            for send in sends {
                sent.push(send.await.unwrap().unwrap());
            }
            sent.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(
                sent[0].waiting.as_deref(),
                Some("channel sms has no delivery target: PUT /v1/channels/sms")
            );
            for reader in [&store, &other] {
                let listed = reader
                    .list_messages("ws_a", &ada, STATUS_QUEUED, 3, "")
                    .await
                    .unwrap();
                assert_eq!(listed.items, sent[..3]);
                let mut all = Vec::new();
                let mut token = String::new();
                loop {
                    let page = reader
                        .list_messages("ws_a", "", "", 3, &token)
                        .await
                        .unwrap();
                    all.extend(page.items);
                    match page.next_page_token {
                        Some(next) => token = next,
                        None => break,
                    }
                }
                assert_eq!(all, sent);
            }
            // Deleting the contact on one supervisor empties the outbox on the other.
            assert!(store.delete_contact("ws_a", &ada).await.unwrap());
            assert!(matches!(
                other.get_message("ws_a", &sent[0].id).await,
                Err(StoreError::NotFound(_))
            ));
        }
    }
}
