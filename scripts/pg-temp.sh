#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a directory, for tests and `make cluster` (issue 13,
# docs/postgresql.md "make cluster"). Debian's own binaries only (package postgresql):
#
#   scripts/pg-temp.sh start DIR [PORT] [--fast]
#       initdb + pg_ctl start in DIR (DIR/data; the unix socket in DIR itself), listening on
#       127.0.0.1:PORT (default: a free port), max_connections = 300 (~250 test servers over a
#       run, each with a few connections). Waits with pg_isready until the server accepts
#       connections, creates the role planboard (password planboard, LOGIN, CREATEDB) and prints
#       one line on stdout: postgresql://planboard:planboard@127.0.0.1:PORT/postgres
#       --fast: fsync, synchronous_commit and full_page_writes off, initdb --no-sync. For tests
#       only: a crash of the machine can lose or corrupt the cluster (never use it in production).
#   scripts/pg-temp.sh createdb DIR NAME [TEMPLATE]
#       CREATE DATABASE NAME OWNER planboard from template0 (or from TEMPLATE, e.g. one made
#       by `template`); NAME and TEMPLATE: [a-z_][a-z0-9_]{0,62}. Prints NAME's URL.
#   scripts/pg-temp.sh template DIR NAME SQLFILE
#       creates database NAME owned by planboard, loads SQLFILE into it as planboard and marks it
#       a template, so `createdb DIR X NAME` copies it (docs/postgresql.md: faster for tests).
#   scripts/pg-temp.sh url DIR [NAME]      prints the URL again (database NAME, default postgres)
#   scripts/pg-temp.sh psql DIR [ARGS...]  psql as the superuser over the socket (debugging)
#   scripts/pg-temp.sh restart DIR         pg_ctl stop -m fast, start again, wait until ready
#   scripts/pg-temp.sh stop DIR
#       pg_ctl stop -m fast, then removes DIR (only a DIR that `start` made: it holds
#       pg-temp.state).
#
# Root: initdb refuses to run as root, so as root the cluster runs as Debian's `postgres` user
# (made by the postgresql package; PG_TEMP_USER=name to choose another) and DIR is chown'ed to
# it; DIR's parent directories must be searchable by that user (a directory under /tmp is).
# As anyone else it runs as the calling user. Binaries: the newest /usr/lib/postgresql/*/bin
# (PG_BINDIR=... to choose), never /usr/local/bin (a fresh Debian has no symlinks there).
# Authentication: the superuser `postgres` only over the socket in DIR (trust); TCP on
# 127.0.0.1 with scram-sha-256 passwords. Locale C and UTF-8: text sorts bytewise, as in SQLite,
# and nothing depends on the machine's locale or time zone (timezone = UTC).
# Exit status: 0 on success; 1 with a one-line reason on stderr otherwise (start also prints the
# tail of the server log).
set -euo pipefail

die() { echo "pg-temp: $*" >&2; exit 1; }
usage() {
    sed -n '3,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

NAME_RE='^[a-z_][a-z0-9_]{0,62}$'
STATE=pg-temp.state

bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
        echo "$PG_BINDIR"; return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] ||
        die "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package"
    echo "$d"
}

# The user the cluster runs as: root hands it to an unprivileged user.
run_user() {
    if [ "$(id -u)" = 0 ]; then
        local u=${PG_TEMP_USER:-postgres}
        id -u "$u" >/dev/null 2>&1 ||
            die "running as root needs the user '$u' (Debian's postgresql package makes 'postgres')"
        echo "$u"
    else
        id -un
    fi
}

# Run a command as the cluster's user, from / (the user may not be able to enter the caller's
# working directory).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$RUNAS" -- "$@")
    else
        (cd / && "$@")
    fi
}

# A TCP port on 127.0.0.1 nobody listens on now (bash's /dev/tcp: no python or ss needed). A
# race with another process taking it is caught by `start`, which then tries another port.
pick_port() {
    local p i
    for i in $(seq 1 50); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"; return
        fi
    done
    die "found no free port"
}

load_state() {
    DIR=$(realpath -m "$1")
    [ -f "$DIR/$STATE" ] || die "$DIR: not a cluster made by pg-temp.sh start"
    # shellcheck disable=SC1090
    . "$DIR/$STATE"
}

# psql as the superuser over the socket; stops at the first error.
su_psql() {
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres "$@"
}

url() { echo "postgresql://planboard:planboard@127.0.0.1:$PORT/${1:-postgres}"; }

# Start the postmaster on $PORT and wait until it accepts connections. Returns 0 when ready,
# 3 when it died because the port was taken (the caller may try another), 1 otherwise.
start_server() {
    local pid i
    # In a file postgresql.conf includes, so a later plain `pg_ctl start` uses them too.
    printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
        "$PORT" "$DIR" | as_pg tee "$DIR/data/pg-temp-listen.conf" >/dev/null
    as_pg "$BIN/pg_ctl" start -W -s -D "$DIR/data" -l "$DIR/postgres.log" >/dev/null || return 1
    # Poll for the condition (the server answers), bounded: 600 x 0.1 s = 60 s.
    for i in $(seq 1 600); do
        if as_pg "$BIN/pg_isready" -q -h "$DIR" -p "$PORT" -t 1; then return 0; fi
        if [ -f "$DIR/data/postmaster.pid" ]; then
            pid=$(head -n 1 "$DIR/data/postmaster.pid")
            kill -0 "$pid" 2>/dev/null || break
        elif [ "$i" -gt 50 ]; then
            break   # 5 s and the postmaster has not even written its pid file
        fi
        sleep 0.1
    done
    if grep -q 'could not bind\|Address already in use' "$DIR/postgres.log" 2>/dev/null; then
        return 3
    fi
    return 1
}

