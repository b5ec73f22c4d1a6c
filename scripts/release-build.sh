#!/usr/bin/env bash
# The release build the Dockerfiles run (static Swift standard library), then a smoke run of each binary.
# Slow (many minutes on 2 cores), so it is not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product claude-runner
swift build -c release --static-swift-stdlib --product claude-runner-client
bin="$(swift build -c release --show-bin-path)"
"$bin/claude-runner" --help >/dev/null
"$bin/claude-runner-client" --help >/dev/null
echo "release binaries OK: $bin/claude-runner $bin/claude-runner-client"
ldd "$bin/claude-runner" | grep -c swift || true
