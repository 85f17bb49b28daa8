/*
 * store — opening and closing the store (schema, text repair), tenants, users, and the tenant
 * -> board table of the cache. See store.h for the contract and store_int.h for the layout of
 * store/. Statements and transactions are sql.c's; the boards themselves board.c's.
 */
#include "store/analytics_summaries.h"
#include "store/checkpoint.h"
#include "store/store_int.h"
#include "core/strbuf.h"
#include "core/utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char pb_schema_sql[];
extern const char pb_schema_pg_sql[];     /* schema-pg.sql */

/* ---------------------------------------------------------------- audit rows */

char *store__json_quote(const char *text)
{
    if (text == NULL)
        return strdup("null");
    size_t n = 3;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += (*p < 0x20 || *p == '"' || *p == '\\') ? 6 : 1;
    char *out = malloc(n), *q = out;
    if (out == NULL)
        return NULL;
    *q++ = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *q++ = '\\';
            *q++ = (char)*p;
        } else if (*p == '\n') {
            *q++ = '\\';
            *q++ = 'n';
        } else if (*p < 0x20) {
            q += sprintf(q, "\\u%04x", *p);
        } else {
            *q++ = (char)*p;
        }
    }
    *q++ = '"';
    *q = '\0';
    return out;
}

int store__audit(struct store *s, int64_t tenant_id, const char *event_type, int64_t order_id,
                 int64_t from_wc, int64_t to_wc, int64_t user_id, const char *event_data,
                 int64_t depth_from, int64_t depth_to, const char *timestamp)
{
    struct db_stmt *st = store__stmt(s, ST_AUDIT_INSERT);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, event_type, -1, DB_STATIC);
    store__bind_id_opt(st, 3, order_id);
    store__bind_id_opt(st, 4, from_wc);
    store__bind_id_opt(st, 5, to_wc);
    store__bind_id_opt(st, 6, user_id);
    store__bind_text_opt(st, 7, event_data);
    if (depth_from >= 0)
        db_bind_int64(st, 8, depth_from);
    if (depth_to >= 0)
        db_bind_int64(st, 9, depth_to);
    db_bind_text(st, 10, timestamp, -1, DB_STATIC);
    return store__run(s, st, "audit insert", NULL);
}

/* ---------------------------------------------------------------- text repair at open */

/* SQL pb_text_valid(x): 1 unless x is TEXT that is not valid UTF-8 or holds a NUL byte. The
 * bytes are read with sqlite3_value_bytes(), so a NUL inside a value is seen too. */
static void sql_text_valid(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_int(cx, 1);
        return;
    }
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    sqlite3_result_int(cx, utf8_text_valid(t, (size_t)n));
}

/* SQL pb_text_repair(x): x with invalid UTF-8 replaced by U+FFFD and NUL bytes removed
 * (utf8_repair()); anything that is not TEXT is returned as it is. */
static void sql_text_repair(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_value(cx, argv[0]);
        return;
    }
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    char *out = sqlite3_malloc64(utf8_repair_max(n) + 1);
    if (out == NULL) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    size_t m = utf8_repair(t, n, out);
    sqlite3_result_text64(cx, out, m, sqlite3_free, SQLITE_UTF8);
}

/* Append "name" quoted as an SQL identifier. */
static void sql_ident(struct strbuf *b, const char *name)
{
    strbuf_put(b, "\"", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            strbuf_put(b, "\"", 1);      /* "" inside a quoted identifier */
        strbuf_put(b, p, 1);
    }
    strbuf_put(b, "\"", 1);
}

/*
 * SPEC §4: nothing stored is invalid UTF-8. Rows written by earlier versions (which stored
 * request strings unchecked) are repaired here, at every open, before anything is read: in
 * every table, every TEXT value that is not valid UTF-8 or holds NUL gets its invalid
 * sequences replaced by U+FFFD and its NULs removed (utf8_repair()).
 *
 * Cost when nothing is invalid: one read-only scan per table (SELECT .. LIMIT 1 with the check
 * on each column), no write transaction. Only tables with an invalid value are updated, all in
 * one transaction. A repaired value that would collide with a unique index (two order numbers
 * that differed only in their invalid bytes) gets "~<rowid>" appended; should even that be
 * taken, the row is left as it was and counted in the log line (the output check,
 * json_output_check(), keeps it from ever being sent). A table WITHOUT ROWID is skipped
 * (room_events: its reader checks every frame, server/room.c).
 * Returns 0, or PB_EINTERNAL (nothing changed).
 */
