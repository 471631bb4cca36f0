#!/usr/bin/env bash
# Runs the Linux kernel's packetdrill selftests (tools/testing/selftests/net/packetdrill) through
# their own ksft_runner.sh — once with upstream packetdrill as the `packetdrill` it finds in
# PATH, once with stackdrill — and prints, script by script and IP version by IP version, both
# verdicts and stackdrill's first error where they disagree.
#
# The runner is the kernel's, unchanged: it picks the IP versions, flags, defines and
# KSFT_MACHINE_SLOW options itself and runs `unshare -n packetdrill ... SCRIPT` per version. The
# `packetdrill` it finds is a small shim written here that runs the real binary under
# `timeout`, keeps its stderr for the table and, for upstream, gives it a private /tmp (the
# selftests' set_sysctls.py writes there; stackdrill gives every run one already).
#
# usage: scripts/compat-ksft.sh [-u PACKETDRILL] [-U VERDICTS.tsv] [-s STACKDRILL] [-t SECS]
#                               [-o OURS.tsv] [-j JOBS] SELFTESTS/net/packetdrill [FILTER]
#   -u PACKETDRILL  upstream's binary (default: ../scratch-upstream/gtests/net/packetdrill/packetdrill)
#   -U FILE         upstream's verdicts: read when FILE exists, else measured once and written
#                   there (default: upstream-verdicts.tsv beside the selftests folder)
#   -s STACKDRILL   this stackdrill binary (e.g. an older build, for before/after figures)
#                   instead of building the work tree's release binary
#   -t SECS         timeout of one packetdrill run (default 120)
#   -o FILE         also write stackdrill's verdicts as TSV
#   -j JOBS         scripts run at once (default 1: serially, as kselftest runs them)
#   FILTER          only scripts whose name contains FILTER
# A row is `same` or `DIFF`; `same*` when both fail but at different lines of the script (each
# error then follows).
# The folder must sit in a kselftest tree: ksft_runner.sh sources ../../kselftest/ktap_helpers.sh.
# Set KSFT_MACHINE_SLOW=yes to run as the kernel's CI does on slow machines. Needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
upstream="$here/../scratch-upstream/gtests/net/packetdrill/packetdrill"
verdicts=""
limit=120
out=""
jobs=1
stackdrill=""
while getopts "u:U:s:t:o:j:" opt; do
    case "$opt" in
        u) upstream="$OPTARG" ;;
        U) verdicts="$OPTARG" ;;
        s) stackdrill="$(realpath "$OPTARG")" ;;
        t) limit="$OPTARG" ;;
        o) out="$OPTARG" ;;
        j) jobs="$OPTARG" ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1/ksft_runner.sh" ]; then
    echo "usage: $0 [-u PACKETDRILL] [-U VERDICTS.tsv] [-s STACKDRILL] [-t SECS] [-o OURS.tsv] [-j JOBS] SELFTESTS/net/packetdrill [FILTER]" >&2
    exit 2
fi
suite="$(cd "$1" && pwd)"
filter="${2:-}"
[ -n "$verdicts" ] || verdicts="$(dirname "$suite")/upstream-verdicts.tsv"

if [ -z "$stackdrill" ]; then
    cargo build --release --quiet --manifest-path "$here/Cargo.toml"
    stackdrill="$here/target/release/stackdrill"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# shim DIR BINARY PRIVATE_TMP: a `packetdrill` in DIR that runs BINARY with the runner's
# arguments, its stderr kept as $SHIM_LOG.<n> (one file per run of the runner).
shim() {
    mkdir -p "$1"
    cat > "$1/packetdrill" <<EOF
#!/usr/bin/env bash
n=\$(ls "\$SHIM_LOG".* 2>/dev/null | wc -l)
log="\$SHIM_LOG.\$n"
if [ "$3" = yes ]; then
    exec unshare -m sh -c 'mount -t tmpfs tmpfs /tmp && exec "\$@"' sh \\
        timeout -s KILL "$limit" "$2" "\$@" 2>"\$log"
fi
exec timeout -s KILL "$limit" "$2" "\$@" 2>"\$log"
EOF
    chmod +x "$1/packetdrill"
}
shim "$work/upstream" "$upstream" yes
shim "$work/stackdrill" "$stackdrill" no

