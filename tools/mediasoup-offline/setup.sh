#!/usr/bin/env bash
# Machine setup for building mediasoup-sys (the mediasoup worker, C++) offline.
#
# Idempotent: checks first, and only when a package is missing runs
# `apt-get update` + `apt-get install`. Meant to run as root (CI and the
# developers' machines are root); falls back to sudo otherwise.
#
# Why these packages: the worker's meson subprojects normally come from GitHub;
# our stand-ins in stubs/ use Debian's libuv, OpenSSL and flatbuffers instead
# (headers and pkg-config files at build time, shared libraries at run time),
# and build libsrtp from the sources in stubs/libsrtp3/libsrtp. meson/ninja
# are NOT taken from Debian (too old): meson-offline installs them from PyPI,
# and mediasoup-sys' build.rs pip-installs `invoke` itself.
set -euo pipefail

PKGS=(
  libuv1-dev           # libuv (the worker's event loop)
  libssl-dev           # OpenSSL 3 (DTLS, and SRTP's ciphers)
  libflatbuffers-dev   # flatbuffers headers (worker <-> Rust messages)
  flatbuffers-compiler # flatc, run by the worker's meson.build
  pkg-config           # how the stand-ins find the libraries above
  g++                  # the worker is C++20
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "mediasoup-offline/setup.sh: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# pip: this machine kind ships CPython with pip; a bare Debian gets Debian's.
if ! python3 -m pip --version >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip
fi
python3 -m pip --version >/dev/null 2>&1 || {
  echo "mediasoup-offline/setup.sh: python3 -m pip is required (meson-offline and mediasoup-sys use it)" >&2
  exit 1
}
command -v flatc >/dev/null || {
  echo "mediasoup-offline/setup.sh: flatc not on PATH after install" >&2
  exit 1
}
