#!/usr/bin/env bash
# Suite-runner benchmark and compatibility check over Google's corpus: runs every script ×
# ipv4, ipv4-mapped-ipv6, ipv6 in one stackdrill command (as run_all.py would, with JUnit, HTML
# and one pcap per run), then prints its wall and CPU time, the longest single run, and its
# verdicts beside upstream's serial baseline (../shared/baseline), ending with one summary line.
# With -s it first runs the same suite with --jobs=1 (one script after another) and prints the
# speed-up against it, measured in the same invocation.
#
# usage: scripts/bench-suite.sh [-j JOBS] [-s] [-r REPEATS] [-o DIR] [-w WIRES]
#   -j JOBS     --jobs for the parallel run (default: stackdrill's default)
#   -w WIRES    comma-separated --netdev values, each run in every repeat (default: tun); with
#               more than one, each repeat ends with every wire's wall time against the first's
#   -s          also run serially first, for the speed-up ratio
#   -r REPEATS  parallel repeats (default 1); every repeat is compared with the baseline
#   -o DIR      keep the reports (junit.xml, report.html, report.json, pcaps/) in DIR/N/
# With tshark installed, every pcap is read back; with JUNIT_XSD=FILE and xmllint, the JUnit
# file is validated against that schema (e.g. Jenkins xUnit's junit-10.xsd).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
jobs=""
serial=0
repeats=1
keep=""
wires="tun"
while getopts "j:sr:o:w:" opt; do
    case "$opt" in
        j) jobs="--jobs=$OPTARG" ;;
        s) serial=1 ;;
        r) repeats="$OPTARG" ;;
        o) keep="$OPTARG" ;;
        w) wires="$OPTARG" ;;
        *) exit 2 ;;
    esac
done
features=""
case ",$wires," in *,dpdk,*) features="dpdk" ;; esac
case ",$wires," in *,af_xdp,*) features="${features:+$features,}af_xdp" ;; esac
features="${features:+--features=$features}"
# shellcheck disable=SC2086
cargo build --release --quiet $features --manifest-path "$here/Cargo.toml"
bin="$here/target/release/stackdrill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$("$here/scripts/prepare-google-corpus.sh" "$work")"
baseline="$here/../shared/baseline/packetdrill-verdicts.tsv"

compare() { # JSON LABEL
    python3 - "$1" "$baseline" "$2" <<'PY'
import csv, json, sys
report, base_path, label = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
base = {(r["script"], r["ip_version"]): r for r in csv.DictReader(open(base_path), delimiter="\t")}
same = 0
for run in report["runs"]:
    ours = "pass" if run["status"] == "passed" else "fail"
    b = base.get((run["script"], run["variant"]))
    up = b["verdict"] if b else "?"
    agree = ours == up or (b and b["flaky"] == "yes")
    same += bool(agree)
    if not agree:
        print(f"  DIFF {run['script']} ({run['variant']}): stackdrill={ours} upstream={up}: {run['message']}")
longest = max(report["runs"], key=lambda r: r["duration"])
s = report["summary"]
print(f"{label}: {s['line']}")
print(f"{label}: wall {s['wall_secs']:.1f} s, CPU {s['cpu_secs']:.1f} s, jobs {s['jobs']}, "
      f"longest run {longest['duration']:.1f} s ({longest['script']} {longest['variant']}), "
      f"same verdict as upstream in {same} of {len(report['runs'])}")
PY
}

serial_wall=""
if [ "$serial" = 1 ]; then
    "$bin" --send_omit_free --variants=all --jobs=1 --json="$work/serial.json" "$corpus" \
        >/dev/null 2>&1 || true
    compare "$work/serial.json" serial
    serial_wall=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["wall_secs"])' "$work/serial.json")
fi
for n in $(seq "$repeats"); do
  first_wall=""
  for wire in ${wires//,/ }; do
    out="$work/$n/$wire"
    label="parallel #$n"
    [ "$wires" = tun ] || label="$wire #$n"
    mkdir -p "$out"
    # shellcheck disable=SC2086
    "$bin" --netdev="$wire" --send_omit_free --variants=all $jobs --junit="$out/junit.xml" \
        --html="$out/report.html" --json="$out/report.json" --pcap_dir="$out/pcaps" "$corpus" \
        >/dev/null 2>&1 || true
    compare "$out/report.json" "$label"
    if command -v xmllint >/dev/null && [ -n "${JUNIT_XSD:-}" ]; then
        xmllint --noout --schema "$JUNIT_XSD" "$out/junit.xml" 2>&1 | tail -1
    fi
    if command -v tshark >/dev/null; then
        read_ok=0
        read_bad=0
        while IFS= read -r -d '' pcap; do
            if tshark -r "$pcap" >/dev/null 2>&1; then read_ok=$((read_ok + 1)); else read_bad=$((read_bad + 1)); echo "  tshark cannot read $pcap"; fi
        done < <(find "$out/pcaps" -name '*.pcap' -print0)
        echo "$label: tshark read $read_ok pcaps, failed on $read_bad"
    fi
    wall=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["wall_secs"])' "$out/report.json")
    if [ -n "$serial_wall" ]; then
        python3 -c 'import sys; s, p = map(float, sys.argv[1:]); print(f"speed-up: serial {s:.1f} s / parallel {p:.1f} s = {s/p:.1f}x")' "$serial_wall" "$wall"
    fi
    if [ -z "$first_wall" ]; then
        first_wall="$wall"
        first_wire="$wire"
    else
        python3 -c 'import sys; w, f = map(float, sys.argv[1:3]); print(f"{sys.argv[3]} #{sys.argv[5]}: wall {w:.1f} s = {w/f:.2f}x {sys.argv[4]}'"'"'s {f:.1f} s")' "$wall" "$first_wall" "$wire" "$first_wire" "$n"
    fi
  done
  if [ -n "$keep" ]; then mkdir -p "$keep"; rm -rf "${keep:?}/$n"; cp -r "$work/$n" "$keep/$n"; fi
done