static int repair_text(struct store *s)
{
    struct strbuf chk = { 0 }, upd = { 0 }, uniq = { 0 };
    struct db_stmt *tabs = NULL, *cols = NULL, *st = NULL;
    int rc = PB_EINTERNAL, step;
    bool in_tx = false;

    if (sqlite3_create_function(s->db->lite, "pb_text_valid", 1,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                sql_text_valid, NULL, NULL) != DB_OK
        || sqlite3_create_function(s->db->lite, "pb_text_repair", 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   sql_text_repair, NULL, NULL) != DB_OK) {
        store__error(s, "repair: create function");
        return PB_EINTERNAL;
    }
    tabs = store__prepare(s, "SELECT name FROM sqlite_schema WHERE type = 'table'"
                             " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                             " AND sql NOT LIKE 'CREATE VIRTUAL%'"
                             " AND sql NOT LIKE '%WITHOUT ROWID%' ORDER BY name", "repair: tables");
    cols = store__prepare(s, "SELECT name FROM pragma_table_info(?)", "repair: columns");
    if (tabs == NULL || cols == NULL)
        goto done;
    while ((step = store__step_row(s, tabs, "repair: tables")) == 1) {
        const char *table = (const char *)db_column_text(tabs, 0);
        int ncols = 0;
        strbuf_cleanup(&chk);
        strbuf_cleanup(&upd);
        strbuf_cleanup(&uniq);
        strbuf_put(&upd, "UPDATE OR IGNORE ", 17);
        sql_ident(&upd, table);
        strbuf_put(&upd, " SET ", 5);
        db_reset(cols);
        db_bind_text(cols, 1, table, -1, DB_TRANSIENT);
        while ((step = store__step_row(s, cols, "repair: columns")) == 1) {
            const char *col = (const char *)db_column_text(cols, 0);
            strbuf_put(&chk, ncols ? " OR NOT pb_text_valid(" : "NOT pb_text_valid(", ncols ? 22 : 18);
            sql_ident(&chk, col);
            strbuf_put(&chk, ")", 1);
            if (ncols)
                strbuf_put(&upd, ", ", 2);
            sql_ident(&upd, col);
            strbuf_put(&upd, " = pb_text_repair(", 18);
            sql_ident(&upd, col);
            strbuf_put(&upd, ")", 1);
            /* A repaired value a unique index already holds (two order numbers that
             * differed only in their invalid bytes): that row keeps "~<rowid>" after it. */
            strbuf_printf(&uniq, "UPDATE OR IGNORE ");
            sql_ident(&uniq, table);
            strbuf_printf(&uniq, " SET ");
            sql_ident(&uniq, col);
            strbuf_printf(&uniq, " = pb_text_repair(");
            sql_ident(&uniq, col);
            strbuf_printf(&uniq, ") || '~' || rowid WHERE NOT pb_text_valid(");
            sql_ident(&uniq, col);
            strbuf_printf(&uniq, ");");
            ncols++;
        }
        if (step < 0 || chk.oom || upd.oom || uniq.oom)
            goto done;
        if (ncols == 0)
            continue;
        /* The cheap check first: is there any invalid value in this table? */
        struct strbuf q = { 0 };
        strbuf_printf(&q, "SELECT 1 FROM ");
        sql_ident(&q, table);
        strbuf_printf(&q, " WHERE %s LIMIT 1", chk.p);
        if (q.oom) {
            strbuf_cleanup(&q);
            goto done;
        }
        st = store__prepare(s, q.p, "repair: check");
        strbuf_cleanup(&q);
        if (st == NULL || (step = store__step_row(s, st, "repair: check")) < 0)
            goto done;
        db_finalize(st);
        st = NULL;
        if (step == 0)
            continue;
        if (!in_tx) {
            if (store_exec(s, "BEGIN IMMEDIATE") != 0)
                goto done;
            in_tx = true;
        }
        strbuf_printf(&upd, " WHERE %s; %s", chk.p, uniq.p);
        if (upd.oom)
            goto done;
        int64_t before = db_total_changes(s->db);
        if (store_exec(s, upd.p) != 0)
            goto done;
        /* What is still invalid: a suffixed value was taken too (practically never). */
        strbuf_cleanup(&q);
        strbuf_printf(&q, "SELECT count(*) FROM ");
        sql_ident(&q, table);
        strbuf_printf(&q, " WHERE %s", chk.p);
        st = q.oom ? NULL : store__prepare(s, q.p, "repair: recheck");
        strbuf_cleanup(&q);
        if (st == NULL || store__step_row(s, st, "repair: recheck") != 1)
            goto done;
        long long still = db_column_int64(st, 0);
        db_finalize(st);
        st = NULL;
        fprintf(stderr, "store: repaired %lld rows of table %s with invalid UTF-8 or NUL in text"
                " (now U+FFFD, NUL removed)", (long long)(db_total_changes(s->db) - before), table);
        if (still > 0)
            fprintf(stderr, "; %lld rows could not be repaired (unique index)", still);
        fputc('\n', stderr);
    }
    if (step < 0)
        goto done;
    if (in_tx) {
        if (store_exec(s, "COMMIT") != 0)
            goto done;
        in_tx = false;
    }
    rc = 0;
done:
    if (in_tx)
        store_exec(s, "ROLLBACK");
    db_finalize(st);
    db_finalize(tabs);
    db_finalize(cols);
    strbuf_cleanup(&chk);
    strbuf_cleanup(&upd);
    strbuf_cleanup(&uniq);
    return rc;
}

