#!/usr/bin/env bash
# Installs a Debian package that ships a service, without letting the
# service start: the tests start their own instance on a free loopback port.
#
#   tools/apt/install-quiet.sh PACKAGE SERVICE TOOL...
#
# Idempotent: does nothing when PACKAGE is installed. Fails unless every
# TOOL is on PATH afterwards. Meant to run as root (CI and the developers'
# machines are root); falls back to sudo otherwise.
#
# A policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d from
# starting SERVICE during the install; an existing policy-rc.d (Docker
# images have one) is put back afterwards.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 PACKAGE SERVICE TOOL..." >&2
  exit 2
fi
PKG="$1"
SERVICE="$2"
shift 2
POLICY=/usr/sbin/policy-rc.d
ME="tools/apt/install-quiet.sh ($PKG)"

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
printf '#!/bin/sh\n# %s: no service starts during this install\nexit 101\n' "$ME" \
  | $SUDO tee "$POLICY" >/dev/null
$SUDO chmod 0755 "$POLICY"

echo "$ME: installing" >&2
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
  $SUDO systemctl disable --now "$SERVICE" >/dev/null 2>&1 || true
elif [ -x "/etc/init.d/$SERVICE" ]; then
  $SUDO "/etc/init.d/$SERVICE" stop >/dev/null 2>&1 || true
fi

for tool in "$@"; do
  command -v "$tool" >/dev/null || {
    echo "$ME: $tool not on PATH after installing $PKG" >&2
    exit 1
  }
done
