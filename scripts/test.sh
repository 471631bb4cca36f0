#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"; .ci/run calls it too).
# Installs what the tests need on a fresh Debian machine, then checks formatting and lints and
# runs every test. Needs ../shared (the corpus) beside the repository, as the workplace provides.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh

cargo fmt --all -- --check
# The default build needs no DPDK: check it compiles and lints without the feature too.
cargo clippy -p stackdrill --all-targets -- -D warnings -D clippy::undocumented_unsafe_blocks
cargo clippy --workspace --all-targets --features stackdrill/dpdk -- -D warnings \
    -D clippy::undocumented_unsafe_blocks
# tests/portable.rs loads the smoltcp adapter from target/debug: build every member first.
cargo build --workspace --features stackdrill/dpdk
cargo test --workspace --all-targets --features stackdrill/dpdk