/*
 * Issue 9 item 2: databases written before orders.rank kept every order's dense 0-based
 * `position`. At open, before schema.sql (whose index names rank), such a database gets the
 * rank column, ranks RANK_STEP apart in (position, id) order within each column, so every
 * column keeps its order; the old index and the position column are dropped. One
 * transaction: on failure nothing changed and the open fails. A database without the
 * position column (new, or migrated already) is left alone: one read of its schema.
 * Returns 0 or PB_EINTERNAL (s->errmsg set).
 */
static int migrate_ranks(struct store *s)
{
    static const char sql[] =
        "ALTER TABLE orders ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;"
        "UPDATE orders SET rank = r.k * 4294967296 FROM (SELECT id, row_number() OVER "
        "(PARTITION BY tenant_id, work_centre_id ORDER BY position, id) - 1 AS k FROM orders "
        "WHERE deleted_at IS NULL) AS r WHERE orders.id = r.id;"
        "DROP INDEX IF EXISTS orders_column;"
        "ALTER TABLE orders DROP COLUMN position;";
    _Static_assert(RANK_STEP == 4294967296, "the migration spaces ranks RANK_STEP apart");
    struct db_stmt *st = store__prepare(s, "SELECT 1 FROM pragma_table_info('orders') "
                                         "WHERE name = 'position'", "migrate: columns");
    if (st == NULL)
        return PB_EINTERNAL;
    int old = store__step_row(s, st, "migrate: columns");
    db_finalize(st);
    if (old <= 0)
        return old;
    fprintf(stderr, "store: migrating orders.position to orders.rank\n");
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (store_exec(s, sql) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    return store__commit(s);
}

/*
 * Issue 11: work centres got wip_limit, wip_policy and default_operation_minutes (SPEC §2,
 * §9). A database made before them gets the three columns with their defaults (after
 * schema.sql, which creates them in a new database); one read of the schema otherwise.
 * Returns 0 or PB_EINTERNAL (s->errmsg set).
 */
static int migrate_work_centres(struct store *s)
{
    static const char sql[] =
        "ALTER TABLE work_centres ADD COLUMN wip_limit INTEGER "
        "CHECK (wip_limit IS NULL OR wip_limit >= 1);"
        "ALTER TABLE work_centres ADD COLUMN wip_policy TEXT NOT NULL DEFAULT 'soft' "
        "CHECK (wip_policy = 'soft' OR wip_policy = 'hard');"
        "ALTER TABLE work_centres ADD COLUMN default_operation_minutes INTEGER NOT NULL "
        "DEFAULT 60 CHECK (default_operation_minutes >= 1);";
    struct db_stmt *st = store__prepare(s, "SELECT 1 FROM pragma_table_info('work_centres') "
                                         "WHERE name = 'default_operation_minutes'",
                                      "migrate: work centre columns");
    if (st == NULL)
        return PB_EINTERNAL;
    int has = store__step_row(s, st, "migrate: work centre columns");
    db_finalize(st);
    if (has != 0)
        return has < 0 ? has : 0;
    fprintf(stderr, "store: adding the work centres' WIP and default-minutes columns\n");
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (store_exec(s, sql) != 0) {
        store__rollback(s);
        return PB_EINTERNAL;
    }
    return store__commit(s);
}

/* ---------------------------------------------------------------- open / close */

/* The version of schema-pg.sql this planboard writes (schema_version), and the key of the
 * advisory lock its nodes apply it under ("plnbrd" in ASCII). */
#define PB_PG_SCHEMA_VERSION 1
#define PB_PG_SCHEMA_LOCK "112213967303268"
#define PB_STR_(x) #x
#define PB_STR(x) PB_STR_(x)

/* One integer that sql answers (its first row's first column) into *out. 0, PB_EINTERNAL. */
static int pg_scalar(struct store *s, const char *sql, int64_t *out)
{
    struct db_stmt *st = store__prepare(s, sql, "schema version");
    if (st == NULL)
        return PB_EINTERNAL;
    int r = store__step_row(s, st, "schema version");
    *out = r == 1 ? db_column_int64(st, 0) : 0;
    db_finalize(st);
    return r < 0 ? PB_EINTERNAL : 0;
}

/* PostgreSQL: the schema (schema-pg.sql, compiled in), its version and the analytics
 * summaries' state row (a new database's summaries are empty and right; the triggers keep
 * them so), in one transaction under an advisory lock: nodes that start at the same time
 * apply it one after the other (CREATE ... IF NOT EXISTS is not safe against a concurrent
 * CREATE of the same object: PostgreSQL answers a unique violation on its catalog; before,
 * of four nodes started together on a new database three failed; e2e pg-schema). A database
 * whose schema_version is newer than PB_PG_SCHEMA_VERSION belongs to a newer planboard: this
 * one refuses it before changing anything (its CREATE OR REPLACE would put its older trigger
 * functions back). The SQLite migrations and the text repair have no PostgreSQL counterpart:
 * there is no older PostgreSQL database to migrate, and PostgreSQL stores no invalid UTF-8;
 * a later schema change adds its steps here, each raising schema_version. */
static int open_postgres(struct store *s)
{
    int64_t have = 0, version = 0;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    if (store_exec(s, "SELECT pg_advisory_xact_lock(" PB_PG_SCHEMA_LOCK ")") != 0
        || pg_scalar(s, "SELECT (to_regclass('schema_version') IS NOT NULL)::int", &have) != 0
        || (have && pg_scalar(s, "SELECT COALESCE(max(version), 0) FROM schema_version",
                              &version) != 0))
        goto fail;
    if (version > PB_PG_SCHEMA_VERSION) {
        snprintf(s->errmsg, sizeof(s->errmsg), "the database's schema is version %lld, newer "
                 "than this planboard's (%d): run the newer planboard on it",
                 (long long)version, PB_PG_SCHEMA_VERSION);
        goto fail;
    }
    if (store_exec(s, pb_schema_pg_sql) != 0
        || store_exec(s, "INSERT INTO analytics_summary_state(version) SELECT 1 WHERE NOT "
                         "EXISTS (SELECT 1 FROM analytics_summary_state)") != 0
        || store_exec(s, "DELETE FROM schema_version WHERE version < "
                         PB_STR(PB_PG_SCHEMA_VERSION) "; INSERT INTO schema_version(version) "
                         "SELECT " PB_STR(PB_PG_SCHEMA_VERSION) " WHERE NOT EXISTS "
                         "(SELECT 1 FROM schema_version)") != 0)
        goto fail;
    return store__commit(s);
fail:
    store__rollback(s);
    return PB_EINTERNAL;
}

int store_open(struct store **out, const char *path, const struct store_options *opts)
{
    const char *sync = opts != NULL && opts->synchronous != NULL ? opts->synchronous : "NORMAL";
    char pragma[128], reason[300];
    struct store *s;

    *out = NULL;
    if (strcmp(sync, "NORMAL") != 0 && strcmp(sync, "FULL") != 0) {
        snprintf(reason, sizeof(reason), "synchronous must be NORMAL or FULL, not '%s'", sync);
        goto report;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(reason, sizeof(reason), "out of memory");
        goto report;
    }
    s->quiet = opts != NULL && opts->errbuf != NULL;
    s->max_orders = opts != NULL ? opts->max_orders_per_tenant : 0;
    /* NOMUTEX: one connection, used by one thread (the loop) only; SQLite's per-call mutexes
     * cost ~7% of an import in perf. */
    if (db_open(&s->db, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                s->errmsg, sizeof(s->errmsg)) != DB_OK)
        goto fail;
    if (s->db->kind == DB_POSTGRES) {
        if ((s->url = strdup(path)) == NULL || open_postgres(s) != 0)
            goto fail;
        db_busy_timeout(s->db, 100);    /* lock_timeout: the loop never waits long on a lock */
        s->quiet = false;
        *out = s;
        return 0;
    }
    /* A short busy timeout: another process (the CLI) holds the write lock for
     * milliseconds; the loop thread must never wait long. */
    db_busy_timeout(s->db, 100);
    /* Group commit: SQLite writes the WAL without syncing it; the server syncs it off the
     * loop for a whole group of commits before anyone is answered. */
    if (opts != NULL && opts->group_commit)
        sync = "NORMAL";
    snprintf(pragma, sizeof(pragma),
             "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = %s;",
             sync);
    size_t plen = strlen(path);
    if ((s->wal_path = malloc(plen + 5)) == NULL || (s->url = strdup(path)) == NULL)
        goto fail;
    memcpy(s->wal_path, path, plen);
    memcpy(s->wal_path + plen, "-wal", 5);
    if (store_exec(s, pragma) != 0 || migrate_ranks(s) != 0 || store_exec(s, pb_schema_sql) != 0
        || migrate_work_centres(s) != 0
        || repair_text(s) != 0 || analytics_summaries_ensure(s) != 0)
        goto fail;
    s->quiet = false;
    *out = s;
    return 0;

fail:
    snprintf(reason, sizeof(reason), "%s", s->errmsg[0] ? s->errmsg : "out of memory");
    store_free(s);
report:
    if (opts != NULL && opts->errbuf != NULL)
        snprintf(opts->errbuf, opts->errlen, "%s", reason);
    else
        fprintf(stderr, "store: open %s: %s\n", path, reason);
    return PB_EINTERNAL;
}

int store_open_sibling(struct store *s, const char *synchronous, struct store **out)
{
    const char *sync = synchronous != NULL ? synchronous : "NORMAL";
    char pragma[128], err[256];
    struct store *c;

    *out = NULL;
    if ((strcmp(sync, "NORMAL") != 0 && strcmp(sync, "FULL") != 0) || s->url == NULL
        || (c = calloc(1, sizeof(*c))) == NULL)
        return PB_EINTERNAL;
    c->max_orders = s->max_orders;
    if ((c->url = strdup(s->url)) == NULL
        || (s->wal_path != NULL && (c->wal_path = strdup(s->wal_path)) == NULL))
        goto fail;
    /* NOMUTEX: used by one thread at a time (the writer thread, once handed over). */
    if (db_open(&c->db, c->url, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, err, sizeof(err))
        != DB_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "sibling connection: %.200s", err);
        goto fail;
    }
    if (c->db->kind == DB_POSTGRES) {
        db_busy_timeout(c->db, 5000);   /* the writer thread waits, the loop does not */
        *out = c;
        return 0;
    }
    /* Another process (the CLI) may hold the write lock: this connection's thread waits for
     * it, the loop does not. SQLite's own WAL autocheckpoint stays on here: it then runs
     * inside this connection's COMMITs, on its thread (docs/writer.md). */
    db_busy_timeout(c->db, 5000);
    snprintf(pragma, sizeof(pragma),
             "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = %s;",
             sync);
    if (store_exec(c, pragma) != 0) {
        snprintf(s->errmsg, sizeof(s->errmsg), "sibling connection: %.200s", c->errmsg);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    store_free(c);
    return PB_EINTERNAL;
}

bool store_url_is_postgres(const char *url)
{
    return db_url_is_postgres(url);
}

bool store_is_postgres(const struct store *s)
{
    return s->db->kind == DB_POSTGRES;
}

struct db *store_sibling_db(struct store *s)
{
    return s->db;
}

void store_free(struct store *s)
{
    struct hmap_iter it;
    struct board *b;

    if (s == NULL)
        return;
    checkpointer_stop(s, s->checkpointer);      /* normally stopped by its owner already */
    hmap_iter_init(&s->boards, &it);
    while ((b = hmap_iter_next(&s->boards, &it)) != NULL)
        board__free(b);
    hmap_cleanup(&s->boards);
    for (size_t i = 0; i < ST__COUNT; i++)
        db_finalize(s->stmts[i]);
    db_close(s->db);
    free(s->wal_path);
    free(s->url);
    free(s);
}

/* ---------------------------------------------------------------- tenants */

/* SPEC §4: nothing stored is invalid UTF-8 (NULL counts as fine: the callers check presence). */
static bool text_ok(const char *t)
{
    return t == NULL || utf8_valid(t, strlen(t));
}

static bool slug_valid(const char *slug)
{
    size_t n = slug != NULL ? strlen(slug) : 0;
    if (n < 2 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)slug[i]) || isdigit((unsigned char)slug[i]) || slug[i] == '-'))
            return false;
    return true;
}

