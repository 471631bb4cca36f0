#!/usr/bin/env bash
# Soak and kill tests for the suite runner (issue: repeatable, unbreakable runs).
#
# Soak: Google's corpus (3 variants, as run_all.py) N times in a row, optionally beside a CPU
# hog on every core (stress-ng), printing after each repeat the runs whose verdict differs from
# the first repeat's, and at the end every run that changed verdict at least once.
#
# Kill: T trials of a suite over the corpus, each interrupted at a random moment (0.3-6 s) by
# SIGKILL or SIGINT (chosen at random) sent to the runner; after each trial, and at the end,
# it counts what was left: processes whose command is a stackdrill binary, network namespaces
# other than the root one (by /proc/*/ns/net), interfaces in the root namespace, mounts in the
# root mount namespace, and entries in /tmp, each against its count before the first trial.
#
# usage: scripts/soak.sh [-n REPEATS] [-H] [-k TRIALS] [-o DIR]
#   -n REPEATS  soak repeats (default 10; 0 skips the soak)
#   -H          run the soak beside `stress-ng --cpu N` (N = online CPUs), installed if missing
#   -k TRIALS   kill trials (default 0: none)
#   -o DIR      keep each repeat's JSON report in DIR (default: a temporary folder, removed)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repeats=10
hog=0
trials=0
keep=""
while getopts "n:Hk:o:" opt; do
    case "$opt" in
        n) repeats="$OPTARG" ;;
        H) hog=1 ;;
        k) trials="$OPTARG" ;;
        o) keep="$OPTARG" ;;
        *) echo "usage: $0 [-n REPEATS] [-H] [-k TRIALS] [-o DIR]" >&2; exit 2 ;;
    esac
done

cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p stackdrill
bin="$here/target/release/stackdrill"
work="$(mktemp -d)"
hog_pid=""
cleanup() {
    if [ -n "$hog_pid" ]; then kill "$hog_pid" 2>/dev/null || true; wait "$hog_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
corpus="$("$here/scripts/prepare-google-corpus.sh" "$work")"
reports="${keep:-$work/reports}"
mkdir -p "$reports"

if [ "$repeats" -gt 0 ]; then
    if [ "$hog" = 1 ]; then
        command -v stress-ng > /dev/null || { apt-get update -qq && apt-get install -y -qq stress-ng > /dev/null; }
        stress-ng --cpu "$(nproc)" --quiet &
        hog_pid=$!
        echo "soak: beside stress-ng --cpu $(nproc) (pid $hog_pid)"
    fi
    for repeat in $(seq 1 "$repeats"); do
        "$bin" --variants=all --json="$reports/$repeat.json" "$corpus" > "$work/progress.txt" 2>&1 || true
        echo "repeat $repeat: $(tail -1 "$work/progress.txt")"
        python3 - "$reports" "$repeat" <<'PY'
import json, sys
from pathlib import Path
folder, repeat = Path(sys.argv[1]), int(sys.argv[2])
def verdicts(n):
    runs = json.loads((folder / f"{n}.json").read_text())["runs"]
    return {(r["script"], r["variant"]): (r["status"], r["message"].split("\n")[0]) for r in runs}
first, now = verdicts(1), verdicts(repeat)
for key in sorted(set(first) | set(now)):
    a, b = first.get(key, ("missing", "")), now.get(key, ("missing", ""))
    if a[0] != b[0]:
        print(f"  changed: {key[0]} ({key[1]}): {a[0]} -> {b[0]}: {b[1] or a[1]}")
PY
    done
    python3 - "$reports" "$repeats" <<'PY'
import json, sys
from collections import defaultdict
from pathlib import Path
folder, repeats = Path(sys.argv[1]), int(sys.argv[2])
history = defaultdict(list)
for n in range(1, repeats + 1):
    for r in json.loads((folder / f"{n}.json").read_text())["runs"]:
        history[(r["script"], r["variant"])].append(r["status"])
changed = {k: v for k, v in history.items() if len(set(v)) > 1}
print(f"soak: {repeats} repeats of {len(history)} runs; {len(changed)} changed verdict at least once")
for (script, variant), statuses in sorted(changed.items()):
    print(f"  {script} ({variant}): {' '.join(statuses)}")
PY
    if [ -n "$hog_pid" ]; then kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; hog_pid=""; fi
fi

# What a run could leave behind, as counts: stackdrill processes, network namespaces other than
# ours, root-namespace interfaces, mounts, /tmp entries.
leftovers() {
    local procs=0 pid exe
    for pid in /proc/[0-9]*; do
        exe="$(readlink "$pid/exe" 2>/dev/null || true)"
        case "$exe" in */stackdrill) procs=$((procs + 1)) ;; esac
    done
    local own_ns namespaces
    own_ns="$(readlink /proc/self/ns/net)"
    namespaces="$(for pid in /proc/[0-9]*; do readlink "$pid/ns/net" 2>/dev/null; done | sort -u | grep -vc "^$own_ns\$" || true)"
    echo "$procs $namespaces $(ip -o link | wc -l) $(wc -l < /proc/self/mountinfo) $(find /tmp -mindepth 1 -maxdepth 1 | wc -l)"
}

if [ "$trials" -gt 0 ]; then
    read -r p0 n0 i0 m0 t0 <<< "$(leftovers)"
    echo "kill: before: processes $p0, other network namespaces $n0, interfaces $i0, mounts $m0, /tmp entries $t0"
    for trial in $(seq 1 "$trials"); do
        signal=$([ $((RANDOM % 2)) = 0 ] && echo KILL || echo INT)
        delay="$(python3 -c 'import random; print(round(random.uniform(0.3, 6.0), 2))')"
        "$bin" --variants=all "$corpus" > /dev/null 2>&1 &
        runner=$!
        sleep "$delay"
        kill -s "$signal" "$runner" 2>/dev/null || true
        wait "$runner" 2>/dev/null || true
        # Children die with the runner (PDEATHSIG) or on its SIGINT; give the kernel a moment
        # to tear their namespaces down.
        sleep 0.5
        read -r p n i m t <<< "$(leftovers)"
        echo "trial $trial: SIG$signal after ${delay}s: processes $((p - p0)), namespaces $((n - n0)), interfaces $((i - i0)), mounts $((m - m0)), /tmp entries $((t - t0))"
    done
    read -r p n i m t <<< "$(leftovers)"
    echo "kill: after $trials trials: processes $((p - p0)), namespaces $((n - n0)), interfaces $((i - i0)), mounts $((m - m0)), /tmp entries $((t - t0))"
fi
