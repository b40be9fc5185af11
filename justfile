# Ejtimaa's everyday commands (`pip install rust-just` if you have no `just`).
# Everything builds in release: see tools/dev.

# list the recipes
default:
    @just --list

# build and run the server with embedded defaults (extra args go to ejtimaa)
run *ARGS:
    tools/dev run {{ARGS}}

# formatting, lints and the whole test suite (what CI runs)
test:
    tools/dev test

# a real Prometheus (installed if missing) against a server under sim load, promtool, deploy/ files
test-prometheus:
    cargo test --workspace --release --test prometheus

# the app in headless chromium against a real server (chromium installed by tools/dev setup)
test-browser:
    cargo test --workspace --release --test browser

# churn rounds against one server for SECONDS, then rooms, peers, transports, mediasoup objects, World entities and open sockets must all be back to zero and memory flat
soak SECONDS="180":
    EJTIMAA_SOAK_SECS={{SECONDS}} cargo test --workspace --release --test soak -- --nocapture

# only the pure core's tests (fast: no mediasoup build)
test-core:
    cargo test -p ejtimaa-systems --release

# criterion benchmarks
bench:
    cargo bench --bench render

# attach to a running server's admin socket
connect *ARGS:
    ${CARGO_TARGET_DIR:-target}/release/ejtimaa connect {{ARGS}}

# run a simulator scenario (a built-in one, the files of sim/scenarios/, by name, or a TOML path) against a fresh release server; ARGS override its fields (--rooms 3 --duration 20s ...; ejtimaa-sim --help)
sim SCENARIO="default" *ARGS:
    cargo build --release --workspace --all-targets
    ${CARGO_TARGET_DIR:-target}/release/ejtimaa-sim {{SCENARIO}} {{ARGS}}

# load a running server at URL (http/https/ws/wss) with the default run changed by ARGS (--exporter URL, --insecure, --rooms 3, ...); secrets from EJTIMAA_AUTH_SECRET and EJTIMAA_EXPORTER_SECRET
sim-at URL *ARGS:
    cargo build --release --workspace --all-targets
    ${CARGO_TARGET_DIR:-target}/release/ejtimaa-sim --server {{URL}} {{ARGS}}

# libFuzzer on the input parsers (signaling_request, config, admin_command, or all) for SECONDS each; installs cargo-fuzz if missing
fuzz TARGET="all" SECONDS="300":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    targets="{{TARGET}}"
    if [ "$targets" = all ]; then targets="signaling_request config admin_command"; fi
    cd fuzz
    # The workspace's versions, plus libFuzzer's crates (no lockfile of its own in git).
    cp ../Cargo.lock Cargo.lock
    for target in $targets; do
      mkdir -p "corpus/$target"
      # Stable toolchain: cargo-fuzz needs -Z flags, which RUSTC_BOOTSTRAP allows.
      RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" \
        -- -max_total_time={{SECONDS}}
    done
