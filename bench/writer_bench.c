/*
 * writer_bench — informative figures for store/writer.c (docs/writer.md, bench/README.md):
 * jobs/s and commits/s of one-row writes through the writer with 1 and 8 concurrent
 * submitters, against a plain loop that runs BEGIN / INSERT / COMMIT per write on one
 * connection (what the loop thread does today), on the same kind of file, at
 * synchronous = NORMAL and FULL. Not a test: no number fails anything.
 *
 *   make writer-bench                      (build/bench/writer_bench [jobs] [dir])
 *
 * A submitter is closed-loop: it submits its next write from the done of the previous one,
 * like a client waiting for its answer. "8 tenants" = 8 submitters of 8 tenants (the gate lets
 * them fold into one transaction); "8 same tenant" = 8 submitters of one tenant (the gate runs
 * them one per transaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/errors.h"
#include "store/writer.h"

static const char *const insert_sql = "INSERT INTO bw(tenant, k, note) VALUES (?1, ?2, ?3)";

/* One write: prepare, bind, step, finalize — the same work in both paths. */
static int insert_one(sqlite3 *db, int64_t tenant, int k)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(db, insert_sql, -1, &st, NULL) != SQLITE_OK)
        return PB_EINTERNAL;
    sqlite3_bind_int64(st, 1, tenant);
    sqlite3_bind_int(st, 2, k);
    sqlite3_bind_text(st, 3, "order_moved {\"from\":1,\"to\":2,\"position\":0}", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : PB_EINTERNAL;
}

static sqlite3 *open_db(const char *path, const char *sync)
{
    sqlite3 *db;
    char sql[200];
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; "
             "CREATE TABLE IF NOT EXISTS bw(id INTEGER PRIMARY KEY, tenant INTEGER, k INTEGER, "
             "note TEXT)", sync);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "setup: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    return db;
}

/* ---------------------------------------------------------------- plain loop */

static double plain(const char *path, const char *sync, int jobs)
{
    sqlite3 *db = open_db(path, sync);
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < jobs; i++) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            insert_one(db, 1, i) != 0 ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "plain: %s\n", sqlite3_errmsg(db));
            exit(1);
        }
    }
    double s = (uv_hrtime() - t0) / 1e9;
    sqlite3_close(db);
    return s;
}

/* ---------------------------------------------------------------- through the writer */

struct run {
    struct writer *w;
    int remaining;              /* writes still to submit */
    int failed;
};

struct submitter {
    struct run *r;
    int64_t tenant;
    int k;
};

static int sub_run(struct db *wdb, void *ctx)
{
    sqlite3 *db = wdb->lite;
    struct submitter *s = ctx;
    return insert_one(db, s->tenant, s->k);
}

static void sub_done(void *ctx, int status, uint64_t seq);

static void sub_next(struct submitter *s)
{
    if (s->r->remaining <= 0)
        return;
    s->k = s->r->remaining--;
    if (writer_submit(s->r->w, s->tenant, NULL, sub_run, sub_done, s) != 0)
        s->r->failed++;
}

static void sub_done(void *ctx, int status, uint64_t seq)
{
    struct submitter *s = ctx;
    (void)seq;
    if (status != 0)
        s->r->failed++;
    sub_next(s);
}

static double via_writer(const char *path, const char *sync, int jobs, int submitters,
                         bool same_tenant, struct writer_stats *st)
{
    uv_loop_t loop;
    struct run r = { .remaining = jobs };
    struct submitter *subs = calloc((size_t)submitters, sizeof(*subs));
    struct writer_options o = { .synchronous = sync };

    sqlite3_close(open_db(path, sync));         /* the table */
    uv_loop_init(&loop);
    if (subs == NULL || writer_open(&r.w, &loop, path, &o) != 0)
        exit(1);
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < submitters; i++) {
        subs[i] = (struct submitter){ .r = &r, .tenant = same_tenant ? 1 : 1 + i };
        sub_next(&subs[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);              /* returns when nothing is outstanding */
    double s = (uv_hrtime() - t0) / 1e9;
    writer_stats(r.w, st);
    writer_close(r.w, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0 || r.failed != 0) {
        fprintf(stderr, "writer run: %d failed writes\n", r.failed);
        exit(1);
    }
    free(subs);
    return s;
}

static void fresh(const char *path)
{
    char p[600];
    remove(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    remove(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    remove(p);
}

int main(int argc, char **argv)
{
    int jobs = argc > 1 ? atoi(argv[1]) : 20000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    static const char *const syncs[] = { "NORMAL", "FULL" };
    static const struct { const char *name; int subs; bool same; } runs[] = {
        { "writer, 1 submitter", 1, false },
        { "writer, 8 tenants", 8, false },
        { "writer, 8 same tenant", 8, true },
    };
    char path[512];

    if (jobs <= 0)
        jobs = 20000;
    snprintf(path, sizeof(path), "%s/writer_bench.%d.db", dir, (int)uv_os_getpid());
    printf("%d one-row writes per line, closed-loop submitters, database %s\n", jobs, path);
    printf("%-7s %-22s %10s %10s %9s\n", "sync", "path", "jobs/s", "commits/s", "jobs/txn");
    for (size_t i = 0; i < 2; i++) {
        fresh(path);
        double s = plain(path, syncs[i], jobs);
        printf("%-7s %-22s %10.0f %10.0f %9.2f\n", syncs[i], "plain loop", jobs / s, jobs / s,
               1.0);
        for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
            struct writer_stats st;
            fresh(path);
            s = via_writer(path, syncs[i], jobs, runs[k].subs, runs[k].same, &st);
            printf("%-7s %-22s %10.0f %10.0f %9.2f\n", syncs[i], runs[k].name, jobs / s,
                   st.transactions / s, (double)st.jobs_committed / (double)st.transactions);
        }
    }
    fresh(path);
    return 0;
}
