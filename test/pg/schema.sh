#!/usr/bin/env bash
# schema-pg.sql against schema.sql (issue 13; docs/postgresql.md "The schema on PostgreSQL").
# Starts a throwaway PostgreSQL (scripts/pg-temp.sh --fast) and checks:
#   1. schema-pg.sql loads, and loads a second time without changing anything (pg_dump
#      --schema-only is the same after both);
#   2. tables, their columns in order, NOT NULL and defaults, index names and trigger names are
#      those of a SQLite database made from schema.sql (sqlite3 CLI);
#   3. the same scripted INSERT / UPDATE / DELETE sequence on audit_log leaves the same rows in
#      the analytics tables and analytics_summary_state on both engines (every trigger fires);
#   4. schema-pg-rls.sql: a transaction sees and writes only the tenant it names, none when it
#      names none, every tenant as planboard_system; the triggers still work under it.
# Needs: postgresql, sqlite3 (TEST_PKGS). Exit 0 when all hold; else the diff and 1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGT="$ROOT/scripts/pg-temp.sh"
TMP=$(mktemp -d /tmp/pb-schema-test.XXXXXX)
chmod 755 "$TMP"   # as root the cluster's user must get into $TMP/pg
cleanup() {
    "$PGT" stop "$TMP/pg" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

fail=0
check() {   # check NAME FILE_SQLITE FILE_PG
    if diff -u "$2" "$3" >"$TMP/diff"; then
        echo "ok   $1"
    else
        echo "FAIL $1 (- SQLite schema.sql, + PostgreSQL schema-pg.sql)"; cat "$TMP/diff"; fail=1
    fi
}

"$PGT" start "$TMP/pg" --fast >/dev/null
URL=$("$PGT" createdb "$TMP/pg" schema_test)
PGBIN=$(sed -n "s/^BIN='\(.*\)'$/\1/p" "$TMP/pg/pg-temp.state")
pq() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$URL" "$@"; }
su() { "$PGT" psql "$TMP/pg" -d schema_test -A -t "$@"; }

# ---------------------------------------------------------------- 1. twice, nothing changes
# (pg_dump's \restrict lines carry a random key: left out)
dump() { "$PGBIN/pg_dump" --schema-only "$URL" | grep -v '^\\\(un\)\{0,1\}restrict '; }
pq -f "$ROOT/schema-pg.sql" >/dev/null
dump >"$TMP/dump1"
pq -f "$ROOT/schema-pg.sql" >/dev/null
dump >"$TMP/dump2"
check "schema-pg.sql applied twice: the same schema" "$TMP/dump1" "$TMP/dump2"

# ---------------------------------------------------------------- 2. the same tables and columns
# Tables only PostgreSQL has (SQLite keeps them in memory: one process): left out of the
# comparisons.
PG_ONLY="'drag_locks', 'presence', 'nodes'"
DB="$TMP/s.db"
sqlite3 "$DB" <"$ROOT/schema.sql"
sl() { sqlite3 -batch "$DB" "$@"; }
# name, NOT NULL (a primary key column counts: PostgreSQL makes it NOT NULL), default with the
# PostgreSQL cast suffix removed.
sl "SELECT m.name || '.' || p.name || ' notnull=' || (p.\"notnull\" OR p.pk > 0) || ' default=' || COALESCE(p.dflt_value, '')
    FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid" >"$TMP/cols.sqlite"
pq -c "SELECT table_name || '.' || column_name || ' notnull=' || (is_nullable = 'NO')::int || ' default=' ||
           COALESCE(regexp_replace(column_default, '::(text|bigint|integer)$', ''), '')
       FROM information_schema.columns WHERE table_schema = 'public'
       AND table_name NOT IN ($PG_ONLY)
       ORDER BY table_name, ordinal_position" >"$TMP/cols.pg"
check "tables, columns, NOT NULL, defaults" "$TMP/cols.sqlite" "$TMP/cols.pg"

sl "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name" >"$TMP/idx.sqlite"
# PostgreSQL names the indexes of PRIMARY KEY and UNIQUE constraints itself (SQLite: autoindex).
pq -c "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
       AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))
       AND tablename NOT IN ($PG_ONLY)
       ORDER BY indexname" >"$TMP/idx.pg"
check "index names" "$TMP/idx.sqlite" "$TMP/idx.pg"
# UNIQUE constraints and primary keys by their columns; an INTEGER PRIMARY KEY (a rowid in
# SQLite, a BIGINT key here) has no index in SQLite and is left out of both.
sl "SELECT m.name || '|' || il.origin || '|' || (SELECT group_concat(ii.name) FROM pragma_index_info(il.name) ii)
    FROM sqlite_master m, pragma_index_list(m.name) il
    WHERE m.type = 'table' AND il.origin IN ('u', 'pk')" | LC_ALL=C sort >"$TMP/uniq.sqlite"
