#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"; .ci/run calls it too).
# Installs what the tests need on a fresh Debian machine, then checks formatting and lints and
# runs every test. Needs ../shared (the corpus) beside the repository, as the workplace provides.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the build and tests use. Install only what is missing, so a second run needs
# no network. python3-dev: pyo3 links Debian's libpython (see .cargo/config.toml); iproute2 and
# ethtool: the scripts' shell commands call ip, tc and ethtool.
needed=()
dpkg -s python3-dev >/dev/null 2>&1 || needed+=(python3-dev)
for pair in "ip:iproute2" "tc:iproute2" "ethtool:ethtool"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || needed+=("${pair##*:}")
done
if ((${#needed[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}"
    else
        echo "scripts/test.sh: please install: ${needed[*]}" >&2
        exit 1
    fi
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
