//! Conversations of a workspace (`ctx.conversations`): a thread with one contact on one
//! channel, `open` until closed.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::util::{
    attributes_object, check_len, decode_page_token, into_page, json_text, merge_attributes,
    new_id, now_ms, page_query, page_size, parse_json, signed, unsigned, MAX_ATTRIBUTES, MAX_NAME,
};
use super::{contacts, Page, Store, StoreError};

/// Status of an open conversation.
pub const STATUS_OPEN: &str = "open";
/// Status of a closed conversation.
pub const STATUS_CLOSED: &str = "closed";

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// `cv_` + time-ordered suffix.
    pub id: String,
    /// The contact it is with.
    pub contact_id: String,
    /// e.g. `whatsapp`, `sms`, `email`, `web`.
    pub channel: String,
    /// `open` or `closed`.
    pub status: String,
    /// Subject line.
    pub subject: String,
    /// A JSON object.
    pub attributes: Value,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// When it was closed; 0 while open.
    pub closed_at_ms: u64,
}

/// A conversation to create.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewConversation {
    /// A contact of the same workspace (required).
    pub contact_id: String,
    /// Channel name.
    pub channel: String,
    /// Subject line.
    pub subject: String,
    /// A JSON object, or `null` for none.
    pub attributes: Value,
}

/// Changes to a conversation: `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConversationPatch {
    /// New subject.
    pub subject: Option<String>,
    /// Merged into the attributes: keys replace, a `null` value removes the key.
    pub attributes: Option<Value>,
}

const COLUMNS: &str = "id, contact_id, channel, status, subject, attributes, created_at_ms, \
                       updated_at_ms, closed_at_ms";

fn row_to_conversation(row: &rusqlite::Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: row.get(0)?,
        contact_id: row.get(1)?,
        channel: row.get(2)?,
        status: row.get(3)?,
        subject: row.get(4)?,
        attributes: parse_json("conversations.attributes", &row.get::<_, String>(5)?)?,
        created_at_ms: unsigned(row.get(6)?),
        updated_at_ms: unsigned(row.get(7)?),
        closed_at_ms: unsigned(row.get(8)?),
    })
}

/// One conversation of `ws` (used by messages to check references).
pub(super) fn load(
    conn: &Connection,
    ws: &str,
    id: &str,
) -> Result<Option<Conversation>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM conversations WHERE workspace_id = ?1 AND id = ?2"),
            [ws, id],
            row_to_conversation,
        )
        .optional()?)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("conversation {id} not found"))
}

