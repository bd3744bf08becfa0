//! Deployments of module packages: one record per deploy or rollback (its package, manifest,
//! state and who asked), and per deployed module the active record and whether it is enabled.
//!
//! A deployment is recorded `deploying` before its switch starts and gets its final state in
//! one transaction with the module's row ([`Store::deployment_activated`] or
//! [`Store::deployment_failed`]), so the active deployment of a module is always exactly one
//! record and a power cut leaves either the old or the new one active. Records still
//! `deploying` at start-up were cut short: [`Store::deployments_mark_interrupted`] makes them
//! `failed`.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::util::{new_id, now_ms, require_workspace, signed, truncate_utf8, unsigned, MAX_TEXT};
use super::{Store, StoreError};

/// The reason given to deployments found `deploying` at start-up.
pub const INTERRUPTED_DEPLOYMENT: &str =
    "interrupted: the supervisor stopped during the switch; the previous version stayed active";

/// One deploy or rollback of a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    /// `dep_...`, sorting in creation order.
    pub id: String,
    /// The workspace.
    pub workspace: String,
    /// The module name.
    pub module: String,
    /// The package's version.
    pub version: String,
    /// Hex SHA-256 of the package archive.
    pub digest: String,
    /// The deployment whose directory holds the package (itself, or for a rollback the
    /// deployment it restored).
    pub package: String,
    /// `deploy` or `rollback`.
    pub kind: String,
    /// For a rollback: the deployment it restored.
    pub rollback_of: Option<String>,
    /// `deploying`, `active`, `superseded`, `failed`, `rolled_back` or `removed`.
    pub state: String,
    /// `admin`, or `key:<key id>` for a workspace key with the deploy scope.
    pub actor: String,
    /// Why it failed, was rolled back or removed (empty otherwise).
    pub reason: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it became active or failed.
    pub finished_at_ms: Option<u64>,
    /// Whether its package is still on disk (the last few per module are kept for rollback).
    pub package_kept: bool,
    /// `convotic-module.toml` as deployed (not serialized: the API shows the version).
    #[serde(skip)]
    pub manifest: String,
    /// The supervisor process ([`crate::supervision::membership::instance_id`]) running the
    /// operation (empty for records written before clusters).
    pub origin: String,
    /// In a cluster: what each node reported (`[{node, instance, state, message}]`); empty on
    /// one node.
    pub nodes: serde_json::Value,
}

/// A deployment to record.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    /// The workspace.
    pub workspace: String,
    /// The module name.
    pub module: String,
    /// The version.
    pub version: String,
    /// Hex SHA-256 of the archive.
    pub digest: String,
    /// The manifest text.
    pub manifest: String,
    /// `None` for a new package (its own directory), or the deployment holding the package.
    pub package: Option<String>,
    /// For a rollback: the deployment restored.
    pub rollback_of: Option<String>,
    /// Who asked.
    pub actor: String,
    /// The supervisor process running the operation.
    pub origin: String,
}

/// A module that was deployed (and not removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedModule {
    /// The active deployment.
    pub active: Deployment,
    /// Whether it runs (`modules disable` stops it and keeps it deployed).
    pub enabled: bool,
}

const COLUMNS: &str = "id, workspace_id, module, version, digest, package, kind, rollback_of, \
     state, actor, reason, created_at_ms, finished_at_ms, package_kept, manifest, origin, nodes";

fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        id: row.get(0)?,
        workspace: row.get(1)?,
        module: row.get(2)?,
        version: row.get(3)?,
        digest: row.get(4)?,
        package: row.get(5)?,
        kind: row.get(6)?,
        rollback_of: row.get(7)?,
        state: row.get(8)?,
        actor: row.get(9)?,
        reason: row.get(10)?,
        created_at_ms: unsigned(row.get(11)?),
        finished_at_ms: row.get::<_, Option<i64>>(12)?.map(unsigned),
        package_kept: row.get(13)?,
        manifest: row.get(14)?,
        origin: row.get(15)?,
        nodes: serde_json::from_str(&row.get::<_, String>(16)?).unwrap_or_default(),
    })
}

