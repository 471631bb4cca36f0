#!/usr/bin/env bash
# Runs the MPTCP fork's scripts (../shared/corpus/mptcp/gtests/net/mptcp, multipath-tcp/packetdrill)
# with stackdrill against this machine's kernel, each from its own directory (the scripts call
# ../common/*.sh) and each in its own network namespace (stackdrill makes one per run), and
# prints a verdict table: stackdrill's verdict, the fork's own binary's on this machine, seconds,
# stackdrill's first error.
#
# The fork's verdicts (IPv4 only; its binary built from the corpus's commit, each run in `unshare -n` from
# the script's directory, kernel 6.18): it passes the 11 below; the other 30 stop at start-up,
# "linux_af_alg_socket: Failed to open AF_ALG socket" (it hashes keys through the kernel's
# AF_ALG, which this kernel lacks).
#
# usage: scripts/compat-mptcp.sh [-6] [-j JOBS] [-o RESULTS.tsv] [FILTER]
#   -6        run as IPv6 (--ip_version=ipv6 --mtu=1520, as run_all.py runs Google's), leaving
#             out the *_v4.pkt scripts; default: IPv4, the fork's default
#   -j JOBS   scripts run at once (default 1)
#   -o FILE   also write the table as TSV
#   FILTER    only scripts whose path contains FILTER
set -euo pipefail
fork_passes="mp_capable/v1_bind_tcpfallback_flagB.pkt mp_capable/v1_bind_tcpfallback_flagH.pkt
mp_capable/v1_bind_tcpfallback_wrongver.pkt mp_capable/v1_connect_tcpfallback_flagB.pkt
mp_capable/v1_connect_tcpfallback_flagH.pkt mp_join/mp_join_server_bad_token.pkt
mp_reset/mp_reset_single_tcp.pkt regressions/unconnected_read.pkt
regressions/unconnected_shutdown.pkt syscalls/connect_reset_poll.pkt syscalls/connect_reset_send.pkt"
here="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$here/../shared/corpus/mptcp/gtests/net/mptcp"
jobs=1
out=""
family=""
while getopts "6j:o:" opt; do
    case "$opt" in
        6) family="--ip_version=ipv6 --mtu=1520" ;;
        j) jobs="$OPTARG" ;;
        o) out="$OPTARG" ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
filter="${1:-}"
[ -d "$corpus" ] || { echo "no MPTCP corpus at $corpus" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/stackdrill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$corpus" && find . -name '*.pkt' | sed 's|^\./||' | sort) | grep -F -- "$filter" |
    { if [ -n "$family" ]; then grep -v '_v4\.pkt$'; else cat; fi; } > "$work/runs" || true

run_one() {
    local script="$1" n="$2" start end status
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    if (cd "$corpus/$(dirname "$script")" && timeout 120 "$bin" $family "$(basename "$script")") \
        >"$work/$n.out" 2>"$work/$n.err" </dev/null; then
        status=pass
    else
        status=fail
    fi
    end=$(date +%s%N)
    printf '%s\t%s\t%d.%02d\t%s\n' "$script" "$status" \
        $(( (end - start) / 1000000000 )) $(( (end - start) / 10000000 % 100 )) \
        "$(grep -m1 -E '^[^ ]+\.pkt:[0-9]+(:[0-9]+)?: |^stackdrill: ' "$work/$n.err" | tr '\t' ' ' || true)" > "$work/$n.row"
}
export -f run_one
export bin corpus work family

nl -ba -w1 -s' ' "$work/runs" | awk '{print $2, $1}' | xargs -P "$jobs" -n 2 bash -c 'run_one "$0" "$1"'

cat "$work"/*.row 2>/dev/null | sort > "$work/table.tsv" || true
[ -n "$out" ] && cp "$work/table.tsv" "$out"
awk -F'\t' -v forks="$fork_passes" -v ipv6="$family" '
    BEGIN { split(forks, list, /[ \n]+/); for (i in list) fork[list[i]] = 1 }
    { f = ipv6 != "" ? "-" : ($1 in fork) ? "pass" : "fail(AF_ALG)"
      printf "stackdrill=%-4s fork=%-12s %-55s %6ss  %s\n", $2, f, $1, $3, $4
      n++; if ($2 == "pass") p++; if (f == "pass") { fp++; if ($2 == "pass") both++ } }
    END { printf "stackdrill passes %d of %d MPTCP scripts; the fork %d; both %d\n", p, n, fp, both }' "$work/table.tsv"
