#!/usr/bin/env bash
# Installs Debian's `chromium` (headless, with fake camera and microphone) for
# tests/browser.rs, `vpx-tools` (vpxdec) and `opus-tools` (opusdec) for the
# sim's decoding tests, and `nodejs`/`npm` for rebuilding the app's bundle
# (app/). Called by `tools/dev setup`.
#
# Idempotent: does nothing when the packages are installed. Meant to run as
# root (CI and the developers' machines are root); falls back to sudo otherwise.
set -euo pipefail

PKGS=(
  chromium   # the real browser tests/browser.rs drives over CDP
  vpx-tools  # vpxdec, libvpx's decoder (Chromium's VP8 one): the sim's frames must decode
  opus-tools # opusdec, libopus's decoder: the sim's Opus packets must decode
)
# node and npm: any install on PATH will do (app/package.json needs Node 18+).
command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "chromium/install.sh: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
