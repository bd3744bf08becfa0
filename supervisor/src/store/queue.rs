//! The embedded message queue's tables (the SQL side of `bus::embedded`).
//!
//! * `queue_subscriptions`: one row per consumer (its durable name), registered by subscribing.
//! * `queue_messages`: published messages; `(workspace_id, message_id)` is unique, which
//!   deduplicates publishes. A message row lives while a delivery references it and at least a
//!   deduplication window after its publication (see [`QueueOp::Purge`]).
//! * `queue_deliveries`: one row per (subscription, message) still to be settled. `attempt`
//!   counts the deliveries made so far; `state` is `ready` or `held`. `visible_at_ms` is when
//!   the row can next be claimed: for a ready row when it becomes visible, for a held row when
//!   its hold (`held_until_ms`) expires, so one index serves both "ready and visible" and "held
//!   by a holder that went silent".
//! * `queue_dead_letters`: deliveries given up on, with the payload copied.
//!
//! Publishing creates a delivery row for every subscription that exists at that moment: a
//! subscription never sees messages published before it was first registered.
//!
//! Writes arrive as [`QueueOp`]s and run in batches, one write transaction per batch and one
//! savepoint per operation ([`Store::queue_submit`]), so that many publishes, claims and acks
//! share one commit.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::util::{
    decode_page_token, into_page, new_id, now_ms, page_query, page_size, signed, unsigned,
};
use super::{Page, StorageHealth, Store, StoreError};

/// A consumer of the queue: one per (workspace, module, handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSubscription {
    /// Its durable name (unique per (workspace, module, handler)).
    pub name: String,
    /// Workspace id.
    pub workspace: String,
    /// Module name.
    pub module: String,
    /// Handler name.
    pub handler: String,
    /// The topic it consumes.
    pub topic: String,
    /// Failed deliveries allowed before the message is dead-lettered.
    pub max_attempts: u32,
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Workspace id.
    pub workspace: String,
    /// Topic.
    pub topic: String,
    /// Deduplication id; `None` generates `msg_...`.
    pub message_id: Option<String>,
    /// UTF-8 JSON payload.
    pub payload: String,
    /// Headers.
    pub headers: BTreeMap<String, String>,
}

/// One claim of a delivery: its row and the attempt it was claimed for. Settling with a hold
/// whose delivery has been claimed again since (the hold expired) does nothing, except an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueHold {
    /// Row id of the delivery.
    pub delivery: i64,
    /// The attempt of this claim (1 on the first delivery).
    pub attempt: u32,
}

/// A claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// How to settle it.
    pub hold: QueueHold,
    /// Topic.
    pub topic: String,
    /// The message's id.
    pub message_id: String,
    /// UTF-8 JSON payload.
    pub payload: String,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDeadLetter {
    /// `dl_...`.
    pub id: String,
    /// Workspace id.
    pub workspace: String,
    /// Module whose handler gave up.
    pub module: String,
    /// That handler.
    pub handler: String,
    /// Topic.
    pub topic: String,
    /// The message's id.
    pub message_id: String,
    /// The payload (a JSON string when the stored text is not JSON).
    pub payload: Value,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// Deliveries made.
    pub attempts: u32,
    /// Why it was dead-lettered.
    pub reason: String,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub failed_at_ms: u64,
}

