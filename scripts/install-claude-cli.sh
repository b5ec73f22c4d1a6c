#!/usr/bin/env bash
# Installs the real Claude Code CLI for the tests that drive it against a fake Anthropic API.
#
# The CLI ships as a binary inside the PyPI wheel of claude-agent-sdk (claude_agent_sdk/_bundled/claude);
# this fetches the pinned wheel with pip and unpacks only that binary into .tools/claude-cli/ (ignored by
# git). Running it again with the same pin does nothing. Prints the path of the installed binary last.
#
# Usage: scripts/install-claude-cli.sh [destination-directory]
set -euo pipefail

# The pin: bump both together (the second is what `claude --version` prints for that wheel).
SDK_VERSION=0.2.189
CLI_VERSION=2.1.332

cd "$(dirname "$0")/.."
dest="${1:-.tools/claude-cli}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
binary="$dest/claude"
marker="$dest/VERSION"
wanted="claude-agent-sdk $SDK_VERSION / Claude Code $CLI_VERSION"

if [ -x "$binary" ] && [ "$(cat "$marker" 2>/dev/null)" = "$wanted" ]; then
  echo "Claude Code $CLI_VERSION already installed" >&2
  echo "$binary"
  exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [ -z "$python" ]; then
  echo "install-claude-cli: python3 with pip is needed to download claude-agent-sdk" >&2
  exit 1
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/claude-cli.XXXXXX")"
partial="$dest/claude.partial"
trap 'rm -rf "$scratch" "$partial"' EXIT

echo "Downloading claude-agent-sdk $SDK_VERSION (the wheel is about 180 MB)" >&2
"$python" -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
  "claude-agent-sdk==$SDK_VERSION" -d "$scratch/wheel" >&2

wheel="$(ls "$scratch"/wheel/claude_agent_sdk-"$SDK_VERSION"-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ]; then
  echo "install-claude-cli: pip did not produce a claude-agent-sdk $SDK_VERSION wheel for this platform" >&2
  exit 1
fi

# Only the binary is needed; extracting it alone saves writing the rest of the wheel.
"$python" - "$wheel" "$partial" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    try:
        member = archive.open("claude_agent_sdk/_bundled/claude")
    except KeyError:
        sys.exit(f"install-claude-cli: {wheel} has no claude_agent_sdk/_bundled/claude")
    with member, open(target, "wb") as out:
        shutil.copyfileobj(member, out, 1 << 20)
PY
chmod 755 "$partial"

# The CLI must start here and be the pinned version; HOME is a scratch folder so nothing is written to ours.
reported="$(HOME="$scratch" CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
  "$partial" --version 2>&1 || true)"
case "$reported" in
  "$CLI_VERSION"*) ;;
  *)
    echo "install-claude-cli: expected Claude Code $CLI_VERSION, the binary says: $reported" >&2
    exit 1
    ;;
esac

mv -f "$partial" "$binary"
echo "$wanted" >"$marker"
echo "Installed Claude Code $CLI_VERSION" >&2
echo "$binary"
