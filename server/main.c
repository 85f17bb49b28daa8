/*
 * planboard — the command line of SPEC §7:
 *   planboard serve [--config FILE]
 *   planboard demo [--config FILE]
 *   planboard tenant create SLUG --name NAME --admin USER [--email EMAIL] [--config FILE]
 * Exit status 0 after a clean shutdown; non-zero with a one-line reason otherwise.
 */
#include "server/server_int.h"

#include "server/ratelimit.h"
#include "store/checkpoint.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: planboard serve [--config FILE]\n"
            "       planboard demo [--config FILE]\n"
            "       planboard tenant create SLUG --name NAME --admin USER [--email EMAIL] "
            "[--config FILE]\n"
            "         (admin password from stdin or PLANBOARD_PASSWORD)\n");
}

/* mkdir -p of the directory part of path (var/planboard.db -> var). */
static void ensure_parent_dir(const char *path)
{
    char dir[PB_CONFIG_STR];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0750);
            *p = '/';
        }
    }
    mkdir(dir, 0750);
}

static int load_config(struct config *cfg, const char *path)
{
    char err[600];
    config_defaults(cfg);
    if (path != NULL && config_load(cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "planboard: bad config: %s\n", err);
        return -1;
    }
    if (config_env(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "planboard: bad config: %s\n", err);
        return -1;
    }
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++)
        if (strcmp(cfg->log_level, levels[i]) == 0)
            pb_log_level = (enum log_level)i;
    return 0;
}

/* Open the configured database. serving: FULL = group commit: SQLite writes without syncing,
 * durable.c syncs the WAL off the loop and holds every answer until its commit is on disk.
 * Not serving (the CLI: no durable.c thread runs), FULL is SQLite's own: every COMMIT is
 * synced before it returns, so what the CLI reports done is on disk ([database] synchronous,
 * SPEC §7). 0, or -1 with a one-line reason on stderr. */
static int open_store(const struct config *cfg, struct store **s, bool serving)
{
    char why[300] = "";
    struct store_options o = { .synchronous = cfg->synchronous,
                               .group_commit = serving
                                               && strcasecmp(cfg->synchronous, "FULL") == 0
                                               && !store_url_is_postgres(cfg->db_path),
                               .max_orders_per_tenant = (size_t)cfg->max_orders_per_tenant,
                               .errbuf = why, .errlen = sizeof(why) };
    bool pg = store_url_is_postgres(cfg->db_path);
    if (!pg)
        ensure_parent_dir(cfg->db_path);
    if (store_open(s, cfg->db_path, &o) != 0) {
        /* a PostgreSQL URL may hold a password: not echoed */
        fprintf(stderr, "planboard: cannot open database %s: %s\n",
                pg ? "(PostgreSQL url)" : cfg->db_path, why);
        return -1;
    }
    return 0;
}

/* Create the demo tenant of SPEC §8 unless it exists; print its passwords. */
static int demo_seed(struct store *s)
{
    static const char *const names[3] = { "admin", "scheduler", "viewer" };
    char pw[3][40], hashes[3][PB_HASH_MAX];
    const char *hp[3] = { hashes[0], hashes[1], hashes[2] };
    const char *fixed = getenv("PLANBOARD_DEMO_PASSWORD");
    struct tenant t;
    int64_t tid;

    if (store_tenant_by_slug(s, "demo", &t) == 0) {
        tenant_cleanup(&t);
        fprintf(stderr, "planboard: tenant demo exists (its passwords were printed when it was "
                "created)\n");
        return 0;
    }
    if (fixed != NULL && strlen(fixed) < PB_PASSWORD_MIN) {
        fprintf(stderr, "planboard: PLANBOARD_DEMO_PASSWORD must be at least %d characters\n",
                PB_PASSWORD_MIN);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (fixed != NULL)
            snprintf(pw[i], sizeof(pw[i]), "%s", fixed);
        else if (auth_random_hex(pw[i], 8) != 0)
            return -1;
        if (auth_password_hash(pw[i], hashes[i]) != 0)
            return -1;
    }
    if (store_demo_create(s, hp, &tid) != 0) {
        fprintf(stderr, "planboard: could not create the demo tenant: %s\n", store_errmsg(s));
        return -1;
    }
    for (int i = 0; i < 3; i++)
        printf("demo user %s password %s\n", names[i], pw[i]);
    fflush(stdout);
    return 0;
}

