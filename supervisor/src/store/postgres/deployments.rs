//! deployments on PostgreSQL (see `store/deployments.rs`).
//!
//! Switching the active deployment of a module (activation, removal) reads before it writes and
//! runs as one `SERIALIZABLE` transaction ([`pg_transaction!`]): of two supervisors activating
//! deployments of one module at once, one commits first and the other runs again on its state,
//! so a module always has exactly one active record, the one `deployed_modules` points to.
//! Every other write is one statement.

use super::pg_transaction;
use super::util::{signed, unsigned};
use super::{PgError, PgStore};
use crate::store::deployments::{
    check_archive_size, deployment_under_way, not_under_way, ARCHIVE_CHUNK,
};
use crate::store::util::{new_id, now_ms};
use crate::store::{DeployedModule, Deployment, NewDeployment, StoreError, INTERRUPTED_DEPLOYMENT};

const COLUMNS: &str = "id, workspace_id, module, version, digest, package, kind, rollback_of, \
     state, actor, reason, created_at_ms, finished_at_ms, package_kept, manifest, origin, nodes";

/// [`COLUMNS`] of `deployments AS d`, then `deployed_modules.enabled` (for the joins).
const DEPLOYED_COLUMNS: &str = "d.id, d.workspace_id, d.module, d.version, d.digest, d.package, \
     d.kind, d.rollback_of, d.state, d.actor, d.reason, d.created_at_ms, d.finished_at_ms, \
     d.package_kept, d.manifest, d.origin, d.nodes, m.enabled";

fn row_to_deployment(row: &tokio_postgres::Row) -> Deployment {
    Deployment {
        id: row.get(0),
        workspace: row.get(1),
        module: row.get(2),
        version: row.get(3),
        digest: row.get(4),
        package: row.get(5),
        kind: row.get(6),
        rollback_of: row.get(7),
        state: row.get(8),
        actor: row.get(9),
        reason: row.get(10),
        created_at_ms: unsigned(row.get(11)),
        finished_at_ms: row.get::<_, Option<i64>>(12).map(unsigned),
        package_kept: row.get(13),
        manifest: row.get(14),
        origin: row.get(15),
        nodes: serde_json::from_str(row.get::<_, &str>(16)).unwrap_or_default(),
    }
}

/// A row of [`DEPLOYED_COLUMNS`].
fn row_to_deployed(row: &tokio_postgres::Row) -> DeployedModule {
    DeployedModule {
        active: row_to_deployment(row),
        enabled: row.get(17),
    }
}

/// Deployment `id`, if it exists.
async fn get(
    client: &impl tokio_postgres::GenericClient,
    id: &str,
) -> Result<Option<Deployment>, PgError> {
    Ok(client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM deployments WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|row| row_to_deployment(&row)))
}

/// A transaction holding the lock of `workspace/module`'s deployments.
async fn locked_transaction<'a>(
    client: &'a mut deadpool_postgres::Object,
    workspace: &str,
    module: &str,
) -> Result<deadpool_postgres::Transaction<'a>, StoreError> {
    super::locked_transaction(client, &format!("deployment:{workspace}/{module}")).await
}

/// `Conflict` while a deployment of `workspace/module` is under way.
async fn refuse_under_way(
    client: &impl tokio_postgres::GenericClient,
    workspace: &str,
    module: &str,
) -> Result<(), StoreError> {
    match under_way(client, workspace, module).await? {
        Some(other) => Err(StoreError::Conflict(deployment_under_way(
            workspace, module, &other,
        ))),
        None => Ok(()),
    }
}

/// The deployment of `workspace/module` under way (id and origin), if any.
async fn under_way(
    client: &impl tokio_postgres::GenericClient,
    workspace: &str,
    module: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT id, origin FROM deployments
             WHERE workspace_id = $1 AND module = $2 AND state = 'deploying' LIMIT 1",
            &[&workspace, &module],
        )
        .await
        .map_err(PgError::from)?
        .map(|row| (row.get(0), row.get(1))))
}

