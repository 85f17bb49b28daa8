-- Row-level security on tenant_id: a second fence behind the WHERE tenant_id = ? of every query
-- (issue 13 item 1: "PostgreSQL row-level security on tenant_id as a second fence"). NOT applied
-- by the server yet, and not part of schema-pg.sql: with it applied, a connection that does not
-- name its tenant sees no tenant-scoped rows at all, and the C side does not name it yet.
--
-- Apply it after schema-pg.sql, as a superuser (it creates a role), e.g.
--   scripts/pg-temp.sh psql DIR -d planboard -f schema-pg-rls.sql
-- Idempotent: applying it again changes nothing.
--
-- What the C side must do to run with it (docs/postgresql.md "Row-level security"):
--   1. In every transaction that reads or writes one tenant's rows, first
--        SELECT set_config('planboard.tenant_id', $1, true)      -- $1: the tenant id as text
--      (true = transaction-local, like SET LOCAL: it ends with the transaction, so a pooled
--      connection never carries one tenant's id into another's transaction).
--   2. The few reads and writes that are not one tenant's, run in a transaction that first does
--        SET LOCAL ROLE planboard_system
--      e.g. the refresh-token lookup by hash (sessions.refresh_hash), the API key lookup by hash
--      (api_keys.key_hash), loading every tenant's board, room log and webhook cursors at start,
--      the webhook poller over all tenants, the analytics rebuild at start.
--   3. Connect as a role that is NOT a superuser and has no BYPASSRLS (planboard is neither).
-- Tables keep their owner (planboard); FORCE makes the policies bind the owner too.
-- tenants, schema_version, analytics_summary_state and server_state are not tenant-scoped.

SET client_min_messages = warning;   -- no NOTICE for each GRANT already given

-- The cross-tenant role: no login; planboard may SET ROLE to it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'planboard_system') THEN
        CREATE ROLE planboard_system NOLOGIN;
    END IF;
END $$;
GRANT planboard_system TO planboard;
GRANT USAGE ON SCHEMA public TO planboard_system;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO planboard_system;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO planboard_system;

-- The tenant this transaction works for: planboard.tenant_id as a number, NULL when unset,
-- empty (a transaction-local value that ended) or not a number. STABLE: evaluated once per
-- statement, so `tenant_id = pb_tenant()` is an index condition.
CREATE OR REPLACE FUNCTION pb_tenant() RETURNS BIGINT
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s ~ '^[0-9]{1,18}$' THEN s::BIGINT END
    FROM (SELECT current_setting('planboard.tenant_id', true) AS s) x
$$;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'sessions', 'work_centres', 'orders', 'order_steps',
            'audit_log', 'api_keys', 'scanner_events', 'analytics_routes',
            'analytics_order_place', 'analytics_dwell', 'analytics_dwell_hist',
            'tenant_calendars', 'calendar_shifts', 'calendar_holidays', 'webhooks',
            'webhook_deliveries', 'room_log', 'room_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                       WHERE tablename = t AND policyname = 'tenant_fence') THEN
            EXECUTE format('CREATE POLICY tenant_fence ON %I TO planboard '
                           'USING (tenant_id = pb_tenant()) WITH CHECK (tenant_id = pb_tenant())', t);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                       WHERE tablename = t AND policyname = 'all_tenants') THEN
            -- current_user, not just TO: planboard is a member of planboard_system, and a
            -- member (with INHERIT, the default) would get this policy too.
            EXECUTE format('CREATE POLICY all_tenants ON %I TO planboard_system '
                           'USING (current_user = ''planboard_system'') '
                           'WITH CHECK (current_user = ''planboard_system'')', t);
        END IF;
    END LOOP;
END $$;
