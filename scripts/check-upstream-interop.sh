#!/usr/bin/env bash
# Manual interoperability check (stacks/README.md "Under upstream packetdrill"; not run by CI):
# runs upstream packetdrill, built by hand from its public source outside this repository, on
# tests/portable/handshake_data_close.pkt against one adapter, and passes when upstream exits 0
# within 10 s. Upstream runs in a private network namespace of its own (`unshare -n`, needs
# root): it must never touch the root namespace's addresses, routes or sysctls.
#
#   scripts/check-upstream-interop.sh /path/to/upstream/packetdrill path/to/libadapter.so [script.pkt]
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 PACKETDRILL ADAPTER.so [SCRIPT.pkt]" >&2
    exit 2
fi
packetdrill=$(realpath "$1")
adapter=$(realpath "$2")
script=$(realpath "${3:-$(dirname "$0")/../tests/portable/handshake_data_close.pkt}")
# The address every bundled adapter takes when nobody gives it a network.
local_ip=192.168.0.2

start=$(date +%s%N)
status=0
timeout --signal=KILL 10 unshare -n sh -c 'ip link set lo up && exec "$@"' sh \
    "$packetdrill" --so_filename="$adapter" --local_ip="$local_ip" "$script" || status=$?
end=$(date +%s%N)
elapsed_ms=$(( (end - start) / 1000000 ))

echo "upstream packetdrill: exit status $status after ${elapsed_ms} ms ($(basename "$adapter"), $(basename "$script"))"
if [ "$status" -ne 0 ]; then
    [ "$status" -eq 137 ] && echo "killed after 10 s: the adapter hangs under upstream" >&2
    exit 1
fi