impl PgStore {
    /// Records a deployment as `deploying`; an unknown workspace is `NotFound`, another
    /// deployment of the module under way `Conflict`. The check and the insert hold a
    /// transaction-scoped advisory lock of the module, so two nodes never start one each.
    pub(crate) async fn deployment_start(
        &self,
        new: NewDeployment,
    ) -> Result<Deployment, StoreError> {
        let id = new_id("dep_");
        let kind = if new.rollback_of.is_some() {
            "rollback"
        } else {
            "deploy"
        };
        let mut client = self.client().await?;
        let tx = locked_transaction(&mut client, &new.workspace, &new.module).await?;
        if let Some(other) = under_way(&*tx, &new.workspace, &new.module).await? {
            return Err(StoreError::Conflict(deployment_under_way(
                &new.workspace,
                &new.module,
                &other,
            )));
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO deployments (id, workspace_id, module, version, digest, package,
                         kind, rollback_of, state, actor, reason, created_at_ms, package_kept,
                         manifest, origin)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'deploying', $9, '', $10, TRUE, $11,
                         $12)
                     RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &new.workspace,
                    &new.module,
                    &new.version,
                    &new.digest,
                    &new.package.as_deref().unwrap_or(&id),
                    &kind,
                    &new.rollback_of,
                    &new.actor,
                    &signed(now_ms()),
                    &new.manifest,
                    &new.origin,
                ],
            )
            .await
            .map_err(|e| {
                let e = PgError::from(e);
                if e.is_foreign_key_violation() {
                    StoreError::NotFound(format!("workspace {} not found", new.workspace))
                } else {
                    e.into()
                }
            })?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(row_to_deployment(&row))
    }

    /// Makes deployment `id` the active one of its module (enabled), in one transaction: the
    /// previously active one becomes `superseded` (or `rolled_back` when `id` is a rollback).
    pub(crate) async fn deployment_activated(&self, id: &str) -> Result<Deployment, StoreError> {
        pg_transaction!(self, |tx| {
            let Some(record) = get(&*tx, id).await? else {
                return Err(StoreError::NotFound(format!("no deployment {id}")).into());
            };
            if record.state != "deploying" {
                return Err(StoreError::FailedPrecondition(not_under_way(&record)).into());
            }
            let previous: Option<String> = tx
                .query_opt(
                    "SELECT active_id FROM deployed_modules
                     WHERE workspace_id = $1 AND module = $2",
                    &[&record.workspace, &record.module],
                )
                .await?
                .map(|row| row.get(0));
            let now = signed(now_ms());
            if let Some(previous) = previous.filter(|p| p != id) {
                let (state, reason) = if record.kind == "rollback" {
                    ("rolled_back", format!("rolled back to {}", record.version))
                } else {
                    (
                        "superseded",
                        format!("superseded by {} ({})", record.version, id),
                    )
                };
                tx.execute(
                    "UPDATE deployments SET state = $2, reason = $3
                     WHERE id = $1 AND state = 'active'",
                    &[&previous, &state, &reason],
                )
                .await?;
            }
            tx.execute(
                "UPDATE deployments SET state = 'active', finished_at_ms = $2 WHERE id = $1",
                &[&id, &now],
            )
            .await?;
            tx.execute(
                "INSERT INTO deployed_modules (workspace_id, module, active_id, enabled)
                 VALUES ($1, $2, $3, TRUE)
                 ON CONFLICT (workspace_id, module)
                 DO UPDATE SET active_id = excluded.active_id, enabled = TRUE",
                &[&record.workspace, &record.module, &id],
            )
            .await?;
            get(&*tx, id)
                .await?
                .ok_or_else(|| StoreError::Internal("updated row vanished".into()))?
        })
    }

    /// Marks deployment `id` `failed` with `reason` if it is still under way (a record already
    /// settled is left as it is); returns the record. The module's active one is unchanged.
    pub(crate) async fn deployment_failed(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<Deployment, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE deployments SET state = 'failed', reason = $2, finished_at_ms = $3
                 WHERE id = $1 AND state = 'deploying'",
                &[&id, &reason, &signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        get(&**client, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no deployment {id}")))
    }

    /// Deployments left `deploying` by a process not in `spare` become `failed`; how many.
    pub(crate) async fn deployments_mark_interrupted(
        &self,
        spare: &[String],
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE deployments SET state = 'failed', reason = $1, finished_at_ms = $2
                 WHERE state = 'deploying' AND NOT (origin = ANY($3::text[]))",
                &[&INTERRUPTED_DEPLOYMENT, &signed(now_ms()), &spare],
            )
            .await
            .map_err(PgError::from)?;
        Ok(n as usize)
    }

    /// Records what each node reported for deployment `id`.
    pub(crate) async fn deployment_set_nodes(
        &self,
        id: &str,
        nodes: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE deployments SET nodes = $2 WHERE id = $1",
                &[&id, &nodes],
            )
            .await
            .map_err(PgError::from)?;
        Ok(())
    }

    /// Stores the archive of `package` in chunks (replacing what was stored), in one transaction.
    pub(crate) async fn package_archive_put(
        &self,
        package: &str,
        archive: &[u8],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        tx.execute(
            "DELETE FROM package_archive_chunks WHERE package = $1",
            &[&package],
        )
        .await
        .map_err(PgError::from)?;
        for (seq, chunk) in archive.chunks(ARCHIVE_CHUNK).enumerate() {
            tx.execute(
                "INSERT INTO package_archive_chunks (package, seq, data) VALUES ($1, $2, $3)",
                &[&package, &(seq as i32), &chunk],
            )
            .await
            .map_err(PgError::from)?;
        }
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }

    /// The archive of `package`, None when none is stored; refused past `max` bytes.
    pub(crate) async fn package_archive(
        &self,
        package: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let size: Option<i64> = client
            .query_one(
                "SELECT SUM(length(data))::BIGINT FROM package_archive_chunks WHERE package = $1",
                &[&package],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        let Some(size) = size else {
            return Ok(None);
        };
        check_archive_size(package, size, max)?;
        let rows = client
            .query(
                "SELECT data FROM package_archive_chunks WHERE package = $1 ORDER BY seq",
                &[&package],
            )
            .await
            .map_err(PgError::from)?;
        let mut archive = Vec::with_capacity(size as usize);
        for row in rows {
            archive.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        Ok(Some(archive))
    }

    /// One deployment.
    pub(crate) async fn deployment(&self, id: &str) -> Result<Deployment, StoreError> {
        let client = self.client().await?;
        get(&**client, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no deployment {id:?}")))
    }

    /// A module's deployments, newest first.
    pub(crate) async fn deployments_of(
        &self,
        workspace: &str,
        module: &str,
        limit: u32,
    ) -> Result<Vec<Deployment>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE workspace_id = $1 AND module = $2
                 ORDER BY id DESC LIMIT $3"
            ))
            .await
            .map_err(PgError::from)?;
        let rows = client
            .query(&statement, &[&workspace, &module, &i64::from(limit)])
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_deployment).collect())
    }

    /// The newest deployments of every module, newest first.
    pub(crate) async fn deployments_recent(
        &self,
        limit: u32,
    ) -> Result<Vec<Deployment>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM deployments ORDER BY id DESC LIMIT $1"),
                &[&i64::from(limit)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_deployment).collect())
    }

    /// Every deployed module with its active deployment, by workspace then module (one
    /// statement: a consistent view).
    pub(crate) async fn deployed_modules(&self) -> Result<Vec<DeployedModule>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {DEPLOYED_COLUMNS}
                     FROM deployed_modules AS m JOIN deployments AS d ON d.id = m.active_id
                     ORDER BY m.workspace_id, m.module"
                ),
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_deployed).collect())
    }

    /// The deployed module `workspace/module`, if it is deployed.
    pub(crate) async fn deployed_module(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<Option<DeployedModule>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {DEPLOYED_COLUMNS}
                     FROM deployed_modules AS m JOIN deployments AS d ON d.id = m.active_id
                     WHERE m.workspace_id = $1 AND m.module = $2"
                ),
                &[&workspace, &module],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.as_ref().map(row_to_deployed))
    }

    /// Enables or disables a deployed module; `false` when it is not deployed.
    pub(crate) async fn deployed_set_enabled(
        &self,
        workspace: &str,
        module: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = locked_transaction(&mut client, workspace, module).await?;
        refuse_under_way(&*tx, workspace, module).await?;
        let n = tx
            .execute(
                "UPDATE deployed_modules SET enabled = $3 WHERE workspace_id = $1 AND module = $2",
                &[&workspace, &module, &enabled],
            )
            .await
            .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(n > 0)
    }

    /// Removes a deployed module (its active deployment becomes `removed` with `reason`);
    /// `false` when it is not deployed, `Conflict` while a deployment of it is under way.
    pub(crate) async fn deployed_remove(
        &self,
        workspace: &str,
        module: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = locked_transaction(&mut client, workspace, module).await?;
        refuse_under_way(&*tx, workspace, module).await?;
        let active: Option<String> = tx
            .query_opt(
                "DELETE FROM deployed_modules WHERE workspace_id = $1 AND module = $2
                 RETURNING active_id",
                &[&workspace, &module],
            )
            .await
            .map_err(PgError::from)?
            .map(|row| row.get(0));
        if let Some(active) = &active {
            tx.execute(
                "UPDATE deployments SET state = 'removed', reason = $2 WHERE id = $1",
                &[active, &reason],
            )
            .await
            .map_err(PgError::from)?;
        }
        tx.commit().await.map_err(PgError::from)?;
        Ok(active.is_some())
    }

    /// Every deployment under way, in any module.
    pub(crate) async fn deployments_under_way(&self) -> Result<Vec<Deployment>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM deployments WHERE state = 'deploying'"),
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(row_to_deployment).collect())
    }

    /// Records that the packages of these deployments were deleted from disk (one statement).
    pub(crate) async fn deployments_forget_packages(
        &self,
        ids: &[String],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        tx.execute(
            "UPDATE deployments SET package_kept = FALSE WHERE package = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(PgError::from)?;
        tx.execute(
            "DELETE FROM package_archive_chunks WHERE package = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(())
    }
}
