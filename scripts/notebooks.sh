#!/usr/bin/env bash
# Executes the notebooks headless with the Deno kernel (the kernel spec in .jupyter/).
#   bash scripts/notebooks.sh            execute in place: the saved notebooks get fresh outputs
#   bash scripts/notebooks.sh --check    execute copies into out/notebooks (CI: a cell error fails)
# The preset comes from FISHDIP_PRESET (default quick); FISHDIP_RESULTS picks the results folder.
set -euo pipefail
# The kernel runs in notebooks/: directories given relative to the caller's directory are made
# absolute first, or the notebooks would look for them relative to notebooks/.
for var in FISHDIP_DATA FIXTURES_DIR FISHDIP_RESULTS; do
  val="${!var:-}"
  if [ -n "$val" ] && [ "${val#/}" = "$val" ]; then export "$var=$PWD/$val"; fi
done
cd "$(dirname "$0")/.."
export JUPYTER_PATH="$PWD/.jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
# Keep Jupyter's own files inside the project, not in the user's home.
export JUPYTER_DATA_DIR="$PWD/.cache/jupyter/data" JUPYTER_RUNTIME_DIR="$PWD/.cache/jupyter/runtime"
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR; XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"
fi
args=(--to notebook --execute --ExecutePreprocessor.kernel_name=deno --ExecutePreprocessor.timeout=3600)
if [ "${1:-}" = "--check" ]; then
  shift
  args+=(--output-dir out/notebooks)
else
  args+=(--inplace)
fi
nbs=("$@")
[ ${#nbs[@]} -gt 0 ] || nbs=(notebooks/*.ipynb)
for nb in "${nbs[@]}"; do
  echo "executing $nb" >&2
  jupyter nbconvert "${args[@]}" "$nb"
done
