//! PostgreSQL schema migrations, versioned in code.
//!
//! `schema_migrations` records each applied version. The first supervisor to connect takes a
//! session advisory lock ([`MIGRATION_LOCK`]), applies the missing migrations in order, each in
//! its own transaction, and releases it; the others wait on the lock, then find nothing to do.
//! A database whose version is newer than [`SCHEMA_VERSION`] is refused. Migrations are never
//! edited once released: a change is a new migration appended to [`MIGRATIONS`].
//!
//! The PostgreSQL schema holds what the SQLite one does except the embedded queue (with
//! PostgreSQL, workers use NATS JetStream); its versions are its own.

use super::PgError;
use crate::store::util::now_ms;
use crate::store::StoreError;

/// The advisory lock key held while migrating (`"cnvtc-mg"` as an integer).
const MIGRATION_LOCK: i64 = 0x636e_7674_632d_6d67;

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
        name: "workspaces, keys, contacts, conversations, messages, workflow runs, storage, \
           cron runs, block connections, deployments, delivery targets, cluster nodes",
        sql: r#"
CREATE TABLE workspaces (
    id              TEXT COLLATE "C" PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    sha256          TEXT COLLATE "C" NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    revoked_at_ms   BIGINT,
    scope           TEXT NOT NULL DEFAULT 'routes'
);
CREATE INDEX api_keys_by_workspace ON api_keys(workspace_id, id);
CREATE INDEX api_keys_by_hash ON api_keys(sha256);

CREATE TABLE contacts (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    external_id     TEXT COLLATE "C" NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT COLLATE "C" NOT NULL,
    phone           TEXT COLLATE "C" NOT NULL,
    attributes      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    UNIQUE (workspace_id, id)
);
CREATE UNIQUE INDEX contacts_by_external_id ON contacts(workspace_id, external_id)
    WHERE external_id <> '';

