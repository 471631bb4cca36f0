#!/usr/bin/env bash
# Runs Google's packetdrill corpus (../shared/corpus/google) with stackdrill the way upstream's
# run_all.py does — each script × ipv4, ipv4-mapped-ipv6, ipv6, minus the file-name exclusions,
# with run_all.py's flags and -D defines, from the script's directory — and prints, script by
# script, stackdrill's verdict and first error beside upstream's from ../shared/baseline.
#
# usage: scripts/compat-google.sh [-j JOBS] [-o RESULTS.tsv] [FILTER]
#   -j JOBS   scripts run at once (default 1: serial, as the baseline was measured, each run
#             with --pin_cpu=start)
#   -o FILE   also write the per-run table as TSV
#   FILTER    only scripts whose path contains FILTER
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
baseline="$here/../shared/baseline/packetdrill-verdicts.tsv"
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
# Serially, each run keeps to the CPU it starts on, as the suite runs a script alone: the
# kernel's timers then keep their tick (docs/compatibility.md, "Timing: one CPU per run").
pin=""
[ "$jobs" = 1 ] && pin="--pin_cpu=start"
filter="${1:-}"

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/stackdrill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$("$here/scripts/prepare-google-corpus.sh" "$work")"

variant_args() {
    case "$1" in
        ipv4) echo "--ip_version=ipv4 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 -D TFO_COOKIE=3021b9d889017eeb -D CODE=host_unreachable -D CMSG_LEVEL_IP=SOL_IP -D CMSG_TYPE_RECVERR=IP_RECVERR" ;;
        ipv4-mapped-ipv6) echo "--ip_version=ipv4-mapped-ipv6 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 -D TFO_COOKIE=3021b9d889017eeb -D CODE=host_unreachable -D CMSG_LEVEL_IP=SOL_IPV6 -D CMSG_TYPE_RECVERR=IPV6_RECVERR" ;;
        ipv6) echo "--ip_version=ipv6 --mtu=1520 --local_ip=fd3d:0a0b:17d6::1 --gateway_ip=fd3d:0a0b:17d6:8888::1 --remote_ip=fd3d:fa7b:d17d::1 -D TFO_COOKIE=c1d1e9742a47a9bc -D CMSG_LEVEL_IP=SOL_IPV6 -D CMSG_TYPE_RECVERR=IPV6_RECVERR" ;;
    esac
}

# The runs, as run_all.py selects them.
(cd "$corpus" && find . -name '*.pkt' | sed 's|^\./||' | sort) | grep -F -- "$filter" | while read -r script; do
    case "$script" in *v6.pkt) ;; *) echo "$script ipv4"; echo "$script ipv4-mapped-ipv6" ;; esac
    case "$script" in *v4.pkt) ;; *) echo "$script ipv6" ;; esac
done > "$work/runs"

run_one() {
    local script="$1" variant="$2" n="$3"
    local dir base start end status
    dir="$corpus/$(dirname "$script")"
    base="$(basename "$script")"
    start=$(date +%s%N)
    # shellcheck disable=SC2046
    if (cd "$dir" && timeout 180 "$bin" --send_omit_free $pin $(variant_args "$variant") "$base") \
        >"$work/$n.out" 2>"$work/$n.err" </dev/null; then
        status=pass
    else
        status=fail
    fi
    end=$(date +%s%N)
    printf '%s\t%s\t%s\t%d.%02d\t%s\n' "$script" "$variant" "$status" \
        $(( (end - start) / 1000000000 )) $(( (end - start) / 10000000 % 100 )) \
        "$(grep -m1 -E '^[^ ]+\.pkt:[0-9]+(:[0-9]+)?: |^[^ ]+\.pkt: |^PSP |^stackdrill: ' "$work/$n.err" | tr '\t' ' ' || true)" > "$work/$n.row"
}
export -f run_one variant_args
export bin corpus work

total=$(wc -l < "$work/runs")
start=$(date +%s)
nl -ba -w1 -s' ' "$work/runs" | awk '{print $2, $3, $1}' |
    xargs -P "$jobs" -n 3 bash -c 'run_one "$0" "$1" "$2"'
wall=$(( $(date +%s) - start ))

cat "$work"/*.row | sort > "$work/ours.tsv"
[ -n "$out" ] && cp "$work/ours.tsv" "$out"

python3 - "$work/ours.tsv" "$baseline" "$wall" "$total" <<'PY'
import csv, sys
ours_path, base_path, wall, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = {}
with open(base_path) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        base[(row["script"], row["ip_version"])] = row
same = passes = upstream_passes = both_pass = 0
rows = [line.rstrip("\n").split("\t") for line in open(ours_path)]
for script, variant, verdict, secs, error in rows:
    b = base.get((script, variant))
    up = b["verdict"] if b else "?"
    flaky = b and b["flaky"] == "yes"
    passes += verdict == "pass"
    upstream_passes += up == "pass"
    both_pass += verdict == "pass" and up == "pass"
    agree = verdict == up or flaky
    same += agree
    mark = "same" if agree else "DIFF"
    print(f"{mark}\t{variant}\t{script}\tstackdrill={verdict}\tupstream={up}{' (flaky)' if flaky else ''}\t{secs}s")
    if verdict == "fail":
        print(f"\t  ours:     {error}")
    if up == "fail":
        print(f"\t  upstream: {b['first_error']}")
print(f"Ran {len(rows)} of {total} runs: stackdrill passes {passes}, upstream {upstream_passes}, "
      f"both {both_pass}; same verdict in {same} ({wall} sec)")
PY
