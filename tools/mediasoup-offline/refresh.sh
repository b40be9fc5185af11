#!/usr/bin/env bash
# Forgets a mediasoup worker built from other stand-ins.
#
#   tools/mediasoup-offline/refresh.sh TARGET_DIR
#
# Cargo treats mediasoup-sys (a registry crate) as immutable, so a change to
# stubs/ or meson-offline would never rebuild the C++ worker already in a
# kept target directory (CI keeps one between runs). This hashes both into
# TARGET_DIR/mediasoup-offline.stamp; when the hash changed, it removes
# mediasoup-sys' build-script outputs and fingerprints in every profile, so
# the next cargo build runs its build script and rebuilds the worker.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: refresh.sh TARGET_DIR}"
stamp="$target/mediasoup-offline.stamp"

hash="$(cd "$HERE" && find stubs meson-offline -type f -print0 | sort -z |
  xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  exit 0
fi
shopt -s nullglob
stale=("$target"/*/build/mediasoup-sys-* "$target"/*/.fingerprint/mediasoup-sys-*)
if [ ${#stale[@]} -gt 0 ]; then
  echo "mediasoup-offline: the stand-ins changed; the worker will be rebuilt" >&2
  rm -rf "${stale[@]}"
fi
mkdir -p "$target"
echo "$hash" >"$stamp"
