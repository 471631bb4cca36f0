#!/usr/bin/env bash
# Sharding check over Google's corpus: runs the whole corpus (every script × ipv4,
# ipv4-mapped-ipv6, ipv6) once unsharded and once split with --shard=K/N (the parts one after
# another, as N machines would run them), merges the parts with `stackdrill report`, and compares
# the merged verdicts run by run with the unsharded ones and with upstream's serial baseline
# (../shared/baseline). Prints each part's run count and wall time, both summaries, and every run
# whose verdict differs, then one line: "merged equals unsharded in X of Y runs".
#
# usage: scripts/check-shards.sh [-n PARTS] [-j JOBS] [-o DIR]
#   -n PARTS  how many parts (default 4)
#   -j JOBS   --jobs for every stackdrill command (default: stackdrill's default)
#   -o DIR    keep the reports (unsharded.json, shardK.json, merged.{json,xml,html}) in DIR
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
parts=4
jobs=""
keep=""
while getopts "n:j:o:" opt; do
    case "$opt" in
        n) parts="$OPTARG" ;;
        j) jobs="--jobs=$OPTARG" ;;
        o) keep="$OPTARG" ;;
        *) exit 2 ;;
    esac
done
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/stackdrill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$("$here/scripts/prepare-google-corpus.sh" "$work")"
baseline="$here/../shared/baseline/packetdrill-verdicts.tsv"

# shellcheck disable=SC2086
"$bin" --send_omit_free --variants=all $jobs --json="$work/unsharded.json" "$corpus" \
    >/dev/null 2>&1 || true
shards=()
for k in $(seq "$parts"); do
    # shellcheck disable=SC2086
    "$bin" --send_omit_free --variants=all $jobs --shard="$k/$parts" \
        --json="$work/shard$k.json" "$corpus" >/dev/null 2>&1 || true
    shards+=("$work/shard$k.json")
done
# Exit status 1 means a merged run failed; the comparison below is the point. A refused merge
# (a run in two parts) writes no report and stops here.
"$bin" report --json="$work/merged.json" --junit="$work/merged.xml" \
    --html="$work/merged.html" "${shards[@]}" >/dev/null || [ -s "$work/merged.json" ]

python3 - "$work" "$parts" "$baseline" <<'PY'
import csv, json, sys
work, parts, base_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load = lambda name: json.load(open(f"{work}/{name}.json"))
verdict = lambda run: "pass" if run["status"] in ("passed", "expected_failure") else "fail"
key = lambda run: (run["script"], run["variant"])
base = {(r["script"], r["ip_version"]): r for r in csv.DictReader(open(base_path), delimiter="\t")}
seen = set()
for k in range(1, parts + 1):
    shard = load(f"shard{k}")
    keys = {key(r) for r in shard["runs"]}
    twice = keys & seen
    seen |= keys
    print(f"part {k}/{parts}: {len(shard['runs'])} runs, wall {shard['summary']['wall_secs']:.1f} s"
          + (f", {len(twice)} runs also in an earlier part" if twice else ""))
whole, merged = load("unsharded"), load("merged")
print(f"unsharded: {whole['summary']['line']}")
print(f"merged:    {merged['summary']['line']}")
ours = {key(r): r for r in whole["runs"]}
theirs = {key(r): r for r in merged["runs"]}
missing = set(ours) ^ set(theirs)
if missing:
    print(f"runs in only one of the two: {sorted(missing)}")
same = 0
for k in sorted(ours):
    a, b = ours[k], theirs.get(k)
    if b and verdict(a) == verdict(b):
        same += 1
        continue
    up = base.get(k, {}).get("verdict", "?")
    print(f"  DIFF {k[0]} ({k[1]}): unsharded={verdict(a)} merged={verdict(b) if b else 'missing'}"
          f" upstream={up}")
    for label, run in (("unsharded", a), ("merged", b)):
        if run and verdict(run) == "fail":
            print(f"    {label}: {run['message']}")
print(f"merged equals unsharded in {same} of {len(ours)} runs")
PY
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    cp "$work"/unsharded.json "$work"/shard*.json "$work"/merged.* "$keep/"
fi