int store_tenant_create(struct store *s, const char *slug, const char *name, int64_t *id_out)
{
    char now[PB_TIMESTAMP_LEN];
    int rc;

    if (!slug_valid(slug) || name == NULL || *name == '\0' || !text_ok(name))
        return PB_EVALIDATION;
    struct db_stmt *st = store__stmt(s, ST_TENANT_INSERT);
    if (st == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);
    db_bind_text(st, 1, slug, -1, DB_STATIC);
    db_bind_text(st, 2, name, -1, DB_STATIC);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    if (store__run(s, st, "tenant insert", &rc) != 0)
        return rc == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
    if (id_out != NULL)
        *id_out = db_last_insert_rowid(s->db);
    return 0;
}

static int tenant_read(struct store *s, struct db_stmt *st, struct tenant *out)
{
    int r = db_step(st);
    if (r == DB_DONE) {
        db_reset(st);
        return PB_ENOT_FOUND;
    }
    if (r != DB_ROW) {
        store__error(s, "tenant select");
        db_reset(st);
        return PB_EINTERNAL;
    }
    memset(out, 0, sizeof(*out));
    out->id = db_column_int64(st, 0);
    out->slug = store__col_strdup(st, 1);
    out->name = store__col_strdup(st, 2);
    out->timezone = store__col_strdup(st, 3);
    out->daily_target = db_column_int64(st, 4);
    db_reset(st);
    if (out->slug == NULL || out->name == NULL || out->timezone == NULL) {
        tenant_cleanup(out);
        return PB_EINTERNAL;
    }
    return 0;
}

