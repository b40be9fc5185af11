#!/usr/bin/env bash
# Installs Debian's `prometheus` package (/usr/bin/prometheus and promtool),
# which tests/prometheus.rs runs against the server, with its service kept
# from starting (tests start their own, on a free loopback port, with a
# temporary database). Called by `tools/dev setup` and by that test when
# promtool is missing.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../apt/install-quiet.sh" prometheus prometheus prometheus promtool
