#!/usr/bin/env bash
# `make cluster` (issue 13 item 4, SPEC §12; docs/postgresql.md "make cluster"): a PostgreSQL
# cluster in a temp dir, three planboard nodes on loopback ports and HAProxy in front on
# 127.0.0.1:PORT (cluster/haproxy.cfg), with the demo tenant. Prints the URLs and the demo
# password, then runs until Ctrl-C / SIGTERM / SIGHUP, when it stops everything it started
# and removes the temp dir. Exit 0 after such a stop, 1 with a reason when the start failed.
#
# Environment:
#   PORT=8080                  HAProxy's port (the one URL to open)
#   PB_BIN=build/planboard     the server binary (make cluster builds it)
#   PLANBOARD_DEMO_PASSWORD    the demo users' password (default: a random one, printed)
#   PB_CLUSTER_DIR             the temp dir (default: a new /tmp/planboard-cluster.XXXXXX);
#                              must not exist or be empty. Holds nodeN.ini, nodeN.log,
#                              haproxy.cfg, haproxy.log, jwt.secret, pg/ (the database) and,
#                              once everything answers, cluster.env (ports and pids, for tests).
#   PB_CLUSTER_LOG_LEVEL=info  the nodes' log_level (bench/cluster.mjs: warn, as bench/run.py)
#   PB_CLUSTER_LOCK_TTL=30     the nodes' drag-lock TTL in seconds (tests: shorter)
#   PB_CLUSTER_DB=postgresql   the nodes share one PostgreSQL database `planboard`.
#   PB_CLUSTER_DB=sqlite       FOR TESTING THIS SCRIPT ONLY: each node gets its own SQLite file,
#                              so the nodes do NOT share state (a move on one node is not seen
#                              on another); test/pg/cluster-smoke.sh can use it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGT="$ROOT/scripts/pg-temp.sh"
FRONT_PORT=${PORT:-8080}
BIN=${PB_BIN:-$ROOT/build/planboard}
MODE=${PB_CLUSTER_DB:-postgresql}
NODES=3

die() { echo "cluster: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN: no server binary (make all)"
command -v haproxy >/dev/null || die "no haproxy: apt-get install haproxy"
case $MODE in
    postgresql | sqlite) ;;
    *) die "PB_CLUSTER_DB must be postgresql or sqlite" ;;
esac
[[ $FRONT_PORT =~ ^[0-9]{1,5}$ ]] || die "PORT must be a number"

if [ -n "${PB_CLUSTER_DIR:-}" ]; then
    DIR=$(realpath -m "$PB_CLUSTER_DIR")
    if [ -e "$DIR" ]; then
        [ -d "$DIR" ] && [ -z "$(ls -A "$DIR")" ] || die "$DIR exists and is not empty"
    fi
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d /tmp/planboard-cluster.XXXXXX)
fi
chmod 755 "$DIR"   # as root the database runs as postgres and must get into $DIR/pg

PIDS=()            # nodes and haproxy, stopped in reverse order
PG_STARTED=0
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM HUP
    for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ $PG_STARTED = 1 ] && [ -f "$DIR/pg/pg-temp.state" ]; then "$PGT" stop "$DIR/pg" || rc=1; fi
    rm -rf "$DIR"
    echo "cluster: stopped" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

# A TCP port on 127.0.0.1 nobody listens on now and not handed out yet by this script, below
# the kernel's range of ephemeral ports: a port in that range may be the local end of an
# outgoing connection (a PostgreSQL client, HAProxy's checks), which a connect test does not
# see but which makes the node's bind fail ("port in use": seen in CI under ASan).
TAKEN=" $FRONT_PORT "
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[[ $EPHEMERAL_LOW =~ ^[0-9]+$ ]] && (( EPHEMERAL_LOW > 12000 )) || EPHEMERAL_LOW=32768
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (EPHEMERAL_LOW - 10000) ))
        case $TAKEN in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            TAKEN="$TAKEN$p "; echo "$p"; return
        fi
    done
    die "found no free port"
}

# 0 when GET /api/health on 127.0.0.1:$1 answers 200 (bash's /dev/tcp: no curl needed).
healthy() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == "HTTP/1."?" 200"* ]]
    ) 2>/dev/null
}

