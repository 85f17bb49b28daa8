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
    deleted_at    TEXT,
    -- SPEC §2/§9 (issue 11); databases from before get these three at start (store.c)
    wip_limit     INTEGER CHECK (wip_limit IS NULL OR wip_limit >= 1),
    wip_policy    TEXT NOT NULL DEFAULT 'soft' CHECK (wip_policy = 'soft' OR wip_policy = 'hard'),
    default_operation_minutes INTEGER NOT NULL DEFAULT 60 CHECK (default_operation_minutes >= 1)
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
-- GET /api/audit-log?eventType=: that type's rows newest first (the rowid ends the key).
CREATE INDEX IF NOT EXISTS audit_log_type ON audit_log(tenant_id, event_type);

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

-- Analytics summaries (docs/analytics.md "Summaries"): cycle-times and routing read these
-- instead of the whole audit history. They are kept by the triggers below, in the same
-- transaction as the order_moved audit row that changes them, whoever inserts it. Built from
-- the audit log at start when analytics_summary_state has no row (a database of an earlier
-- version, or after an UPDATE/DELETE of order_moved rows: see the *_tamper triggers).
CREATE TABLE IF NOT EXISTS analytics_summary_state (
    version     INTEGER NOT NULL            -- 1: the tables below agree with audit_log
);
-- Routing: order_moved rows per (from, to) column pair, from IS NOT to (0 = backlog).
CREATE TABLE IF NOT EXISTS analytics_routes (
    tenant_id   INTEGER NOT NULL,
    from_wc     INTEGER NOT NULL,
    to_wc       INTEGER NOT NULL,
    moves       INTEGER NOT NULL,
    depth_sum   INTEGER NOT NULL,           -- Σ queue_depth_to of the rows that recorded one
    depth_n     INTEGER NOT NULL,           -- rows that recorded one
    UNIQUE (tenant_id, from_wc, to_wc)
);
-- Dwell: where each order is by its last order_moved row, and since when (seconds since the
-- epoch; -1 = unknown).
CREATE TABLE IF NOT EXISTS analytics_order_place (
    tenant_id   INTEGER NOT NULL,
    order_id    INTEGER NOT NULL,
    work_centre_id INTEGER NOT NULL,        -- 0 = backlog
    arrived     INTEGER NOT NULL,
    UNIQUE (tenant_id, order_id)
);
-- Dwell samples per work centre: their count and Σ max(seconds, 0) (the mean) ...
CREATE TABLE IF NOT EXISTS analytics_dwell (
    tenant_id   INTEGER NOT NULL,
    work_centre_id INTEGER NOT NULL,
    samples     INTEGER NOT NULL,
    pos_seconds INTEGER NOT NULL,
    UNIQUE (tenant_id, work_centre_id)
);
-- ... and a histogram of them in the reported unit, tenths of an hour rounded half up (0 for
-- <= 0 s): the nearest-rank percentiles of the samples are those of the histogram because the
-- rounding is monotonic.
CREATE TABLE IF NOT EXISTS analytics_dwell_hist (
    tenant_id   INTEGER NOT NULL,
    work_centre_id INTEGER NOT NULL,
    tenths      INTEGER NOT NULL,
    samples     INTEGER NOT NULL,
    UNIQUE (tenant_id, work_centre_id, tenths)
);

CREATE TRIGGER IF NOT EXISTS analytics_routes_move AFTER INSERT ON audit_log
WHEN NEW.event_type = 'order_moved' AND NEW.from_work_centre_id IS NOT NEW.to_work_centre_id
BEGIN
    INSERT INTO analytics_routes(tenant_id, from_wc, to_wc, moves, depth_sum, depth_n)
    VALUES (NEW.tenant_id, COALESCE(NEW.from_work_centre_id, 0),
            COALESCE(NEW.to_work_centre_id, 0), 1, COALESCE(NEW.queue_depth_to, 0),
            NEW.queue_depth_to IS NOT NULL)
    ON CONFLICT (tenant_id, from_wc, to_wc) DO UPDATE SET moves = moves + 1,
        depth_sum = depth_sum + excluded.depth_sum, depth_n = depth_n + excluded.depth_n;
END;

-- A move out of a column (a reorder inside one is neither arrival nor departure): a sample
-- for the centre left when the order arrived there by a recorded move with a known time;
-- then the order's place is the target since this row's time. Times are whole seconds of
-- the first 19 characters ("YYYY-MM-DDTHH:MM:SS"); shorter text is unknown (-1).
CREATE TRIGGER IF NOT EXISTS analytics_dwell_move AFTER INSERT ON audit_log
WHEN NEW.event_type = 'order_moved' AND NEW.order_id IS NOT NULL
     AND COALESCE(NEW.from_work_centre_id, 0) <> COALESCE(NEW.to_work_centre_id, 0)