# run_one WHICH SCRIPT: the runner's KTAP verdicts as TSV rows SCRIPT VERSION VERDICT ERROR.
run_one() {
    local which="$1" script="$2" logs="$work/logs/$1/$2" ktap
    mkdir -p "$logs"
    ktap="$(cd "$suite" && SHIM_LOG="$logs/run" PATH="$work/$which:$PATH" \
        ./ksft_runner.sh "$script" 2>/dev/null </dev/null || true)"
    local n=0 line verdict error
    while IFS= read -r line; do
        [[ "$line" =~ ^(not\ )?ok\ [0-9]+\ ([^ ]+)(.*)$ ]] || continue
        verdict=pass error=""
        if [ -n "${BASH_REMATCH[1]}" ]; then
            verdict=fail
        elif [[ "${BASH_REMATCH[3]}" == *"# XFAIL"* ]]; then
            verdict=xfail
        fi
        if [ "$verdict" != pass ]; then
            error="$(grep -m1 -v '^sysctl: ' "$logs/run.$n" 2>/dev/null | tr '\t' ' ' || true)"
        fi
        printf '%s\t%s\t%s\t%s\n' "$script" "${BASH_REMATCH[2]}" "$verdict" "$error"
        n=$((n + 1))
    done <<< "$ktap"
}
export -f run_one
export suite work

scripts="$(cd "$suite" && ls -- *.pkt | grep -F -- "$filter")"
if [ ! -f "$verdicts" ]; then
    if [ ! -x "$upstream" ]; then
        echo "$0: no upstream packetdrill at $upstream to measure $verdicts (give -u PACKETDRILL)" >&2
        exit 2
    fi
    echo "measuring upstream packetdrill ($upstream) into $verdicts" >&2
    printf '%s\n' "$scripts" | xargs -P "$jobs" -I{} bash -c 'run_one upstream "$0"' {} |
        sort > "$work/upstream.tsv"
    cp "$work/upstream.tsv" "$verdicts"
fi
start=$(date +%s)
printf '%s\n' "$scripts" | xargs -P "$jobs" -I{} bash -c 'run_one stackdrill "$0"' {} |
    sort > "$work/ours.tsv"
wall=$(( $(date +%s) - start ))
[ -n "$out" ] && cp "$work/ours.tsv" "$out"

python3 - "$work/ours.tsv" "$verdicts" "$wall" <<'PY'
import sys
ours_path, base_path, wall = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(path):
    table = {}
    for line in open(path):
        script, version, verdict, error = (line.rstrip("\n").split("\t") + [""])[:4]
        table[(script, version)] = (verdict, error)
    return table
def where(error):
    """The FILE:LINE an error names."""
    return ":".join(error.split(":")[:2])
ours, base = rows(ours_path), rows(base_path)
passes = upstream_passes = both = same = 0
diffs = []
elsewhere_runs = 0
for key in sorted(ours):
    verdict, error = ours[key]
    up, up_error = base.get(key, ("?", ""))
    passes += verdict == "pass"
    upstream_passes += up == "pass"
    both += verdict == "pass" and up == "pass"
    agree = verdict == up
    same += agree
    # Both failing, but at different lines: worth a look.
    elsewhere = agree and verdict != "pass" and where(error) != where(up_error)
    elsewhere_runs += elsewhere
    mark = "same*" if elsewhere else "same" if agree else "DIFF"
    print(f"{mark}\t{key[1]}\t{key[0]}\tstackdrill={verdict}\tupstream={up}")
    if not agree:
        diffs.append(key)
    if not agree or elsewhere:
        if verdict != "pass":
            print(f"\t  stackdrill: {error}")
        if up != "pass":
            print(f"\t  upstream:   {up_error}")
scripts = len({script for script, _ in ours})
print(f"{scripts} scripts, {len(ours)} runs: upstream passes {upstream_passes}, stackdrill "
      f"{passes}, both {both}; same verdict in {same} ({elsewhere_runs} failing at different "
      f"lines), different in {len(diffs)} ({wall} s)")
PY