/// A write to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    /// Stores a message (unless its id is known) with a delivery for every subscription of its
    /// (workspace, topic). Answers [`QueueOutcome::Published`].
    Publish(QueueMessage),
    /// Claims up to `limit` due deliveries of `subscription`, oldest first: each gets
    /// `attempt + 1` and is held for `ack_wait_ms`. A due delivery that already had
    /// `max_attempts + 1` deliveries is dead-lettered instead. Answers
    /// [`QueueOutcome::Claimed`].
    Claim {
        /// Durable name of the subscription.
        subscription: String,
        /// The subscription's `max_attempts`.
        max_attempts: u32,
        /// How long a claim holds a delivery.
        ack_wait_ms: u64,
        /// Most deliveries to claim.
        limit: usize,
    },
    /// Removes the delivery (also when it was claimed again since: the work is done). Answers
    /// [`QueueOutcome::Settled`] (whether it was still there).
    Ack(QueueHold),
    /// Makes a held delivery ready again after `delay_ms`. Answers [`QueueOutcome::Settled`].
    Retry {
        /// The claim.
        hold: QueueHold,
        /// Delay before it is visible again.
        delay_ms: u64,
    },
    /// Moves a held delivery to the dead letters. Answers [`QueueOutcome::Settled`].
    DeadLetter {
        /// The claim.
        hold: QueueHold,
        /// Why.
        reason: String,
    },
    /// Holds a delivery `ack_wait_ms` more from now. Answers [`QueueOutcome::Settled`].
    Extend {
        /// The claim.
        hold: QueueHold,
        /// The new hold.
        ack_wait_ms: u64,
    },
    /// Undoes a claim that was never handed to a handler: ready now, attempt back by one.
    /// Answers [`QueueOutcome::Settled`].
    Release(QueueHold),
    /// Delivers a dead letter again to the subscription it came from (attempts from 1) and
    /// removes it. Answers [`QueueOutcome::Published`].
    RedriveDeadLetter {
        /// Workspace id.
        workspace: String,
        /// `dl_...`.
        id: String,
    },
    /// Deletes the messages published in `[since_ms, cutoff_ms)` that no delivery references.
    /// Answers [`QueueOutcome::Purged`].
    Purge {
        /// Start of the publication range.
        since_ms: u64,
        /// End (excluded).
        cutoff_ms: u64,
    },
}

/// What a [`QueueOp`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOutcome {
    /// A message was stored (or found).
    Published {
        /// The message's id.
        message_id: String,
        /// Whether it was already stored (nothing new was written).
        duplicate: bool,
        /// Durable names of the subscriptions that got a delivery.
        subscriptions: Vec<String>,
    },
    /// Claimed deliveries.
    Claimed {
        /// Oldest first.
        deliveries: Vec<ClaimedDelivery>,
        /// When nothing was claimed: milliseconds until the earliest `visible_at_ms` among the
        /// subscription's remaining deliveries (ready or held), if it has any.
        next_due_in_ms: Option<u64>,
    },
    /// Whether the claim was still current (or, for an ack, the delivery still there).
    Settled(bool),
    /// Messages deleted.
    Purged(usize),
}

/// Receives the outcome of one operation of a batch, on the writer thread after the commit
/// (keep it short: hand the value over, e.g. through a oneshot channel).
pub type QueueReply = Box<dyn FnOnce(Result<QueueOutcome, StoreError>) + Send>;

/// Columns of a dead letter, in [`row_to_dead_letter`] order.
const DEAD_LETTER_COLUMNS: &str = "id, workspace_id, module, handler, topic, message_id, payload, \
     headers, attempts, reason, published_at_ms, failed_at_ms";

impl Store {
    /// Registers (or updates the topic and `max_attempts` of) a subscription. Messages published
    /// from now on get a delivery for it.
    pub async fn queue_subscribe(&self, sub: QueueSubscription) -> Result<(), StoreError> {
        self.write(move |conn| {
            let now = signed(now_ms());
            conn.prepare_cached(
                "INSERT INTO queue_subscriptions
                    (name, workspace_id, module, handler, topic, max_attempts, created_at_ms,
                     updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (name) DO UPDATE SET
                    topic = excluded.topic, max_attempts = excluded.max_attempts,
                    updated_at_ms = excluded.updated_at_ms
                 WHERE topic <> excluded.topic OR max_attempts <> excluded.max_attempts",
            )?
            .execute(rusqlite::params![
                sub.name,
                sub.workspace,
                sub.module,
                sub.handler,
                sub.topic,
                sub.max_attempts,
                now
            ])?;
            Ok(())
        })
        .await
    }

    /// Queues a batch on the writer thread without waiting: when the writer gets to it, `take`
    /// hands over the operations gathered so far, they run in one write transaction (each in a
    /// savepoint: a failing operation does not undo the others) and each reply is called after
    /// the commit. Messages published before `now - dedup_window_ms` are deleted as soon as no
    /// delivery references them.
    ///
    /// Fails (without calling `take`) when the writer thread has stopped.
    pub fn queue_submit<F>(&self, take: F, dedup_window_ms: u64) -> Result<(), StoreError>
    where
        F: FnOnce() -> Vec<(QueueOp, QueueReply)> + Send + 'static,
    {
        let health = self.health()?;
        self.sqlite()?.writer.submit(Box::new(move |conn| {
            let batch = take();
            if !batch.is_empty() {
                run_batch(conn, batch, dedup_window_ms, &health);
            }
        }))
    }

    /// Runs one operation in its own write transaction and returns its outcome.
    pub async fn queue_run(
        &self,
        op: QueueOp,
        dedup_window_ms: u64,
    ) -> Result<QueueOutcome, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = apply(&tx, op, now_ms(), dedup_window_ms)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// Deliveries of subscription `name` waiting to be handled (ready, not held by a handler).
    pub async fn queue_backlog(&self, name: &str) -> Result<u64, StoreError> {
        let name = name.to_string();
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM queue_deliveries WHERE subscription = ?1 AND state = 'ready'",
                )?
                .query_row([name], |row| row.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    /// Dead letters of `ws`, oldest first.
    pub async fn queue_dead_letters(
        &self,
        ws: &str,
        page_size_: u32,
        page_token: &str,
    ) -> Result<Page<QueueDeadLetter>, StoreError> {
        let limit = page_size(page_size_)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        let ws = ws.to_string();
        self.read(move |conn| {
            let (sql, params) = page_query(
                DEAD_LETTER_COLUMNS,
                "queue_dead_letters",
                &ws,
                &after,
                &[],
                limit,
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), row_to_dead_letter)?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, limit, |d| &d.id))
        })
        .await
    }
}

