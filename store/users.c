/*
 * store/users — tenant settings and user administration. See users.h for the contract.
 *
 * The statements here are prepared per call (sqlite3_prepare_v2 + finalize before the
 * function returns): they run at admin speed, and finalizing at once means no statement of
 * this file is ever left running when store__rollback() rolls a transaction back.
 */
#include "store/users.h"

#include "store/store_int.h"
#include "core/calendar.h"
#include "core/strbuf.h"
#include "core/tz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- small helpers */

/* A growing string for audit event_data. oom latches the first allocation failure. */

/* Append text as a JSON string literal. */
static void sb_quoted(struct strbuf *b, const char *text)
{
    char *q = store__json_quote(text);
    if (q == NULL) {
        b->oom = true;
        return;
    }
    strbuf_printf(b, "%s", q);
    free(q);
}


/* ---------------------------------------------------------------- validation */

bool tenant_timezone_valid(const char *name)
{
    char path[256], magic[4];
    if (!tz_valid(name))
        return false;
    if (strcmp(name, "UTC") == 0)
        return true;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    return n == sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

/* report may be NULL (the store re-checks without details). */
#define BAD(field, msg) do { if (report != NULL) report(ctx, field, msg); bad++; } while (0)

int tenant_patch_check(const struct tenant_patch *p, pb_report_fn report, void *ctx)
{
    int bad = 0;
    if (p->name != NULL) {
        size_t n = pb_utf8_len(p->name);
        if (n < 1 || n > PB_TENANT_NAME_MAX)
            BAD("name", "must be 1 to 100 characters");
    }
    if (p->timezone != NULL && !tenant_timezone_valid(p->timezone))
        BAD("timezone", "must be an IANA time zone name such as Europe/London");
    if (p->has_daily_target && p->daily_target < 0)
        BAD("daily_target", "must be an integer >= 0");
    return bad;
}

static bool username_valid(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > PB_USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool email_valid(const char *e)
{
    const char *at = strchr(e, '@');
    if (at == NULL || pb_utf8_len(e) > PB_EMAIL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)e; *p; p++)
        if (*p <= ' ' || *p == 0x7f)    /* no spaces or control characters */
            return false;
    return true;
}

void user_fields_init(struct user_fields *f)
{
    memset(f, 0, sizeof(*f));
    f->role = -1;
    f->is_active = -1;
}

int user_fields_check(const struct user_fields *f, const char *password, bool create,
                      pb_report_fn report, void *ctx)
{
    int bad = 0;
    if (f->username != NULL ? !username_valid(f->username) : create)
        BAD("username", "must be 3 to 50 characters of A-Z a-z 0-9 . _ -");
    if (f->email != NULL ? !email_valid(f->email) : create)
        BAD("email", "must be an email address (with @, no spaces) of at most 100 characters");
    if (password != NULL && pb_utf8_len(password) < PB_PASSWORD_MIN)
        BAD("password", "must be at least 12 characters");
    if (create && password == NULL && f->password_hash == NULL)
        BAD("password", "is required (at least 12 characters)");
    if (f->first_name != NULL && pb_utf8_len(f->first_name) > PB_PERSON_NAME_MAX)
        BAD("first_name", "must be at most 100 characters");
    if (f->last_name != NULL && pb_utf8_len(f->last_name) > PB_PERSON_NAME_MAX)
        BAD("last_name", "must be at most 100 characters");
    if (f->role != -1 && role_name((enum role)f->role) == NULL)
        BAD("role", "must be admin, scheduler or viewer");
    if (f->is_active < -1 || f->is_active > 1)
        BAD("is_active", "must be true or false");
    return bad;
}
#undef BAD

/* ---------------------------------------------------------------- tenant */

/* A tenant settings change in the writer's phases (users.h store_tenant_prepare). */
struct tenant_job {
    int64_t tenant_id, actor_id;
    char *name, *timezone;              /* the patch's (copies; NULL = unchanged) */
    bool has_daily_target;
    int64_t daily_target;
    struct calendar *cal;               /* prepare: the loaded board's calendar in the new zone
                                         * (NULL: no board loaded, or the zone is its zone) */
    bool tz_changed;                    /* write: the committed row has a new timezone */
    bool have_out;
    struct tenant out;                  /* write: the tenant as committed */
};

void store_tenant_job_free(struct tenant_job *j)
{
    if (j == NULL)
        return;
    free(j->name);
    free(j->timezone);
    calendar_free(j->cal);
    if (j->have_out)
        tenant_cleanup(&j->out);
    free(j);
}

/* A copy of calendar c in zone tz (shifts and holidays copied). NULL when out of memory. */
static struct calendar *calendar_in_zone(const struct calendar *c, const char *tz)
{
    size_t n_shifts, n_hol = calendar_n_holidays(c);
    const struct cal_shift *shifts = calendar_shifts(c, &n_shifts);
    char (*hol)[PB_DATE_LEN] = calloc(n_hol ? n_hol : 1, sizeof(*hol));
    struct calendar *out = NULL;

    if (hol == NULL)
        return NULL;
    for (size_t i = 0; i < n_hol; i++)
        calendar_holiday(c, i, hol[i]);
    out = calendar_new(tz, shifts, n_shifts, (const char (*)[PB_DATE_LEN])hol, n_hol);
    free(hol);
    return out;
}

int store_tenant_prepare(struct store *s, int64_t tenant_id, const struct tenant_patch *p,
                         int64_t actor_id, struct tenant_job **out)
{
    struct tenant_job *j;

    *out = NULL;
    if (tenant_patch_check(p, NULL, NULL) != 0)
        return PB_EVALIDATION;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return PB_EINTERNAL;
    *j = (struct tenant_job){ .tenant_id = tenant_id, .actor_id = actor_id,
                              .has_daily_target = p->has_daily_target,
                              .daily_target = p->daily_target };
    if ((p->name != NULL && (j->name = strdup(p->name)) == NULL)
        || (p->timezone != NULL && (j->timezone = strdup(p->timezone)) == NULL))
        goto fail;
    /* SPEC §9: the calendar is in the tenant's timezone; a loaded board takes the new zone at
     * apply, built here so that apply cannot fail */
    struct board *b = p->timezone != NULL ? hmap_get_int(&s->boards, tenant_id) : NULL;
    if (b != NULL && strcmp(calendar_timezone(b->calendar), p->timezone) != 0
        && (j->cal = calendar_in_zone(b->calendar, p->timezone)) == NULL)
        goto fail;
    *out = j;
    return 0;

fail:
    store_tenant_job_free(j);
    return PB_EINTERNAL;
}

int store_tenant_write(struct store *s, struct tenant_job *j)
{
    static const char sql[] =
        "UPDATE tenants SET name = ?2, timezone = ?3, daily_target = ?4 WHERE id = ?1";
    struct tenant cur;
    struct strbuf ev = { 0 };
    char now[PB_TIMESTAMP_LEN];
    struct db_stmt *st;
    int rc, n = 0;

    if (j->have_out)                    /* a rerun: overwrite */
        tenant_cleanup(&j->out);
    j->have_out = j->tz_changed = false;
    if ((rc = store_tenant_get(s, j->tenant_id, &cur)) != 0)
        return rc;
    bool ch_name = j->name != NULL && strcmp(j->name, cur.name) != 0;
    bool ch_tz = j->timezone != NULL && strcmp(j->timezone, cur.timezone) != 0;
    bool ch_target = j->has_daily_target && j->daily_target != cur.daily_target;
    if (!ch_name && !ch_tz && !ch_target) {
        j->out = cur;                   /* nothing to write */
        j->have_out = true;
        return 0;
    }
    strbuf_printf(&ev, "{\"changes\":{");
    if (ch_name) {
        strbuf_printf(&ev, "%s\"name\":", n++ ? "," : "");
        sb_quoted(&ev, j->name);
    }
    if (ch_tz) {
        strbuf_printf(&ev, "%s\"timezone\":", n++ ? "," : "");
        sb_quoted(&ev, j->timezone);
    }
    if (ch_target)
        strbuf_printf(&ev, "%s\"dailyTarget\":%lld", n++ ? "," : "", (long long)j->daily_target);
    strbuf_printf(&ev, "}}");
    rc = PB_EINTERNAL;
    if (ev.oom || (st = store__prepare(s, sql, "prepare")) == NULL)
        goto out;
    db_bind_int64(st, 1, j->tenant_id);
    db_bind_text(st, 2, ch_name ? j->name : cur.name, -1, DB_STATIC);
    db_bind_text(st, 3, ch_tz ? j->timezone : cur.timezone, -1, DB_STATIC);
    db_bind_int64(st, 4, ch_target ? j->daily_target : cur.daily_target);
    pb_now_timestamp(now);
    if (store__run_final(s, st, "tenant update", NULL, NULL) != 0
        || store__audit(s, j->tenant_id, "tenant_updated", 0, 0, 0, j->actor_id, ev.p, -1, -1,
                        now) != 0
        || store_tenant_get(s, j->tenant_id, &j->out) != 0)
        goto out;
    j->have_out = true;
    j->tz_changed = ch_tz;
    rc = 0;
out:
    tenant_cleanup(&cur);
    free(ev.p);
    return rc;
}

bool store_tenant_job_tz_changed(const struct tenant_job *j)
{
    return j->tz_changed;
}

void store_tenant_apply(struct store *s, struct tenant_job *j, struct tenant *out)
{
    struct board *b = j->tz_changed ? hmap_get_int(&s->boards, j->tenant_id) : NULL;

    if (b != NULL && j->cal != NULL) {
        calendar_free(b->calendar);
        b->calendar = j->cal;
        j->cal = NULL;
        b->schedule_version = 0;        /* stale: recomputed at the next refresh */
        b->version++;
    } else if (b != NULL && strcmp(calendar_timezone(b->calendar), j->out.timezone) != 0
               && board__load_calendar(s, b) == 0) {
        /* the board was loaded after prepare, before the commit (a read meanwhile): read its
         * calendar again (the committed row). Out of memory leaves the old zone until the
         * board is loaded again. */
        b->version++;
    }
    *out = j->out;                      /* the caller's now */
    j->have_out = false;
}

int store_tenant_update(struct store *s, int64_t tenant_id, const struct tenant_patch *p,
                        int64_t actor_id, struct tenant *out)
{
    struct tenant_job *j;
    int rc = store_tenant_prepare(s, tenant_id, p, actor_id, &j);

    if (rc != 0)
        return rc;
    if (store__begin(s) != 0) {
        store_tenant_job_free(j);
        return PB_EINTERNAL;
    }
    if ((rc = store_tenant_write(s, j)) != 0) {
        store__rollback(s);
        store_tenant_job_free(j);
        return rc;
    }
    if (store__commit(s) != 0) {
        store_tenant_job_free(j);
        return PB_EINTERNAL;
    }
    store_tenant_apply(s, j, out);
    store_tenant_job_free(j);
    return 0;
}

/* ---------------------------------------------------------------- user queries */

#define USER_COLS "id, tenant_id, username, email, first_name, last_name, password_hash, " \
                  "role, is_active, created_at, updated_at"

/* Fill *out from the current row (columns USER_COLS). 0 or PB_EINTERNAL (out cleaned). */
static int user_from_row(struct db_stmt *st, struct user *out)
{
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
    if (out->username == NULL || out->email == NULL || out->first_name == NULL
        || out->last_name == NULL || out->password_hash == NULL) {
        user_cleanup(out);
        return PB_EINTERNAL;
    }
    return 0;
}

/* Live user by id, read with a statement of this file (so nothing cached stays open). */
static int user_load(struct store *s, int64_t tenant_id, int64_t id, struct user *out)
{
    struct db_stmt *st;
    if ((st = store__prepare(s, "SELECT " USER_COLS " FROM users WHERE tenant_id = ?1 AND id = ?2 "
                   "AND deleted_at IS NULL", "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, id);
    int r = store__step_row(s, st, "user select");
    int rc = r < 0 ? r : r == 0 ? PB_ENOT_FOUND : user_from_row(st, out);
    db_finalize(st);
    return rc;
}

/* 1 when another live user of the tenant (id != except_id) has column = value, 0 when none,
 * PB_EINTERNAL. column is "username" or "email" (never user input). */
static int taken(struct store *s, int64_t tenant_id, const char *column, const char *value,
                 int64_t except_id)
{
    char sql[160];
    struct db_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM users WHERE tenant_id = ?1 AND %s = ?2 "
             "AND deleted_at IS NULL AND id <> ?3", column);
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, value, -1, DB_STATIC);
    db_bind_int64(st, 3, except_id);
    int r = store__step_row(s, st, "user unique check");
    db_finalize(st);
    return r;
}

int store_user_active_admins(struct store *s, int64_t tenant_id, int64_t *n)
{
    struct db_stmt *st;
    if ((st = store__prepare(s, "SELECT COUNT(*) FROM users WHERE tenant_id = ?1 AND role = 'admin' "
                   "AND is_active = 1 AND deleted_at IS NULL", "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    int r = store__step_row(s, st, "admin count");
    if (r == 1)
        *n = db_column_int64(st, 0);
    db_finalize(st);
    return r == 1 ? 0 : PB_EINTERNAL;
}

/* Within a transaction: PB_ECONFLICT when taking user u's admin powers away would leave the
 * tenant without an active admin, 0 when another remains, PB_EINTERNAL. */
static int check_not_last_admin(struct store *s, const struct user *u)
{
    int64_t n = 0;
    if (u->role != ROLE_ADMIN || !u->is_active)
        return 0;
    if (store_user_active_admins(s, u->tenant_id, &n) != 0)
        return PB_EINTERNAL;
    return n <= 1 ? PB_ECONFLICT : 0;
}

/* Unique checks for username/email (either may be NULL = not changing). */
static int check_unique(struct store *s, int64_t tenant_id, const char *username,
                        const char *email, int64_t except_id, const char **conflict)
{
    int r;
    if (username != NULL && (r = taken(s, tenant_id, "username", username, except_id)) != 0) {
        if (r > 0 && conflict != NULL)
            *conflict = "username";
        return r > 0 ? PB_ECONFLICT : r;
    }
    if (email != NULL && (r = taken(s, tenant_id, "email", email, except_id)) != 0) {
        if (r > 0 && conflict != NULL)
            *conflict = "email";
        return r > 0 ? PB_ECONFLICT : r;
    }
    return 0;
}

/* ---------------------------------------------------------------- user mutations */

int store_user_add(struct store *s, int64_t tenant_id, const struct user_fields *f,
                   int64_t actor_id, struct user *out, const char **conflict)
{
    static const char sql[] =
        "INSERT INTO users(tenant_id, username, email, password_hash, role, first_name, "
        "last_name, is_active, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)";
    enum role role = f->role >= 0 ? (enum role)f->role : ROLE_VIEWER;
    bool active = f->is_active != 0;
    char now[PB_TIMESTAMP_LEN];
    struct strbuf ev = { 0 };
    struct user nu;
    struct db_stmt *st;
    int rc, sqlrc;

    if (f->password_hash == NULL || *f->password_hash == '\0'
        || user_fields_check(f, NULL, true, NULL, NULL) != 0)
        return PB_EVALIDATION;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    rc = check_unique(s, tenant_id, f->username, f->email, 0, conflict);
    if (rc != 0)
        goto fail_tx;
    rc = PB_EINTERNAL;
    if ((st = store__prepare(s, sql, "prepare")) == NULL)
        goto fail_tx;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_text(st, 2, f->username, -1, DB_STATIC);
    db_bind_text(st, 3, f->email, -1, DB_STATIC);
    db_bind_text(st, 4, f->password_hash, -1, DB_STATIC);
    db_bind_text(st, 5, role_name(role), -1, DB_STATIC);
    db_bind_text(st, 6, f->first_name != NULL ? f->first_name : "", -1, DB_STATIC);
    db_bind_text(st, 7, f->last_name != NULL ? f->last_name : "", -1, DB_STATIC);
    db_bind_int(st, 8, active);
    db_bind_text(st, 9, now, -1, DB_STATIC);
    if (store__run_final(s, st, "user insert", &sqlrc, NULL) != 0) {
        if ((sqlrc & 0xff) == DB_CONSTRAINT) {  /* raced past the check: still a 409 */
            rc = PB_ECONFLICT;
            if (conflict != NULL)
                *conflict = "username";
        }
        goto fail_tx;
    }
    int64_t id = db_last_insert_rowid(s->db);
    strbuf_printf(&ev, "{\"userId\":%lld,\"username\":", (long long)id);
    sb_quoted(&ev, f->username);
    strbuf_printf(&ev, ",\"role\":\"%s\",\"isActive\":%s}", role_name(role), active ? "true" : "false");
    if (ev.oom
        || store__audit(s, tenant_id, "user_created", 0, 0, 0, actor_id, ev.p, -1, -1, now) != 0
        || user_load(s, tenant_id, id, &nu) != 0)
        goto fail_tx;
    if (store__commit(s) != 0) {
        user_cleanup(&nu);
        free(ev.p);
        return PB_EINTERNAL;
    }
    free(ev.p);
    *out = nu;
    return 0;

fail_tx:
    store__rollback(s);
    free(ev.p);
    return rc;
}

static bool str_changes(const char *want, const char *have)
{
    return want != NULL && strcmp(want, have) != 0;
}

int store_user_update(struct store *s, int64_t tenant_id, int64_t user_id,
                      const struct user_fields *f, int64_t actor_id, struct user *out,
                      unsigned *changed, const char **conflict)
{
    static const char sql[] =
        "UPDATE users SET username = ?3, email = ?4, password_hash = ?5, first_name = ?6, "
        "last_name = ?7, role = ?8, is_active = ?9, updated_at = ?10 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    static const char *const names[] = {
        "username", "email", "password", "role", "isActive", "name",
    };
    char now[PB_TIMESTAMP_LEN];
    struct strbuf ev = { 0 };
    struct user cur, nu;
    unsigned ch = 0;
    struct db_stmt *st;
    int rc, sqlrc;

    if (changed != NULL)
        *changed = 0;
    if (user_fields_check(f, NULL, false, NULL, NULL) != 0
        || (f->password_hash != NULL && *f->password_hash == '\0'))
        return PB_EVALIDATION;
    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    rc = user_load(s, tenant_id, user_id, &cur);
    if (rc != 0)
        goto fail_tx;

    if (str_changes(f->username, cur.username))
        ch |= USER_CHANGED_USERNAME;
    if (str_changes(f->email, cur.email))
        ch |= USER_CHANGED_EMAIL;
    if (f->password_hash != NULL)
        ch |= USER_CHANGED_PASSWORD;
    if (f->role >= 0 && (enum role)f->role != cur.role)
        ch |= USER_CHANGED_ROLE;
    if (f->is_active >= 0 && (f->is_active != 0) != cur.is_active)
        ch |= USER_CHANGED_ACTIVE;
    if (str_changes(f->first_name, cur.first_name) || str_changes(f->last_name, cur.last_name))
        ch |= USER_CHANGED_NAME;
    if (ch == 0) {
        store__rollback(s);
        *out = cur;
        return 0;
    }
    enum role role = ch & USER_CHANGED_ROLE ? (enum role)f->role : cur.role;
    bool active = ch & USER_CHANGED_ACTIVE ? f->is_active != 0 : cur.is_active;

    rc = check_unique(s, tenant_id, ch & USER_CHANGED_USERNAME ? f->username : NULL,
                      ch & USER_CHANGED_EMAIL ? f->email : NULL, user_id, conflict);
    if (rc != 0)
        goto fail_cur;
    if (role != ROLE_ADMIN || !active) {
        rc = check_not_last_admin(s, &cur);
        if (rc != 0) {
            if (rc == PB_ECONFLICT && conflict != NULL)
                *conflict = role != ROLE_ADMIN ? "role" : "isActive";
            goto fail_cur;
        }
    }
    rc = PB_EINTERNAL;

    strbuf_printf(&ev, "{\"userId\":%lld,\"changes\":[", (long long)user_id);
    for (unsigned i = 0, k = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ch & (1u << i))
            strbuf_printf(&ev, "%s\"%s\"", k++ ? "," : "", names[i]);
    strbuf_printf(&ev, "]");
    if (ch & USER_CHANGED_ROLE)
        strbuf_printf(&ev, ",\"roleFrom\":\"%s\",\"roleTo\":\"%s\"", role_name(cur.role),
                  role_name(role));
    if (ch & USER_CHANGED_ACTIVE)
        strbuf_printf(&ev, ",\"isActive\":%s", active ? "true" : "false");
    strbuf_printf(&ev, "}");
    if (ev.oom || (st = store__prepare(s, sql, "prepare")) == NULL)
        goto fail_cur;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, f->username != NULL ? f->username : cur.username, -1, DB_STATIC);
    db_bind_text(st, 4, f->email != NULL ? f->email : cur.email, -1, DB_STATIC);
    db_bind_text(st, 5, f->password_hash != NULL ? f->password_hash : cur.password_hash, -1,
                      DB_STATIC);
    db_bind_text(st, 6, f->first_name != NULL ? f->first_name : cur.first_name, -1,
                      DB_STATIC);
    db_bind_text(st, 7, f->last_name != NULL ? f->last_name : cur.last_name, -1,
                      DB_STATIC);
    db_bind_text(st, 8, role_name(role), -1, DB_STATIC);
    db_bind_int(st, 9, active);
    db_bind_text(st, 10, now, -1, DB_STATIC);
    if (store__run_final(s, st, "user update", &sqlrc, NULL) != 0) {
        if ((sqlrc & 0xff) == DB_CONSTRAINT) {
            rc = PB_ECONFLICT;
            if (conflict != NULL)
                *conflict = ch & USER_CHANGED_USERNAME ? "username" : "email";
        }
        goto fail_cur;
    }
    if (store__audit(s, tenant_id, "user_updated", 0, 0, 0, actor_id, ev.p, -1, -1, now) != 0
        || user_load(s, tenant_id, user_id, &nu) != 0)
        goto fail_cur;
    if (store__commit(s) != 0) {
        user_cleanup(&nu);
        user_cleanup(&cur);
        free(ev.p);
        return PB_EINTERNAL;
    }
    user_cleanup(&cur);
    free(ev.p);
    *out = nu;
    if (changed != NULL)
        *changed = ch;
    return 0;

fail_cur:
    user_cleanup(&cur);
fail_tx:
    store__rollback(s);
    free(ev.p);
    return rc;
}

int store_user_delete(struct store *s, int64_t tenant_id, int64_t user_id, int64_t actor_id)
{
    static const char sql[] =
        "UPDATE users SET deleted_at = ?3, updated_at = ?3 "
        "WHERE tenant_id = ?1 AND id = ?2 AND deleted_at IS NULL";
    char now[PB_TIMESTAMP_LEN];
    struct strbuf ev = { 0 };
    struct user cur;
    struct db_stmt *st;
    int rc;

    if (store__begin(s) != 0)
        return PB_EINTERNAL;
    rc = user_load(s, tenant_id, user_id, &cur);
    if (rc != 0)
        goto fail_tx;
    rc = check_not_last_admin(s, &cur);
    if (rc != 0)
        goto fail_cur;
    rc = PB_EINTERNAL;
    strbuf_printf(&ev, "{\"userId\":%lld,\"username\":", (long long)user_id);
    sb_quoted(&ev, cur.username);
    strbuf_printf(&ev, "}");
    if (ev.oom || (st = store__prepare(s, sql, "prepare")) == NULL)
        goto fail_cur;
    pb_now_timestamp(now);
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, user_id);
    db_bind_text(st, 3, now, -1, DB_STATIC);
    if (store__run_final(s, st, "user delete", NULL, NULL) != 0
        || store__audit(s, tenant_id, "user_deleted", 0, 0, 0, actor_id, ev.p, -1, -1, now) != 0)
        goto fail_cur;
    user_cleanup(&cur);
    free(ev.p);
    return store__commit(s);

fail_cur:
    user_cleanup(&cur);
fail_tx:
    store__rollback(s);
    free(ev.p);
    return rc;
}

/* ---------------------------------------------------------------- lists */

void store_user_list_free(struct user *users, size_t n)
{
    for (size_t i = 0; i < n; i++)
        user_cleanup(&users[i]);
    free(users);
}

int store_user_list(struct store *s, int64_t tenant_id, int64_t limit, int64_t offset,
                    struct user **out, size_t *n, int64_t *total)
{
    struct user *arr = NULL;
    size_t len = 0, cap = 0;
    struct db_stmt *st;
    int64_t count = 0;
    int r;

    if ((st = store__prepare(s, "SELECT COUNT(*) FROM users WHERE tenant_id = ?1 AND deleted_at IS NULL", "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    r = store__step_row(s, st, "user count");
    if (r == 1)
        count = db_column_int64(st, 0);
    db_finalize(st);
    if (r != 1)
        return PB_EINTERNAL;

    /* The hash column is not read: a list never needs it. */
    if ((st = store__prepare(s, "SELECT id, tenant_id, username, email, first_name, last_name, '', role, "
                   "is_active, created_at, updated_at FROM users WHERE tenant_id = ?1 "
                   "AND deleted_at IS NULL ORDER BY id LIMIT ?2 OFFSET ?3", "prepare")) == NULL)
        return PB_EINTERNAL;
    db_bind_int64(st, 1, tenant_id);
    db_bind_int64(st, 2, limit);
    db_bind_int64(st, 3, offset);
    while ((r = store__step_row(s, st, "user list")) == 1) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct user *na = realloc(arr, nc * sizeof(*na));
            if (na == NULL) {
                r = PB_EINTERNAL;
                break;
            }
            arr = na;
            cap = nc;
        }
        if (user_from_row(st, &arr[len]) != 0) {
            r = PB_EINTERNAL;
            break;
        }
        len++;
    }
    db_finalize(st);
    if (r != 0) {
        store_user_list_free(arr, len);
        return PB_EINTERNAL;
    }
    *out = arr;
    *n = len;
    *total = count;
    return 0;
}