static int serve(const struct config *cfg, bool demo)
{
    struct app app;
    uv_loop_t loop;
    int rc = 1;

    memset(&app, 0, sizeof(app));
    app.cfg = *cfg;
    app.started_ms = pb_now_ms();
    if (open_store(cfg, &app.store, true) != 0)
        return 1;
    app.postgres = store_is_postgres(app.store);
    app.room_log.on_lost = room_cull_all;
    if (auth_random_hex(app.node, PB_EPOCH_LEN / 2) != 0)
        goto out_store;
    if (demo && demo_seed(app.store) != 0)
        goto out_store;
    ensure_parent_dir(cfg->jwt_secret_file);
    if (auth_secret_load(cfg->jwt_secret_file, app.jwt_key, &app.jwt_key_len) != 0) {
        fprintf(stderr, "planboard: cannot read or create the JWT secret %s\n",
                cfg->jwt_secret_file);
        goto out_store;
    }
    if (room_log_start(&app) != 0 || (app.locks = lock_table_new()) == NULL
        || (app.login_limit = ratelimit_new((int)cfg->login_rate_per_minute,
                                                  (int)cfg->login_max_inflight)) == NULL
        || session_init(&app) != 0 || session_token_cache_init(&app) != 0)
        goto out_locks;
    if (uv_loop_init(&loop) != 0)
        goto out_locks;
    app.loop = &loop;
    if (server_start(&app) != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);  /* let lws close what it opened on our loop */
        server_cleanup(&app);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&loop) != 0)
            pb_log(LOG_WARN, "loop closed with handles still open");
        goto out_locks;
    }
    /* PostgreSQL: every COMMIT is durable when it returns (synchronous_commit = on, the
     * server's default): no group-commit thread. */
    if (strcasecmp(cfg->synchronous, "FULL") == 0 && !store_is_postgres(app.store)
        && durable_start(&app) != 0) {
        fprintf(stderr, "planboard: cannot start the group-commit thread\n");
        app.exit_code = 1;
        server_stop(&app);
    }
    if (app.postgres && bus_start(&app) != 0) {    /* SPEC §12: the nodes' events */
        fprintf(stderr, "planboard: cannot LISTEN on PostgreSQL\n");
        app.exit_code = 1;
        server_stop(&app);
    }
    if (app.postgres)
        room_presence_beat(&app);       /* this node is alive before its first user joins */
    if (!app.postgres
        && checkpointer_start(app.store, &app.checkpointer) != 0)   /* issue 9: not in a COMMIT */
        pb_log(LOG_WARN, "no checkpoint thread (%s): SQLite checkpoints inside commits",
               store_errmsg(app.store));
    uv_run(&loop, UV_RUN_DEFAULT);
    server_cleanup(&app);
    /* Anything left (an argon2 job in flight) finishes before the loop closes. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        pb_log(LOG_WARN, "loop closed with handles still open");
    room_log_finish(&app);              /* the writer is gone: the rest of the log, clean mark */
    rc = app.exit_code;
    pb_log(LOG_INFO, "stopped");
out_locks:
    lock_table_free(app.locks);
    ratelimit_free(app.login_limit);
    session_cleanup(&app);
    metrics_cleanup(&app);
    session_token_cache_free(&app);
    durable_free(&app);
    bus_free(&app);
    checkpointer_stop(app.store, app.checkpointer);
    app.checkpointer = NULL;
out_store:
    store_free(app.store);
    return rc;
}