/// Runs `batch` in one transaction (one commit, so one fsync for the whole batch: group
/// commit) and answers every operation after the commit.
fn run_batch(
    conn: &mut Connection,
    batch: Vec<(QueueOp, QueueReply)>,
    window_ms: u64,
    health: &StorageHealth,
) {
    let (ops, replies): (Vec<QueueOp>, Vec<QueueReply>) = batch.into_iter().unzip();
    match health.observe(apply_all(conn, ops, now_ms(), window_ms)) {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                reply(result.map_err(|e| health.refine(e)));
            }
        }
        Err(e) => {
            for reply in replies {
                reply(Err(e.clone()));
            }
        }
    }
}

fn apply_all(
    conn: &mut Connection,
    ops: Vec<QueueOp>,
    now: u64,
    window_ms: u64,
) -> Result<Vec<Result<QueueOutcome, StoreError>>, StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        // Dropping the savepoint without committing it rolls this operation back.
        let savepoint = tx.savepoint()?;
        let result = apply(&savepoint, op, now, window_ms);
        if result.is_ok() {
            savepoint.commit()?;
        }
        results.push(result);
    }
    tx.commit()?;
    Ok(results)
}

/// Applies one operation (inside a transaction).
fn apply(
    conn: &Connection,
    op: QueueOp,
    now: u64,
    window_ms: u64,
) -> Result<QueueOutcome, StoreError> {
    let cutoff = now.saturating_sub(window_ms);
    match op {
        QueueOp::Publish(message) => publish(conn, message, now),
        QueueOp::Claim {
            subscription,
            max_attempts,
            ack_wait_ms,
            limit,
        } => claim(
            conn,
            &subscription,
            max_attempts,
            ack_wait_ms,
            limit,
            now,
            cutoff,
        ),
        QueueOp::Ack(hold) => Ok(QueueOutcome::Settled(delete_delivery(
            conn,
            hold.delivery,
            cutoff,
        )?)),
        QueueOp::Retry { hold, delay_ms } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE queue_deliveries
                     SET state = 'ready', visible_at_ms = ?3, held_until_ms = 0
                     WHERE id = ?1 AND attempt = ?2 AND state = 'held'",
                )?
                .execute(rusqlite::params![
                    hold.delivery,
                    hold.attempt,
                    signed(now.saturating_add(delay_ms))
                ])?;
            Ok(QueueOutcome::Settled(changed > 0))
        }
        QueueOp::DeadLetter { hold, reason } => {
            let settled =
                is_held(conn, hold)? && dead_letter(conn, hold.delivery, &reason, now, cutoff)?;
            Ok(QueueOutcome::Settled(settled))
        }
        QueueOp::Extend { hold, ack_wait_ms } => {
            let until = signed(now.saturating_add(ack_wait_ms));
            let changed = conn
                .prepare_cached(
                    "UPDATE queue_deliveries SET held_until_ms = ?3, visible_at_ms = ?3
                     WHERE id = ?1 AND attempt = ?2 AND state = 'held'",
                )?
                .execute(rusqlite::params![hold.delivery, hold.attempt, until])?;
            Ok(QueueOutcome::Settled(changed > 0))
        }
        QueueOp::Release(hold) => {
            let changed = conn
                .prepare_cached(
                    "UPDATE queue_deliveries
                     SET state = 'ready', attempt = attempt - 1, visible_at_ms = ?3,
                         held_until_ms = 0
                     WHERE id = ?1 AND attempt = ?2 AND state = 'held'",
                )?
                .execute(rusqlite::params![hold.delivery, hold.attempt, signed(now)])?;
            Ok(QueueOutcome::Settled(changed > 0))
        }
        QueueOp::RedriveDeadLetter { workspace, id } => redrive(conn, &workspace, &id, now),
        QueueOp::Purge {
            since_ms,
            cutoff_ms,
        } => {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM queue_messages
                     WHERE published_at_ms >= ?1 AND published_at_ms < ?2
                       AND NOT EXISTS (SELECT 1 FROM queue_deliveries d
                                       WHERE d.message = queue_messages.id)",
                )?
                .execute(rusqlite::params![signed(since_ms), signed(cutoff_ms)])?;
            Ok(QueueOutcome::Purged(deleted))
        }
    }
}