CREATE TABLE conversations (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL,
    contact_id      TEXT COLLATE "C" NOT NULL,
    channel         TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    subject         TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    closed_at_ms    BIGINT NOT NULL,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_by_contact ON conversations(workspace_id, contact_id, id);

CREATE TABLE messages (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL,
    contact_id      TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C",
    channel         TEXT COLLATE "C" NOT NULL,
    text            TEXT NOT NULL,
    content         TEXT,
    status          TEXT COLLATE "C" NOT NULL,
    module          TEXT COLLATE "C" NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
    attempt_deadline_ms BIGINT,
    provider_id     TEXT,
    accepted_at_ms  BIGINT,
    finished_at_ms  BIGINT,
    last_error      TEXT,
    dead_lettered_at_ms BIGINT,
    output          TEXT,
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts(workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, conversation_id)
        REFERENCES conversations(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_by_workspace ON messages(workspace_id, id);
CREATE INDEX messages_by_contact ON messages(workspace_id, contact_id, id);
CREATE INDEX messages_by_conversation ON messages(workspace_id, conversation_id, id);
CREATE INDEX messages_by_status ON messages(status, id);
CREATE INDEX messages_due ON messages(status, next_attempt_at_ms)
    WHERE status IN ('queued', 'sending');

CREATE TABLE workflow_runs (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    workflow_id     TEXT COLLATE "C" NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT COLLATE "C",
    module          TEXT COLLATE "C" NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
    attempt_deadline_ms BIGINT,
    provider_id     TEXT,
    accepted_at_ms  BIGINT,
    finished_at_ms  BIGINT,
    last_error      TEXT,
    dead_lettered_at_ms BIGINT,
    output          TEXT,
    request_id      TEXT
);
CREATE INDEX workflow_runs_by_workspace ON workflow_runs(workspace_id, id);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs(workspace_id, workflow_id, id);
CREATE UNIQUE INDEX workflow_runs_by_idempotency_key ON workflow_runs(workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflow_runs_due ON workflow_runs(status, next_attempt_at_ms)
    WHERE status IN ('queued', 'sending');

CREATE TABLE module_storage (
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT COLLATE "C" NOT NULL,
    key             TEXT COLLATE "C" NOT NULL,
    value           TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, module, key)
);
CREATE INDEX module_storage_by_expiry ON module_storage(expires_at_ms) WHERE expires_at_ms > 0;

CREATE TABLE cron_runs (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT COLLATE "C" NOT NULL,
    cron            TEXT COLLATE "C" NOT NULL,
    scheduled_at_ms BIGINT NOT NULL,
    started_at_ms   BIGINT,
    finished_at_ms  BIGINT,
    outcome         TEXT COLLATE "C" NOT NULL CHECK (outcome IN
                        ('running', 'ok', 'error', 'timeout', 'skipped', 'missed', 'failed')),
    message         TEXT NOT NULL,
    manual          BOOLEAN NOT NULL,
    supervisor_id   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX cron_runs_by_cron ON cron_runs(workspace_id, module, cron, scheduled_at_ms);
CREATE INDEX cron_runs_running ON cron_runs(workspace_id, module) WHERE outcome = 'running';

CREATE TABLE block_connections (
    id                TEXT COLLATE "C" PRIMARY KEY,
    workspace_id      TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    block_id          TEXT COLLATE "C" NOT NULL,
    name              TEXT NOT NULL,
    config            TEXT NOT NULL,
    secret_fields     TEXT NOT NULL,
    secret_key_id     TEXT COLLATE "C" NOT NULL,
    secret_nonce      BYTEA NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    account_label     TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    last_tested_at_ms BIGINT NOT NULL,
    last_test_ok      BOOLEAN NOT NULL,
    last_test_message TEXT NOT NULL
);
CREATE INDEX block_connections_by_block ON block_connections(workspace_id, block_id, id);

CREATE TABLE deployments (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT COLLATE "C" NOT NULL,
    version         TEXT COLLATE "C" NOT NULL,
    digest          TEXT COLLATE "C" NOT NULL,
    package         TEXT NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    rollback_of     TEXT COLLATE "C",
    state           TEXT COLLATE "C" NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    finished_at_ms  BIGINT,
    package_kept    BOOLEAN NOT NULL,
    manifest        TEXT NOT NULL
);
CREATE INDEX deployments_by_module ON deployments(workspace_id, module, id);
CREATE INDEX deployments_deploying ON deployments(state) WHERE state = 'deploying';

CREATE TABLE deployed_modules (
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    module          TEXT COLLATE "C" NOT NULL,
    active_id       TEXT COLLATE "C" NOT NULL REFERENCES deployments(id),
    enabled         BOOLEAN NOT NULL,
    PRIMARY KEY (workspace_id, module)
);

CREATE TABLE delivery_targets (
    workspace_id    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    purpose         TEXT COLLATE "C" NOT NULL CHECK (purpose IN ('channel', 'workflows')),
    name            TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL CHECK (kind IN ('block', 'webhook', 'nats')),
    config          TEXT NOT NULL,
    secret          TEXT,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, purpose, name)
);

CREATE TABLE cluster_nodes (
    id              TEXT COLLATE "C" PRIMARY KEY,
    address         TEXT NOT NULL,
    instance        TEXT NOT NULL,
    version         TEXT NOT NULL,
    started_at_ms   BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    modules         TEXT NOT NULL,
    secrets         TEXT NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        name: "cluster-wide deployments (origin, per-node reports, archives)",
        sql: r#"
ALTER TABLE deployments ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN nodes TEXT NOT NULL DEFAULT '[]';
CREATE TABLE package_archive_chunks (
    package         TEXT COLLATE "C" NOT NULL,
    seq             INTEGER NOT NULL,
    data            BYTEA NOT NULL,
    PRIMARY KEY (package, seq)
);
"#,
    },
    Migration {
        version: 3,
        name: "cluster key (signs the nodes' requests to each other)",
        sql: r#"
CREATE TABLE cluster_key (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    key             BYTEA NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
"#,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Applies every pending migration under the advisory lock; refuses a database from a newer
/// supervisor.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), PgError> {
    // Waiting behind another node's migration, or a long migration, is not bounded by the
    // session's statement timeout (restored before the connection returns to the pool).
    client.batch_execute("SET statement_timeout = 0").await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply_pending(client).await;
    // Released even when a migration failed (the session may be pooled again).
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let reset = client.batch_execute("RESET statement_timeout").await;
    result?;
    unlocked?;
    reset?;
    Ok(())
}

async fn apply_pending(client: &mut deadpool_postgres::Object) -> Result<(), PgError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version       BIGINT PRIMARY KEY,
                name          TEXT NOT NULL,
                applied_at_ms BIGINT NOT NULL
            )",
        )
        .await?;
    let current = current_version(client).await?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "the database is at schema version {current}, newer than this supervisor understands \
             ({SCHEMA_VERSION}): it was written by a newer convotic-supervisor; run that version"
        ))
        .into());
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await.map_err(|e| {
            StoreError::Internal(format!(
                "migration {} ({}) failed: {}",
                migration.version,
                migration.name,
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string())
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &(now_ms() as i64)],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            "applied PostgreSQL migration: {}",
            migration.name
        );
    }
    Ok(())
}

/// The highest applied version (0 for a new database).
pub(super) async fn current_version(client: &deadpool_postgres::Object) -> Result<i64, PgError> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
