#!/bin/sh
# planboard benchmarks (bench/README.md): raise the open-file limit for 10,000 WebSocket
# clients, then run the scenarios. Arguments go to run.py (--smoke, --only board,fanout,...).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$(dirname "$0")/run.py" "$@"
