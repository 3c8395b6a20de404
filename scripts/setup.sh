#!/usr/bin/env bash
# One-time, idempotent set-up of a fresh Debian machine (as root) with Node.js/npm:
#   - Debian packages: Vulkan software adapter for WebGPU on CPUs (mesa-vulkan-drivers, libvulkan1),
#     headless notebooks (jupyter-nbconvert, jupyter-client), OpenBLAS for the wasm+blas backend,
#     Chromium's headless shell for the browser app's test (WebGPU through SwiftShader);
#   - Deno 2.9.6 from npm;
#   - the project's npm dependencies (npm, so that package.json's overrides keep exactly one tfjs).
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 jupyter-nbconvert jupyter-client libopenblas0 chromium-headless-shell)

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    log "need root to install: ${missing[*]}"; exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

if ! command -v deno >/dev/null || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  log "installing deno $DENO_VERSION from npm"
  npm install -g --no-audit --no-fund --allow-scripts=deno "deno@$DENO_VERSION" >/dev/null 2>&1 ||
    npm install -g --no-audit --no-fund "deno@$DENO_VERSION" >/dev/null
else
  log "deno $DENO_VERSION present"
fi

# npm, not `deno install`: only npm applies package.json's overrides (one tfjs 4.22.0 for
# danfojs too, xlsx from the registry); deno.json sets "nodeModulesDir": "manual".
stamp=node_modules/.fishdip-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log "installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi
  touch "$stamp"
else
  log "npm dependencies present"
fi
n=$(find node_modules -path '*/@tensorflow/tfjs-core/package.json' | wc -l)
if [ "$n" -ne 1 ]; then log "expected exactly one tfjs-core in node_modules, found $n"; exit 1; fi
log "ready"
