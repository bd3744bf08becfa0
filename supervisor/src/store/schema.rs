//! Schema migrations, versioned in code.
//!
//! `schema_migrations` records each applied version. Opening a file applies the missing
//! migrations in order, each in its own `BEGIN IMMEDIATE` transaction (so two processes opening
//! the same new file do not both apply one); a file whose version is newer than
//! [`SCHEMA_VERSION`] is refused. Migrations are never edited once released: a change is a new
//! migration appended to [`MIGRATIONS`].

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::util::now_ms;
use super::StoreError;

/// One migration: its version (1, 2, ...), a short name and its SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workspaces, api keys, contacts, conversations, messages, workflow runs, storage",
        sql: r#"
CREATE TABLE workspaces (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX api_keys_by_workspace ON api_keys(workspace_id, id);

CREATE TABLE contacts (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    external_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    phone           TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    UNIQUE (workspace_id, id)
);
CREATE UNIQUE INDEX contacts_by_external_id ON contacts(workspace_id, external_id)
    WHERE external_id <> '';

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    closed_at_ms    INTEGER NOT NULL,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_by_contact ON conversations(workspace_id, contact_id, id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    conversation_id TEXT,
    channel         TEXT NOT NULL,
    text            TEXT NOT NULL,
    content         TEXT,
    status          TEXT NOT NULL,
    module          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts(workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, conversation_id)
        REFERENCES conversations(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_by_workspace ON messages(workspace_id, id);
CREATE INDEX messages_by_contact ON messages(workspace_id, contact_id, id);
CREATE INDEX messages_by_conversation ON messages(workspace_id, conversation_id, id);
CREATE INDEX messages_by_status ON messages(status, id);

CREATE TABLE workflow_runs (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    workflow_id     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    idempotency_key TEXT,
    module          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX workflow_runs_by_workspace ON workflow_runs(workspace_id, id);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs(workspace_id, workflow_id, id);
CREATE UNIQUE INDEX workflow_runs_by_idempotency_key ON workflow_runs(workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE module_storage (
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, module, key)
);
CREATE INDEX module_storage_by_expiry ON module_storage(expires_at_ms) WHERE expires_at_ms > 0;
"#,
    },
    Migration {
        version: 2,
        name: "embedded queue: subscriptions, messages, deliveries, dead letters",
        sql: r#"
CREATE TABLE queue_subscriptions (
    name            TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    module          TEXT NOT NULL,
    handler         TEXT NOT NULL,
    topic           TEXT NOT NULL,
    max_attempts    INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX queue_subscriptions_by_topic ON queue_subscriptions(workspace_id, topic);

CREATE TABLE queue_messages (
    id              INTEGER PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    topic           TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    headers         TEXT NOT NULL,
    published_at_ms INTEGER NOT NULL,
    UNIQUE (workspace_id, message_id)
);
CREATE INDEX queue_messages_by_age ON queue_messages(published_at_ms);

CREATE TABLE queue_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription    TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    module          TEXT NOT NULL,
    handler         TEXT NOT NULL,
    topic           TEXT NOT NULL,
    message         INTEGER NOT NULL REFERENCES queue_messages(id),
    attempt         INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('ready', 'held')),
    visible_at_ms   INTEGER NOT NULL,
    held_until_ms   INTEGER NOT NULL
);
CREATE INDEX queue_deliveries_due ON queue_deliveries(subscription, visible_at_ms, id);
CREATE INDEX queue_deliveries_by_message ON queue_deliveries(message);

CREATE TABLE queue_dead_letters (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    module          TEXT NOT NULL,
    handler         TEXT NOT NULL,
    topic           TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    headers         TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    published_at_ms INTEGER NOT NULL,
    failed_at_ms    INTEGER NOT NULL
);
CREATE INDEX queue_dead_letters_by_workspace ON queue_dead_letters(workspace_id, id);
"#,
    },
    Migration {
        version: 3,
        name: "cron run history",
        sql: r#"
CREATE TABLE cron_runs (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT NOT NULL,
    cron            TEXT NOT NULL,
    scheduled_at_ms INTEGER NOT NULL,
    started_at_ms   INTEGER,
    finished_at_ms  INTEGER,
    outcome         TEXT NOT NULL CHECK (outcome IN
                        ('running', 'ok', 'error', 'timeout', 'skipped', 'missed', 'failed')),
    message         TEXT NOT NULL,
    manual          BOOLEAN NOT NULL,
    supervisor_id   TEXT NOT NULL
);
CREATE INDEX cron_runs_by_cron ON cron_runs(workspace_id, module, cron, scheduled_at_ms);
CREATE INDEX cron_runs_running ON cron_runs(workspace_id, module) WHERE outcome = 'running';
"#,
    },
    Migration {
        version: 4,
        name: "block connections",
        sql: r#"
CREATE TABLE block_connections (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    block_id          TEXT NOT NULL,
    name              TEXT NOT NULL,
    config            TEXT NOT NULL,
    secret_fields     TEXT NOT NULL,
    secret_key_id     TEXT NOT NULL,
    secret_nonce      BLOB NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    account_label     TEXT NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    last_tested_at_ms INTEGER NOT NULL,
    last_test_ok      BOOLEAN NOT NULL,
    last_test_message TEXT NOT NULL
);
CREATE INDEX block_connections_by_block ON block_connections(workspace_id, block_id, id);
"#,
    },
    Migration {
        version: 5,
        name: "deployments, deploy-scoped api keys",
        sql: r#"
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'routes';

CREATE TABLE deployments (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT NOT NULL,
    version         TEXT NOT NULL,
    digest          TEXT NOT NULL,
    package         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    rollback_of     TEXT,
    state           TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    finished_at_ms  INTEGER,
    package_kept    BOOLEAN NOT NULL,
    manifest        TEXT NOT NULL
);
CREATE INDEX deployments_by_module ON deployments(workspace_id, module, id);
CREATE INDEX deployments_deploying ON deployments(state) WHERE state = 'deploying';

CREATE TABLE deployed_modules (
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT NOT NULL,
    active_id       TEXT NOT NULL REFERENCES deployments(id),
    enabled         BOOLEAN NOT NULL,
    PRIMARY KEY (workspace_id, module)
);
"#,
    },
    Migration {
        version: 6,
        name: "delivery of messages and workflow runs: targets, attempts, statuses",
        sql: r#"
CREATE TABLE delivery_targets (
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('channel', 'workflows')),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('block', 'webhook', 'nats')),
    config          TEXT NOT NULL,
    secret          TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, purpose, name)
);

ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN attempt_deadline_ms INTEGER;
ALTER TABLE messages ADD COLUMN provider_id TEXT;
ALTER TABLE messages ADD COLUMN accepted_at_ms INTEGER;
ALTER TABLE messages ADD COLUMN finished_at_ms INTEGER;
ALTER TABLE messages ADD COLUMN last_error TEXT;
ALTER TABLE messages ADD COLUMN dead_lettered_at_ms INTEGER;
ALTER TABLE messages ADD COLUMN output TEXT;
CREATE INDEX messages_due ON messages(status, next_attempt_at_ms)
    WHERE status IN ('queued', 'sending');