fn headers_text(headers: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(headers).map_err(|e| StoreError::InvalidArgument(format!("headers: {e}")))
}

/// Headers from their JSON column; a damaged value reads as no headers.
fn parse_headers(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::warn!("a queued message has unreadable headers ({e}); delivering it without");
        BTreeMap::new()
    })
}

fn publish(conn: &Connection, message: QueueMessage, now: u64) -> Result<QueueOutcome, StoreError> {
    let message_id = message
        .message_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| new_id("msg_"));
    let inserted = conn
        .prepare_cached(
            "INSERT INTO queue_messages
                (workspace_id, topic, message_id, payload, headers, published_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (workspace_id, message_id) DO NOTHING",
        )?
        .execute(rusqlite::params![
            message.workspace,
            message.topic,
            message_id,
            message.payload,
            headers_text(&message.headers)?,
            signed(now)
        ])?;
    if inserted == 0 {
        return Ok(QueueOutcome::Published {
            message_id,
            duplicate: true,
            subscriptions: Vec::new(),
        });
    }
    let row = conn.last_insert_rowid();
    let subscribers = conn
        .prepare_cached(
            "SELECT name, module, handler FROM queue_subscriptions
             WHERE workspace_id = ?1 AND topic = ?2",
        )?
        .query_map([&message.workspace, &message.topic], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO queue_deliveries
            (subscription, workspace_id, module, handler, topic, message, attempt, state,
             visible_at_ms, held_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'ready', ?7, 0)",
    )?;
    let mut subscriptions = Vec::with_capacity(subscribers.len());
    for (name, module, handler) in subscribers {
        insert.execute(rusqlite::params![
            name,
            message.workspace,
            module,
            handler,
            message.topic,
            row,
            signed(now)
        ])?;
        subscriptions.push(name);
    }
    Ok(QueueOutcome::Published {
        message_id,
        duplicate: false,
        subscriptions,
    })
}

/// A due delivery, as the claim reads it.
struct Due {
    id: i64,
    attempt: u32,
    held: bool,
    delivery: ClaimedDelivery,
}