pq -c "SELECT t.relname || '|' || CASE c.contype WHEN 'u' THEN 'u' ELSE 'pk' END || '|' ||
              string_agg(a.attname, ',' ORDER BY k.ord)
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
       WHERE n.nspname = 'public' AND c.contype IN ('u', 'p') AND t.relname NOT IN ($PG_ONLY)
       GROUP BY t.relname, c.contype, c.oid
       HAVING NOT (c.contype = 'p' AND count(*) = 1 AND bool_and(a.atttypid = 'bigint'::regtype))" |
    LC_ALL=C sort >"$TMP/uniq.pg"
check "UNIQUE constraints and primary keys (columns)" "$TMP/uniq.sqlite" "$TMP/uniq.pg"
sl "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name" >"$TMP/trg.sqlite"
pq -c "SELECT DISTINCT trigger_name FROM information_schema.triggers
       WHERE trigger_name <> 'analytics_truncate_tamper' ORDER BY trigger_name" >"$TMP/trg.pg"
check "trigger names" "$TMP/trg.sqlite" "$TMP/trg.pg"

# ---------------------------------------------------------------- 3. the triggers, step by step
# Plain SQL both engines run; after each step the analytics tables are printed.
SHOW="SELECT 'routes', tenant_id, from_wc, to_wc, moves, depth_sum, depth_n FROM analytics_routes ORDER BY 2, 3, 4;
SELECT 'place', tenant_id, order_id, work_centre_id, arrived FROM analytics_order_place ORDER BY 2, 3;
SELECT 'dwell', tenant_id, work_centre_id, samples, pos_seconds FROM analytics_dwell ORDER BY 2, 3;
SELECT 'hist', tenant_id, work_centre_id, tenths, samples FROM analytics_dwell_hist ORDER BY 2, 3, 4;
SELECT 'state', count(*) FROM analytics_summary_state;"
mv() {  # mv TENANT ORDER FROM TO DEPTH_TO TIMESTAMP: one order_moved audit row
    echo "INSERT INTO audit_log(tenant_id, event_type, order_id, from_work_centre_id, to_work_centre_id, queue_depth_to, timestamp) VALUES ($1, 'order_moved', $2, $3, $4, $5, '$6');"
}
{
    echo "INSERT INTO tenants(slug, name, created_at) VALUES ('a', 'A', '2026-01-01T00:00:00Z'), ('b', 'B', '2026-01-01T00:00:00Z');"
    echo "INSERT INTO analytics_summary_state(version) VALUES (1);"
    step() { echo "SELECT '-- $1';"; shift; for s in "$@"; do echo "$s"; done; echo "$SHOW"; }
    step "backlog to 1, depth 3" "$(mv 1 10 NULL 1 3 2026-11-21T09:00:00Z)"
    step "1 to 2 after 2.5 h, no depth" "$(mv 1 10 1 2 NULL 2026-11-21T11:30:00Z)"
    step "reorder inside 2: nothing" "$(mv 1 10 2 2 5 2026-11-21T12:00:00Z)"
    step "2 to backlog with a short time: no sample, arrival unknown" "$(mv 1 10 2 NULL 1 short)"
    step "backlog to 1 on Feb 31 (rolls over to Mar 3)" "$(mv 1 11 NULL 1 NULL '2026-02-31T00:00:00')"
    step "1 to 3 on Mar 3: a zero sample" "$(mv 1 11 1 3 2 '2026-03-03 00:00:00')"
    step "back in time: a sample of 0" "$(mv 1 13 NULL 1 NULL 2026-11-21T10:00:00Z)" "$(mv 1 13 1 2 NULL 2026-11-21T09:00:00Z)"
    step "26 h in 3 (tenths rounding)" "$(mv 1 11 3 1 7 '2026-03-04T02:00:00.123Z')"
    step "no order id: a route, no dwell" "$(mv 1 NULL 1 2 4 2026-11-21T13:00:00Z)"
    step "tenant 2 apart; 210 s rounds up to 0.1 h" "$(mv 2 10 NULL 1 1 2026-11-21T09:00:00Z)" "$(mv 2 10 1 2 1 2026-11-21T09:03:30Z)"
    step "another event type: nothing" \
        "INSERT INTO audit_log(tenant_id, event_type, order_id, from_work_centre_id, to_work_centre_id, timestamp) VALUES (1, 'order_updated', 10, 1, 2, '2026-11-21T14:00:00Z');"
    step "UPDATE of an order_updated row: still fresh" "UPDATE audit_log SET event_data = '{}' WHERE event_type = 'order_updated';"
    step "UPDATE of an order_moved row: stale" "UPDATE audit_log SET event_data = '{}' WHERE id = 1;"
    step "UPDATE to order_moved: stale" "INSERT INTO analytics_summary_state(version) VALUES (1);" \
        "UPDATE audit_log SET event_type = 'order_moved' WHERE event_type = 'order_updated';"
    step "DELETE of another type: still fresh" "INSERT INTO analytics_summary_state(version) VALUES (1);" \
        "INSERT INTO audit_log(tenant_id, event_type, timestamp) VALUES (1, 'user_created', '2026-11-21T15:00:00Z');" \
        "DELETE FROM audit_log WHERE event_type = 'user_created';"
    step "DELETE of an order_moved row: stale" "DELETE FROM audit_log WHERE id = 2;"
} >"$TMP/seq.sql"
sl <"$TMP/seq.sql" >"$TMP/seq.sqlite"
pq -f "$TMP/seq.sql" >"$TMP/seq.pg"
check "analytics triggers: the same rows after every step" "$TMP/seq.sqlite" "$TMP/seq.pg"
grep -q '^dwell|1|1|' "$TMP/seq.pg" && grep -q '^hist|1|3|' "$TMP/seq.pg" ||
    { echo "FAIL the sequence made no dwell samples (a test that cannot fail)"; fail=1; }
