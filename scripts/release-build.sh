#!/usr/bin/env bash
# The release build the Dockerfiles run (static Swift standard library), then a smoke run of each binary.
# Slow (many minutes on 2 cores), so it is not part of `swift test`.
#   scripts/release-build.sh                 # builds in .build
#   SCRATCH_PATH=.build-release scripts/release-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=(--scratch-path "${SCRATCH_PATH:-.build}")
swift build "${scratch[@]}" -c release --static-swift-stdlib --product claude-runner
swift build "${scratch[@]}" -c release --static-swift-stdlib --product claude-runner-client
bin="$(swift build "${scratch[@]}" -c release --show-bin-path)"
"$bin/claude-runner" --help >/dev/null
"$bin/claude-runner-client" --help >/dev/null
if ldd "$bin/claude-runner" | grep -q libswiftCore; then
  echo "claude-runner links the Swift runtime dynamically; expected a static standard library" >&2
  exit 1
fi
echo "release binaries OK: $bin/claude-runner $bin/claude-runner-client"