int store_tenant_get(struct store *s, int64_t id, struct tenant *out)
{
    struct db_stmt *st = store__stmt(s, ST_TENANT_BY_ID);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, id);
    return tenant_read(s, st, out);
}

int store_tenant_by_slug(struct store *s, const char *slug, struct tenant *out)
{
    struct db_stmt *st = store__stmt(s, ST_TENANT_BY_SLUG);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_text(st, 1, slug, -1, DB_STATIC);
    return tenant_read(s, st, out);
}

/* ---------------------------------------------------------------- users */

int store_user_create(struct store *s, int64_t tenant_id, const char *username, const char *email,
                      const char *password_hash, enum role role, const char *first_name,
                      const char *last_name, int64_t *id_out)
{
    char now[PB_TIMESTAMP_LEN];
    int rc;

    if (username == NULL || email == NULL || password_hash == NULL || role_name(role) == NULL
        || !text_ok(username) || !text_ok(email) || !text_ok(first_name) || !text_ok(last_name))
        return PB_EVALIDATION;
    struct db_stmt *st = store__stmt(s, ST_USER_INSERT);
    if (st == NULL)
        return PB_EINTERNAL;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, username, -1, DB_STATIC);
    db_bind_text(st, 3, email, -1, DB_STATIC);
    db_bind_text(st, 4, password_hash, -1, DB_STATIC);
    db_bind_text(st, 5, role_name(role), -1, DB_STATIC);
    db_bind_text(st, 6, first_name != NULL ? first_name : "", -1, DB_STATIC);
    db_bind_text(st, 7, last_name != NULL ? last_name : "", -1, DB_STATIC);
    db_bind_text(st, 8, now, -1, DB_STATIC);
    if (store__run(s, st, "user insert", &rc) != 0)
        return rc == DB_CONSTRAINT_UNIQUE ? PB_ECONFLICT : PB_EINTERNAL;
    if (id_out != NULL)
        *id_out = db_last_insert_rowid(s->db);
    return 0;
}

