//! Delivery state of the two outboxes — messages (`ctx.messages`) and workflow runs
//! (`ctx.workflows`) — and the targets they are delivered to.
//!
//! An item moves `queued` → `sending` (claimed for one attempt, with a deadline) → `sent` (a
//! run: `delivered`), or back to `queued` with a later `next_attempt_at_ms` after a retryable
//! failure, or `failed` (dead-lettered: `dead_lettered_at_ms` set) after the last attempt or a
//! final refusal. A `sending` item whose deadline passed (its supervisor died mid-attempt) is
//! claimed again. Settling is guarded by the attempt number, so a late answer of an earlier
//! attempt never overwrites a newer state.

use serde::Serialize;
use serde_json::Value;

use super::util::{now_ms, signed, unsigned};
use super::{Store, StoreError};

/// Which outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// `messages`, delivered to a channel's target.
    Messages,
    /// `workflow_runs`, handed to the workspace's workflow engine.
    WorkflowRuns,
}

impl Outbox {
    fn table(self) -> &'static str {
        match self {
            Outbox::Messages => "messages",
            Outbox::WorkflowRuns => "workflow_runs",
        }
    }

    /// The status of an item its target accepted.
    pub fn accepted_status(self) -> &'static str {
        match self {
            Outbox::Messages => "sent",
            Outbox::WorkflowRuns => "delivered",
        }
    }

    /// Its name in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Outbox::Messages => "message",
            Outbox::WorkflowRuns => "workflow_run",
        }
    }
}

/// Where a channel's messages (or a workspace's workflow runs) go.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryTarget {
    /// The workspace.
    pub workspace: String,
    /// `channel` or `workflows`.
    pub purpose: String,
    /// The channel's name (empty for the workflow engine).
    pub name: String,
    /// `block`, `webhook` or `nats`.
    pub kind: String,
    /// Kind-specific settings (block: `block`, `action`, `connection_id`; webhook: `url`).
    pub config: Value,
    /// The webhook's signing secret (never serialized).
    #[serde(skip)]
    pub secret: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

/// One item claimed for an attempt, with its target.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Which outbox.
    pub outbox: Outbox,
    /// `msg_…` or `run_…`: also the idempotency key given to the target.
    pub id: String,
    /// The workspace.
    pub workspace: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// Where it goes.
    pub target: DeliveryTarget,
    /// What is sent: the message or the run as the target receives it.
    pub payload: Value,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// The target took it (with its own id for it, if it gave one).
    Accepted {
        /// The target's id.
        provider_id: Option<String>,
        /// The target says it reached its recipient already (messages become `delivered`).
        delivered: bool,
    },
    /// Try again at `at_ms`.
    Retry {
        /// When.
        at_ms: u64,
        /// Why this attempt failed.
        error: String,
    },
    /// Given up: failed and dead-lettered.
    Failed {
        /// Why.
        error: String,
    },
}

/// Longest error text and target id recorded from a target's answer, in bytes.
const MAX_TARGET_TEXT: usize = 4096;

/// Text a target or a module wrote, made storable on both backends: at most
/// [`MAX_TARGET_TEXT`] bytes, NUL replaced (PostgreSQL's text cannot hold it; a settle that
/// failed on it would leave the item `sending` and send it again, forever).
fn storable(text: String) -> String {
    if text.len() <= MAX_TARGET_TEXT && !text.contains('\0') {
        return text;
    }
    super::util::truncate_utf8(&text, MAX_TARGET_TEXT)
}

impl Settlement {
    fn storable(self) -> Self {
        match self {
            Settlement::Accepted {
                provider_id,
                delivered,
            } => Settlement::Accepted {
                provider_id: provider_id.map(storable),
                delivered,
            },
            Settlement::Retry { at_ms, error } => Settlement::Retry {
                at_ms,
                error: storable(error),
            },
            Settlement::Failed { error } => Settlement::Failed {
                error: storable(error),
            },
        }
    }
}

const TARGET_COLUMNS: &str =
    "t.workspace_id, t.purpose, t.name, t.kind, t.config, t.secret, t.created_at_ms, t.updated_at_ms";

