#!/usr/bin/env bash
# Installs the Debian packages stackdrill and the scripts it runs need, only those missing (a
# second run needs no network): python3-dev (pyo3 links Debian's libpython, see
# .cargo/config.toml); iproute2 and ethtool (scripts' shell commands call ip, tc and ethtool);
# gcc (tests build a C adapter against stacks/include/packetdrill.h; scripts/bench-netdev.sh
# builds its C reference against DPDK, found by pkg-config, from pkgconf); curl (scripts read
# the introspection server); libdpdk-dev, dpdk, dpdk-dev, clang and libclang-dev (the
# workspace member dpdk-sys binds the system DPDK with bindgen, which needs libclang); m4, make,
# libelf-dev and zlib1g-dev for the af_xdp feature (xsk-rs builds its own libxdp and libbpf:
# libxdp's XDP programs with clang and m4, libbpf with make, both linking libelf and zlib); make
# and gcc also build the lwIP adapter (stacks/lwip, lwIP's sources come through cargo);
# golang-1.19-go and golang-gvisor-gvisor-dev (stacks/gvisor builds gVisor's netstack offline
# from Debian's packaged Go sources).
# Extra package names may be given as arguments.
set -euo pipefail
needed=()
for package in python3-dev libdpdk-dev dpdk dpdk-dev clang libclang-dev m4 make libelf-dev \
    golang-1.19-go golang-gvisor-gvisor-dev \
    zlib1g-dev "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || needed+=("$package")
done
for pair in "ip:iproute2" "tc:iproute2" "ethtool:ethtool" "cc:gcc" "gcc:gcc" "pkg-config:pkgconf" "curl:curl"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || needed+=("${pair##*:}")
done
if ((${#needed[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}"
    else
        echo "$0: please install: ${needed[*]}" >&2
        exit 1
    fi
fi