static int user_read(struct store *s, struct db_stmt *st, struct user *out)
{
    int r = db_step(st);
    if (r == DB_DONE) {
        db_reset(st);
        return PB_ENOT_FOUND;
    }
    if (r != DB_ROW) {
        store__error(s, "user select");
        db_reset(st);
        return PB_EINTERNAL;
    }
    memset(out, 0, sizeof(*out));
    out->id = db_column_int64(st, 0);
    out->tenant_id = db_column_int64(st, 1);
    out->username = store__col_strdup(st, 2);
    out->email = store__col_strdup(st, 3);
    out->first_name = store__col_strdup(st, 4);
    out->last_name = store__col_strdup(st, 5);
    out->password_hash = store__col_strdup(st, 6);
    int role = role_parse((const char *)db_column_text(st, 7));
    out->role = role >= 0 ? (enum role)role : ROLE_VIEWER;
    out->is_active = db_column_int(st, 8) != 0;
    store__col_copy(st, 9, out->created_at, sizeof(out->created_at));
    store__col_copy(st, 10, out->updated_at, sizeof(out->updated_at));
    db_reset(st);
    if (out->username == NULL || out->email == NULL || out->first_name == NULL
        || out->last_name == NULL || out->password_hash == NULL) {
        user_cleanup(out);
        return PB_EINTERNAL;
    }
    return 0;
}

