#!/usr/bin/env bash
# Dry-runs every .pkt under DIR with stackdrill (`--dry_run`, no other flags, no -D defines),
# each from its own directory as packetdrill's suites expect, and prints how many were accepted
# and rejected, then the rejects grouped by their first error (with FILE:LINE:COL stripped, so
# scripts rejected for the same reason fall into one group).
#
# usage: scripts/dry-run-corpus.sh [-b BINARY] [-v] DIR
#   -b BINARY  the stackdrill to run (default: target/debug/stackdrill, built if missing)
#   -v         also list each rejected script with its first error
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
verbose=0
while getopts "b:v" opt; do
    case "$opt" in
        b) bin="$OPTARG" ;;
        v) verbose=1 ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [-b BINARY] [-v] DIR" >&2; exit 2; }
dir="$(cd "$1" && pwd)"
if [ -z "$bin" ]; then
    cargo build --quiet --manifest-path "$here/Cargo.toml" -p stackdrill --bin stackdrill
    bin="$here/target/debug/stackdrill"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

accepted=0
rejected=0
rejects="$(mktemp)"
trap 'rm -f "$rejects"' EXIT
while IFS= read -r -d '' script; do
    base="$(basename "$script")"
    if err="$(cd "$(dirname "$script")" && "$bin" --dry_run "$base" 2>&1 >/dev/null </dev/null)"; then
        accepted=$((accepted + 1))
    else
        rejected=$((rejected + 1))
        first="$(printf '%s\n' "$err" | grep -m1 -E 'error|not supported|:[0-9]+:' || true)"
        [ -n "$first" ] || first="$(printf '%s\n' "$err" | head -n1)"
        printf '%s\t%s\n' "${script#"$dir"/}" "$first" >> "$rejects"
    fi
done < <(find "$dir" -name '*.pkt' -print0 | sort -z)

echo "accepted: $accepted"
echo "rejected: $rejected"
if [ "$rejected" -gt 0 ]; then
    echo
    echo "rejects by first error:"
    # Drop the FILE:LINE:COL: prefix and quoted words' specifics stay, so groups are by message.
    cut -f2 "$rejects" | sed -E 's/^[^ :]+\.pkt(:[0-9]+)*: ?//' | sort | uniq -c | sort -rn
    if [ "$verbose" = 1 ]; then
        echo
        echo "rejected scripts:"
        sed 's/\t/: /' "$rejects"
    fi
fi