fn row_to_target(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<DeliveryTarget> {
    let config: String = row.get(first + 4)?;
    Ok(DeliveryTarget {
        workspace: row.get(first)?,
        purpose: row.get(first + 1)?,
        name: row.get(first + 2)?,
        kind: row.get(first + 3)?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        secret: row.get(first + 5)?,
        created_at_ms: unsigned(row.get(first + 6)?),
        updated_at_ms: unsigned(row.get(first + 7)?),
    })
}

impl Store {
    /// Sets (creates or replaces) a target.
    pub async fn target_put(&self, target: DeliveryTarget) -> Result<DeliveryTarget, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.target_put(&target).await;
        }
        self.write(move |conn| {
            let now = signed(now_ms());
            conn.prepare_cached(
                "INSERT INTO delivery_targets
                    (workspace_id, purpose, name, kind, config, secret, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (workspace_id, purpose, name) DO UPDATE SET
                    kind = excluded.kind, config = excluded.config, secret = excluded.secret,
                    updated_at_ms = excluded.updated_at_ms",
            )?
            .execute(rusqlite::params![
                target.workspace,
                target.purpose,
                target.name,
                target.kind,
                target.config.to_string(),
                target.secret,
                now
            ])?;
            load_target(conn, &target.workspace, &target.purpose, &target.name)?
                .ok_or_else(|| StoreError::Internal("the target just written is gone".into()))
        })
        .await
    }

    /// A target, if set.
    pub async fn target_get(
        &self,
        ws: &str,
        purpose: &str,
        name: &str,
    ) -> Result<Option<DeliveryTarget>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.target_get(ws, purpose, name).await;
        }
        let (ws, purpose, name) = (ws.to_string(), purpose.to_string(), name.to_string());
        self.read(move |conn| load_target(conn, &ws, &purpose, &name))
            .await
    }

    /// The targets of `ws` for `purpose`, by name.
    pub async fn target_list(
        &self,
        ws: &str,
        purpose: &str,
    ) -> Result<Vec<DeliveryTarget>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.target_list(ws, purpose).await;
        }
        let (ws, purpose) = (ws.to_string(), purpose.to_string());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TARGET_COLUMNS} FROM delivery_targets t
                 WHERE t.workspace_id = ?1 AND t.purpose = ?2 ORDER BY t.name"
            ))?;
            let rows = stmt.query_map([ws, purpose], |row| row_to_target(row, 0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Removes a target; whether it existed.
    pub async fn target_delete(
        &self,
        ws: &str,
        purpose: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.target_delete(ws, purpose, name).await;
        }
        let (ws, purpose, name) = (ws.to_string(), purpose.to_string(), name.to_string());
        self.write(move |conn| {
            let n = conn
                .prepare_cached(
                    "DELETE FROM delivery_targets WHERE workspace_id = ?1 AND purpose = ?2 AND name = ?3",
                )?
                .execute([ws, purpose, name])?;
            Ok(n > 0)
        })
        .await
    }

    /// Claims up to `limit` items of `outbox` that are due and have a target: `queued` ones
    /// whose next attempt is due, and `sending` ones whose attempt deadline passed. At most
    /// `per_workspace` items of one workspace are `sending` afterwards (counting those under
    /// way), so one workspace's slow target or flood cannot take every slot. Each is marked
    /// `sending` with its attempt counted and a deadline `attempt_ms` from now.
    pub async fn outbox_claim(
        &self,
        outbox: Outbox,
        limit: u32,
        per_workspace: u32,
        attempt_ms: u64,
    ) -> Result<Vec<Claimed>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg
                .outbox_claim(outbox, limit, per_workspace, attempt_ms)
                .await;
        }
        self.write(move |conn| {
            let now = now_ms();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let claimed = claim(&tx, outbox, limit, per_workspace, now, attempt_ms)?;
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    /// Records how attempt `attempt` of item `id` ended; `false` when the item moved on
    /// meanwhile (a newer attempt, a status report, a re-drive): nothing is changed then.
    pub async fn outbox_settle(
        &self,
        outbox: Outbox,
        id: &str,
        attempt: u32,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let settlement = settlement.storable();
        if let Some(pg) = self.pg() {
            return pg.outbox_settle(outbox, id, attempt, settlement).await;
        }
        let id = id.to_string();
        self.write(move |conn| {
            let now = signed(now_ms());
            let table = outbox.table();
            let guard = "WHERE id = ?1 AND status = 'sending' AND attempts = ?2";
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
                    conn.prepare_cached(&format!(
                        "UPDATE {table} SET status = ?3, accepted_at_ms = ?4, updated_at_ms = ?4,
                            provider_id = COALESCE(?5, provider_id), attempt_deadline_ms = NULL,
                            finished_at_ms = CASE WHEN ?6 THEN ?4 ELSE finished_at_ms END,
                            last_error = NULL {guard}"
                    ))?
                    .execute(rusqlite::params![
                        id,
                        attempt,
                        status,
                        now,
                        provider_id,
                        delivered
                    ])?
                }
                Settlement::Retry { at_ms, error } => conn
                    .prepare_cached(&format!(
                        "UPDATE {table} SET status = 'queued', next_attempt_at_ms = ?3,
                            attempt_deadline_ms = NULL, last_error = ?4, updated_at_ms = ?5 {guard}"
                    ))?
                    .execute(rusqlite::params![id, attempt, signed(at_ms), error, now])?,
                Settlement::Failed { error } => conn
                    .prepare_cached(&format!(
                        "UPDATE {table} SET status = 'failed', attempt_deadline_ms = NULL,
                            last_error = ?3, dead_lettered_at_ms = ?4, updated_at_ms = ?4 {guard}"
                    ))?
                    .execute(rusqlite::params![id, attempt, error, now])?,
            };
            Ok(changed > 0)
        })
        .await
    }

    /// How many items of `ws` are in each status, by status.
    pub async fn outbox_counts(
        &self,
        outbox: Outbox,
        ws: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.outbox_counts(outbox, ws).await;
        }
        let ws = ws.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT status, COUNT(*) FROM {} WHERE workspace_id = ?1 GROUP BY status ORDER BY status",
                outbox.table()
            ))?;
            let rows = stmt.query_map([ws], |row| {
                Ok((row.get::<_, String>(0)?, unsigned(row.get(1)?)))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Puts a failed (dead-lettered) item of `ws` back in the outbox with fresh attempts.
    pub async fn outbox_redrive(
        &self,
        outbox: Outbox,
        ws: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg.outbox_redrive(outbox, ws, id).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let table = outbox.table();
            let n = conn
                .prepare_cached(&format!(
                    "UPDATE {table} SET status = 'queued', attempts = 0, next_attempt_at_ms = 0,
                        dead_lettered_at_ms = NULL, updated_at_ms = ?3
                     WHERE workspace_id = ?1 AND id = ?2 AND status = 'failed'
                       AND dead_lettered_at_ms IS NOT NULL"
                ))?
                .execute(rusqlite::params![ws, id, signed(now_ms())])?;
            if n == 1 {
                return Ok(());
            }
            let exists: bool = conn
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM {table} WHERE workspace_id = ?1 AND id = ?2)"
                ))?
                .query_row([&ws, &id], |row| row.get(0))?;
            if exists {
                Err(StoreError::Conflict(format!(
                    "{id} is not a dead letter (only items whose delivery failed for good can be re-driven)"
                )))
            } else {
                Err(StoreError::NotFound(format!("no {} {id}", outbox.label())))
            }
        })
        .await
    }

    /// Records what the target reported about item `id` of `ws` after accepting it: `status`
    /// among `allowed_from` → `status` (with the target's id, output or error). A report that
    /// arrives while the attempt is still `sending` (the target reported before its answer
    /// reached the supervisor) also records the acceptance; that attempt's own settling then
    /// finds the item moved on and changes nothing. Returns the
    /// previous status; [`StoreError::Conflict`] when the item is not in a status it can
    /// leave that way.
    pub async fn outbox_report(
        &self,
        outbox: Outbox,
        ws: &str,
        id: &str,
        mut report: Report,
    ) -> Result<String, StoreError> {
        report.provider_id = report.provider_id.map(storable);
        report.error = report.error.map(storable);
        if let Some(pg) = self.pg() {
            return pg.outbox_report(outbox, ws, id, &report).await;
        }
        let (ws, id) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            let table = outbox.table();
            let current: Option<String> = conn
                .prepare_cached(&format!(
                    "SELECT status FROM {table} WHERE workspace_id = ?1 AND id = ?2"
                ))?
                .query_row([&ws, &id], |row| row.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let Some(current) = current else {
                return Err(StoreError::NotFound(format!("no {} {id}", outbox.label())));
            };
            // From `queued` or `failed`, only an item the target may have taken (an attempt
            // was made; for `failed`, a dead letter rather than a reported failure).
            let attempted: (u32, Option<i64>, Option<String>) = conn
                .prepare_cached(&format!(
                    "SELECT attempts, dead_lettered_at_ms, status FROM {table}
                     WHERE workspace_id = ?1 AND id = ?2"
                ))?
                .query_row([&ws, &id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
            let reachable = match current.as_str() {
                "queued" => attempted.0 > 0,
                "failed" => attempted.1.is_some(),
                _ => true,
            };
            if !reachable || !report.allowed_from.contains(&current.as_str()) {
                return Err(StoreError::Conflict(format!(
                    "{id} is {current}: it cannot become {}",
                    report.status
                )));
            }
            let now = signed(now_ms());
            conn.prepare_cached(&format!(
                "UPDATE {table} SET status = ?3, updated_at_ms = ?4,
                    accepted_at_ms = CASE WHEN status IN ('sending', 'queued', 'failed')
                                     THEN COALESCE(accepted_at_ms, ?4) ELSE accepted_at_ms END,
                    provider_id = COALESCE(?5, provider_id),
                    last_error = CASE WHEN status IN ('sending', 'queued', 'failed')
                                 THEN ?6 ELSE COALESCE(?6, last_error) END,
                    dead_lettered_at_ms = NULL, next_attempt_at_ms = 0,
                    output = COALESCE(?7, output),
                    finished_at_ms = CASE WHEN ?3 IN ('delivered', 'succeeded', 'failed')
                                     THEN ?4 ELSE finished_at_ms END,
                    attempt_deadline_ms = NULL
                 WHERE workspace_id = ?1 AND id = ?2"
            ))?
            .execute(rusqlite::params![
                ws,
                id,
                report.status,
                now,
                report.provider_id,
                report.error,
                report.output.map(|o| o.to_string()),
            ])?;
            Ok(current)
        })
        .await
    }
}