fn claim(
    conn: &Connection,
    subscription: &str,
    max_attempts: u32,
    ack_wait_ms: u64,
    limit: usize,
    now: u64,
    cutoff: u64,
) -> Result<QueueOutcome, StoreError> {
    let due = conn
        .prepare_cached(
            "SELECT d.id, d.attempt, d.state, d.topic, m.message_id, m.payload, m.headers,
                    m.published_at_ms
             FROM queue_deliveries d JOIN queue_messages m ON m.id = d.message
             WHERE d.subscription = ?1 AND d.visible_at_ms <= ?2
             ORDER BY d.visible_at_ms, d.id
             LIMIT ?3",
        )?
        .query_map(
            rusqlite::params![
                subscription,
                signed(now),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                let id: i64 = r.get(0)?;
                let attempt = u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX);
                Ok(Due {
                    id,
                    attempt,
                    held: r.get::<_, String>(2)? == "held",
                    delivery: ClaimedDelivery {
                        hold: QueueHold {
                            delivery: id,
                            attempt: attempt.saturating_add(1),
                        },
                        topic: r.get(3)?,
                        message_id: r.get(4)?,
                        payload: r.get(5)?,
                        headers: parse_headers(&r.get::<_, String>(6)?),
                        published_at_ms: unsigned(r.get(7)?),
                    },
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let held_until = signed(now.saturating_add(ack_wait_ms));
    let mut hold = conn.prepare_cached(
        "UPDATE queue_deliveries
         SET state = 'held', attempt = attempt + 1, held_until_ms = ?2, visible_at_ms = ?2
         WHERE id = ?1",
    )?;
    let mut deliveries = Vec::with_capacity(due.len());
    for row in due {
        if row.attempt > max_attempts {
            // Already delivered max_attempts + 1 times: never again.
            let reason = if row.held {
                format!(
                    "gave up after {} deliveries: the last one was not settled in time",
                    row.attempt
                )
            } else {
                format!(
                    "gave up after {} deliveries (max_attempts {max_attempts})",
                    row.attempt
                )
            };
            dead_letter(conn, row.id, &reason, now, cutoff)?;
            continue;
        }
        hold.execute(rusqlite::params![row.id, held_until])?;
        deliveries.push(row.delivery);
    }
    let next_due_in_ms = if deliveries.is_empty() {
        conn.prepare_cached(
            "SELECT MIN(visible_at_ms) FROM queue_deliveries WHERE subscription = ?1",
        )?
        .query_row([subscription], |r| r.get::<_, Option<i64>>(0))?
        .map(|due| unsigned(due).saturating_sub(now))
    } else {
        None
    };
    Ok(QueueOutcome::Claimed {
        deliveries,
        next_due_in_ms,
    })
}

/// Whether `hold` is still the current claim of its delivery.
fn is_held(conn: &Connection, hold: QueueHold) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM queue_deliveries
                            WHERE id = ?1 AND attempt = ?2 AND state = 'held')",
        )?
        .query_row(rusqlite::params![hold.delivery, hold.attempt], |r| r.get(0))?)
}

/// Deletes a delivery, and its message when nothing references it any more and it was
/// published before `cutoff`. Returns whether the delivery existed.
fn delete_delivery(conn: &Connection, delivery: i64, cutoff: u64) -> Result<bool, StoreError> {
    let message: Option<i64> = conn
        .prepare_cached("DELETE FROM queue_deliveries WHERE id = ?1 RETURNING message")?
        .query_row([delivery], |r| r.get(0))
        .optional()?;
    let Some(message) = message else {
        return Ok(false);
    };
    conn.prepare_cached(
        "DELETE FROM queue_messages
         WHERE id = ?1 AND published_at_ms < ?2
           AND NOT EXISTS (SELECT 1 FROM queue_deliveries WHERE message = ?1)",
    )?
    .execute(rusqlite::params![message, signed(cutoff)])?;
    Ok(true)
}

/// Moves a delivery to the dead letters. Returns whether it existed.
fn dead_letter(
    conn: &Connection,
    delivery: i64,
    reason: &str,
    now: u64,
    cutoff: u64,
) -> Result<bool, StoreError> {
    let copied = conn
        .prepare_cached(
            "INSERT INTO queue_dead_letters
                (id, workspace_id, subscription, module, handler, topic, message_id, payload,
                 headers, attempts, reason, published_at_ms, failed_at_ms)
             SELECT ?1, d.workspace_id, d.subscription, d.module, d.handler, d.topic,
                    m.message_id, m.payload, m.headers, d.attempt, ?2, m.published_at_ms, ?3
             FROM queue_deliveries d JOIN queue_messages m ON m.id = d.message
             WHERE d.id = ?4",
        )?
        .execute(rusqlite::params![
            new_id("dl_"),
            reason,
            signed(now),
            delivery
        ])?;
    if copied == 0 {
        return Ok(false);
    }
    delete_delivery(conn, delivery, cutoff)
}