# Wait until $2 (a port) answers health, at most 60 s, while pid $1 lives; else show $3 (log).
wait_healthy() {
    local i
    for i in $(seq 1 600); do
        healthy "$2" && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$3" >&2 || true
    die "nothing answered GET /api/health on port $2 ($3)"
}

(exec 3<>"/dev/tcp/127.0.0.1/$FRONT_PORT") 2>/dev/null && die "port $FRONT_PORT is in use (PORT=...)"

if [ -z "${PLANBOARD_DEMO_PASSWORD:-}" ]; then
    PLANBOARD_DEMO_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
fi
export PLANBOARD_DEMO_PASSWORD

if [ $MODE = postgresql ]; then
    PG_STARTED=1
    "$PGT" start "$DIR/pg" >/dev/null
    DB_URL=$("$PGT" createdb "$DIR/pg" planboard)
fi

NODE_PORTS=()
for n in $(seq 1 $NODES); do
    NODE_PORTS+=("$(free_port)")
done
for n in $(seq 1 $NODES); do
    p=${NODE_PORTS[n - 1]}
    if [ $MODE = sqlite ]; then url="sqlite:$DIR/node$n.db"; else url=$DB_URL; fi
    cat >"$DIR/node$n.ini" <<EOF
; node $n of scripts/cluster.sh ($MODE)
[server]
bind = 127.0.0.1
port = $p
static_dir = $ROOT/web
log_level = ${PB_CLUSTER_LOG_LEVEL:-info}
[database]
url = $url
[auth]
; the same file for every node: a token from one node is valid on all
jwt_secret_file = $DIR/jwt.secret
[limits]
; every client reaches a node from HAProxy's address
max_conns_per_address = 100000
[locks]
ttl_seconds = ${PB_CLUSTER_LOCK_TTL:-30}
EOF
    # The first node creates jwt.secret and, on PostgreSQL, the demo tenant; the others start
    # after it answers. With separate SQLite files each node seeds its own demo tenant.
    cmd=serve
    { [ $n = 1 ] || [ $MODE = sqlite ]; } && cmd=demo
    PORT=$p "$BIN" $cmd --config "$DIR/node$n.ini" >"$DIR/node$n.log" 2>&1 &
    PIDS+=("$!")
    wait_healthy $! "$p" "$DIR/node$n.log"
done

sed -e "s/@FRONT_PORT@/$FRONT_PORT/" -e "s/@NODE1_PORT@/${NODE_PORTS[0]}/" \
    -e "s/@NODE2_PORT@/${NODE_PORTS[1]}/" -e "s/@NODE3_PORT@/${NODE_PORTS[2]}/" \
    "$ROOT/cluster/haproxy.cfg" >"$DIR/haproxy.cfg"
haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy -c refused $DIR/haproxy.cfg"
haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
wait_healthy $HAPROXY_PID "$FRONT_PORT" "$DIR/haproxy.log"

{
    echo "FRONT_PORT=$FRONT_PORT"
    echo "NODE_PORTS='${NODE_PORTS[*]}'"
    echo "NODE_PIDS='${PIDS[*]:0:$NODES}'"
    echo "HAPROXY_PID=$HAPROXY_PID"
    echo "MODE=$MODE"
    echo "DB_URL='${DB_URL:-}'"
} >"$DIR/cluster.env.tmp"
mv "$DIR/cluster.env.tmp" "$DIR/cluster.env"

cat <<EOF
planboard cluster ($MODE) in $DIR
  open      http://127.0.0.1:$FRONT_PORT   (HAProxy, round robin over the nodes)
EOF
for n in $(seq 1 $NODES); do
    echo "  node $n    http://127.0.0.1:${NODE_PORTS[n - 1]}   log $DIR/node$n.log"
done
[ $MODE = postgresql ] && echo "  database  $DB_URL"
[ $MODE = sqlite ] && echo "  database  one SQLite file per node: the nodes do NOT share state (script test mode)"
echo "  log in    tenant demo, users admin / scheduler / viewer, password $PLANBOARD_DEMO_PASSWORD"
echo "Ctrl-C stops everything and removes $DIR"

# Until a signal (the trap exits, cleanup runs) or HAProxy's end. A node may die: HAProxy
# takes it out and the others go on serving (test/pg/cluster-smoke.sh). `wait` returns at once
# when a trapped signal arrives.
wait $HAPROXY_PID || true
tail -n 20 "$DIR/haproxy.log" >&2 || true
die "haproxy ended"
