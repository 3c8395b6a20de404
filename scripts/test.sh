#!/usr/bin/env bash
# Runs the library's test suite and closes with one plain line "N passed, N failed[, N skipped]"
# (Deno's own summary is "ok | N passed (M steps) | N failed (T)", which CI does not read).
# Extra arguments go to `deno test` (e.g. --filter fixture).
set -uo pipefail
cd "$(dirname "$0")/.."
# The Vulkan loader complains on every run without a runtime dir; Mesa caches shaders under
# XDG_CACHE_HOME, which we keep inside the project so repeated runs are fast.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR; XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"
fi
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$PWD/.cache}
log=$(mktemp)
deno test -A --parallel "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
ignored=$(grep -oE '[0-9]+ ignored' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
rm -f "$log"
if [ -z "$summary" ]; then
  echo "0 passed, 1 failed"  # deno test did not get to its summary (type error, crash)
  exit "$(( status == 0 ? 1 : status ))"
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
exit "$status"
