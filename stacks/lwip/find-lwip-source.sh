#!/usr/bin/env bash
# Prints the directory of the lwIP 2.2.1 sources the adapter builds (their `src` folder). They
# come from the Rust registry's `lwip` crate 0.4.0, which bundles lwIP's BSD-licensed sources:
# cargo (the ordinary registry client) fetches it into its registry cache when it is missing.
# Debian's liblwip-dev is not usable: it ships only a library built with Debian's own options
# (threads, sockets), no sources, and lwIP's options are fixed when it is compiled.
# SPDX-License-Identifier: MIT OR Apache-2.0
set -euo pipefail
crate=lwip-0.4.0
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
find_source() {
    compgen -G "$registry/*/$crate/src/core/tcp.c" | head -n 1 | sed 's|/core/tcp.c$||'
}
found=$(find_source || true)
if [ -z "$found" ]; then
    cargo info --quiet "lwip@${crate#lwip-}" >/dev/null
    found=$(find_source || true)
fi
if [ -z "$found" ]; then
    echo "$0: cannot find or fetch $crate's sources in $registry" >&2
    exit 1
fi
echo "$found"
