-- schema-pg.sql: the PostgreSQL schema (SPEC §12). Placeholder until the translation lands.
SELECT 1;