ALTER TABLE workflow_runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN next_attempt_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN attempt_deadline_ms INTEGER;
ALTER TABLE workflow_runs ADD COLUMN provider_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN accepted_at_ms INTEGER;
ALTER TABLE workflow_runs ADD COLUMN finished_at_ms INTEGER;
ALTER TABLE workflow_runs ADD COLUMN last_error TEXT;
ALTER TABLE workflow_runs ADD COLUMN dead_lettered_at_ms INTEGER;
ALTER TABLE workflow_runs ADD COLUMN output TEXT;
ALTER TABLE workflow_runs ADD COLUMN request_id TEXT;
CREATE INDEX workflow_runs_due ON workflow_runs(status, next_attempt_at_ms)
    WHERE status IN ('queued', 'sending');

-- Items queued before delivery existed are not sent on their own once a target appears (they
-- may be months old): they become dead letters, to re-drive deliberately.
UPDATE messages SET status = 'failed',
    dead_lettered_at_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000,
    last_error = 'queued before this supervisor delivered messages: re-drive it to send it'
    WHERE status = 'queued';
UPDATE workflow_runs SET status = 'failed',
    dead_lettered_at_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000,
    last_error = 'queued before this supervisor delivered workflow runs: re-drive it to send it'
    WHERE status = 'queued';
"#,
    },
    Migration {
        version: 7,
        name: "cluster nodes (membership heartbeats)",
        sql: r#"
CREATE TABLE cluster_nodes (
    id              TEXT PRIMARY KEY,
    address         TEXT NOT NULL,
    instance        TEXT NOT NULL,
    version         TEXT NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    modules         TEXT NOT NULL,
    secrets         TEXT NOT NULL
);
"#,
    },
    Migration {
        version: 8,
        name: "cluster-wide deployments (origin, per-node reports, archives)",
        sql: r#"
ALTER TABLE deployments ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN nodes TEXT NOT NULL DEFAULT '[]';
CREATE TABLE package_archive_chunks (
    package         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    data            BLOB NOT NULL,
    PRIMARY KEY (package, seq)
) WITHOUT ROWID;
"#,
    },
    Migration {
        version: 9,
        name: "cluster key (signs the nodes' requests to each other)",
        sql: r#"
CREATE TABLE cluster_key (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    key             BLOB NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
"#,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Applies every pending migration; refuses a file from a newer supervisor.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version       INTEGER PRIMARY KEY,
            name          TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )?;
    let current = current_version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "the database is at schema version {current}, newer than this supervisor understands \
             ({SCHEMA_VERSION}): it was written by a newer convotic-supervisor; run that version"
        )));
    }
    for migration in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read inside the write lock: another process may have just applied it.
        if current_version(&tx)? >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(|e| {
            StoreError::Internal(format!(
                "migration {} ({}) failed: {e}",
                migration.version, migration.name
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, now_ms() as i64],
        )?;
        tx.commit()?;
        tracing::debug!(
            version = migration.version,
            "applied database migration: {}",
            migration.name
        );
    }
    Ok(())
}

/// The highest applied version (0 for a new file).
pub(super) fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    Ok(version.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, DB_FILE};

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        drop(Store::open(&path).unwrap());
        drop(Store::open(&path).unwrap());
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        let applied: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(applied, MIGRATIONS.len() as i64);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, 'future', 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
        assert!(err.contains(DB_FILE), "{err}");
    }
}