pq -c "INSERT INTO analytics_summary_state(version) VALUES (1); TRUNCATE audit_log;
       SELECT 'state after TRUNCATE', count(*) FROM analytics_summary_state" >"$TMP/trunc.pg"
echo "state after TRUNCATE|0" >"$TMP/trunc.want"
check "TRUNCATE audit_log makes the summaries stale (PostgreSQL only)" "$TMP/trunc.want" "$TMP/trunc.pg"

# ---------------------------------------------------------------- 4. row-level security
su -q -v ON_ERROR_STOP=1 -f "$ROOT/schema-pg-rls.sql" >/dev/null
su -q -v ON_ERROR_STOP=1 -f "$ROOT/schema-pg-rls.sql" >/dev/null   # idempotent
rls() {  # rls SQL...: as planboard, in one transaction
    { pq -c "BEGIN" "$@" -c "COMMIT" 2>&1 || true; } | sed 's/^psql:[^ ]* //'
}
set1="SELECT 'named ' || set_config('planboard.tenant_id', '1', true)"
# The TRUNCATE above emptied audit_log: a row of each tenant, written across the fence.
rls -c "SET LOCAL ROLE planboard_system" -c "$(mv 1 30 NULL 1 1 2026-11-22T08:00:00Z)" \
    -c "$(mv 2 31 NULL 1 1 2026-11-22T08:00:00Z)" >/dev/null
{
    echo "none named:"; rls -c "SELECT count(*) FROM audit_log"
    echo "tenant 1:"; rls -c "$set1" -c "SELECT DISTINCT tenant_id FROM audit_log UNION SELECT -1 ORDER BY 1"
    echo "tenant 1 moves (the triggers run under the fence):"
    rls -c "$set1" -c "$(mv 1 20 NULL 4 1 2026-11-22T09:00:00Z)" \
        -c "SELECT tenant_id, order_id, work_centre_id FROM analytics_order_place WHERE order_id = 20"
    echo "tenant 1 writes a row of tenant 2:"; rls -c "$set1" -c "$(mv 2 21 NULL 4 1 2026-11-22T09:00:00Z)"
    echo "after the transaction:"; rls -c "SELECT count(*) FROM orders UNION ALL SELECT count(*) FROM audit_log"
    echo "planboard_system:"; rls -c "SET LOCAL ROLE planboard_system" -c "SELECT DISTINCT tenant_id FROM audit_log ORDER BY 1"
} >"$TMP/rls.pg"
pq -c "INSERT INTO audit_log(tenant_id, event_type, timestamp) VALUES (2, 'x', 't')" 2>/dev/null &&
    { echo "FAIL an INSERT without a tenant passed the fence"; fail=1; }
cat >"$TMP/rls.want" <<'EOF'
none named:
0
tenant 1:
named 1
-1
1
tenant 1 moves (the triggers run under the fence):
named 1
1|20|4
tenant 1 writes a row of tenant 2:
named 1
ERROR:  new row violates row-level security policy for table "audit_log"
after the transaction:
0
0
planboard_system:
1
2
EOF
check "schema-pg-rls.sql: one tenant per transaction" "$TMP/rls.want" "$TMP/rls.pg"

[ $fail = 0 ] && echo "test/pg/schema.sh: all passed"
exit $fail