fn redrive(conn: &Connection, ws: &str, id: &str, now: u64) -> Result<QueueOutcome, StoreError> {
    type Letter = (String, String, String, String, String, String, String, i64);
    let letter: Option<Letter> = conn
        .prepare_cached(
            "SELECT subscription, module, handler, topic, message_id, payload, headers,
                    published_at_ms
             FROM queue_dead_letters WHERE workspace_id = ?1 AND id = ?2",
        )?
        .query_row([ws, id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((subscription, module, handler, topic, message_id, payload, headers, published)) =
        letter
    else {
        return Err(StoreError::NotFound(format!("dead letter {id} not found")));
    };
    let existing: Option<(i64, String, String, String)> = conn
        .prepare_cached(
            "SELECT id, topic, payload, headers FROM queue_messages
             WHERE workspace_id = ?1 AND message_id = ?2",
        )?
        .query_row([ws, message_id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let row = match existing {
        // Still stored (other subscriptions hold it, or within the deduplication window).
        Some((row, t, p, h)) if t == topic && p == payload && h == headers => row,
        Some(_) => {
            return Err(StoreError::Conflict(format!(
                "dead letter {id}: its message id {message_id} is in use by a newer message; \
                 retry once that one has been delivered"
            )))
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO queue_messages
                    (workspace_id, topic, message_id, payload, headers, published_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(rusqlite::params![
                ws, topic, message_id, payload, headers, published
            ])?;
            conn.last_insert_rowid()
        }
    };
    conn.prepare_cached(
        "INSERT INTO queue_deliveries
            (subscription, workspace_id, module, handler, topic, message, attempt, state,
             visible_at_ms, held_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'ready', ?7, 0)",
    )?
    .execute(rusqlite::params![
        subscription,
        ws,
        module,
        handler,
        topic,
        row,
        signed(now)
    ])?;
    conn.prepare_cached("DELETE FROM queue_dead_letters WHERE id = ?1")?
        .execute([id])?;
    Ok(QueueOutcome::Published {
        message_id,
        duplicate: false,
        subscriptions: vec![subscription],
    })
}

fn row_to_dead_letter(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueueDeadLetter> {
    let payload: String = row.get(6)?;
    Ok(QueueDeadLetter {
        id: row.get(0)?,
        workspace: row.get(1)?,
        module: row.get(2)?,
        handler: row.get(3)?,
        topic: row.get(4)?,
        message_id: row.get(5)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
        headers: parse_headers(&row.get::<_, String>(7)?),
        attempts: u32::try_from(row.get::<_, i64>(8)?).unwrap_or(u32::MAX),
        reason: row.get(9)?,
        published_at_ms: unsigned(row.get(10)?),
        failed_at_ms: unsigned(row.get(11)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    const WINDOW: u64 = 120_000;

    fn message(ws: &str, id: Option<&str>) -> QueueMessage {
        QueueMessage {
            workspace: ws.into(),
            topic: "orders.created".into(),
            message_id: id.map(str::to_string),
            payload: r#"{"n":1}"#.into(),
            headers: BTreeMap::from([("k".to_string(), "v".to_string())]),
        }
    }

    fn subscription(name: &str) -> QueueSubscription {
        QueueSubscription {
            name: name.into(),
            workspace: "ws_a".into(),
            module: "orders".into(),
            handler: name.into(),
            topic: "orders.created".into(),
            max_attempts: 2,
        }
    }

    async fn count(store: &Store, table: &'static str) -> i64 {
        store
            .read(move |conn| {
                Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    fn claim_op(name: &str) -> QueueOp {
        QueueOp::Claim {
            subscription: name.into(),
            max_attempts: 2,
            ack_wait_ms: 60_000,
            limit: 10,
        }
    }

    async fn claimed(store: &Store, name: &str) -> Vec<ClaimedDelivery> {
        match store.queue_run(claim_op(name), WINDOW).await.unwrap() {
            QueueOutcome::Claimed { deliveries, .. } => deliveries,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn messages_stay_for_the_dedup_window_then_are_purged() {
        let (_dir, store) = temp_store();
        store.queue_subscribe(subscription("h1")).await.unwrap();
        let published = store
            .queue_run(QueueOp::Publish(message("ws_a", Some("m1"))), WINDOW)
            .await
            .unwrap();
        assert_eq!(
            published,
            QueueOutcome::Published {
                message_id: "m1".into(),
                duplicate: false,
                subscriptions: vec!["h1".into()],
            }
        );
        let got = claimed(&store, "h1").await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].hold.attempt, 1);
        assert_eq!(got[0].headers.get("k").map(String::as_str), Some("v"));
        let acked = store
            .queue_run(QueueOp::Ack(got[0].hold), WINDOW)
            .await
            .unwrap();
        assert_eq!(acked, QueueOutcome::Settled(true));
        assert_eq!(count(&store, "queue_deliveries").await, 0);
        // Still known: a repeated publish is a duplicate.
        assert_eq!(count(&store, "queue_messages").await, 1);
        let again = store
            .queue_run(QueueOp::Publish(message("ws_a", Some("m1"))), WINDOW)
            .await
            .unwrap();
        assert!(matches!(
            again,
            QueueOutcome::Published {
                duplicate: true,
                ..
            }
        ));
        // A purge of a range that excludes it keeps it; one that covers it deletes it.
        let now = now_ms();
        let purge = |since_ms, cutoff_ms| QueueOp::Purge {
            since_ms,
            cutoff_ms,
        };
        assert_eq!(
            store
                .queue_run(purge(0, now - 60_000), WINDOW)
                .await
                .unwrap(),
            QueueOutcome::Purged(0)
        );
        assert_eq!(
            store
                .queue_run(purge(0, now + 1_000), WINDOW)
                .await
                .unwrap(),
            QueueOutcome::Purged(1)
        );
        // Messages without subscribers are stored too, and purged the same way.
        store
            .queue_run(QueueOp::Publish(message("ws_b", None)), WINDOW)
            .await
            .unwrap();
        assert_eq!(count(&store, "queue_deliveries").await, 0);
        assert_eq!(
            store
                .queue_run(purge(0, now_ms() + 1), WINDOW)
                .await
                .unwrap(),
            QueueOutcome::Purged(1)
        );
    }

    #[tokio::test]
    async fn an_acked_message_outside_the_window_is_deleted_with_its_last_delivery() {
        let (_dir, store) = temp_store();
        store.queue_subscribe(subscription("h1")).await.unwrap();
        store.queue_subscribe(subscription("h2")).await.unwrap();
        store
            .queue_run(QueueOp::Publish(message("ws_a", None)), 0)
            .await
            .unwrap();
        let first = claimed(&store, "h1").await;
        store
            .queue_run(QueueOp::Ack(first[0].hold), 0)
            .await
            .unwrap();
        assert_eq!(count(&store, "queue_messages").await, 1, "h2 still has it");
        let second = claimed(&store, "h2").await;
        std::thread::sleep(std::time::Duration::from_millis(2));
        store
            .queue_run(QueueOp::Ack(second[0].hold), 0)
            .await
            .unwrap();
        assert_eq!(count(&store, "queue_messages").await, 0);
    }

    #[tokio::test]
    async fn stale_holds_do_not_settle_and_exhausted_deliveries_are_dead_lettered() {
        let (_dir, store) = temp_store();
        store.queue_subscribe(subscription("h1")).await.unwrap();
        store
            .queue_run(QueueOp::Publish(message("ws_a", Some("m1"))), WINDOW)
            .await
            .unwrap();
        let short = |name: &str| QueueOp::Claim {
            subscription: name.into(),
            max_attempts: 2,
            ack_wait_ms: 0,
            limit: 10,
        };
        let mut holds = Vec::new();
        for attempt in 1..=3 {
            let outcome = store.queue_run(short("h1"), WINDOW).await.unwrap();
            let QueueOutcome::Claimed { deliveries, .. } = outcome else {
                panic!("{outcome:?}");
            };
            assert_eq!(deliveries.len(), 1);
            assert_eq!(deliveries[0].hold.attempt, attempt);
            holds.push(deliveries[0].hold);
        }
        // The first claim is stale: retry and in_progress do nothing.
        let retry = QueueOp::Retry {
            hold: holds[0],
            delay_ms: 0,
        };
        assert_eq!(
            store.queue_run(retry, WINDOW).await.unwrap(),
            QueueOutcome::Settled(false)
        );
        // The third delivery (max_attempts + 1) expired: the next claim dead-letters it.
        let outcome = store.queue_run(short("h1"), WINDOW).await.unwrap();
        assert_eq!(
            outcome,
            QueueOutcome::Claimed {
                deliveries: vec![],
                next_due_in_ms: None
            }
        );
        let page = store.queue_dead_letters("ws_a", 0, "").await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].attempts, 3);
        assert!(page.items[0].reason.contains("not settled"), "{page:?}");
        assert_eq!(page.items[0].payload, serde_json::json!({"n": 1}));
    }
}
