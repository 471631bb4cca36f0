#!/usr/bin/env bash
# A regression job for a stack team (ci/Jenkinsfile runs it; any CI can): builds stackdrill,
# runs every *.pkt under a directory in parallel, each in its own namespaces, and leaves the
# reports for the CI to publish in $REPORTS (default: reports/):
#   junit.xml      JUnit, for Jenkins' junit step
#   report.html    page (with report.css) with the failures grouped, each one's diff and timeline
#   report.json    every verdict, for dashboards
#   pcaps/         one capture per script × variant (Wireshark/tshark)
# Exit status: 0 when every script passed (or failed as it declares it should), 1 otherwise.
#
# usage: ci/regression.sh SCRIPT_DIR [STACKDRILL FLAGS...]
#   e.g. ci/regression.sh ../shared/corpus/google/gtests/net --variants=all --send_omit_free
# Needs root (tun devices and namespaces).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: ci/regression.sh SCRIPT_DIR [STACKDRILL FLAGS...]}"
shift
reports="${REPORTS:-reports}"
"$here/scripts/install-system-deps.sh"
command -v cargo >/dev/null || { echo "ci/regression.sh: cargo (Rust) is required" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
rm -rf "$reports"
mkdir -p "$reports"
exec "$here/target/release/stackdrill" \
    --junit="$reports/junit.xml" --html="$reports/report.html" --json="$reports/report.json" \
    --pcap_dir="$reports/pcaps" "$@" "$dir"
