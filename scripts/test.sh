#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"; .ci/run calls it too).
# Installs what the tests need on a fresh Debian machine, then checks formatting and lints and
# runs every test. Needs ../shared (the corpus) beside the repository, as the workplace provides.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-deps.sh

# DPDK everywhere it can be: stackdrill's --netdev=dpdk and the smoltcp adapter's DPDK device
# mode (tests/dpdk_smoltcp.rs runs smoltcp on DPDK with the adapter this build leaves); and
# stackdrill's AF_XDP port (src/sut/af_xdp/).
FEATURES=stackdrill/dpdk,stackdrill-smoltcp/dpdk,stackdrill/af_xdp

cargo fmt --all -- --check
# The default builds need no DPDK: check they compile and lint without the features too.
cargo clippy -p stackdrill -p stackdrill-smoltcp --all-targets -- -D warnings \
    -D clippy::undocumented_unsafe_blocks
cargo clippy --workspace --all-targets --features "$FEATURES" -- -D warnings \
    -D clippy::undocumented_unsafe_blocks
# tests/portable.rs and tests/dpdk_smoltcp.rs load the smoltcp adapter from target/debug: build
# every member first, with the same features as the tests (cargo test rebuilds the adapter's
# .so with the features it is given).
cargo build --workspace --features "$FEATURES"
# The lwIP adapter (C, its own Makefile; tests/portable.rs runs it too, incremental).
make -s -C stacks/lwip
# The gVisor adapter (Go, outside the cargo workspace): its format, vet and unit tests, then the
# library, which tests/portable.rs runs.
make -C stacks/gvisor check
make -C stacks/gvisor
# The tests must leave nothing in /tmp: every run has a private one, suites remove their scratch
# folders, tests their own files. Entries that appear during the tests are listed and fail it.
tmp_before="$(mktemp -d)"
ls -A /tmp | sort > "$tmp_before/list"
cargo test --workspace --all-targets --features "$FEATURES"
new_entries="$(ls -A /tmp | sort | comm -13 "$tmp_before/list" - | grep -vx "$(basename "$tmp_before")" || true)"
rm -rf "$tmp_before"
if [ -n "$new_entries" ]; then
    echo "the tests left these in /tmp:" >&2
    echo "$new_entries" >&2
    exit 1
fi
# A short fuzzing run of the parser, the packet decoder and the shared-object boundary (30 s
# each, plus the build; installs nightly and cargo-fuzz when missing): any finding fails it.
./scripts/fuzz-smoke.sh
