//! Contacts of a workspace (`ctx.contacts`).

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::util::{
    attributes_object, check_len, decode_page_token, into_page, is_unique_violation, json_text,
    merge_attributes, new_id, now_ms, page_size, parse_json, require_workspace, signed, unsigned,
    MAX_ATTRIBUTES, MAX_NAME,
};
use super::{Page, Store, StoreError};

/// A contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// `ct_` + time-ordered suffix.
    pub id: String,
    /// The caller's own id for the contact; unique in the workspace when non-empty.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// A JSON object.
    pub attributes: Value,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

/// A contact to create.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewContact {
    /// Unique in the workspace when non-empty.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// A JSON object, or `null` for none.
    pub attributes: Value,
}

/// Changes to a contact: `None` leaves a field unchanged, `Some("")` clears it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactPatch {
    /// New external id.
    pub external_id: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// Merged into the attributes: keys replace, a `null` value removes the key.
    pub attributes: Option<Value>,
}

const COLUMNS: &str =
    "id, external_id, name, email, phone, attributes, created_at_ms, updated_at_ms";

fn row_to_contact(row: &rusqlite::Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: row.get(0)?,
        external_id: row.get(1)?,
        name: row.get(2)?,
        email: row.get(3)?,
        phone: row.get(4)?,
        attributes: parse_json("contacts.attributes", &row.get::<_, String>(5)?)?,
        created_at_ms: unsigned(row.get(6)?),
        updated_at_ms: unsigned(row.get(7)?),
    })
}

fn check_fields(external_id: &str, name: &str, email: &str, phone: &str) -> Result<(), StoreError> {
    check_len("external_id", external_id, MAX_NAME)?;
    check_len("name", name, MAX_NAME)?;
    check_len("email", email, MAX_NAME)?;
    check_len("phone", phone, MAX_NAME)
}

/// One contact of `ws` (used by conversations and messages to check references).
pub(super) fn load(conn: &Connection, ws: &str, id: &str) -> Result<Option<Contact>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM contacts WHERE workspace_id = ?1 AND id = ?2"),
            [ws, id],
            row_to_contact,
        )
        .optional()?)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("contact {id} not found"))
}

fn duplicate(external_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "external_id: a contact with external id {external_id:?} already exists in this workspace"
    ))
}

impl Store {
    /// Contact `id` of workspace `ws`.
    pub async fn get_contact(&self, ws: &str, id: &str) -> Result<Contact, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.get_contact(ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.read(move |conn| load(conn, &ws, &id)?.ok_or_else(|| not_found(&id)))
            .await
    }

