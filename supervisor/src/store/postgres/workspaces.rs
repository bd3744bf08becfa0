//! Workspaces on PostgreSQL (see `store/workspaces.rs`).

use super::util::{signed, unsigned};
use super::{PgError, PgStore};
use crate::store::util::now_ms;
use crate::store::{StoreError, Workspace};

fn row_to_workspace(row: &tokio_postgres::Row) -> Workspace {
    Workspace {
        id: row.get(0),
        name: row.get(1),
        created_at_ms: unsigned(row.get(2)),
    }
}

impl PgStore {
    /// Inserts a validated workspace; an existing id is a conflict.
    pub(crate) async fn create_workspace(
        &self,
        workspace: Workspace,
    ) -> Result<Workspace, StoreError> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &workspace.id,
                    &workspace.name,
                    &signed(workspace.created_at_ms),
                ],
            )
            .await
            .map_err(PgError::from)?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "workspace {} already exists",
                workspace.id
            )));
        }
        Ok(workspace)
    }

    /// Creates workspace `id` with an empty name unless it exists.
    pub(crate) async fn ensure_workspace(&self, id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, '', $2)
                 ON CONFLICT (id) DO NOTHING",
                &[&id, &signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        Ok(())
    }

    /// Every workspace, oldest first.
    pub(crate) async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, created_at_ms FROM workspaces ORDER BY created_at_ms, id",
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_workspace).collect())
    }

    /// One workspace.
    pub(crate) async fn get_workspace(&self, id: &str) -> Result<Workspace, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT id, name, created_at_ms FROM workspaces WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(PgError::from)?
            .map(|row| row_to_workspace(&row))
            .ok_or_else(|| StoreError::NotFound(format!("workspace {id} not found")))
    }
}