int store_user_get(struct store *s, int64_t tenant_id, int64_t id, struct user *out)
{
    struct db_stmt *st = store__stmt(s, ST_USER_BY_ID);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    return user_read(s, st, out);
}

int store_user_by_username(struct store *s, int64_t tenant_id, const char *username,
                           struct user *out)
{
    struct db_stmt *st = store__stmt(s, ST_USER_BY_NAME);
    if (st == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, username, -1, DB_STATIC);
    return user_read(s, st, out);
}

/* ---------------------------------------------------------------- boards */

int store_board_load(struct store *s, int64_t tenant_id, struct board **out)
{
    struct tenant t;
    int rc;

    *out = NULL;
    rc = store_tenant_get(s, tenant_id, &t);
    if (rc == PB_EINTERNAL && (db_errcode(s->db) & 0xff) == SQLITE_IOERR)
        return PB_EUNAVAILABLE;         /* the database is out of reach (PostgreSQL down) */
    if (rc != 0)
        return rc;
    tenant_cleanup(&t);
    rc = board__load(s, tenant_id, out);
    if (rc == PB_EINTERNAL && (db_errcode(s->db) & 0xff) == SQLITE_IOERR)
        return PB_EUNAVAILABLE;
    return rc;
}

int store_board_install(struct store *s, struct board *b, struct board **out)
{
    struct board *cached = hmap_get_int(&s->boards, b->tenant_id);

    if (cached != NULL) {               /* loaded inline meanwhile: that one has the changes
                                         * made since (write-through), this one may not */
        board__free(b);
        *out = cached;
        return 0;
    }
    if (hmap_reserve(&s->boards, s->boards.len + 1) != 0) {
        board__free(b);
        *out = NULL;
        return PB_EINTERNAL;
    }
    hmap_put_int(&s->boards, b->tenant_id, b);
    *out = b;
    return 0;
}

void store_board_free(struct board *b)
{
    board__free(b);                     /* NULL: nothing */
}

bool store_board_cached(const struct store *s, int64_t tenant_id)
{
    return hmap_get_int(&s->boards, tenant_id) != NULL;
}

int store_board(struct store *s, int64_t tenant_id, struct board **out)
{
    struct board *b = hmap_get_int(&s->boards, tenant_id);
    int rc;

    if (b != NULL) {
        *out = b;
        return 0;
    }
    if (hmap_reserve(&s->boards, s->boards.len + 1) != 0)
        return PB_EINTERNAL;
    if ((rc = store_board_load(s, tenant_id, &b)) != 0)
        return rc;
    hmap_put_int(&s->boards, tenant_id, b);
    *out = b;
    return 0;
}

void store_board_drop(struct store *s, int64_t tenant_id)
{
    board__free(hmap_del_int(&s->boards, tenant_id));      /* NULL: nothing to drop */
}