    /// The contact of `ws` with this (non-empty) external id.
    pub async fn find_contact_by_external_id(
        &self,
        ws: &str,
        external_id: &str,
    ) -> Result<Contact, StoreError> {
        if external_id.is_empty() {
            return Err(StoreError::InvalidArgument("external_id: required".into()));
        }
        if let Some(pg) = self.pg() {
            return pg.find_contact_by_external_id(ws, external_id).await;
        }
        let (ws, external_id) = (ws.to_string(), external_id.to_string());
        self.read(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM contacts WHERE workspace_id = ?1 AND external_id = ?2"
                ),
                [&ws, &external_id],
                row_to_contact,
            )
            .optional()?
            .ok_or_else(|| {
                StoreError::NotFound(format!("no contact with external id {external_id:?}"))
            })
        })
        .await
    }

    /// Creates a contact in `ws`. A non-empty `external_id` already used in `ws` is
    /// [`StoreError::Conflict`].
    pub async fn create_contact(&self, ws: &str, new: NewContact) -> Result<Contact, StoreError> {
        check_fields(&new.external_id, &new.name, &new.email, &new.phone)?;
        let attributes = Value::Object(attributes_object("attributes", new.attributes)?);
        let attributes_text = json_text("attributes", &attributes, MAX_ATTRIBUTES)?;
        let now = now_ms();
        let contact = Contact {
            id: new_id("ct_"),
            external_id: new.external_id,
            name: new.name,
            email: new.email,
            phone: new.phone,
            attributes,
            created_at_ms: now,
            updated_at_ms: now,
        };
        if let Some(pg) = self.pg() {
            return pg.create_contact(ws, contact, &attributes_text).await;
        }
        let ws = ws.to_string();
        self.write(move |conn| {
            require_workspace(conn, &ws)?;
            let inserted = conn.execute(
                "INSERT INTO contacts (id, workspace_id, external_id, name, email, phone,
                    attributes, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                rusqlite::params![
                    contact.id,
                    ws,
                    contact.external_id,
                    contact.name,
                    contact.email,
                    contact.phone,
                    attributes_text,
                    signed(now)
                ],
            );
            match inserted {
                Ok(_) => Ok(contact),
                Err(e) if is_unique_violation(&e) => Err(duplicate(&contact.external_id)),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Updates contact `id` of `ws`: set fields replace, attributes are merged.
    pub async fn update_contact(
        &self,
        ws: &str,
        id: &str,
        patch: ContactPatch,
    ) -> Result<Contact, StoreError> {
        check_fields(
            patch.external_id.as_deref().unwrap_or_default(),
            patch.name.as_deref().unwrap_or_default(),
            patch.email.as_deref().unwrap_or_default(),
            patch.phone.as_deref().unwrap_or_default(),
        )?;
        if let Some(pg) = self.pg() {
            return pg.update_contact(ws, id, patch).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut contact = load(&tx, &ws, &id)?.ok_or_else(|| not_found(&id))?;
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
            let updated = tx.execute(
                "UPDATE contacts SET external_id = ?3, name = ?4, email = ?5, phone = ?6,
                    attributes = ?7, updated_at_ms = ?8
                 WHERE workspace_id = ?1 AND id = ?2",
                rusqlite::params![
                    ws,
                    id,
                    contact.external_id,
                    contact.name,
                    contact.email,
                    contact.phone,
                    attributes_text,
                    signed(contact.updated_at_ms)
                ],
            );
            match updated {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(duplicate(&contact.external_id)),
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(contact)
        })
        .await
    }

    /// Deletes contact `id` of `ws` with its conversations and messages; `false` when absent.
    pub async fn delete_contact(&self, ws: &str, id: &str) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.delete_contact(ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM contacts WHERE workspace_id = ?1 AND id = ?2",
                [&ws, &id],
            )?;
            Ok(deleted > 0)
        })
        .await
    }

    /// Contacts of `ws` in creation order, oldest first.
    pub async fn list_contacts(
        &self,
        ws: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<Contact>, StoreError> {
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        if let Some(pg) = self.pg() {
            return pg.list_contacts(ws, limit, &after).await;
        }
        let ws = ws.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM contacts WHERE workspace_id = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![ws, after, (limit + 1) as i64],
                row_to_contact,
            )?;
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
    use serde_json::json;

    fn new(external_id: &str) -> NewContact {
        NewContact {
            external_id: external_id.into(),
            name: "Ada".into(),
            attributes: json!({"plan": "pro", "seats": 3}),
            ..Default::default()
        }
    }

    crate::store::test_support::both_backends! {
        // Attribute merges from two stores on one database at once all land: two supervisors
        // of a cluster on PostgreSQL (each runs again on the other's state), or the supervisor
        // and the CLI on one SQLite file (write transactions take the write lock when they
        // begin, so the second waits instead of failing with "database is locked").
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_stores_merge_attributes_without_losing_any() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let contact = store.create_contact("ws_a", new("x1")).await.unwrap();
            let merges: Vec<_> = (0..8)
                .map(|i| {
                    let store = if i % 2 == 0 {
                        store.clone()
                    } else {
                        other.clone()
                    };
                    let id = contact.id.clone();
                    tokio::spawn(async move {
                        let patch = ContactPatch {
                            attributes: Some(json!({ format!("k{i}"): i })),
                            ..Default::default()
                        };
                        store.update_contact("ws_a", &id, patch).await
                    })
                })
                .collect();
            for merge in merges {
                merge.await.unwrap().unwrap();
            }
            let read = other.get_contact("ws_a", &contact.id).await.unwrap();
            for i in 0..8 {
                assert_eq!(read.attributes[format!("k{i}")], json!(i), "{read:?}");
            }
            assert_eq!(read.attributes["plan"], json!("pro"));
        }

        #[tokio::test]
        async fn workspace_isolation() {
            let (_dir, store) = two_workspaces().await;
            let contact = store.create_contact("ws_a", new("x1")).await.unwrap();
            assert_eq!(
                store.get_contact("ws_a", &contact.id).await.unwrap(),
                contact
            );
            assert!(matches!(
                store.get_contact("ws_b", &contact.id).await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store.find_contact_by_external_id("ws_b", "x1").await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store
                    .update_contact("ws_b", &contact.id, ContactPatch::default())
                    .await,
                Err(StoreError::NotFound(_))
            ));
            assert!(!store.delete_contact("ws_b", &contact.id).await.unwrap());
            assert!(store
                .list_contacts("ws_b", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            // The same external id is fine in another workspace.
            store.create_contact("ws_b", new("x1")).await.unwrap();
            assert!(matches!(
                store.create_contact("ws_a", new("x1")).await,
                Err(StoreError::Conflict(m)) if m.starts_with("external_id")
            ));
            // Empty external ids never conflict.
            store.create_contact("ws_a", new("")).await.unwrap();
            store.create_contact("ws_a", new("")).await.unwrap();
            assert!(matches!(
                store.create_contact("ws_nope", new("")).await,
                Err(StoreError::NotFound(_))
            ));
        }

        #[tokio::test]
        async fn update_merges_attributes() {
            let (_dir, store) = two_workspaces().await;
            let contact = store.create_contact("ws_a", new("x1")).await.unwrap();
            let updated = store
                .update_contact(
                    "ws_a",
                    &contact.id,
                    ContactPatch {
                        email: Some("ada@example.com".into()),
                        attributes: Some(json!({"plan": "team", "seats": null, "vip": true})),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(updated.attributes, json!({"plan": "team", "vip": true}));
            assert_eq!(updated.email, "ada@example.com");
            assert_eq!(updated.name, "Ada");
            let read = store.get_contact("ws_a", &contact.id).await.unwrap();
            assert_eq!(read, updated);
            // Clearing with "" and rejecting non-objects.
            let cleared = store
                .update_contact(
                    "ws_a",
                    &contact.id,
                    ContactPatch {
                        name: Some(String::new()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(cleared.name, "");
            assert!(matches!(
                store
                    .update_contact(
                        "ws_a",
                        &contact.id,
                        ContactPatch {
                            attributes: Some(json!([1])),
                            ..Default::default()
                        },
                    )
                    .await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("attributes")
            ));
            // Taking another contact's external id conflicts.
            let other = store.create_contact("ws_a", new("x2")).await.unwrap();
            assert!(matches!(
                store
                    .update_contact(
                        "ws_a",
                        &other.id,
                        ContactPatch {
                            external_id: Some("x1".into()),
                            ..Default::default()
                        },
                    )
                    .await,
                Err(StoreError::Conflict(_))
            ));
            assert!(store.delete_contact("ws_a", &other.id).await.unwrap());
            assert!(!store.delete_contact("ws_a", &other.id).await.unwrap());
        }

        #[tokio::test]
        async fn validation_names_the_field() {
            let (_dir, store) = two_workspaces().await;
            let mut long = new("");
            long.name = "n".repeat(257);
            assert!(matches!(
                store.create_contact("ws_a", long).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("name:")
            ));
            let mut bad = new("");
            bad.attributes = json!("text");
            assert!(matches!(
                store.create_contact("ws_a", bad).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("attributes:")
            ));
            assert!(matches!(
                store.list_contacts("ws_a", 501, "").await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("page_size:")
            ));
            assert!(matches!(
                store.list_contacts("ws_a", 10, "%%%").await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("page_token:")
            ));
        }

        #[tokio::test]
        async fn paging_across_pages() {
            let (_dir, store) = two_workspaces().await;
            let mut created = Vec::new();
            for i in 0..7 {
                created.push(
                    store
                        .create_contact("ws_a", new(&format!("p{i}")))
                        .await
                        .unwrap()
                        .id,
                );
                store
                    .create_contact("ws_b", new(&format!("p{i}")))
                    .await
                    .unwrap();
            }
            let mut seen = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let page = store.list_contacts("ws_a", 3, &token).await.unwrap();
                pages += 1;
                seen.extend(page.items.into_iter().map(|c| c.id));
                match page.next_page_token {
                    Some(next) => token = next,
                    None => break,
                }
            }
            assert_eq!(pages, 3);
            assert_eq!(seen, created);
            let all = store.list_contacts("ws_a", 0, "").await.unwrap();
            assert_eq!(all.items.len(), 7);
            assert_eq!(all.next_page_token, None);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_supervisors_race_on_an_external_id() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let attempts: Vec<_> = (0..8)
                .map(|i| {
                    let store = if i % 2 == 0 { store.clone() } else { other.clone() };
                    tokio::spawn(async move { store.create_contact("ws_a", new("dup")).await })
                })
                .collect();
            let mut winners = Vec::new();
            for attempt in attempts {
                match attempt.await.unwrap() {
                    Ok(contact) => winners.push(contact),
                    Err(e) => assert!(
                        matches!(&e, StoreError::Conflict(m) if m.starts_with("external_id")),
                        "{e}"
                    ),
                }
            }
            assert_eq!(winners.len(), 1);
            let winner = winners.pop().unwrap();
            // Each supervisor sees the other's writes.
            assert_eq!(
                other.find_contact_by_external_id("ws_a", "dup").await.unwrap(),
                winner
            );
            let renamed = other
                .update_contact(
                    "ws_a",
                    &winner.id,
                    ContactPatch {
                        name: Some("Grace".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(store.get_contact("ws_a", &winner.id).await.unwrap(), renamed);
            assert!(store.delete_contact("ws_a", &winner.id).await.unwrap());
            assert!(!other.delete_contact("ws_a", &winner.id).await.unwrap());
            assert!(other
                .list_contacts("ws_a", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
        }

    }
}
