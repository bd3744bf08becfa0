//! Workspaces: the tenants every other record belongs to.

use crate::names::is_workspace_id;
use rusqlite::OptionalExtension;
use serde::Serialize;

use super::util::{check_len, now_ms, random_lower_alnum, signed, unsigned, MAX_NAME};
use super::{Store, StoreError};

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// `ws_` followed by 1-60 of `[a-z0-9_]`.
    pub id: String,
    /// Display name (may be empty).
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

fn check_workspace_id(id: &str) -> Result<(), StoreError> {
    if is_workspace_id(id) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "id: {id:?} is not a workspace id: use ws_ followed by 1-60 of [a-z0-9_], e.g. ws_abc123"
        )))
    }
}

impl Store {
    /// Creates a workspace. `id` `None` generates `ws_` + 12 random `[a-z0-9]`; a given id must
    /// be a workspace id. An existing id is [`StoreError::Conflict`].
    pub async fn create_workspace(
        &self,
        id: Option<String>,
        name: String,
    ) -> Result<Workspace, StoreError> {
        let id = match id {
            Some(id) => {
                check_workspace_id(&id)?;
                id
            }
            None => format!("ws_{}", random_lower_alnum(12)),
        };
        check_len("name", &name, MAX_NAME)?;
        let workspace = Workspace {
            id,
            name,
            created_at_ms: now_ms(),
        };
        if let Some(pg) = self.pg() {
            return pg.create_workspace(workspace).await;
        }
        self.write(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO workspaces (id, name, created_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO NOTHING",
                rusqlite::params![
                    workspace.id,
                    workspace.name,
                    signed(workspace.created_at_ms)
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "workspace {} already exists",
                    workspace.id
                )));
            }
            Ok(workspace)
        })
        .await
    }

    /// Creates workspace `id` (with an empty name) unless it exists. Used for the workspaces
    /// named in the configuration.
    pub async fn ensure_workspace(&self, id: &str) -> Result<(), StoreError> {
        check_workspace_id(id)?;
        if let Some(pg) = self.pg() {
            return pg.ensure_workspace(id).await;
        }
        let id = id.to_string();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO workspaces (id, name, created_at_ms) VALUES (?1, '', ?2)
                 ON CONFLICT (id) DO NOTHING",
                rusqlite::params![id, signed(now_ms())],
            )?;
            Ok(())
        })
        .await
    }

    /// Every workspace, oldest first.
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.list_workspaces().await;
        }
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, name, created_at_ms FROM workspaces ORDER BY created_at_ms, id",
            )?;
            let rows = stmt.query_map([], row_to_workspace)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// One workspace; [`StoreError::NotFound`] when absent.
    pub async fn get_workspace(&self, id: &str) -> Result<Workspace, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.get_workspace(id).await;
        }
        let id = id.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT id, name, created_at_ms FROM workspaces WHERE id = ?1",
                [&id],
                row_to_workspace,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("workspace {id} not found")))
        })
        .await
    }
}

fn row_to_workspace(row: &rusqlite::Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at_ms: unsigned(row.get(2)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    crate::store::test_support::both_backends! {
    #[tokio::test]
    async fn create_list_and_ensure() {
        let (_dir, store) = temp_store();
        let generated = store.create_workspace(None, "Acme".into()).await.unwrap();
        assert!(is_workspace_id(&generated.id));
        assert_eq!(generated.id.len(), 15);
        let given = store
            .create_workspace(Some("ws_given".into()), String::new())
            .await
            .unwrap();
        assert_eq!(given.id, "ws_given");
        assert!(matches!(
            store
                .create_workspace(Some("ws_given".into()), String::new())
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.create_workspace(Some("acme".into()), String::new()).await,
            Err(StoreError::InvalidArgument(m)) if m.starts_with("id:")
        ));
        store.ensure_workspace("ws_given").await.unwrap();
        store.ensure_workspace("ws_config").await.unwrap();
        store.ensure_workspace("ws_config").await.unwrap();
        let ids: Vec<String> = store
            .list_workspaces()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&"ws_config".to_string()));
        assert_eq!(store.get_workspace("ws_given").await.unwrap().name, "");
        assert!(matches!(
            store.get_workspace("ws_nope").await,
            Err(StoreError::NotFound(_))
        ));
    }
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::store::DB_FILE);
        {
            let store = Store::open(&path).unwrap();
            store
                .create_workspace(Some("ws_kept".into()), "Kept".into())
                .await
                .unwrap();
            let contact = store
                .create_contact(
                    "ws_kept",
                    crate::store::NewContact {
                        external_id: "ext-1".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            store
                .kv_set("ws_kept", "m", "k", serde_json::json!(1), 0)
                .await
                .unwrap();
            assert!(contact.id.starts_with("ct_"));
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.kv_get("ws_kept", "m", "k").await.unwrap().revision, 1);
        assert_eq!(store.get_workspace("ws_kept").await.unwrap().name, "Kept");
        assert_eq!(
            store
                .find_contact_by_external_id("ws_kept", "ext-1")
                .await
                .unwrap()
                .external_id,
            "ext-1"
        );
    }
}
