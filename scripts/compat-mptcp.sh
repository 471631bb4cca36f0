#!/usr/bin/env bash
# Runs the MPTCP fork's scripts (../shared/corpus/mptcp/gtests/net/mptcp, multipath-tcp/packetdrill)
# with stackdrill against this machine's kernel, each from its own directory (the scripts call
# ../common/*.sh) and each in its own network namespace (stackdrill makes one per run), and
# prints a verdict table: script, verdict, seconds, first error.
#
# usage: scripts/compat-mptcp.sh [-j JOBS] [-o RESULTS.tsv] [FILTER]
#   -j JOBS   scripts run at once (default 1)
#   -o FILE   also write the table as TSV
#   FILTER    only scripts whose path contains FILTER
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$here/../shared/corpus/mptcp/gtests/net/mptcp"
jobs=1
out=""
while getopts "j:o:" opt; do
    case "$opt" in
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

(cd "$corpus" && find . -name '*.pkt' | sed 's|^\./||' | sort) | grep -F -- "$filter" > "$work/runs" || true

run_one() {
    local script="$1" n="$2" start end status
    start=$(date +%s%N)
    if (cd "$corpus/$(dirname "$script")" && timeout 120 "$bin" "$(basename "$script")") \
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
export bin corpus work

nl -ba -w1 -s' ' "$work/runs" | awk '{print $2, $1}' | xargs -P "$jobs" -n 2 bash -c 'run_one "$0" "$1"'

cat "$work"/*.row 2>/dev/null | sort > "$work/table.tsv" || true
[ -n "$out" ] && cp "$work/table.tsv" "$out"
awk -F'\t' '{ printf "%-4s  %-58s %6ss  %s\n", $2, $1, $3, $4; n++; if ($2 == "pass") p++ }
    END { printf "stackdrill passes %d of %d MPTCP scripts\n", p, n }' "$work/table.tsv"