impl Store {
    /// Creates an `open` conversation with a contact of `ws`; a contact that is not in `ws` is
    /// [`StoreError::InvalidArgument`] naming `contact_id`.
    pub async fn create_conversation(
        &self,
        ws: &str,
        new: NewConversation,
    ) -> Result<Conversation, StoreError> {
        if new.contact_id.is_empty() {
            return Err(StoreError::InvalidArgument("contact_id: required".into()));
        }
        check_len("channel", &new.channel, MAX_NAME)?;
        check_len("subject", &new.subject, MAX_NAME)?;
        let attributes = Value::Object(attributes_object("attributes", new.attributes)?);
        let attributes_text = json_text("attributes", &attributes, MAX_ATTRIBUTES)?;
        let now = now_ms();
        let conversation = Conversation {
            id: new_id("cv_"),
            contact_id: new.contact_id,
            channel: new.channel,
            status: STATUS_OPEN.into(),
            subject: new.subject,
            attributes,
            created_at_ms: now,
            updated_at_ms: now,
            closed_at_ms: 0,
        };
        if let Some(pg) = self.pg() {
            return pg
                .create_conversation(ws, conversation, &attributes_text)
                .await;
        }
        let ws = ws.to_string();
        self.write(move |conn| {
            if contacts::load(conn, &ws, &conversation.contact_id)?.is_none() {
                return Err(StoreError::InvalidArgument(format!(
                    "contact_id: no contact {} in this workspace",
                    conversation.contact_id
                )));
            }
            conn.execute(
                "INSERT INTO conversations (id, workspace_id, contact_id, channel, status, subject,
                    attributes, created_at_ms, updated_at_ms, closed_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 0)",
                rusqlite::params![
                    conversation.id,
                    ws,
                    conversation.contact_id,
                    conversation.channel,
                    conversation.status,
                    conversation.subject,
                    attributes_text,
                    signed(now)
                ],
            )?;
            Ok(conversation)
        })
        .await
    }

    /// Conversation `id` of `ws`.
    pub async fn get_conversation(&self, ws: &str, id: &str) -> Result<Conversation, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.get_conversation(ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.read(move |conn| load(conn, &ws, &id)?.ok_or_else(|| not_found(&id)))
            .await
    }

    /// Updates the subject and merges the attributes of conversation `id` of `ws`.
    pub async fn update_conversation(
        &self,
        ws: &str,
        id: &str,
        patch: ConversationPatch,
    ) -> Result<Conversation, StoreError> {
        if let Some(subject) = &patch.subject {
            check_len("subject", subject, MAX_NAME)?;
        }
        if let Some(pg) = self.pg() {
            return pg.update_conversation(ws, id, patch).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut conversation = load(&tx, &ws, &id)?.ok_or_else(|| not_found(&id))?;
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
            tx.execute(
                "UPDATE conversations SET subject = ?3, attributes = ?4, updated_at_ms = ?5
                 WHERE workspace_id = ?1 AND id = ?2",
                rusqlite::params![
                    ws,
                    id,
                    conversation.subject,
                    attributes_text,
                    signed(conversation.updated_at_ms)
                ],
            )?;
            tx.commit()?;
            Ok(conversation)
        })
        .await
    }

    /// Closes conversation `id` of `ws` (idempotent: closing a closed one keeps its
    /// `closed_at_ms`).
    pub async fn close_conversation(&self, ws: &str, id: &str) -> Result<Conversation, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.close_conversation(ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut conversation = load(&tx, &ws, &id)?.ok_or_else(|| not_found(&id))?;
            if conversation.status != STATUS_CLOSED {
                let now = now_ms().max(conversation.created_at_ms);
                conversation.status = STATUS_CLOSED.into();
                conversation.closed_at_ms = now;
                conversation.updated_at_ms = now;
                tx.execute(
                    "UPDATE conversations SET status = ?3, closed_at_ms = ?4, updated_at_ms = ?4
                     WHERE workspace_id = ?1 AND id = ?2",
                    rusqlite::params![ws, id, STATUS_CLOSED, signed(now)],
                )?;
                tx.commit()?;
            }
            Ok(conversation)
        })
        .await
    }

    /// Conversations of `ws` in creation order, oldest first; a non-empty `contact_id` or
    /// `status` (`open`, `closed`) filters.
    pub async fn list_conversations(
        &self,
        ws: &str,
        contact_id: &str,
        status: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<Conversation>, StoreError> {
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        if !matches!(status, "" | STATUS_OPEN | STATUS_CLOSED) {
            return Err(StoreError::InvalidArgument(format!(
                "status: must be \"open\", \"closed\" or empty, got {status:?}"
            )));
        }
        if let Some(pg) = self.pg() {
            return pg
                .list_conversations(ws, contact_id, status, limit, &after)
                .await;
        }
        let (ws, contact_id, status) = (ws.to_string(), contact_id.to_string(), status.to_string());
        self.read(move |conn| {
            let (sql, params) = page_query(
                COLUMNS,
                "conversations",
                &ws,
                &after,
                &[("contact_id", &contact_id), ("status", &status)],
                limit,
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), row_to_conversation)?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, limit, |c| &c.id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;
    use crate::store::NewContact;
    use serde_json::json;

    async fn contact(store: &Store, ws: &str) -> String {
        store
            .create_contact(ws, NewContact::default())
            .await
            .unwrap()
            .id
    }

    fn new(contact_id: &str) -> NewConversation {
        NewConversation {
            contact_id: contact_id.into(),
            channel: "whatsapp".into(),
            subject: "Order 42".into(),
            attributes: json!({"priority": "high"}),
        }
    }

    /// PostgreSQL only: two supervisors of a cluster patching and closing one conversation at
    /// once: every merge lands, one close sets `closed_at_ms` and every answer is the same
    /// record. (Two SQLite processes on one file are not a supported cluster: a second
    /// process's read-then-write transaction can fail with `database is locked`.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_two_supervisors_patch_and_close_one_conversation() {
        let _postgres = crate::store::test_support::use_postgres();
        let (guard, store) = two_workspaces().await;
        let other = guard.open_again();
        let ada = contact(&store, "ws_a").await;
        let conversation = other.create_conversation("ws_a", new(&ada)).await.unwrap();
        let merges: Vec<_> = (0..6)
            .map(|i| {
                let store = if i % 2 == 0 {
                    store.clone()
                } else {
                    other.clone()
                };
                let id = conversation.id.clone();
                tokio::spawn(async move {
                    let patch = ConversationPatch {
                        attributes: Some(json!({ format!("k{i}"): i })),
                        ..Default::default()
                    };
                    store.update_conversation("ws_a", &id, patch).await
                })
            })
            .collect();
        for merge in merges {
            merge.await.unwrap().unwrap();
        }
        let read = store
            .get_conversation("ws_a", &conversation.id)
            .await
            .unwrap();
        for i in 0..6 {
            assert_eq!(read.attributes[format!("k{i}")], json!(i), "{read:?}");
        }
        assert_eq!(read.attributes["priority"], json!("high"));
        let closes: Vec<_> = (0..6)
            .map(|i| {
                let store = if i % 2 == 0 {
                    store.clone()
                } else {
                    other.clone()
                };
                let id = conversation.id.clone();
                tokio::spawn(async move { store.close_conversation("ws_a", &id).await })
            })
            .collect();
        let mut answers = Vec::new();
        for close in closes {
            answers.push(close.await.unwrap().unwrap());
        }
        assert_eq!(answers[0].status, "closed");
        assert!(answers[0].closed_at_ms > 0);
        assert!(answers.iter().all(|c| *c == answers[0]));
        assert_eq!(
            other
                .get_conversation("ws_a", &conversation.id)
                .await
                .unwrap(),
            answers[0]
        );
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn lifecycle_and_isolation() {
            let (_dir, store) = two_workspaces().await;
            let ada = contact(&store, "ws_a").await;
            let other = contact(&store, "ws_b").await;
            let conversation = store.create_conversation("ws_a", new(&ada)).await.unwrap();
            assert_eq!(conversation.status, "open");
            assert_eq!(conversation.closed_at_ms, 0);
            // A contact of another workspace cannot be referenced.
            assert!(matches!(
                store.create_conversation("ws_a", new(&other)).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("contact_id")
            ));
            assert!(matches!(
                store.create_conversation("ws_a", new("")).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("contact_id")
            ));
            assert!(matches!(
                store.get_conversation("ws_b", &conversation.id).await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store.close_conversation("ws_b", &conversation.id).await,
                Err(StoreError::NotFound(_))
            ));

            let updated = store
                .update_conversation(
                    "ws_a",
                    &conversation.id,
                    ConversationPatch {
                        subject: Some("Order 43".into()),
                        attributes: Some(json!({"priority": null, "tag": "vip"})),
                    },
                )
                .await
                .unwrap();
            assert_eq!(updated.subject, "Order 43");
            assert_eq!(updated.attributes, json!({"tag": "vip"}));

            let closed = store
                .close_conversation("ws_a", &conversation.id)
                .await
                .unwrap();
            assert_eq!(closed.status, "closed");
            assert!(closed.closed_at_ms > 0);
            let again = store
                .close_conversation("ws_a", &conversation.id)
                .await
                .unwrap();
            assert_eq!(again.closed_at_ms, closed.closed_at_ms);
            assert_eq!(
                store
                    .get_conversation("ws_a", &conversation.id)
                    .await
                    .unwrap(),
                closed
            );

            // Deleting the contact removes its conversations.
            assert!(store.delete_contact("ws_a", &ada).await.unwrap());
            assert!(matches!(
                store.get_conversation("ws_a", &conversation.id).await,
                Err(StoreError::NotFound(_))
            ));
        }

        #[tokio::test]
        async fn list_filters_and_pages() {
            let (_dir, store) = two_workspaces().await;
            let ada = contact(&store, "ws_a").await;
            let bob = contact(&store, "ws_a").await;
            let mut ada_ids = Vec::new();
            for i in 0..5 {
                let c = store.create_conversation("ws_a", new(&ada)).await.unwrap();
                if i % 2 == 0 {
                    store.close_conversation("ws_a", &c.id).await.unwrap();
                }
                ada_ids.push(c.id);
                store.create_conversation("ws_a", new(&bob)).await.unwrap();
            }
            let first = store
                .list_conversations("ws_a", &ada, "", 2, "")
                .await
                .unwrap();
            let token = first.next_page_token.clone().unwrap();
            let second = store
                .list_conversations("ws_a", &ada, "", 2, &token)
                .await
                .unwrap();
            let third = store
                .list_conversations(
                    "ws_a",
                    &ada,
                    "",
                    2,
                    second.next_page_token.as_deref().unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(third.next_page_token, None);
            let seen: Vec<String> = [first, second, third]
                .into_iter()
                .flat_map(|p| p.items)
                .map(|c| c.id)
                .collect();
            assert_eq!(seen, ada_ids);

            let closed = store
                .list_conversations("ws_a", &ada, "closed", 0, "")
                .await
                .unwrap();
            assert_eq!(closed.items.len(), 3);
            assert_eq!(
                store
                    .list_conversations("ws_a", "", "", 0, "")
                    .await
                    .unwrap()
                    .items
                    .len(),
                10
            );
            assert!(store
                .list_conversations("ws_b", "", "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(matches!(
                store
                    .list_conversations("ws_a", "", "pending", 0, "")
                    .await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("status")
            ));
        }


        #[tokio::test]
        async fn two_supervisors_share_conversations() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            // A conversation created on one supervisor with a contact created on the other.
            let ada = contact(&store, "ws_a").await;
            let conversation = other.create_conversation("ws_a", new(&ada)).await.unwrap();
            let closed = store
                .close_conversation("ws_a", &conversation.id)
                .await
                .unwrap();
            assert_eq!(
                other
                    .close_conversation("ws_a", &conversation.id)
                    .await
                    .unwrap(),
                closed
            );
            assert_eq!(
                other
                    .list_conversations("ws_a", &ada, "closed", 0, "")
                    .await
                    .unwrap()
                    .items,
                vec![closed]
            );
            // A contact deleted on one supervisor cannot be referenced on the other.
            assert!(store.delete_contact("ws_a", &ada).await.unwrap());
            assert!(matches!(
                other.create_conversation("ws_a", new(&ada)).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("contact_id")
            ));
            assert!(other
                .list_conversations("ws_a", "", "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
        }
    }
}
