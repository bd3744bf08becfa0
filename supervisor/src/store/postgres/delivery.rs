//! Delivery state of the two outboxes on PostgreSQL (see `store/delivery.rs`).
//!
//! Several supervisors claim from the same outboxes:
//! * A claim runs in one transaction that first takes a transaction-scoped advisory lock of its
//!   outbox ([`claim_lock`]): claims of one outbox run one at a time across the cluster, as they
//!   do through SQLite's single writer, so the per-workspace share (which counts the attempts
//!   under way) holds for the whole cluster and a claim never waits on a serialization retry.
//!   Each statement of the claim (READ COMMITTED) sees every claim committed before it.
//! * The claim's final `UPDATE` is conditional: an item is taken only if it is still due and its
//!   attempt count is the one read. An item another supervisor's settle, report or re-drive
//!   changed meanwhile (they do not take the lock) is dropped from the claim, never handed out
//!   twice.
//! * Settling and re-driving are single conditional statements; a report reads then writes in a
//!   `SERIALIZABLE` transaction ([`pg_transaction!`]).

use std::collections::HashSet;

use serde_json::Value;

use super::util::{signed, unsigned};
use super::{pg_transaction, PgError, PgStore};
use crate::store::delivery::{Claimed, DeliveryTarget, Outbox, Report, Settlement};
use crate::store::util::now_ms;
use crate::store::StoreError;

/// The columns of a target aliased `t`, read by [`row_to_target`].
const TARGET_COLUMNS: &str =
    "t.workspace_id, t.purpose, t.name, t.kind, t.config, t.secret, t.created_at_ms, t.updated_at_ms";

/// The advisory lock key held while claiming from the messages outbox (`"cnvtc-om"`).
const CLAIM_LOCK_MESSAGES: i64 = 0x636e_7674_632d_6f6d;
/// The advisory lock key held while claiming from the workflow runs outbox (`"cnvtc-ow"`).
const CLAIM_LOCK_WORKFLOW_RUNS: i64 = 0x636e_7674_632d_6f77;

/// The table of an outbox.
fn table(outbox: Outbox) -> &'static str {
    match outbox {
        Outbox::Messages => "messages",
        Outbox::WorkflowRuns => "workflow_runs",
    }
}

/// The advisory lock that serializes the claims of an outbox across the cluster.
fn claim_lock(outbox: Outbox) -> i64 {
    match outbox {
        Outbox::Messages => CLAIM_LOCK_MESSAGES,
        Outbox::WorkflowRuns => CLAIM_LOCK_WORKFLOW_RUNS,
    }
}

/// A target from [`TARGET_COLUMNS`] starting at column `first`.
fn row_to_target(row: &tokio_postgres::Row, first: usize) -> DeliveryTarget {
    let config: &str = row.get(first + 4);
    DeliveryTarget {
        workspace: row.get(first),
        purpose: row.get(first + 1),
        name: row.get(first + 2),
        kind: row.get(first + 3),
        config: serde_json::from_str(config).unwrap_or(Value::Null),
        secret: row.get(first + 5),
        created_at_ms: unsigned(row.get(first + 6)),
        updated_at_ms: unsigned(row.get(first + 7)),
    }
}

