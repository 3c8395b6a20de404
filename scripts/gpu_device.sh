#!/usr/bin/env bash
# Readies this checkout for the GPU check on a lent GPU machine, and puts it back afterwards.
#
#   bash scripts/gpu_device.sh prepare   build the pack if missing, fetch the Vulkan loaders, slim
#                                        the tree to what travels, print the device call to make
#   bash scripts/gpu_device.sh size      print what would travel, without changing anything
#   bash scripts/gpu_device.sh restore   bring the backbones' weights back from git
#
# Why: the device tool copies the whole working tree (tracked files and untracked files git does
# not ignore) plus the carried folders, and refuses more than 64 MiB. The committed backbones'
# weights alone are about 79 MiB and the check needs none of them (it builds its models from
# shapes and reads the T5 fixtures from the pack), so `prepare` deletes their working copies;
# they stay in git's object store, and `restore` checks them out again, verified by git.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=$((64 * 1024 * 1024))
PACK=.cache/gpu-pack
GL=.gl
# The check's own limits (scripts/gpu_check.ts) end it within 470 s; 540 leaves room for the
# unpacking and the driver's first shader compilations, and 60 s of the 600 s call limit spare.
TIMEOUT_S=540
WEIGHTS_GLOB='data/models/*/model.safetensors'

bytes_of() { # sizes in bytes of the existing files among the NUL-separated paths on stdin
  xargs -0 -r stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

travelling_bytes() {
  local tracked untracked carried
  tracked=$(git ls-files -z | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done | bytes_of)
  untracked=$(git ls-files -z --others --exclude-standard | bytes_of)
  carried=0
  for d in "$PACK" "$GL"; do
    [ -d "$d" ] && carried=$((carried + $(find "$d" -type f -print0 | bytes_of)))
  done
  echo "$tracked $untracked $carried"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

report_size() {
  read -r tracked untracked carried < <(travelling_bytes)
  local total=$((tracked + untracked + carried))
  echo "tracked files present: $(mib "$tracked"); untracked, not ignored: $(mib "$untracked");" \
    "carried ($PACK, $GL): $(mib "$carried"); total $(mib "$total") of the 64 MiB limit"
  [ "$total" -le "$LIMIT" ]
}

fetch_loaders() {
  # The Vulkan and EGL loaders the GPU machine may lack (the device tool's README): amd64 .debs,
  # unpacked there before the check runs.
  [ -n "$(ls "$GL"/libvulkan1_*.deb 2>/dev/null)" ] && return
  mkdir -p "$GL" /tmp/amd64/partial
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update >/dev/null
  (cd "$GL" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
}

device_command() {
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  local egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  printf '%s' "for f in $GL/*.deb; do dpkg -x \$f /; done; ldconfig; " \
    "[ -f $icd ] && export VK_DRIVER_FILES=$icd __EGL_VENDOR_LIBRARY_FILENAMES=$egl; " \
    "nvidia-smi; bash $PACK/run.sh --total-time 470"
}

case "${1:-}" in
  size)
    report_size || { echo "over the limit: 'prepare' slims the tree" >&2; exit 1; }
    ;;
  prepare)
    [ -x "$PACK/run.sh" ] || deno task gpu-pack
    fetch_loaders
    if ! report_size >/dev/null; then
      # Only files git holds unchanged are deleted, so 'restore' gives back exactly what was here.
      for f in $WEIGHTS_GLOB; do
        [ -f "$f" ] || continue
        if git diff --quiet -- "$f" && git ls-files --error-unmatch -- "$f" >/dev/null 2>&1; then
          rm -- "$f" && echo "removed working copy of $f (in git; 'restore' brings it back)"
        else
          echo "gpu_device.sh: $f differs from git or is untracked; not removing it" >&2
        fi
      done
    fi
    if ! report_size; then
      echo "gpu_device.sh: still over 64 MiB; the largest files that would travel:" >&2
      { git ls-files -z; git ls-files -z --others --exclude-standard; } |
        xargs -0 -r du -b -- 2>/dev/null | sort -rn | head -10 >&2
      exit 1
    fi
    echo
    echo "device run arguments:"
    echo "  carry: [\"$PACK\", \"$GL\"]"
    echo "  timeout_s: $TIMEOUT_S"
    echo "  command: $(device_command)"
    echo
    echo "afterwards: bash scripts/gpu_device.sh restore"
    ;;
  restore)
    git checkout -- data/models
    missing=0
    for f in $(git ls-files "data/models/*/model.safetensors"); do
      [ -f "$f" ] || { echo "gpu_device.sh: $f still missing" >&2; missing=1; }
    done
    git diff --quiet -- data/models || { echo "gpu_device.sh: data/models differs from git" >&2; exit 1; }
    [ "$missing" = 0 ] && echo "backbones restored: $(git ls-files 'data/models/*/model.safetensors' | wc -l) weight files, as committed"
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