static int read_password(char *buf, size_t len)
{
    const char *env = getenv("PLANBOARD_PASSWORD");
    if (env != NULL) {
        snprintf(buf, len, "%s", env);
    } else {
        if (fgets(buf, (int)len, stdin) == NULL)
            return -1;
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    return strlen(buf) >= PB_PASSWORD_MIN ? 0 : -1;
}

static int tenant_create(const struct config *cfg, const char *slug, const char *name,
                         const char *admin, const char *email)
{
    struct store *s;
    char pw[256], hash[PB_HASH_MAX], mail[200];
    int64_t tid, uid;
    int rc;

    if (read_password(pw, sizeof(pw)) != 0) {
        fprintf(stderr, "planboard: the admin password (stdin or PLANBOARD_PASSWORD) must be at "
                "least %d characters\n", PB_PASSWORD_MIN);
        return 2;
    }
    if (auth_password_hash(pw, hash) != 0 || open_store(cfg, &s, false) != 0)
        return 1;
    if (email == NULL) {
        snprintf(mail, sizeof(mail), "%s@%s.invalid", admin, slug);
        email = mail;
    }
    rc = store_exec(s, store_is_postgres(s) ? "BEGIN" : "BEGIN IMMEDIATE");
    if (rc == 0)
        rc = store_tenant_create(s, slug, name, &tid);
    if (rc == 0)
        rc = store_user_create(s, tid, admin, email, hash, ROLE_ADMIN, "", "", &uid);
    if (rc == 0)
        rc = store_exec(s, "COMMIT");
    else
        store_exec(s, "ROLLBACK");
    if (rc != 0)
        fprintf(stderr, "planboard: cannot create tenant %s: %s\n", slug,
                rc == PB_ECONFLICT ? "slug taken" : rc == PB_EVALIDATION
                ? "slug must match [a-z0-9-]{2,40}; name, admin and email valid UTF-8"
                : store_errmsg(s));
    else
        printf("tenant %s created (id %lld) with admin %s\n", slug, (long long)tid, admin);
    store_free(s);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* argon2 allocates 19 MiB per hash on worker threads. A fixed mmap threshold makes such
     * blocks go back to the system when freed; glibc's dynamic threshold would otherwise keep
     * them in each thread's arena (bench/: ~40 MB idle RSS after a few logins). */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    /* A fixed mmap threshold also fixes the trim threshold at glibc's 128 KiB: then nearly
     * every free() on the writer thread's arena trimmed its heap (madvise(MADV_DONTNEED)),
     * a TLB shootdown across CPUs, and the next malloc faulted the pages back in — SQLite opens
     * and closes an ephemeral table per move (the analytics trigger's subquery), ~85 KB each
     * time. perf: madvise + page faults were ~30% of the server's CPU in the durable moves
     * bench; 8 movers went from ~780 to ~280 µs of server CPU per move (bench/README.md
     * "malloc trimming"). Keep up to 8 MiB of free memory at the top of each heap. */
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    const char *config_path = NULL, *name = NULL, *admin = NULL, *email = NULL;
    const char *pos[4] = { NULL };
    int npos = 0;
    struct config cfg;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc)
            admin = argv[++i];
        else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
            email = argv[++i];
        else if (argv[i][0] == '-' || npos == 4) {
            usage();
            return 2;
        } else
            pos[npos++] = argv[i];
    }
    if (npos == 0) {
        usage();
        return 2;
    }
    if (load_config(&cfg, config_path) != 0)
        return 2;
    if (strcmp(pos[0], "serve") == 0 && npos == 1)
        return serve(&cfg, false);
    if (strcmp(pos[0], "demo") == 0 && npos == 1)
        return serve(&cfg, true);
    if (strcmp(pos[0], "tenant") == 0 && npos == 3 && strcmp(pos[1], "create") == 0
        && name != NULL && admin != NULL)
        return tenant_create(&cfg, pos[2], name, admin, email);
    usage();
    return 2;
}