cmd_start() {
    local dir=${1:?} port=${2:-} fast=0 a
    shift; [ $# -gt 0 ] && shift
    [ "$port" = --fast ] && { port=; fast=1; }
    for a in "$@"; do
        case $a in --fast) fast=1 ;; *) die "unknown option $a" ;; esac
    done
    if [ -n "$port" ]; then
        [[ $port =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] ||
            die "PORT must be a number 1024..65535"
    fi
    DIR=$(realpath -m "$dir")
    BIN=$(bindir)
    RUNAS=$(run_user)
    # Unix sockets paths are at most 107 bytes: DIR/.s.PGSQL.NNNNN
    [ ${#DIR} -le 90 ] || die "$DIR: too long for a unix socket path (at most 90 bytes)"
    if [ -e "$DIR" ]; then
        [ -d "$DIR" ] && [ -z "$(ls -A "$DIR")" ] || die "$DIR exists and is not an empty directory"
    fi
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [ "$(id -u)" = 0 ] && chown "$RUNAS": "$DIR"
    as_pg test -w "$DIR" ||
        die "$DIR: not writable by $RUNAS (its parent directories must be searchable by it)"
    {
        echo "BIN='$BIN'"
        echo "RUNAS='$RUNAS'"
    } >"$DIR/$STATE"

    local nosync=
    [ $fast = 1 ] && nosync=--no-sync
    if ! as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --locale=C $nosync \
            --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1; then
        tail -n 20 "$DIR/initdb.log" >&2
        die "initdb failed ($DIR/initdb.log)"
    fi
    {
        echo
        echo "# pg-temp.sh"
        echo "max_connections = 300"
        echo "timezone = 'UTC'"
        echo "log_timezone = 'UTC'"
        echo "password_encryption = 'scram-sha-256'"
        echo "include_if_exists = 'pg-temp-listen.conf'"
        if [ $fast = 1 ]; then
            echo "# --fast: tests only; a crash of the machine may lose or corrupt the cluster"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null

    local tries=1 rc
    [ -z "$port" ] && tries=10
    for _ in $(seq 1 $tries); do
        PORT=${port:-$(pick_port)}
        rm -f "$DIR/postgres.log"
        rc=0; start_server || rc=$?
        [ $rc = 0 ] && break
        [ $rc = 3 ] && [ -z "$port" ] && continue
        break
    done
    if [ $rc != 0 ]; then
        tail -n 20 "$DIR/postgres.log" >&2 || true
        die "the server did not start on port $PORT ($DIR/postgres.log)"
    fi
    echo "PORT='$PORT'" >>"$DIR/$STATE"
    su_psql -d postgres -c "CREATE ROLE planboard LOGIN CREATEDB PASSWORD 'planboard'"
    url
}

cmd_stop() {
    load_state "${1:?}"
    if [ -f "$DIR/data/postmaster.pid" ] &&
        ! as_pg "$BIN/pg_ctl" stop -s -D "$DIR/data" -m fast -w -t 60 >/dev/null 2>&1; then
        # Already stopped (a Ctrl-C reached the postmaster too): pg_ctl status says 3.
        local st=0
        as_pg "$BIN/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1 || st=$?
        [ $st = 3 ] || die "pg_ctl stop failed ($DIR/postgres.log)"
    fi
    rm -rf "$DIR"
}

# Restart the server (pg_ctl restart -m fast) and wait until it accepts connections again; for
# tests of the nodes' behaviour while the database is away.
cmd_restart() {
    load_state "${1:?}"
    as_pg "$BIN/pg_ctl" stop -s -D "$DIR/data" -m fast -w -t 60 >/dev/null ||
        die "pg_ctl stop failed ($DIR/postgres.log)"
    start_server || { tail -n 20 "$DIR/postgres.log" >&2; die "the server did not start again"; }
}

cmd_createdb() {
    local name=${2:?NAME} tmpl=${3:-template0}
    load_state "${1:?}"
    [[ $name =~ $NAME_RE ]] || die "database name '$name' must match $NAME_RE"
    [[ $tmpl =~ $NAME_RE ]] || die "template name '$tmpl' must match $NAME_RE"
    su_psql -d postgres -c "CREATE DATABASE \"$name\" OWNER planboard TEMPLATE \"$tmpl\""
    url "$name"
}

cmd_template() {
    local name=${2:?NAME} sql=${3:?SQLFILE}
    load_state "${1:?}"
    [[ $name =~ $NAME_RE ]] || die "database name '$name' must match $NAME_RE"
    [ -r "$sql" ] || die "$sql: cannot read"
    su_psql -d postgres -c "CREATE DATABASE \"$name\" OWNER planboard TEMPLATE template0"
    # The schema's objects belong to planboard, as when the server itself applies it.
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d "$name" \
        -c "SET ROLE planboard" -f - <"$sql" >/dev/null
    su_psql -d postgres -c "ALTER DATABASE \"$name\" IS_TEMPLATE true"
    url "$name"
}

[ $# -ge 2 ] || usage
cmd=$1; shift
case $cmd in
    start) cmd_start "$@" ;;
    stop) [ $# = 1 ] || usage; cmd_stop "$1" ;;
    restart) [ $# = 1 ] || usage; cmd_restart "$1" ;;
    createdb) [ $# -ge 2 ] && [ $# -le 3 ] || usage; cmd_createdb "$@" ;;
    template) [ $# = 3 ] || usage; cmd_template "$@" ;;
    url) load_state "$1"; url "${2:-postgres}" ;;
    psql) load_state "$1"; shift; su_psql -d postgres "$@" ;;
    *) usage ;;
esac