BEGIN
    INSERT INTO analytics_dwell(tenant_id, work_centre_id, samples, pos_seconds)
    SELECT NEW.tenant_id, p.work_centre_id, 1, MAX(d.s - p.arrived, 0)
    FROM analytics_order_place p,
         (SELECT CASE WHEN length(NEW.timestamp) >= 19 THEN COALESCE(CAST(strftime('%s',
              substr(NEW.timestamp, 1, 19)) AS INTEGER), -1) ELSE -1 END AS s) d
    WHERE p.tenant_id = NEW.tenant_id AND p.order_id = NEW.order_id
      AND p.work_centre_id = COALESCE(NEW.from_work_centre_id, 0) AND p.work_centre_id <> 0
      AND p.arrived >= 0 AND d.s >= 0
    ON CONFLICT (tenant_id, work_centre_id) DO UPDATE SET samples = samples + 1,
        pos_seconds = pos_seconds + excluded.pos_seconds;
    INSERT INTO analytics_dwell_hist(tenant_id, work_centre_id, tenths, samples)
    SELECT NEW.tenant_id, p.work_centre_id,
           CASE WHEN d.s - p.arrived <= 0 THEN 0 ELSE (20 * (d.s - p.arrived) + 3600) / 7200 END,
           1
    FROM analytics_order_place p,
         (SELECT CASE WHEN length(NEW.timestamp) >= 19 THEN COALESCE(CAST(strftime('%s',
              substr(NEW.timestamp, 1, 19)) AS INTEGER), -1) ELSE -1 END AS s) d
    WHERE p.tenant_id = NEW.tenant_id AND p.order_id = NEW.order_id
      AND p.work_centre_id = COALESCE(NEW.from_work_centre_id, 0) AND p.work_centre_id <> 0
      AND p.arrived >= 0 AND d.s >= 0
    ON CONFLICT (tenant_id, work_centre_id, tenths) DO UPDATE SET samples = samples + 1;
    INSERT INTO analytics_order_place(tenant_id, order_id, work_centre_id, arrived)
    VALUES (NEW.tenant_id, NEW.order_id, COALESCE(NEW.to_work_centre_id, 0),
            CASE WHEN length(NEW.timestamp) >= 19 THEN COALESCE(CAST(strftime('%s',
              substr(NEW.timestamp, 1, 19)) AS INTEGER), -1) ELSE -1 END)
    ON CONFLICT (tenant_id, order_id) DO UPDATE SET work_centre_id = excluded.work_centre_id,
        arrived = excluded.arrived;
END;

-- The audit log is append-only for the application; a change of an order_moved row made by
-- hand (or by the UTF-8 repair at start) makes the summaries stale: the next analytics read
-- rebuilds them.
CREATE TRIGGER IF NOT EXISTS analytics_update_tamper AFTER UPDATE ON audit_log
WHEN OLD.event_type = 'order_moved' OR NEW.event_type = 'order_moved'
BEGIN
    DELETE FROM analytics_summary_state;
END;
CREATE TRIGGER IF NOT EXISTS analytics_delete_tamper AFTER DELETE ON audit_log
WHEN OLD.event_type = 'order_moved'
BEGIN
    DELETE FROM analytics_summary_state;
END;

-- SPEC §9 working calendar of a tenant, in the tenant's timezone (core/calendar.h). A tenant
-- without a tenant_calendars row has the default calendar (Monday-Friday 08:00-16:00, no
-- holidays); PUT /api/tenant/calendar writes the row and replaces the shifts and holidays.
CREATE TABLE IF NOT EXISTS tenant_calendars (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calendar_shifts (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),    -- ISO, Monday = 1
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 0 AND 1439) -- <= start: next day
);
CREATE INDEX IF NOT EXISTS calendar_shifts_tenant ON calendar_shifts(tenant_id);
CREATE TABLE IF NOT EXISTS calendar_holidays (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    day         TEXT NOT NULL,                                      -- YYYY-MM-DD
    UNIQUE (tenant_id, day)
);

-- Webhooks (SPEC §11; docs/api-notes.md "Webhooks"). The outbox is audit_log itself: every
-- change writes its audit row in its own transaction, so an endpoint only keeps a durable
-- cursor (the last audit id delivered to it) and delivers the rows after it, in id order.
-- New tables only (CREATE IF NOT EXISTS): an older database gets them at its next start.
CREATE TABLE IF NOT EXISTS webhooks (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    url         TEXT NOT NULL,              -- http or https, at most 2048 bytes
    events      TEXT NOT NULL,              -- JSON array of event names, or ["*"]
    secret      TEXT NOT NULL,              -- HMAC-SHA256 key (needed to sign: kept as is)
    state       TEXT NOT NULL DEFAULT 'active' CHECK (state = 'active' OR state = 'failing'),
    cursor      INTEGER NOT NULL DEFAULT 0, -- audit_log.id of the last row delivered
    created_by  INTEGER REFERENCES users(id),
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_tenant ON webhooks(tenant_id) WHERE deleted_at IS NULL;
-- The delivery log: one row per (endpoint, audit row) attempted; seq = the audit id.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id),
    seq             INTEGER NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    http_status     INTEGER,                -- of the last attempt; NULL: no answer
    last_error      TEXT,
    first_attempt_ms INTEGER NOT NULL,      -- Unix ms of the first attempt (24 h give-up)
    next_attempt_ms INTEGER NOT NULL DEFAULT 0, -- Unix ms of the next retry
    delivered_at    TEXT,
    UNIQUE (webhook_id, seq)
);
-- The room's event log (SPEC §5 / §12, issue 13 item 2): each room event's encoded frame, the
-- last 1024 or more (at most 8 MiB) per tenant, so a client reconnecting with sinceSeq after a
-- clean restart is replayed what it missed instead of resync_required. room_log holds the
-- room's epoch (its last seq is the newest room_events row, always kept); server_state
-- 'room_log' is '1' only between a clean stop (every event logged) and the next start, which
-- otherwise gives every room a new epoch (docs/api-notes.md "Room event log").
CREATE TABLE IF NOT EXISTS room_log (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
    epoch       TEXT NOT NULL
);
-- WITHOUT ROWID: one b-tree, so an append writes one leaf page. The text repair at open skips
-- it (it needs a rowid); frames are checked when they are read back (server/room.c).
CREATE TABLE IF NOT EXISTS room_events (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    seq         INTEGER NOT NULL,
    frame       TEXT NOT NULL,              -- the WebSocket frame as sent, seq included
    PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_state (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
