#!/usr/bin/env bash
# The GitHub Action's entrypoint: turns the Action's inputs (INPUT_* variables) into claude-runner-client
# flags, skipping empty ones, writes the NATS credentials given as content to a file with mode 600, and
# execs the client so that its exit status is the step's.
set -euo pipefail

# GitHub passes an input named `base-ref` as INPUT_BASE-REF; also accept INPUT_BASE_REF.
input() {
    local name="$1" value=""
    value="$(printenv "INPUT_${name}" 2>/dev/null || true)"
    if [ -z "$value" ]; then value="$(printenv "INPUT_${name//-/_}" 2>/dev/null || true)"; fi
    printf '%s' "$value"
}

transport="$(input TRANSPORT)"
args=(--transport "${transport:-nats}")

# Progress lines on stderr (the step's log) unless the input says false.
progress="$(input PROGRESS)"
case "${progress:-true}" in
    true | True | TRUE | 1 | yes) args+=(--progress) ;;
esac

add() {
    local value
    value="$(input "$1")"
    if [ -n "$value" ]; then args+=("$2" "$value"); fi
}

add PROMPT --prompt
add REPO --repo
add REF --ref
add BASE-REF --base-ref
add EVENT --event
add PR-NUMBER --pr-number
add ISSUE-NUMBER --issue-number
add NATS-URL --nats-url
add EDGE-ID --edge-id
add ENDPOINT --endpoint
add OUTPUT-FILE --output-file

creds_path="$(input NATS-CREDS)"
creds_content="$(input NATS-CREDS-CONTENT)"
if [ -n "$creds_content" ]; then
    creds_path="${creds_path:-${RUNNER_TEMP:-/tmp}/user.creds}"
    mkdir -p "$(dirname "$creds_path")"
    (umask 077 && printf '%s\n' "$creds_content" > "$creds_path")
    chmod 600 "$creds_path"
fi
if [ -n "$creds_path" ]; then args+=(--nats-creds "$creds_path"); fi

# The Action's output: where the client writes Claude's output (for a later step or the job summary).
output_file="$(input OUTPUT-FILE)"
if [ -n "$output_file" ] && [ -n "${GITHUB_OUTPUT:-}" ]; then
    case "$output_file" in
        /*) resolved="$output_file" ;;
        *) resolved="${GITHUB_WORKSPACE:+$GITHUB_WORKSPACE/}$output_file" ;;
    esac
    printf 'output-file=%s\n' "$resolved" >> "$GITHUB_OUTPUT"
fi

exec claude-runner-client "${args[@]}"