/// `Conflict` while a deployment of `workspace/module` is under way.
fn refuse_under_way(conn: &Connection, workspace: &str, module: &str) -> Result<(), StoreError> {
    let other: Option<(String, String)> = conn
        .query_row(
            "SELECT id, origin FROM deployments
             WHERE workspace_id = ?1 AND module = ?2 AND state = 'deploying' LIMIT 1",
            [workspace, module],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    match other {
        Some(other) => Err(StoreError::Conflict(deployment_under_way(
            workspace, module, &other,
        ))),
        None => Ok(()),
    }
}

fn get(conn: &Connection, id: &str) -> Result<Option<Deployment>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Size of one stored chunk of a package archive.
pub(crate) const ARCHIVE_CHUNK: usize = 1024 * 1024;

/// Refuses a stored archive larger than `max` (a damaged or planted record).
pub(crate) fn check_archive_size(package: &str, size: i64, max: u64) -> Result<(), StoreError> {
    if size < 0 || size as u64 > max {
        return Err(StoreError::FailedPrecondition(format!(
            "the stored archive of package {package} is {size} bytes, more than the {max} an \
             archive may hold"
        )));
    }
    Ok(())
}

/// Why `workspace/module` cannot be deployed or changed while deployment `other` (id, origin)
/// is under way.
pub(crate) fn deployment_under_way(
    workspace: &str,
    module: &str,
    other: &(String, String),
) -> String {
    let by = match other.1.as_str() {
        "" => String::new(),
        origin => format!(" by supervisor {origin}"),
    };
    format!(
        "deployment {} of {workspace}/{module} is under way{by}; retry once it has finished \
         (one left by a supervisor that stopped is recorded failed within a minute)",
        other.0
    )
}

/// Why `record` cannot be recorded active.
pub(crate) fn not_under_way(record: &Deployment) -> String {
    format!(
        "deployment {} is {}, no longer under way ({}): it cannot become active",
        record.id, record.state, record.reason
    )
}

impl Store {
    /// Records a deployment as `deploying` (another one of the module under way is a
    /// `Conflict`); returns it.
    pub async fn deployment_start(&self, new: NewDeployment) -> Result<Deployment, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployment_start(new).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            require_workspace(&tx, &new.workspace)?;
            refuse_under_way(&tx, &new.workspace, &new.module)?;
            let id = new_id("dep_");
            let kind = if new.rollback_of.is_some() {
                "rollback"
            } else {
                "deploy"
            };
            tx.execute(
                "INSERT INTO deployments (id, workspace_id, module, version, digest, package, kind,
                     rollback_of, state, actor, reason, created_at_ms, package_kept, manifest,
                     origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'deploying', ?9, '', ?10, 1, ?11, ?12)",
                rusqlite::params![
                    id,
                    new.workspace,
                    new.module,
                    new.version,
                    new.digest,
                    new.package.as_deref().unwrap_or(&id),
                    kind,
                    new.rollback_of,
                    new.actor,
                    signed(now_ms()),
                    new.manifest,
                    new.origin,
                ],
            )?;
            let record = get(&tx, &id)?
                .ok_or_else(|| StoreError::Internal("inserted row vanished".into()))?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Makes deployment `id` the active one of its module (enabled), in one transaction: the
    /// previously active one becomes `superseded` (or `rolled_back` when `id` is a rollback).
    /// Only a deployment under way can: another one is `FailedPrecondition` (a node that was
    /// taken for gone had it recorded failed meanwhile).
    pub async fn deployment_activated(&self, id: &str) -> Result<Deployment, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployment_activated(id).await;
        }
        let id = id.to_string();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let record = get(&tx, &id)?
                .ok_or_else(|| StoreError::NotFound(format!("no deployment {id}")))?;
            if record.state != "deploying" {
                return Err(StoreError::FailedPrecondition(not_under_way(&record)));
            }
            let previous: Option<String> = tx
                .query_row(
                    "SELECT active_id FROM deployed_modules WHERE workspace_id = ?1 AND module = ?2",
                    [&record.workspace, &record.module],
                    |row| row.get(0),
                )
                .optional()?;
            let now = signed(now_ms());
            if let Some(previous) = previous.filter(|p| *p != id) {
                let (state, reason) = if record.kind == "rollback" {
                    ("rolled_back", format!("rolled back to {}", record.version))
                } else {
                    ("superseded", format!("superseded by {} ({})", record.version, id))
                };
                tx.execute(
                    "UPDATE deployments SET state = ?2, reason = ?3 WHERE id = ?1 AND state = 'active'",
                    rusqlite::params![previous, state, reason],
                )?;
            }
            tx.execute(
                "UPDATE deployments SET state = 'active', finished_at_ms = ?2 WHERE id = ?1",
                rusqlite::params![id, now],
            )?;
            tx.execute(
                "INSERT INTO deployed_modules (workspace_id, module, active_id, enabled)
                 VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (workspace_id, module) DO UPDATE SET active_id = ?3, enabled = 1",
                rusqlite::params![record.workspace, record.module, id],
            )?;
            let record = get(&tx, &id)?
                .ok_or_else(|| StoreError::Internal("updated row vanished".into()))?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Marks deployment `id` `failed` with `reason` if it is still under way (a record already
    /// settled is left as it is); returns the record. The module's active one is unchanged.
    pub async fn deployment_failed(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<Deployment, StoreError> {
        let id = id.to_string();
        let reason = truncate_utf8(reason, MAX_TEXT);
        if let Some(pg) = self.pg() {
            return pg.deployment_failed(&id, &reason).await;
        }
        self.write(move |conn| {
            conn.execute(
                "UPDATE deployments SET state = 'failed', reason = ?2, finished_at_ms = ?3
                 WHERE id = ?1 AND state = 'deploying'",
                rusqlite::params![id, reason, signed(now_ms())],
            )?;
            get(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("no deployment {id}")))
        })
        .await
    }

    /// Deployments left `deploying` by a supervisor that stopped become `failed`; returns how
    /// many. Those run by a process in `spare` (live nodes of a cluster) are left alone.
    pub async fn deployments_mark_interrupted(
        &self,
        spare: Vec<String>,
    ) -> Result<usize, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployments_mark_interrupted(&spare).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let under_way: Vec<(String, String)> = tx
                .prepare("SELECT id, origin FROM deployments WHERE state = 'deploying'")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut marked = 0;
            for (id, origin) in under_way {
                if spare.contains(&origin) {
                    continue;
                }
                marked += tx.execute(
                    "UPDATE deployments SET state = 'failed', reason = ?1, finished_at_ms = ?2
                     WHERE id = ?3",
                    rusqlite::params![INTERRUPTED_DEPLOYMENT, signed(now_ms()), id],
                )?;
            }
            tx.commit()?;
            Ok(marked)
        })
        .await
    }

    /// Records what each node of a cluster reported for deployment `id`.
    pub async fn deployment_set_nodes(
        &self,
        id: &str,
        nodes: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        let nodes = nodes.to_string();
        if let Some(pg) = self.pg() {
            return pg.deployment_set_nodes(&id, &nodes).await;
        }
        self.write(move |conn| {
            conn.execute(
                "UPDATE deployments SET nodes = ?2 WHERE id = ?1",
                rusqlite::params![id, nodes],
            )?;
            Ok(())
        })
        .await
    }

    /// Stores the archive of the package of deployment `package` (so every node of a cluster
    /// can install it), replacing what was stored; durable once this returns.
    pub async fn package_archive_put(
        &self,
        package: &str,
        archive: bytes::Bytes,
    ) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg.package_archive_put(package, &archive).await;
        }
        let package = package.to_string();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM package_archive_chunks WHERE package = ?1",
                [&package],
            )?;
            for (seq, chunk) in archive.chunks(ARCHIVE_CHUNK).enumerate() {
                tx.execute(
                    "INSERT INTO package_archive_chunks (package, seq, data) VALUES (?1, ?2, ?3)",
                    rusqlite::params![package, seq as i64, chunk],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The stored archive of `package`, None when none is stored; refused (`FailedPrecondition`)
    /// when larger than `max` bytes.
    pub async fn package_archive(
        &self,
        package: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.package_archive(package, max).await;
        }
        let package = package.to_string();
        self.read(move |conn| {
            let size: Option<i64> = conn.query_row(
                "SELECT SUM(length(data)) FROM package_archive_chunks WHERE package = ?1",
                [&package],
                |row| row.get(0),
            )?;
            let Some(size) = size else {
                return Ok(None);
            };
            check_archive_size(&package, size, max)?;
            let mut archive = Vec::with_capacity(size as usize);
            let mut statement = conn.prepare(
                "SELECT data FROM package_archive_chunks WHERE package = ?1 ORDER BY seq",
            )?;
            let mut rows = statement.query([&package])?;
            while let Some(row) = rows.next()? {
                archive.extend_from_slice(&row.get::<_, Vec<u8>>(0)?);
            }
            Ok(Some(archive))
        })
        .await
    }

    /// One deployment.
    pub async fn deployment(&self, id: &str) -> Result<Deployment, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployment(id).await;
        }
        let id = id.to_string();
        self.read(move |conn| {
            get(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("no deployment {id:?}")))
        })
        .await
    }

    /// A module's deployments, newest first.
    pub async fn deployments_of(
        &self,
        workspace: &str,
        module: &str,
        limit: u32,
    ) -> Result<Vec<Deployment>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployments_of(workspace, module, limit).await;
        }
        let (workspace, module) = (workspace.to_string(), module.to_string());
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE workspace_id = ?1 AND module = ?2
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(rusqlite::params![workspace, module, limit], from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// The newest deployments of every module, newest first.
    pub async fn deployments_recent(&self, limit: u32) -> Result<Vec<Deployment>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployments_recent(limit).await;
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM deployments ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Every deployed module with its active deployment (what starts at boot).
    pub async fn deployed_modules(&self) -> Result<Vec<DeployedModule>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployed_modules().await;
        }
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT active_id, enabled FROM deployed_modules ORDER BY workspace_id, module",
            )?;
            let rows: Vec<(String, bool)> = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, enabled) in rows {
                if let Some(active) = get(conn, &id)? {
                    out.push(DeployedModule { active, enabled });
                }
            }
            Ok(out)
        })
        .await
    }

    /// The deployed module `workspace/module`, if it is deployed.
    pub async fn deployed_module(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<Option<DeployedModule>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployed_module(workspace, module).await;
        }
        let (workspace, module) = (workspace.to_string(), module.to_string());
        self.read(move |conn| {
            let row: Option<(String, bool)> = conn
                .query_row(
                    "SELECT active_id, enabled FROM deployed_modules
                     WHERE workspace_id = ?1 AND module = ?2",
                    [&workspace, &module],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            match row {
                Some((id, enabled)) => {
                    Ok(get(conn, &id)?.map(|active| DeployedModule { active, enabled }))
                }
                None => Ok(None),
            }
        })
        .await
    }

    /// Enables or disables a deployed module; `false` when it is not deployed.
    pub async fn deployed_set_enabled(
        &self,
        workspace: &str,
        module: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployed_set_enabled(workspace, module, enabled).await;
        }
        let (workspace, module) = (workspace.to_string(), module.to_string());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            refuse_under_way(&tx, &workspace, &module)?;
            let changed = tx.execute(
                "UPDATE deployed_modules SET enabled = ?3 WHERE workspace_id = ?1 AND module = ?2",
                rusqlite::params![workspace, module, enabled],
            )? > 0;
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    /// Removes a deployed module (its active deployment becomes `removed`; history stays);
    /// `false` when it is not deployed.
    pub async fn deployed_remove(
        &self,
        workspace: &str,
        module: &str,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let (workspace, module) = (workspace.to_string(), module.to_string());
        let reason = format!("module removed by {actor}");
        if let Some(pg) = self.pg() {
            return pg.deployed_remove(&workspace, &module, &reason).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            refuse_under_way(&tx, &workspace, &module)?;
            let active: Option<String> = tx
                .query_row(
                    "SELECT active_id FROM deployed_modules WHERE workspace_id = ?1 AND module = ?2",
                    [&workspace, &module],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(active) = active else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE deployments SET state = 'removed', reason = ?2 WHERE id = ?1",
                rusqlite::params![active, reason],
            )?;
            tx.execute(
                "DELETE FROM deployed_modules WHERE workspace_id = ?1 AND module = ?2",
                [&workspace, &module],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// Every deployment under way, in any module.
    pub async fn deployments_under_way(&self) -> Result<Vec<Deployment>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployments_under_way().await;
        }
        self.read(|conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE state = 'deploying'"
            ))?;
            let rows = statement.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Records that the packages of these deployments were deleted from disk.
    pub async fn deployments_forget_packages(&self, ids: Vec<String>) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg.deployments_forget_packages(&ids).await;
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for id in &ids {
                tx.execute(
                    "UPDATE deployments SET package_kept = 0 WHERE package = ?1",
                    [id],
                )?;
                tx.execute(
                    "DELETE FROM package_archive_chunks WHERE package = ?1",
                    [id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;

    fn new(version: &str) -> NewDeployment {
        NewDeployment {
            workspace: "ws_a".into(),
            module: "m".into(),
            version: version.into(),
            digest: "00".repeat(32),
            manifest: "name = \"m\"".into(),
            package: None,
            rollback_of: None,
            actor: "admin".into(),
            origin: "host:1:live".into(),
        }
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn one_active_deployment_per_module_through_deploys_and_rollbacks() {
            let (_dir, store) = two_workspaces().await;
            let first = store.deployment_start(new("1")).await.unwrap();
            assert_eq!(first.state, "deploying");
            assert_eq!(first.package, first.id);
            store.deployment_activated(&first.id).await.unwrap();
            let second = store.deployment_start(new("2")).await.unwrap();
            store.deployment_activated(&second.id).await.unwrap();
            let failed = store.deployment_start(new("3")).await.unwrap();
            store
                .deployment_failed(&failed.id, "crashed at start")
                .await
                .unwrap();
            let deployed = store.deployed_module("ws_a", "m").await.unwrap().unwrap();
            assert_eq!(deployed.active.id, second.id);
            let mut back = new("1");
            back.package = Some(first.id.clone());
            back.rollback_of = Some(first.id.clone());
            let rollback = store.deployment_start(back).await.unwrap();
            assert_eq!(
                (rollback.kind.as_str(), rollback.package.as_str()),
                ("rollback", first.id.as_str())
            );
            store.deployment_activated(&rollback.id).await.unwrap();
            let history = store.deployments_of("ws_a", "m", 10).await.unwrap();
            let states: Vec<_> = history
                .iter()
                .map(|d| (d.version.as_str(), d.state.as_str()))
                .collect();
            assert_eq!(
                states,
                [
                    ("1", "active"),
                    ("3", "failed"),
                    ("2", "rolled_back"),
                    ("1", "superseded")
                ]
            );
            assert_eq!(history[1].reason, "crashed at start");
            assert!(store
                .deployed_set_enabled("ws_a", "m", false)
                .await
                .unwrap());
            assert!(!store.deployed_modules().await.unwrap()[0].enabled);
            assert!(store.deployed_remove("ws_a", "m", "admin").await.unwrap());
            assert!(store.deployed_module("ws_a", "m").await.unwrap().is_none());
            assert!(!store.deployed_remove("ws_a", "m", "admin").await.unwrap());
            assert_eq!(
                store.deployment(&rollback.id).await.unwrap().state,
                "removed"
            );
        }

        #[tokio::test]
        async fn interrupted_deployments_fail_and_forgotten_packages_show() {
            let (_dir, store) = two_workspaces().await;
            let cut = store.deployment_start(new("1")).await.unwrap();
            assert_eq!(
                store.deployments_mark_interrupted(Vec::new()).await.unwrap(),
                1
            );
            let cut = store.deployment(&cut.id).await.unwrap();
            assert_eq!(
                (cut.state.as_str(), cut.reason.as_str()),
                ("failed", INTERRUPTED_DEPLOYMENT)
            );
            store
                .deployments_forget_packages(vec![cut.id.clone()])
                .await
                .unwrap();
            assert!(!store.deployment(&cut.id).await.unwrap().package_kept);
            assert!(matches!(
                store
                    .deployment_start(NewDeployment {
                        workspace: "ws_nope".into(),
                        ..new("1")
                    })
                    .await,
                Err(StoreError::NotFound(_))
            ));
        }

        #[tokio::test]
        async fn supervisors_share_deployed_modules() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let first = store.deployment_start(new("1")).await.unwrap();
            store.deployment_activated(&first.id).await.unwrap();
            let mut b = new("1");
            b.workspace = "ws_b".into();
            let in_b = other.deployment_start(b).await.unwrap();
            other.deployment_activated(&in_b.id).await.unwrap();
            // Both supervisors boot the same modules, in workspace then module order.
            let here = store.deployed_modules().await.unwrap();
            assert_eq!(here, other.deployed_modules().await.unwrap());
            let ids: Vec<_> = here.iter().map(|m| m.active.id.as_str()).collect();
            assert_eq!(ids, [first.id.as_str(), in_b.id.as_str()]);
            assert!(here.iter().all(|m| m.enabled && m.active.state == "active"));
            // One supervisor deploys over what the other activated.
            let second = other.deployment_start(new("2")).await.unwrap();
            let active = other.deployment_activated(&second.id).await.unwrap();
            assert_eq!(active.state, "active");
            assert!(active.finished_at_ms.is_some());
            assert_eq!(
                store.deployed_module("ws_a", "m").await.unwrap().unwrap().active,
                active
            );
            let old = store.deployment(&first.id).await.unwrap();
            assert_eq!(
                (old.state.as_str(), old.reason.as_str()),
                ("superseded", format!("superseded by 2 ({})", second.id).as_str())
            );
            assert_eq!(
                other.deployments_recent(2).await.unwrap(),
                store.deployments_recent(2).await.unwrap()
            );
            assert!(other.deployed_set_enabled("ws_a", "m", false).await.unwrap());
            assert!(!store.deployed_module("ws_a", "m").await.unwrap().unwrap().enabled);
            assert!(!store.deployed_set_enabled("ws_a", "nope", true).await.unwrap());
            store
                .deployments_forget_packages(vec![first.id.clone(), "dep_nope".into()])
                .await
                .unwrap();
            assert!(!other.deployment(&first.id).await.unwrap().package_kept);
            assert!(other.deployment(&second.id).await.unwrap().package_kept);
            assert!(matches!(
                other.deployment("dep_nope").await,
                Err(StoreError::NotFound(m)) if m == "no deployment \"dep_nope\""
            ));
            assert!(matches!(
                other.deployment_activated("dep_nope").await,
                Err(StoreError::NotFound(m)) if m == "no deployment dep_nope"
            ));
            assert!(matches!(
                other.deployment_failed("dep_nope", "x").await,
                Err(StoreError::NotFound(m)) if m == "no deployment dep_nope"
            ));
        }

        #[tokio::test]
        async fn two_supervisors_starting_at_once_start_one_deployment() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let first = store.deployment_start(new("1")).await.unwrap();
            store.deployment_activated(&first.id).await.unwrap();
            for round in 0..5 {
                let (ra, rb) = tokio::join!(
                    store.deployment_start(new(&format!("a{round}"))),
                    other.deployment_start(new(&format!("b{round}"))),
                );
                let (winner, loser) = match (ra, rb) {
                    (Ok(a), Err(e)) | (Err(e), Ok(a)) => (a, e),
                    other => panic!("round {round}: exactly one start must win: {other:?}"),
                };
                assert!(
                    matches!(&loser, StoreError::Conflict(m) if m.contains(&winner.id)),
                    "{loser:?}"
                );
                other.deployment_activated(&winner.id).await.unwrap();
                let deployed = store.deployed_module("ws_a", "m").await.unwrap().unwrap();
                assert_eq!(deployed.active.id, winner.id);
                let all = other.deployments_of("ws_a", "m", 100).await.unwrap();
                let active: Vec<_> = all.iter().filter(|d| d.state == "active").collect();
                assert_eq!(active.len(), 1, "{all:#?}");
            }
        }

        #[tokio::test]
        async fn live_nodes_keep_their_deployments_under_way() {
            let (_guard, store) = two_workspaces().await;
            let mine = store.deployment_start(new("1")).await.unwrap();
            let mut b = new("1");
            b.workspace = "ws_b".into();
            b.origin = "host:2:dead".into();
            let gone = store.deployment_start(b).await.unwrap();
            assert_eq!(
                store
                    .deployments_mark_interrupted(vec!["host:1:live".into()])
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(store.deployment(&mine.id).await.unwrap().state, "deploying");
            assert_eq!(store.deployment(&gone.id).await.unwrap().state, "failed");
            // A deployment recorded failed (its node taken for gone) never becomes active.
            assert!(matches!(
                store.deployment_activated(&gone.id).await,
                Err(StoreError::FailedPrecondition(m)) if m.contains("no longer under way")
            ));
            // Nor does a failed one fail again with another reason.
            let again = store.deployment_failed(&gone.id, "other").await.unwrap();
            assert_eq!(again.reason, INTERRUPTED_DEPLOYMENT);
            // While one is under way, the module is neither removed nor disabled.
            assert!(matches!(
                store.deployed_remove("ws_a", "m", "admin").await,
                Err(StoreError::Conflict(m)) if m.contains(&mine.id) && m.contains("host:1:live")
            ));
            assert!(matches!(
                store.deployed_set_enabled("ws_a", "m", false).await,
                Err(StoreError::Conflict(_))
            ));
            let listed: Vec<_> = store
                .deployments_under_way()
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect();
            assert_eq!(listed, std::slice::from_ref(&mine.id));
            let nodes = serde_json::json!([{"node": "a", "state": "switched"}]);
            store.deployment_set_nodes(&mine.id, &nodes).await.unwrap();
            let record = store.deployment(&mine.id).await.unwrap();
            assert_eq!((record.nodes, record.origin.as_str()), (nodes, "host:1:live"));
        }

        #[tokio::test]
        async fn package_archives_round_trip_in_chunks_and_go_with_their_package() {
            let (_guard, store) = two_workspaces().await;
            let record = store.deployment_start(new("1")).await.unwrap();
            let archive: Vec<u8> = (0..(2 * ARCHIVE_CHUNK + 17)).map(|i| (i % 251) as u8).collect();
            assert_eq!(store.package_archive(&record.id, u64::MAX).await.unwrap(), None);
            store
                .package_archive_put(&record.id, bytes::Bytes::from(vec![1, 2, 3]))
                .await
                .unwrap();
            store
                .package_archive_put(&record.id, bytes::Bytes::from(archive.clone()))
                .await
                .unwrap();
            let read = store.package_archive(&record.id, u64::MAX).await.unwrap();
            assert!(read.as_ref() == Some(&archive), "the archive read back differs");
            assert!(matches!(
                store.package_archive(&record.id, 100).await,
                Err(StoreError::FailedPrecondition(m)) if m.contains("more than the 100")
            ));
            store
                .deployments_forget_packages(vec![record.id.clone()])
                .await
                .unwrap();
            assert_eq!(store.package_archive(&record.id, u64::MAX).await.unwrap(), None);
        }
    }
}
