#!/usr/bin/env bash
# Installs Debian's `redis-server` package, the room directory that
# tests/cluster.rs runs three servers against, with its service kept from
# starting (tests start their own, `redis-server --port P --save ''
# --appendonly no` on a free loopback port, and stop it at the end). Called
# by `tools/dev setup`.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../apt/install-quiet.sh" redis-server redis-server redis-server redis-cli
