#!/usr/bin/env bash
# scripts/cluster.sh, end to end through HAProxy (issue 13 item 4): starts the cluster on a free
# port, then checks
#   1. GET /api/health through the front answers 200;
#   2. 30 requests through the front spread over the three nodes (each node's /metrics counts
#      its GET /api/auth/me answers: round robin gives each 10; at least 5 each is required);
#   3. a WebSocket upgrade through the front is switched (101) with a token from a login made
#      through the front;
#   4. after SIGKILL of one node, 30 requests through the front all answer (redispatch) and the
#      two others took them all; HAProxy's health check takes the node out;
#   5. SIGTERM to the script stops the nodes and HAProxy and removes its directory.
# Mode from PB_CLUSTER_DB (default sqlite: each node has its own SQLite file, enough for the
# above; postgresql once the server accepts postgresql:// URLs). PB_BIN: the server binary.
# Not part of `make test` yet. Exit 0 when all hold.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PB_CLUSTER_DB=${PB_CLUSTER_DB:-sqlite}
export PB_BIN=${PB_BIN:-$ROOT/build/planboard}
export PLANBOARD_DEMO_PASSWORD=demo-password-123
TMP=$(mktemp -d /tmp/pb-cluster-smoke.XXXXXX)
chmod 755 "$TMP"   # as root the database runs as postgres and must get into $TMP/cluster/pg
export PB_CLUSTER_DIR="$TMP/cluster"
CLUSTER_PID=
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
cleanup() {
    [ -n "$CLUSTER_PID" ] && kill -TERM "$CLUSTER_PID" 2>/dev/null && wait "$CLUSTER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# A free port for the front (bash's /dev/tcp probe; the script refuses a taken one).
for _ in $(seq 1 50); do
    FRONT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$FRONT") 2>/dev/null || break
done
PORT=$FRONT "$ROOT/scripts/cluster.sh" >"$TMP/cluster.out" 2>&1 &
CLUSTER_PID=$!

# Ready when the script wrote cluster.env (after HAProxy answered); bounded, and given up
# at once when the script ended.
for _ in $(seq 1 900); do
    [ -f "$PB_CLUSTER_DIR/cluster.env" ] && break
    kill -0 $CLUSTER_PID 2>/dev/null || { cat "$TMP/cluster.out"; echo "FAIL the cluster did not start"; exit 1; }
    sleep 0.1
done
[ -f "$PB_CLUSTER_DIR/cluster.env" ] || { cat "$TMP/cluster.out"; echo "FAIL not ready in 90 s"; exit 1; }
# shellcheck disable=SC1091
. "$PB_CLUSTER_DIR/cluster.env"
read -r -a NPORT <<<"$NODE_PORTS"
read -r -a NPID <<<"$NODE_PIDS"
B=http://127.0.0.1:$FRONT
echo "cluster ($MODE) up: front $FRONT, nodes ${NPORT[*]}"

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }
# The node's count of GET /api/auth/me answers (401 without a token); HAProxy's health checks
# go to /api/health, so only the requests of this test count here.
me_count() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
        sed -n 's/^planboard_http_requests_total{method="GET",route="\/api\/auth\/me",status="401"} \([0-9]*\)$/\1/p' |
        grep . || echo 0
}

# 1.
c=$(code "$B/api/health")
[ "$c" = 200 ] && ok "GET /api/health through HAProxy: 200" || bad "GET /api/health through HAProxy: $c"

# 2.
answered=0
for _ in $(seq 1 30); do [ "$(code "$B/api/auth/me")" = 401 ] && answered=$((answered + 1)); done
counts=(); sum=0; spread=1
for p in "${NPORT[@]}"; do
    n=$(me_count "$p"); counts+=("$n"); sum=$((sum + n)); [ "$n" -ge 5 ] || spread=0
done
if [ $answered = 30 ] && [ $sum = 30 ] && [ $spread = 1 ]; then
    ok "30 requests spread over the nodes: ${counts[*]}"
else
    bad "30 requests: $answered answered, per node ${counts[*]} (want 30 in all, >= 5 each)"
fi

# 3.
T=$(curl -s --max-time 10 "$B/api/auth/login" -H 'content-type: application/json' \
    -d "{\"tenant\":\"demo\",\"username\":\"scheduler\",\"password\":\"$PLANBOARD_DEMO_PASSWORD\"}" |
    sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
if [ -n "$T" ]; then
    status=$(curl -s -i -N --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
        -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        "$B/ws?token=$T" 2>/dev/null | head -n 1 | tr -d '\r' || true)
    [[ $status == "HTTP/1.1 101"* ]] && ok "WebSocket upgrade through HAProxy: $status" ||
        bad "WebSocket upgrade through HAProxy: '$status'"
else
    bad "login through HAProxy gave no access token"
fi

# 4.
kill -KILL "${NPID[1]}"
before=$(( $(me_count "${NPORT[0]}") + $(me_count "${NPORT[2]}") ))
answered=0
for _ in $(seq 1 30); do [ "$(code "$B/api/auth/me")" = 401 ] && answered=$((answered + 1)); done
after=$(( $(me_count "${NPORT[0]}") + $(me_count "${NPORT[2]}") ))
if [ $answered = 30 ] && [ $((after - before)) = 30 ]; then
    ok "node 2 killed: 30 of 30 requests answered by nodes 1 and 3"
else
    bad "node 2 killed: $answered of 30 answered, nodes 1 and 3 counted $((after - before))"
fi
# Two failed checks 500 ms apart take it out: wait for HAProxy to say so (at most 10 s).
for _ in $(seq 1 100); do grep -q 'node2 is DOWN' "$PB_CLUSTER_DIR/haproxy.log" && break; sleep 0.1; done
grep -q 'node2 is DOWN' "$PB_CLUSTER_DIR/haproxy.log" && ok "HAProxy took node 2 out" ||
    bad "HAProxy did not log node 2 DOWN within 10 s"

# 5.
kill -TERM $CLUSTER_PID
for _ in $(seq 1 300); do kill -0 $CLUSTER_PID 2>/dev/null || break; sleep 0.1; done
if kill -0 $CLUSTER_PID 2>/dev/null; then
    bad "the script still runs 30 s after SIGTERM"
else
    wait $CLUSTER_PID 2>/dev/null || true
    CLUSTER_PID=
    left=0
    for pid in "${NPID[0]}" "${NPID[2]}" "$HAPROXY_PID"; do kill -0 "$pid" 2>/dev/null && left=1; done
    if [ $left = 0 ] && [ ! -e "$PB_CLUSTER_DIR" ]; then
        ok "SIGTERM: nodes and HAProxy stopped, $PB_CLUSTER_DIR removed"
    else
        bad "SIGTERM: something is left (processes or $PB_CLUSTER_DIR)"
    fi
fi

[ $fail = 0 ] && echo "test/pg/cluster-smoke.sh ($PB_CLUSTER_DB): all passed"
exit $fail