/// An attempt count read from a `BIGINT` column.
fn attempts(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The claimed item of a row of the claim's query: the item's columns, then the target's.
fn row_to_claimed(outbox: Outbox, row: &tokio_postgres::Row) -> Claimed {
    let id: String = row.get(0);
    let workspace: String = row.get(1);
    let attempts = attempts(row.get(2));
    let (payload, first_target) = match outbox {
        Outbox::Messages => {
            let content: Option<&str> = row.get(5);
            let conversation: Option<String> = row.get(6);
            (
                serde_json::json!({
                    "id": id,
                    "workspace": workspace,
                    "channel": row.get::<_, String>(3),
                    "text": row.get::<_, String>(4),
                    "content": content
                        .and_then(|c| serde_json::from_str::<Value>(c).ok())
                        .unwrap_or(Value::Null),
                    "conversation_id": conversation.unwrap_or_default(),
                    "module": row.get::<_, String>(7),
                    "created_at_ms": unsigned(row.get(8)),
                    "contact": {
                        "id": row.get::<_, String>(9),
                        "external_id": row.get::<_, String>(10),
                        "name": row.get::<_, String>(11),
                        "email": row.get::<_, String>(12),
                        "phone": row.get::<_, String>(13),
                    },
                }),
                14,
            )
        }
        Outbox::WorkflowRuns => {
            let payload: &str = row.get(4);
            (
                serde_json::json!({
                    "run_id": id,
                    "workspace": workspace,
                    "workflow_id": row.get::<_, String>(3),
                    "payload": serde_json::from_str::<Value>(payload).unwrap_or(Value::Null),
                    "module": row.get::<_, String>(5),
                    "created_at_ms": unsigned(row.get(6)),
                    "request_id": row.get::<_, Option<String>>(7).unwrap_or_default(),
                }),
                8,
            )
        }
    };
    Claimed {
        outbox,
        id,
        workspace,
        attempt: attempts.saturating_add(1),
        target: row_to_target(row, first_target),
        payload,
    }
}

/// The claim of [`PgStore::outbox_claim`], inside its transaction (after the lock).
async fn claim(
    tx: &deadpool_postgres::Transaction<'_>,
    outbox: Outbox,
    limit: u32,
    per_workspace: u32,
    now: u64,
    attempt_ms: u64,
) -> Result<Vec<Claimed>, PgError> {
    let (select, join) = match outbox {
        Outbox::Messages => (
            "i.id, i.workspace_id, i.attempts, i.channel, i.text, i.content, i.conversation_id,
             i.module, i.created_at_ms, c.id, c.external_id, c.name, c.email, c.phone",
            "JOIN delivery_targets t ON t.workspace_id = i.workspace_id AND t.purpose = 'channel'
                                     AND t.name = i.channel
             JOIN contacts c ON c.workspace_id = i.workspace_id AND c.id = i.contact_id",
        ),
        Outbox::WorkflowRuns => (
            "i.id, i.workspace_id, i.attempts, i.workflow_id, i.payload, i.module, i.created_at_ms,
             i.request_id",
            "JOIN delivery_targets t ON t.workspace_id = i.workspace_id AND t.purpose = 'workflows'
                                     AND t.name = ''",
        ),
    };
    let table = table(outbox);
    let now_signed = signed(now);
    // An attempt cut short (its supervisor died) whose target has since been removed goes back
    // to `queued`, where it waits for a target again and says so.
    let orphan_target = match outbox {
        Outbox::Messages => {
            "t.workspace_id = o.workspace_id AND t.purpose = 'channel' AND t.name = o.channel"
        }
        Outbox::WorkflowRuns => "t.workspace_id = o.workspace_id AND t.purpose = 'workflows'",
    };
    let orphans = tx
        .prepare_cached(&format!(
            "UPDATE {table} AS o SET status = 'queued', attempt_deadline_ms = NULL
             WHERE o.status = 'sending' AND o.attempt_deadline_ms < $1
               AND NOT EXISTS (SELECT 1 FROM delivery_targets t WHERE {orphan_target})"
        ))
        .await?;
    tx.execute(&orphans, &[&now_signed]).await?;
    // Each workspace's due items ranked by age; a workspace gets at most its free share
    // (`per_workspace` minus its attempts still under way). The extra columns come last, so
    // the positions read by `row_to_claimed` are those of the inner select.
    let due = tx
        .prepare_cached(&format!(
            "SELECT * FROM (
                SELECT {select}, {TARGET_COLUMNS}, i.workspace_id AS claim_ws,
                       ROW_NUMBER() OVER (PARTITION BY i.workspace_id
                                          ORDER BY i.next_attempt_at_ms, i.id) AS claim_rank,
                       i.next_attempt_at_ms AS claim_due, i.id AS claim_id
                FROM {table} i {join}
                WHERE (i.status = 'queued' AND i.next_attempt_at_ms <= $1)
                   OR (i.status = 'sending' AND i.attempt_deadline_ms < $1)
             ) AS due
             WHERE claim_rank + (SELECT COUNT(*) FROM {table} s
                                 WHERE s.workspace_id = claim_ws AND s.status = 'sending'
                                   AND s.attempt_deadline_ms >= $1) <= $3
             ORDER BY claim_due, claim_id LIMIT $2"
        ))
        .await?;
    let rows = tx
        .query(
            &due,
            &[&now_signed, &i64::from(limit), &i64::from(per_workspace)],
        )
        .await?;
    let mut claimed: Vec<Claimed> = rows.iter().map(|row| row_to_claimed(outbox, row)).collect();
    if claimed.is_empty() {
        return Ok(claimed);
    }
    // Taken only if still due at the attempt count read: a settle, report or re-drive of
    // another supervisor that changed an item meanwhile keeps it out of this claim.
    let take = tx
        .prepare_cached(&format!(
            "UPDATE {table} AS o SET status = 'sending', attempts = o.attempts + 1,
                attempt_deadline_ms = $3, updated_at_ms = $4
             FROM unnest($1::text[], $2::bigint[]) AS claimed (id, attempts)
             WHERE o.id = claimed.id AND o.attempts = claimed.attempts
               AND ((o.status = 'queued' AND o.next_attempt_at_ms <= $4)
                    OR (o.status = 'sending' AND o.attempt_deadline_ms < $4))
             RETURNING o.id"
        ))
        .await?;
    let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    let previous: Vec<i64> = claimed.iter().map(|c| i64::from(c.attempt) - 1).collect();
    let deadline = signed(now.saturating_add(attempt_ms));
    let taken: HashSet<String> = tx
        .query(&take, &[&ids, &previous, &deadline, &now_signed])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    claimed.retain(|c| taken.contains(&c.id));
    Ok(claimed)
}