/// A status reported by the target (a message's delivery receipt, a run's progress).
#[derive(Debug, Clone)]
pub struct Report {
    /// The new status.
    pub status: &'static str,
    /// The statuses it may follow.
    pub allowed_from: &'static [&'static str],
    /// The target's id for the item.
    pub provider_id: Option<String>,
    /// A failure's reason.
    pub error: Option<String>,
    /// A run's output.
    pub output: Option<Value>,
}

fn load_target(
    conn: &rusqlite::Connection,
    ws: &str,
    purpose: &str,
    name: &str,
) -> Result<Option<DeliveryTarget>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TARGET_COLUMNS} FROM delivery_targets t
         WHERE t.workspace_id = ?1 AND t.purpose = ?2 AND t.name = ?3"
    ))?;
    let mut rows = stmt.query_map([ws, purpose, name], |row| row_to_target(row, 0))?;
    Ok(rows.next().transpose()?)
}

/// The claim of [`Store::outbox_claim`], in a write transaction.
fn claim(
    tx: &rusqlite::Transaction<'_>,
    outbox: Outbox,
    limit: u32,
    per_workspace: u32,
    now: u64,
    attempt_ms: u64,
) -> Result<Vec<Claimed>, StoreError> {
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
    let table = outbox.table();
    // An attempt cut short (its supervisor died) whose target has since been removed goes back
    // to `queued`, where it waits for a target again and says so.
    let orphan_target = match outbox {
        Outbox::Messages => {
            "t.workspace_id = o.workspace_id AND t.purpose = 'channel' AND t.name = o.channel"
        }
        Outbox::WorkflowRuns => "t.workspace_id = o.workspace_id AND t.purpose = 'workflows'",
    };
    tx.prepare_cached(&format!(
        "UPDATE {table} AS o SET status = 'queued', attempt_deadline_ms = NULL
         WHERE o.status = 'sending' AND o.attempt_deadline_ms < ?1
           AND NOT EXISTS (SELECT 1 FROM delivery_targets t WHERE {orphan_target})"
    ))?
    .execute([signed(now)])?;
    // Each workspace's due items ranked by age; a workspace gets at most its free share
    // (`per_workspace` minus its attempts still under way). The extra columns come last, so
    // the positions read below are those of the inner select.
    let sql = format!(
        "SELECT * FROM (
            SELECT {select}, {TARGET_COLUMNS}, i.workspace_id AS claim_ws,
                   ROW_NUMBER() OVER (PARTITION BY i.workspace_id
                                      ORDER BY i.next_attempt_at_ms, i.id) AS claim_rank,
                   i.next_attempt_at_ms AS claim_due, i.id AS claim_id
            FROM {table} i {join}
            WHERE (i.status = 'queued' AND i.next_attempt_at_ms <= ?1)
               OR (i.status = 'sending' AND i.attempt_deadline_ms < ?1)
         )
         WHERE claim_rank + (SELECT COUNT(*) FROM {table} s
                             WHERE s.workspace_id = claim_ws AND s.status = 'sending'
                               AND s.attempt_deadline_ms >= ?1) <= ?3
         ORDER BY claim_due, claim_id LIMIT ?2"
    );
    let now_signed = signed(now);
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params![now_signed, limit, per_workspace], |row| {
        let id: String = row.get(0)?;
        let workspace: String = row.get(1)?;
        let attempts: u32 = row.get(2)?;
        let (payload, first_target) = match outbox {
            Outbox::Messages => {
                let content: Option<String> = row.get(5)?;
                let conversation: Option<String> = row.get(6)?;
                (
                    serde_json::json!({
                        "id": id,
                        "workspace": workspace,
                        "channel": row.get::<_, String>(3)?,
                        "text": row.get::<_, String>(4)?,
                        "content": content
                            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
                            .unwrap_or(Value::Null),
                        "conversation_id": conversation.unwrap_or_default(),
                        "module": row.get::<_, String>(7)?,
                        "created_at_ms": unsigned(row.get(8)?),
                        "contact": {
                            "id": row.get::<_, String>(9)?,
                            "external_id": row.get::<_, String>(10)?,
                            "name": row.get::<_, String>(11)?,
                            "email": row.get::<_, String>(12)?,
                            "phone": row.get::<_, String>(13)?,
                        },
                    }),
                    14,
                )
            }
            Outbox::WorkflowRuns => {
                let payload: String = row.get(4)?;
                (
                    serde_json::json!({
                        "run_id": id,
                        "workspace": workspace,
                        "workflow_id": row.get::<_, String>(3)?,
                        "payload": serde_json::from_str::<Value>(&payload).unwrap_or(Value::Null),
                        "module": row.get::<_, String>(5)?,
                        "created_at_ms": unsigned(row.get(6)?),
                        "request_id": row.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    }),
                    8,
                )
            }
        };
        Ok(Claimed {
            outbox,
            id,
            workspace,
            attempt: attempts + 1,
            target: row_to_target(row, first_target)?,
            payload,
        })
    })?;
    let claimed = rows.collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let deadline = signed(now.saturating_add(attempt_ms));
    let mut update = tx.prepare_cached(&format!(
        "UPDATE {table} SET status = 'sending', attempts = ?2, attempt_deadline_ms = ?3,
            updated_at_ms = ?4 WHERE id = ?1"
    ))?;
    for item in &claimed {
        update.execute(rusqlite::params![
            item.id,
            item.attempt,
            deadline,
            now_signed
        ])?;
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;
    use crate::store::{NewContact, NewMessage, NewWorkflowRun};
    use std::collections::HashMap;

    /// Whether `result` is the refusal of a call the PostgreSQL store does not serve (contacts
    /// and messages are ported to it separately): the helpers below then write or read those
    /// rows with SQL, so these tests exercise the outboxes on both backends either way.
    fn not_on_postgres<T>(result: &Result<T, StoreError>) -> bool {
        matches!(result, Err(StoreError::Internal(m)) if m.contains("needs the SQLite store"))
    }

    /// A pooled connection of a PostgreSQL store.
    async fn pg_client(store: &Store) -> deadpool_postgres::Object {
        store
            .pg()
            .expect("a PostgreSQL store")
            .client()
            .await
            .expect("a connection")
    }

    /// A new contact of `ws` with phone number `phone`.
    async fn new_contact(store: &Store, ws: &str, phone: &str) -> String {
        let result = store
            .create_contact(
                ws,
                NewContact {
                    phone: phone.into(),
                    ..Default::default()
                },
            )
            .await;
        if !not_on_postgres(&result) {
            return result.unwrap().id;
        }
        let id = crate::store::util::new_id("ct_");
        pg_client(store)
            .await
            .execute(
                "INSERT INTO contacts (id, workspace_id, external_id, name, email, phone,
                    attributes, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, '', '', '', $3, '{}', $4, $4)",
                &[&id, &ws, &phone, &signed(now_ms())],
            )
            .await
            .unwrap();
        id
    }

    /// A queued message of `ws` to `contact` on `channel`.
    async fn new_message(store: &Store, ws: &str, contact: &str, channel: &str) -> String {
        let result = store
            .send_message(
                ws,
                "m",
                NewMessage {
                    contact_id: contact.into(),
                    channel: channel.into(),
                    text: "hi".into(),
                    ..Default::default()
                },
            )
            .await;
        if !not_on_postgres(&result) {
            return result.unwrap().id;
        }
        let id = crate::store::util::new_id("msg_");
        pg_client(store)
            .await
            .execute(
                "INSERT INTO messages (id, workspace_id, contact_id, channel, text, status,
                    module, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, 'hi', 'queued', 'm', $5, $5)",
                &[&id, &ws, &contact, &channel, &signed(now_ms())],
            )
            .await
            .unwrap();
        id
    }

    /// A queued message of `ws_a` to a new contact on `channel`.
    async fn queued_message(store: &Store, channel: &str) -> String {
        let contact = new_contact(store, "ws_a", "+33612345678").await;
        new_message(store, "ws_a", &contact, channel).await
    }

    /// What the tests look at in a message.
    struct MessageState {
        status: String,
        provider_message_id: Option<String>,
        sent_at_ms: Option<u64>,
        finished_at_ms: Option<u64>,
    }

    /// Message `id` of `ws`.
    async fn message_state(store: &Store, ws: &str, id: &str) -> MessageState {
        let result = store.get_message(ws, id).await;
        if !not_on_postgres(&result) {
            let message = result.unwrap();
            return MessageState {
                status: message.status,
                provider_message_id: message.provider_message_id,
                sent_at_ms: message.sent_at_ms,
                finished_at_ms: message.finished_at_ms,
            };
        }
        let row = pg_client(store)
            .await
            .query_one(
                "SELECT status, provider_id, accepted_at_ms, finished_at_ms FROM messages
                 WHERE workspace_id = $1 AND id = $2",
                &[&ws, &id],
            )
            .await
            .unwrap();
        MessageState {
            status: row.get(0),
            provider_message_id: row.get(1),
            sent_at_ms: row.get::<_, Option<i64>>(2).map(unsigned),
            finished_at_ms: row.get::<_, Option<i64>>(3).map(unsigned),
        }
    }

    fn target(name: &str) -> DeliveryTarget {
        DeliveryTarget {
            workspace: "ws_a".into(),
            purpose: "channel".into(),
            name: name.into(),
            kind: "webhook".into(),
            config: serde_json::json!({"url": "https://hooks.example.com"}),
            secret: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    /// The workflow engine target of `ws`.
    fn workflow_engine(ws: &str) -> DeliveryTarget {
        DeliveryTarget {
            workspace: ws.into(),
            purpose: "workflows".into(),
            name: String::new(),
            config: serde_json::json!({"url": "https://engine.example.com"}),
            ..target("")
        }
    }

    /// `n` queued runs of `ws`.
    async fn queued_runs(store: &Store, ws: &str, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let run = store
                .trigger_workflow(
                    ws,
                    "",
                    NewWorkflowRun {
                        workflow_id: "wf_1".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            ids.push(run.id);
        }
        ids
    }

    /// Claims of `store` until one comes back empty: what it claimed.
    async fn claim_all(store: Store, limit: u32, per_workspace: u32) -> Vec<Claimed> {
        let mut claimed = Vec::new();
        loop {
            let batch = store
                .outbox_claim(Outbox::WorkflowRuns, limit, per_workspace, 60_000)
                .await
                .unwrap();
            if batch.is_empty() {
                return claimed;
            }
            claimed.extend(batch);
        }
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn claims_need_a_target_and_settles_follow_the_attempt() {
            let (_dir, store) = two_workspaces().await;
            let id = queued_message(&store, "sms").await;
            assert!(store
                .outbox_claim(Outbox::Messages, 10, 8, 1000)
                .await
                .unwrap()
                .is_empty());
            store.target_put(target("sms")).await.unwrap();
            let claimed = store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1);
            assert_eq!(
                (claimed[0].id.as_str(), claimed[0].attempt),
                (id.as_str(), 1)
            );
            assert_eq!(claimed[0].payload["contact"]["phone"], "+33612345678");
            // Claimed items are not claimed twice while their deadline runs.
            assert!(store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap()
                .is_empty());
            // A retry puts it back for later; a stale settle of attempt 1 then changes nothing.
            let retry = Settlement::Retry {
                at_ms: 0,
                error: "HTTP 503".into(),
            };
            assert!(store
                .outbox_settle(Outbox::Messages, &id, 1, retry.clone())
                .await
                .unwrap());
            assert!(!store
                .outbox_settle(Outbox::Messages, &id, 1, retry)
                .await
                .unwrap());
            let again = store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!(again[0].attempt, 2);
            let accepted = Settlement::Accepted {
                provider_id: Some("sms_9".into()),
                delivered: true,
            };
            assert!(store
                .outbox_settle(Outbox::Messages, &id, 2, accepted)
                .await
                .unwrap());
            let message = message_state(&store, "ws_a", &id).await;
            assert_eq!(message.status, "delivered");
            assert_eq!(message.provider_message_id.as_deref(), Some("sms_9"));
            assert!(message.finished_at_ms.is_some() && message.sent_at_ms.is_some());
        }

        #[tokio::test]
        async fn a_dead_supervisors_attempt_is_claimed_again_after_its_deadline() {
            let (_dir, store) = two_workspaces().await;
            store.target_put(target("sms")).await.unwrap();
            let id = queued_message(&store, "sms").await;
            let first = store
                .outbox_claim(Outbox::Messages, 10, 8, 0)
                .await
                .unwrap();
            assert_eq!(first.len(), 1);
            std::thread::sleep(std::time::Duration::from_millis(5));
            let second = store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!((second[0].id.as_str(), second[0].attempt), (id.as_str(), 2));
        }

        #[tokio::test]
        async fn a_cut_attempt_whose_target_was_removed_waits_queued_again() {
            let (_dir, store) = two_workspaces().await;
            store.target_put(target("sms")).await.unwrap();
            let id = queued_message(&store, "sms").await;
            assert_eq!(
                store
                    .outbox_claim(Outbox::Messages, 10, 8, 0)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(store.target_delete("ws_a", "channel", "sms").await.unwrap());
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert!(store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(message_state(&store, "ws_a", &id).await.status, "queued");
        }

        #[tokio::test]
        async fn dead_letters_are_redriven_and_reports_follow_the_statuses() {
            let (_dir, store) = two_workspaces().await;
            store.target_put(target("sms")).await.unwrap();
            let id = queued_message(&store, "sms").await;
            store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap();
            let failed = Settlement::Failed {
                error: "HTTP 404".into(),
            };
            assert!(store
                .outbox_settle(Outbox::Messages, &id, 1, failed)
                .await
                .unwrap());
            assert!(matches!(
                store.outbox_redrive(Outbox::Messages, "ws_b", &id).await,
                Err(StoreError::NotFound(_))
            ));
            store
                .outbox_redrive(Outbox::Messages, "ws_a", &id)
                .await
                .unwrap();
            assert!(matches!(
                store.outbox_redrive(Outbox::Messages, "ws_a", &id).await,
                Err(StoreError::Conflict(_))
            ));
            let delivered = Report {
                status: "delivered",
                allowed_from: &["sending", "sent"],
                provider_id: None,
                error: None,
                output: None,
            };
            assert!(matches!(
                store
                    .outbox_report(Outbox::Messages, "ws_a", &id, delivered.clone())
                    .await,
                Err(StoreError::Conflict(_))
            ));
            store
                .outbox_claim(Outbox::Messages, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!(
                store
                    .outbox_report(Outbox::Messages, "ws_a", &id, delivered)
                    .await
                    .unwrap(),
                "sending"
            );
            let message = message_state(&store, "ws_a", &id).await;
            assert_eq!(message.status, "delivered");
            assert!(
                message.sent_at_ms.is_some(),
                "a report during the attempt records acceptance"
            );
            let counts = store.outbox_counts(Outbox::Messages, "ws_a").await.unwrap();
            assert_eq!(counts, vec![("delivered".to_string(), 1)]);
        }

        #[tokio::test]
        async fn one_workspace_gets_at_most_its_share_of_the_slots() {
            let (_dir, store) = two_workspaces().await;
            let store = &store;
            for ws in ["ws_a", "ws_b"] {
                store
                    .target_put(DeliveryTarget {
                        workspace: ws.into(),
                        ..target("sms")
                    })
                    .await
                    .unwrap();
                let contact = new_contact(store, ws, "").await;
                let count = if ws == "ws_a" { 20 } else { 2 };
                for _ in 0..count {
                    new_message(store, ws, &contact, "sms").await;
                }
            }
            // ws_a's 20 older messages do not keep ws_b's 2 waiting.
            let claimed = store
                .outbox_claim(Outbox::Messages, 32, 4, 60_000)
                .await
                .unwrap();
            let of = |ws: &str| claimed.iter().filter(|c| c.workspace == ws).count();
            assert_eq!((of("ws_a"), of("ws_b")), (4, 2));
            // While its 4 are under way, ws_a gets nothing more.
            let more = store
                .outbox_claim(Outbox::Messages, 32, 4, 60_000)
                .await
                .unwrap();
            assert!(more.is_empty(), "{more:?}");
        }

        #[tokio::test]
        async fn a_report_after_a_lost_answer_is_kept() {
            let (_dir, store) = two_workspaces().await;
            store.target_put(workflow_engine("ws_a")).await.unwrap();
            let run = store
                .trigger_workflow(
                    "ws_a",
                    "",
                    NewWorkflowRun {
                        workflow_id: "wf_1".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let report = |status: &'static str| Report {
                status,
                allowed_from: &["queued", "sending", "delivered", "running", "failed"],
                provider_id: None,
                error: None,
                output: Some(serde_json::json!({"ok": true})),
            };
            // Never attempted: the engine cannot have it.
            assert!(matches!(
                store
                    .outbox_report(Outbox::WorkflowRuns, "ws_a", &run.id, report("running"))
                    .await,
                Err(StoreError::Conflict(_))
            ));
            // The engine took it but its answer was lost: the attempt is settled as a retry.
            store
                .outbox_claim(Outbox::WorkflowRuns, 10, 8, 60_000)
                .await
                .unwrap();
            let retry = Settlement::Retry {
                at_ms: u64::MAX / 2,
                error: "no answer within 30s".into(),
            };
            assert!(store
                .outbox_settle(Outbox::WorkflowRuns, &run.id, 1, retry)
                .await
                .unwrap());
            store
                .outbox_report(Outbox::WorkflowRuns, "ws_a", &run.id, report("succeeded"))
                .await
                .unwrap();
            let done = store.get_workflow_run("ws_a", &run.id).await.unwrap();
            assert_eq!(done.status, "succeeded");
            assert_eq!(
                done.error, None,
                "the lost attempt's error is not the run's"
            );
            assert!(done.delivered_at_ms.is_some() && done.finished_at_ms.is_some());
            // Not claimed again.
            assert!(store
                .outbox_claim(Outbox::WorkflowRuns, 10, 8, 60_000)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn targets_are_replaced_listed_and_removed() {
            let (_dir, store) = two_workspaces().await;
            assert_eq!(store.target_get("ws_a", "channel", "sms").await.unwrap(), None);
            let sms = store
                .target_put(DeliveryTarget {
                    secret: Some("s3cret".into()),
                    ..target("sms")
                })
                .await
                .unwrap();
            assert_eq!(sms.secret.as_deref(), Some("s3cret"));
            assert!(sms.created_at_ms > 0 && sms.updated_at_ms == sms.created_at_ms);
            store.target_put(target("email")).await.unwrap();
            store.target_put(target("Zalo")).await.unwrap();
            store.target_put(workflow_engine("ws_a")).await.unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            let replaced = store
                .target_put(DeliveryTarget {
                    kind: "block".into(),
                    config: serde_json::json!({"block": "twilio", "action": "send"}),
                    ..target("sms")
                })
                .await
                .unwrap();
            assert_eq!(replaced.created_at_ms, sms.created_at_ms);
            assert!(replaced.updated_at_ms > sms.updated_at_ms);
            assert_eq!((replaced.kind.as_str(), replaced.secret.as_deref()), ("block", None));
            assert_eq!(
                store.target_get("ws_a", "channel", "sms").await.unwrap(),
                Some(replaced.clone())
            );
            // By name in byte order; each purpose and workspace apart.
            let names: Vec<String> = store
                .target_list("ws_a", "channel")
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.name)
                .collect();
            assert_eq!(names, ["Zalo", "email", "sms"]);
            assert_eq!(store.target_list("ws_a", "workflows").await.unwrap().len(), 1);
            assert!(store.target_list("ws_b", "channel").await.unwrap().is_empty());
            assert!(store.target_delete("ws_a", "channel", "sms").await.unwrap());
            assert!(!store.target_delete("ws_a", "channel", "sms").await.unwrap());
            assert_eq!(store.target_get("ws_a", "channel", "sms").await.unwrap(), None);
            // An unknown workspace or kind is refused by the database.
            assert!(matches!(
                store
                    .target_put(DeliveryTarget {
                        workspace: "ws_nope".into(),
                        ..target("sms")
                    })
                    .await,
                Err(StoreError::Internal(_))
            ));
            assert!(matches!(
                store
                    .target_put(DeliveryTarget {
                        kind: "carrier-pigeon".into(),
                        ..target("sms")
                    })
                    .await,
                Err(StoreError::Internal(_))
            ));
        }

        #[tokio::test]
        async fn run_claims_carry_the_payload_and_statuses_are_counted() {
            let (_dir, store) = two_workspaces().await;
            store.target_put(workflow_engine("ws_a")).await.unwrap();
            let run = store
                .trigger_workflow(
                    "ws_a",
                    "mod",
                    NewWorkflowRun {
                        workflow_id: "wf_9".into(),
                        payload: serde_json::json!({"order": 42}),
                        idempotency_key: String::new(),
                        request_id: "req_1".into(),
                    },
                )
                .await
                .unwrap();
            queued_runs(&store, "ws_b", 1).await;
            let claimed = store
                .outbox_claim(Outbox::WorkflowRuns, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1, "ws_b has no engine");
            let item = &claimed[0];
            assert_eq!((item.id.as_str(), item.attempt), (run.id.as_str(), 1));
            assert_eq!(item.target.purpose, "workflows");
            assert_eq!(
                item.payload,
                serde_json::json!({
                    "run_id": run.id,
                    "workspace": "ws_a",
                    "workflow_id": "wf_9",
                    "payload": {"order": 42},
                    "module": "mod",
                    "created_at_ms": run.created_at_ms,
                    "request_id": "req_1",
                })
            );
            assert_eq!(
                store.get_workflow_run("ws_a", &run.id).await.unwrap().status,
                "sending"
            );
            queued_runs(&store, "ws_a", 2).await;
            let counts = store
                .outbox_counts(Outbox::WorkflowRuns, "ws_a")
                .await
                .unwrap();
            assert_eq!(
                counts,
                vec![("queued".to_string(), 2), ("sending".to_string(), 1)]
            );
            let accepted = Settlement::Accepted {
                provider_id: Some("exec_1".into()),
                delivered: true,
            };
            assert!(store
                .outbox_settle(Outbox::WorkflowRuns, &run.id, 1, accepted.clone())
                .await
                .unwrap());
            // Runs are `delivered` once accepted, never finished by it.
            let delivered = store.get_workflow_run("ws_a", &run.id).await.unwrap();
            assert_eq!(delivered.status, "delivered");
            assert!(delivered.delivered_at_ms.is_some() && delivered.finished_at_ms.is_none());
            assert!(!store
                .outbox_settle(Outbox::WorkflowRuns, &run.id, 1, accepted)
                .await
                .unwrap());
            assert!(matches!(
                store.outbox_redrive(Outbox::WorkflowRuns, "ws_a", "run_nope").await,
                Err(StoreError::NotFound(m)) if m == "no workflow_run run_nope"
            ));
            assert!(matches!(
                store.outbox_redrive(Outbox::WorkflowRuns, "ws_a", &run.id).await,
                Err(StoreError::Conflict(m)) if m.starts_with(&format!("{} is not a dead letter", run.id))
            ));
            let running = Report {
                status: "running",
                allowed_from: &["delivered"],
                provider_id: None,
                error: None,
                output: None,
            };
            assert!(matches!(
                store.outbox_report(Outbox::WorkflowRuns, "ws_b", &run.id, running.clone()).await,
                Err(StoreError::NotFound(m)) if m == format!("no workflow_run {}", run.id)
            ));
            assert_eq!(
                store
                    .outbox_report(Outbox::WorkflowRuns, "ws_a", &run.id, running.clone())
                    .await
                    .unwrap(),
                "delivered"
            );
            assert!(matches!(
                store.outbox_report(Outbox::WorkflowRuns, "ws_a", &run.id, running).await,
                Err(StoreError::Conflict(m)) if m == format!("{} is running: it cannot become running", run.id)
            ));
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_supervisors_never_claim_one_item_twice() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            let mut queued = Vec::new();
            for ws in ["ws_a", "ws_b"] {
                store.target_put(workflow_engine(ws)).await.unwrap();
                queued.extend(queued_runs(&store, ws, 30).await);
            }
            let (a, b) = tokio::join!(
                tokio::spawn(claim_all(store.clone(), 3, 100)),
                tokio::spawn(claim_all(other.clone(), 3, 100)),
            );
            let claimed: Vec<Claimed> = a.unwrap().into_iter().chain(b.unwrap()).collect();
            let mut times: HashMap<&str, usize> = HashMap::new();
            for item in &claimed {
                assert_eq!(item.attempt, 1, "{} claimed again", item.id);
                *times.entry(item.id.as_str()).or_default() += 1;
            }
            assert_eq!(claimed.len(), queued.len(), "each run is claimed once");
            assert!(queued.iter().all(|id| times.get(id.as_str()) == Some(&1)));
            // Both see every run under way.
            for s in [&store, &other] {
                for ws in ["ws_a", "ws_b"] {
                    assert_eq!(
                        s.outbox_counts(Outbox::WorkflowRuns, ws).await.unwrap(),
                        vec![("sending".to_string(), 30)]
                    );
                }
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_workspaces_share_holds_across_supervisors() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            store.target_put(workflow_engine("ws_a")).await.unwrap();
            queued_runs(&store, "ws_a", 20).await;
            let (a, b) = tokio::join!(
                tokio::spawn(claim_all(store.clone(), 32, 4)),
                tokio::spawn(claim_all(other.clone(), 32, 4)),
            );
            let claimed = a.unwrap().len() + b.unwrap().len();
            assert_eq!(claimed, 4, "at most 4 of ws_a under way in the cluster");
        }

        #[tokio::test]
        async fn a_late_settle_of_another_supervisors_attempt_changes_nothing() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            store.target_put(workflow_engine("ws_a")).await.unwrap();
            let id = queued_runs(&store, "ws_a", 1).await.remove(0);
            // The first supervisor's attempt outlives its deadline; the second takes the run over.
            let first = store
                .outbox_claim(Outbox::WorkflowRuns, 10, 8, 0)
                .await
                .unwrap();
            assert_eq!(first.len(), 1);
            std::thread::sleep(std::time::Duration::from_millis(5));
            let second = other
                .outbox_claim(Outbox::WorkflowRuns, 10, 8, 60_000)
                .await
                .unwrap();
            assert_eq!((second[0].id.as_str(), second[0].attempt), (id.as_str(), 2));
            let failed = Settlement::Failed {
                error: "HTTP 500".into(),
            };
            assert!(!store
                .outbox_settle(Outbox::WorkflowRuns, &id, 1, failed)
                .await
                .unwrap());
            let accepted = Settlement::Accepted {
                provider_id: None,
                delivered: false,
            };
            assert!(other
                .outbox_settle(Outbox::WorkflowRuns, &id, 2, accepted)
                .await
                .unwrap());
            let run = store.get_workflow_run("ws_a", &id).await.unwrap();
            assert_eq!((run.status.as_str(), run.attempts), ("delivered", 2));
            assert_eq!(run.error, None);
        }
    }
}
