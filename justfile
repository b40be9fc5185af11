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

# only the pure core's tests (fast: no mediasoup build)
test-core:
    cargo test -p ejtimaa-systems --release

# criterion benchmarks
bench:
    cargo bench --bench render

# attach to a running server's admin socket
connect *ARGS:
    ${CARGO_TARGET_DIR:-target}/release/ejtimaa connect {{ARGS}}

# run a simulator scenario (sim/scenarios/SCENARIO.toml) against a fresh release server
sim SCENARIO="default":
    cargo build --release --workspace --all-targets
    ${CARGO_TARGET_DIR:-target}/release/ejtimaa-sim sim/scenarios/{{SCENARIO}}.toml