impl PgStore {
    /// Sets (creates or replaces) a target.
    pub(crate) async fn target_put(
        &self,
        target: &DeliveryTarget,
    ) -> Result<DeliveryTarget, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "INSERT INTO delivery_targets AS t
                    (workspace_id, purpose, name, kind, config, secret, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (workspace_id, purpose, name) DO UPDATE SET
                    kind = excluded.kind, config = excluded.config, secret = excluded.secret,
                    updated_at_ms = excluded.updated_at_ms
                 RETURNING {TARGET_COLUMNS}"
            ))
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &target.workspace,
                    &target.purpose,
                    &target.name,
                    &target.kind,
                    &target.config.to_string(),
                    &target.secret,
                    &signed(now_ms()),
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row_to_target(&row, 0))
    }

    /// A target, if set.
    pub(crate) async fn target_get(
        &self,
        ws: &str,
        purpose: &str,
        name: &str,
    ) -> Result<Option<DeliveryTarget>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {TARGET_COLUMNS} FROM delivery_targets t
                     WHERE t.workspace_id = $1 AND t.purpose = $2 AND t.name = $3"
                ),
                &[&ws, &purpose, &name],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.map(|row| row_to_target(&row, 0)))
    }

    /// The targets of `ws` for `purpose`, by name (byte order).
    pub(crate) async fn target_list(
        &self,
        ws: &str,
        purpose: &str,
    ) -> Result<Vec<DeliveryTarget>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TARGET_COLUMNS} FROM delivery_targets t
                     WHERE t.workspace_id = $1 AND t.purpose = $2 ORDER BY t.name"
                ),
                &[&ws, &purpose],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(|row| row_to_target(row, 0)).collect())
    }

    /// Removes a target; whether it existed.
    pub(crate) async fn target_delete(
        &self,
        ws: &str,
        purpose: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM delivery_targets WHERE workspace_id = $1 AND purpose = $2 AND name = $3",
                &[&ws, &purpose, &name],
            )
            .await
            .map_err(PgError::from)?;
        Ok(n > 0)
    }

    /// Claims up to `limit` due items of `outbox` that have a target, at most `per_workspace`
    /// of one workspace under way afterwards (see `Store::outbox_claim`). Claims of one outbox
    /// are serialized across the cluster by an advisory lock held until the claim commits.
    pub(crate) async fn outbox_claim(
        &self,
        outbox: Outbox,
        limit: u32,
        per_workspace: u32,
        attempt_ms: u64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let result: Result<Vec<Claimed>, PgError> = async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
                .start()
                .await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&claim_lock(outbox)])
                .await?;
            // The time is read once the lock is held: a claim that waited for another one
            // compares deadlines with the time it runs at.
            let claimed = claim(&tx, outbox, limit, per_workspace, now_ms(), attempt_ms).await?;
            tx.commit().await?;
            Ok(claimed)
        }
        .await;
        Ok(result?)
    }

    /// Records how attempt `attempt` of item `id` ended; `false` when the item moved on
    /// meanwhile (one conditional statement).
    pub(crate) async fn outbox_settle(
        &self,
        outbox: Outbox,
        id: &str,
        attempt: u32,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let now = signed(now_ms());
        let table = table(outbox);
        let attempt = i64::from(attempt);
        let guard = "WHERE id = $1 AND status = 'sending' AND attempts = $2";
        let changed = match settlement {
            Settlement::Accepted {
                provider_id,
                delivered,
            } => {
                let delivered = delivered && outbox == Outbox::Messages;
                let status = if delivered {
                    "delivered"
                } else {
                    outbox.accepted_status()
                };
                let statement = client
                    .prepare_cached(&format!(
                        "UPDATE {table} SET status = $3, accepted_at_ms = $4, updated_at_ms = $4,
                            provider_id = COALESCE($5::text, provider_id),
                            attempt_deadline_ms = NULL,
                            finished_at_ms = CASE WHEN $6::boolean THEN $4 ELSE finished_at_ms END,
                            last_error = NULL {guard}"
                    ))
                    .await
                    .map_err(PgError::from)?;
                client
                    .execute(
                        &statement,
                        &[&id, &attempt, &status, &now, &provider_id, &delivered],
                    )
                    .await
            }
            Settlement::Retry { at_ms, error } => {
                let statement = client
                    .prepare_cached(&format!(
                        "UPDATE {table} SET status = 'queued', next_attempt_at_ms = $3,
                            attempt_deadline_ms = NULL, last_error = $4, updated_at_ms = $5 {guard}"
                    ))
                    .await
                    .map_err(PgError::from)?;
                client
                    .execute(&statement, &[&id, &attempt, &signed(at_ms), &error, &now])
                    .await
            }
            Settlement::Failed { error } => {
                let statement = client
                    .prepare_cached(&format!(
                        "UPDATE {table} SET status = 'failed', attempt_deadline_ms = NULL,
                            last_error = $3, dead_lettered_at_ms = $4, updated_at_ms = $4 {guard}"
                    ))
                    .await
                    .map_err(PgError::from)?;
                client
                    .execute(&statement, &[&id, &attempt, &error, &now])
                    .await
            }
        }
        .map_err(PgError::from)?;
        Ok(changed > 0)
    }

    /// How many items of `ws` are in each status, by status (byte order).
    pub(crate) async fn outbox_counts(
        &self,
        outbox: Outbox,
        ws: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT status, COUNT(*) FROM {} WHERE workspace_id = $1
                     GROUP BY status ORDER BY status",
                    table(outbox)
                ),
                &[&ws],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), unsigned(row.get(1))))
            .collect())
    }

    /// Puts a failed (dead-lettered) item of `ws` back in the outbox with fresh attempts; one
    /// statement that also tells whether the item exists (for the error).
    pub(crate) async fn outbox_redrive(
        &self,
        outbox: Outbox,
        ws: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let table = table(outbox);
        let row = client
            .query_one(
                &format!(
                    "WITH redriven AS (
                        UPDATE {table} SET status = 'queued', attempts = 0, next_attempt_at_ms = 0,
                            dead_lettered_at_ms = NULL, updated_at_ms = $3
                        WHERE workspace_id = $1 AND id = $2 AND status = 'failed'
                          AND dead_lettered_at_ms IS NOT NULL
                        RETURNING 1
                     )
                     SELECT (SELECT COUNT(*) FROM redriven),
                            EXISTS (SELECT 1 FROM {table} WHERE workspace_id = $1 AND id = $2)"
                ),
                &[&ws, &id, &signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        let (redriven, exists): (i64, bool) = (row.get(0), row.get(1));
        if redriven == 1 {
            Ok(())
        } else if exists {
            Err(StoreError::Conflict(format!(
                "{id} is not a dead letter (only items whose delivery failed for good can be re-driven)"
            )))
        } else {
            Err(StoreError::NotFound(format!("no {} {id}", outbox.label())))
        }
    }

    /// Records what the target reported about item `id` of `ws` (see `Store::outbox_report`):
    /// the check of the current status and the update run in one `SERIALIZABLE` transaction.
    /// Returns the previous status.
    pub(crate) async fn outbox_report(
        &self,
        outbox: Outbox,
        ws: &str,
        id: &str,
        report: &Report,
    ) -> Result<String, StoreError> {
        let table = table(outbox);
        let output = report.output.as_ref().map(|o| o.to_string());
        pg_transaction!(self, |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT status, attempts, dead_lettered_at_ms FROM {table}
                         WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
                    ),
                    &[&ws, &id],
                )
                .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!("no {} {id}", outbox.label())).into());
            };
            let current: String = row.get(0);
            let attempted: i64 = row.get(1);
            let dead_lettered: Option<i64> = row.get(2);
            // From `queued` or `failed`, only an item the target may have taken (an attempt
            // was made; for `failed`, a dead letter rather than a reported failure).
            let reachable = match current.as_str() {
                "queued" => attempted > 0,
                "failed" => dead_lettered.is_some(),
                _ => true,
            };
            if !reachable || !report.allowed_from.contains(&current.as_str()) {
                return Err(StoreError::Conflict(format!(
                    "{id} is {current}: it cannot become {}",
                    report.status
                ))
                .into());
            }
            let now = signed(now_ms());
            tx.execute(
                &format!(
                    "UPDATE {table} SET status = $3, updated_at_ms = $4,
                        accepted_at_ms = CASE WHEN status IN ('sending', 'queued', 'failed')
                                         THEN COALESCE(accepted_at_ms, $4) ELSE accepted_at_ms END,
                        provider_id = COALESCE($5::text, provider_id),
                        last_error = CASE WHEN status IN ('sending', 'queued', 'failed')
                                     THEN $6::text ELSE COALESCE($6::text, last_error) END,
                        dead_lettered_at_ms = NULL, next_attempt_at_ms = 0,
                        output = COALESCE($7::text, output),
                        finished_at_ms = CASE WHEN $3::text IN ('delivered', 'succeeded', 'failed')
                                         THEN $4 ELSE finished_at_ms END,
                        attempt_deadline_ms = NULL
                     WHERE workspace_id = $1 AND id = $2"
                ),
                &[
                    &ws,
                    &id,
                    &report.status,
                    &now,
                    &report.provider_id,
                    &report.error,
                    &output,
                ],
            )
            .await?;
            current
        })
    }
}
