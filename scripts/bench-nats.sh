#!/usr/bin/env bash
# Request/reply round trips per second through our Swift NATS client and through nats-py, against the
# same local nats-server, in one run. Not part of the test suite (it measures; it does not assert).
#   scripts/bench-nats.sh [count] [payload-bytes]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20000}"
size="${2:-16}"
command -v nats-server >/dev/null || { echo "nats-server is required (apt-get install nats-server)"; exit 1; }
python3 -c "import nats" 2>/dev/null || pip install -q nats-py

swift build -c release --product nats-bench >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.5
url="nats://127.0.0.1:$port"
for concurrency in 1 16; do
  .build/release/nats-bench "$url" "$count" "$concurrency" "$size"
  python3 scripts/nats_bench.py "$url" "$count" "$concurrency" "$size"
done
