#!/usr/bin/env bash
# Installs Debian's `redis-server` package, the room directory that
# tests/cluster.rs runs three servers against. Called by `tools/dev setup`.
#
# Idempotent: does nothing when the package is installed. Meant to run as root
# (CI and the developers' machines are root); falls back to sudo otherwise.
#
# The package ships a service that would start a system Redis on :6379
# (tests start their own, `redis-server --port P --save '' --appendonly no`
# on a free loopback port, and stop it at the end). A policy-rc.d that
# answers 101 ("action forbidden") keeps invoke-rc.d from starting it during
# the install; an existing policy-rc.d (Docker images have one) is put back
# afterwards.
set -euo pipefail

PKG=redis-server
POLICY=/usr/sbin/policy-rc.d

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

backup=""
restore_policy() {
  if [ -n "$backup" ]; then
    $SUDO mv -f "$backup" "$POLICY"
  else
    $SUDO rm -f "$POLICY"
  fi
}
if [ -e "$POLICY" ]; then
  backup="$(mktemp /tmp/policy-rc.d.XXXXXX)"
  $SUDO cp -p "$POLICY" "$backup"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# tools/redis/install.sh: no service starts during this install\nexit 101\n' \
  | $SUDO tee "$POLICY" >/dev/null
$SUDO chmod 0755 "$POLICY"

echo "tools/redis/install.sh: installing $PKG" >&2
# Debian's mirror is enough; update only when the package is unknown.
if ! apt-cache show "$PKG" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$PKG" \
  || { $SUDO apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$PKG"; }

# Should a service manager have started it anyway (policy-rc.d is only
# honoured by invoke-rc.d), stop it and keep it from starting at boot.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
elif [ -x /etc/init.d/redis-server ]; then
  $SUDO /etc/init.d/redis-server stop >/dev/null 2>&1 || true
fi

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || {
    echo "tools/redis/install.sh: $tool not on PATH after installing $PKG" >&2
    exit 1
  }
done
