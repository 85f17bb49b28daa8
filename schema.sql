-- planboard schema (SPEC §2). Applied by the server at every start: every statement is
-- idempotent (IF NOT EXISTS). Every table carries tenant_id and every query is scoped by it.
-- Timestamps are UTC ISO-8601 text ('2026-11-21T09:30:00Z'), dates 'YYYY-MM-DD'.
-- Soft deletes: deleted_at is NULL for live rows; unique keys apply among live rows only.

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tenants (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    timezone     TEXT NOT NULL DEFAULT 'UTC',
    daily_target INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,            -- argon2id encoded string
    role          TEXT NOT NULL CHECK (role = 'admin' OR role = 'scheduler' OR role = 'viewer'),
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username ON users(tenant_id, username) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users(tenant_id, email) WHERE deleted_at IS NULL;

-- Refresh tokens (SPEC §4 auth): only the SHA-256 of the token is stored.
CREATE TABLE IF NOT EXISTS sessions (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    refresh_hash  TEXT NOT NULL UNIQUE,
    access_jti    TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT
);

CREATE TABLE IF NOT EXISTS work_centres (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    capacity      INTEGER NOT NULL DEFAULT 1 CHECK (capacity >= 1),
    display_order INTEGER NOT NULL DEFAULT 0,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS work_centres_code ON work_centres(tenant_id, code) WHERE deleted_at IS NULL;

-- Manufacturing orders. work_centre_id NULL = backlog. rank = the order's sort key in its
-- column: live orders of a column in (rank, id) order are the column top to bottom, and the
-- server keeps ranks distinct with gaps so that placing an order writes only its own row
-- (store/rank.c). The SPEC's dense `position` is not stored: the server counts it in memory.
-- Databases from before rank had a dense `position` column; store.c migrates them at start.
CREATE TABLE IF NOT EXISTS orders (
    id                 INTEGER PRIMARY KEY,
    tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
    order_number       TEXT NOT NULL,
    stock_code         TEXT NOT NULL,
    description        TEXT NOT NULL,
    quantity_to_make   INTEGER NOT NULL CHECK (quantity_to_make > 0),
    quantity_completed INTEGER NOT NULL DEFAULT 0 CHECK (quantity_completed >= 0),
    current_operation  TEXT,
    work_centre_id     INTEGER REFERENCES work_centres(id),
    rank               INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL DEFAULT 'not_started'
                       CHECK (status = 'not_started' OR status = 'in_progress' OR status = 'complete' OR status = 'on_hold' OR status = 'cancelled'),
    priority           TEXT NOT NULL DEFAULT 'normal'
                       CHECK (priority = 'low' OR priority = 'normal' OR priority = 'high' OR priority = 'urgent'),
    due_date           TEXT,
    start_date         TEXT,
    completion_date    TEXT,
    started_at         TEXT,               -- first went in_progress or left the backlog (cycle time)
    completed_at       TEXT,               -- went complete (cycle time)
    created_by         INTEGER REFERENCES users(id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    version            INTEGER NOT NULL DEFAULT 1,
    deleted_at         TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_number ON orders(tenant_id, order_number) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS orders_rank ON orders(tenant_id, work_centre_id, rank, id) WHERE deleted_at IS NULL;
-- Analytics avgCycleTime: orders completed in the last 30 days with a recorded start before
-- the completion (orders created or imported already complete are not even in the index).
CREATE INDEX IF NOT EXISTS orders_cycle ON orders(tenant_id, completed_at) WHERE completed_at IS NOT NULL AND deleted_at IS NULL AND started_at < completed_at;

-- Routing steps of an order.
CREATE TABLE IF NOT EXISTS order_steps (
    id                       INTEGER PRIMARY KEY,
    tenant_id                INTEGER NOT NULL REFERENCES tenants(id),
    order_id                 INTEGER NOT NULL REFERENCES orders(id),
    step_number              INTEGER NOT NULL,
    operation_name           TEXT NOT NULL,
    work_centre_id           INTEGER REFERENCES work_centres(id),
    status                   TEXT NOT NULL DEFAULT 'pending'
                             CHECK (status = 'pending' OR status = 'in_progress' OR status = 'complete' OR status = 'skipped'),
    planned_duration_minutes INTEGER,
    actual_duration_minutes  INTEGER,
    quantity_completed       INTEGER NOT NULL DEFAULT 0,
    started_at               TEXT,
    completed_at             TEXT,
    UNIQUE (order_id, step_number)
);

-- Audit log: written in the same transaction as the change it records.
CREATE TABLE IF NOT EXISTS audit_log (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL REFERENCES tenants(id),
    event_type          TEXT NOT NULL,
    order_id            INTEGER,
    from_work_centre_id INTEGER,
    to_work_centre_id   INTEGER,
    user_id             INTEGER,
    event_data          TEXT,               -- JSON
    queue_depth_from    INTEGER,
    queue_depth_to      INTEGER,
    timestamp           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log(tenant_id, id);
CREATE INDEX IF NOT EXISTS audit_log_order ON audit_log(tenant_id, order_id);
-- Analytics: today's rows (quantity completed today) and the order_moved rows by order.
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(tenant_id, timestamp);
CREATE INDEX IF NOT EXISTS audit_log_moves ON audit_log(tenant_id, event_type, order_id);

CREATE TABLE IF NOT EXISTS api_keys (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,       -- SHA-256 hex of the key
    created_by  INTEGER REFERENCES users(id),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE IF NOT EXISTS scanner_events (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    event_id        TEXT NOT NULL,
    order_id        INTEGER REFERENCES orders(id),
    work_centre_id  INTEGER REFERENCES work_centres(id),
    operation_name  TEXT,
    event_type      TEXT NOT NULL CHECK (event_type = 'job_start' OR event_type = 'progress_update' OR event_type = 'job_complete'),
    quantity        INTEGER NOT NULL DEFAULT 0,
    operator_badge  TEXT,
    scanner_id      TEXT,
    timestamp       TEXT NOT NULL,
    processed       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, event_id)
);
