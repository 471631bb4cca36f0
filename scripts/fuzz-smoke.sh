#!/usr/bin/env bash
# A short fuzzing run of every cargo-fuzz target (fuzz/fuzz_targets/), part of the test command
# (scripts/test.sh): each target runs for FUZZ_SMOKE_SECS seconds (default 30) from its corpus
# in fuzz/corpus/TARGET/, under AddressSanitizer. A crash, a sanitizer report, a leak or an input
# that takes more than 10 s fails the step; the input is left in fuzz/artifacts/TARGET/ (see
# fuzz/README.md to reproduce it). Inputs found on the way go to fuzz/target/smoke-corpus/, so the
# corpora in the repository stay as committed.
#
# Installs what it needs when missing: the nightly toolchain (cargo-fuzz builds with
# -Zsanitizer) and cargo-fuzz, both through rustup/cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SMOKE_SECS:-30}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build
for target in $targets; do
    found="fuzz/target/smoke-corpus/$target"
    rm -rf "$found"
    mkdir -p "$found"
    log="fuzz/target/smoke-$target.log"
    echo "fuzz-smoke: $target for ${seconds} s"
    # The first corpus directory takes what the run finds; the committed one is only read.
    if ! cargo +nightly fuzz run "$target" "$found" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz-smoke: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units' "$log" || true
done
echo "fuzz-smoke: every target ran ${seconds} s without a finding"
