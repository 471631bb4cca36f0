#!/usr/bin/env bash
# Virtual time benchmark: a timer-heavy portable script (SYN retransmissions backing off from 1 s
# to 8 s: 15 s of script time) against the smoltcp adapter, whose clock stackdrill advances
# instead of sleeping. Prints the script's time, the median wall time of whole runs (process
# start, namespace, library load included), the speed-up, and whether N repeated runs with
# --verbose printed identical output. -a picks a bundled adapter: smoltcp (default), lwip (its own
# SYN script: lwIP does not back off SYNs and gives a connect up after 6 retransmissions, so
# stacks/lwip/tests/syn_gives_up_after_six_retransmissions.pkt, 12 s of SYN timers over two
# connects) or gvisor; -l LIBRARY any other adapter, against the script given (default: the
# smoltcp one's).
# Usage: scripts/bench-virtual-time.sh [-n RUNS] [-a smoltcp|lwip|gvisor] [-l LIBRARY] [SCRIPT]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs=20
stack=smoltcp
library=""
while getopts "n:a:l:" opt; do
    case "$opt" in
        n) runs="$OPTARG" ;;
        a) stack="$OPTARG" ;;
        l) library="$(realpath "$OPTARG")" ;;
        *) echo "usage: $0 [-n RUNS] [-a smoltcp|lwip|gvisor] [-l LIBRARY] [SCRIPT]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

bin="$here/target/release/stackdrill"
script="${1:-$here/tests/portable/syn_retransmission_backoff.pkt}"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p stackdrill -p stackdrill-smoltcp
case "$stack" in
    smoltcp) adapter="$here/target/release/libstackdrill_smoltcp.so" ;;
    lwip)
        make -s -C "$here/stacks/lwip"
        adapter="$here/stacks/lwip/build/libstackdrill_lwip.so"
        script="${1:-$here/stacks/lwip/tests/syn_gives_up_after_six_retransmissions.pkt}"
        ;;
    gvisor)
        make -s -C "$here/stacks/gvisor"
        adapter="$here/stacks/gvisor/build/libstackdrill_gvisor.so"
        ;;
    *) echo "$0: -a takes smoltcp, lwip or gvisor" >&2; exit 2 ;;
esac
adapter="${library:-$adapter}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The script's own length: the time of its last event, from a verbose run's transcript.
"$bin" --so_filename="$adapter" --verbose "$script" > "$work/reference.txt"
script_secs="$(awk '$1 ~ /^[0-9]+\.[0-9]+$/ { last = $1 } $4 ~ /^[0-9]+\.[0-9]+$/ { last = $4 } END { print last }' "$work/reference.txt")"

python3 - "$bin" "$adapter" "$script" "$script_secs" "$runs" "$work/reference.txt" <<'PY'
import statistics, subprocess, sys, time
from pathlib import Path

binary, adapter, script, script_secs, runs, reference = sys.argv[1:]
script_secs, runs = float(script_secs), int(runs)
expected = Path(reference).read_bytes()
walls, identical = [], 0
for _ in range(runs):
    start = time.perf_counter()
    out = subprocess.run([binary, f"--so_filename={adapter}", "--verbose", script],
                         capture_output=True, check=True).stdout
    walls.append(time.perf_counter() - start)
    identical += out == expected
median = statistics.median(walls)
print(f"{Path(script).name}: script time {script_secs:.3f} s, median wall time "
      f"{median * 1000:.1f} ms over {runs} runs (min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f})")
print(f"speed-up: {script_secs / median:.0f}x (virtual time vs the script's own time)")
print(f"identical --verbose output: {identical} of {runs} runs")
PY
