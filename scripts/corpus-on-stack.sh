#!/usr/bin/env bash
# Runs Google's packetdrill corpus (3 variants, as run_all.py does) against a userspace stack
# and prints Markdown for docs/corpus/STACK.md: counts of failing runs per category (why they
# fail, from each run's first error), then every script's verdict per variant, its first error
# and its category. STACK is the library's name as `// cannot-pass:` marks use it
# (libstackdrill_lwip.so: lwip).
#
# usage: scripts/corpus-on-stack.sh [LIBRARY.so [SO_FLAGS]]   (default: the smoltcp adapter)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p stackdrill -p stackdrill-smoltcp
library="${1:-$here/target/release/libstackdrill_smoltcp.so}"
flags=()
[ $# -ge 2 ] && flags=("--so_flags=$2")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$("$here/scripts/prepare-google-corpus.sh" "$work")"
"$here/target/release/stackdrill" --so_filename="$library" "${flags[@]}" --send_omit_free \
    --variants=all --json="$work/result.json" "$corpus" > "$work/progress.txt" 2>&1 || true
tail -1 "$work/progress.txt" >&2
python3 - "$work/result.json" "$(basename "$library")" <<'PY'
import collections, json, re, sys

report, library = json.load(open(sys.argv[1])), sys.argv[2]

# First matching rule names the category of a failure (its first error line).
CATEGORIES = [
    ("PSP (wire mode only)", r"PSP requires wireserver"),
    ("socket option the stack does not have", r"(setsockopt|getsockopt) call: .*errno 92|Protocol not available"),
    ("call not implemented", r"does not implement"),
    ("socket type or family", r"socket call: .*(Protocol not supported|Address family|errno 9[34])"),
    ("TCP options: Linux's order, values (window scale, MSS), ECN", r"bad outbound TCP options|bad value in outbound TCP option|tcp_ece|tcp_cwr|ECN"),
    ("TCP Fast Open", r"fastopen|MSG_FASTOPEN|TCP_FASTOPEN|sendto call: Expected errno 115"),
    ("segment sizes (Linux's cwnd, TSO, MSS)", r"total_length|payload_len|payload: expected"),
    ("sequence / ack / window values", r"live packet field tcp_(seq|ack_seq|window)"),
    ("PSH / FIN flag placement", r"tcp_(psh|fin)"),
    ("timing of retransmissions and timers (RTO, delayed ACK)", r"timing error"),
    ("a packet Linux sends that the stack does not", r"Timed out waiting for packet"),
    ("another packet field", r"live packet field"),
    ("tcp_info / %{ }% assertions", r"AssertionError|tcpi_|code"),
    ("errno or result of a call", r"Expected (result|errno|non-negative)"),
    ("value a call fills in (getsockopt, ioctl)", r"Bad (getsockopt|ioctl) optval"),
    ("a call blocks where Linux's returns", r"call blocked|did not return within"),
]

def category(run):
    message = run["message"]
    if re.search(r"executing .*command", message) and re.search(r"tun0|Cannot find device", run["errors"]):
        return "commands configure the tun device, which a userspace stack has not"
    for name, pattern in CATEGORIES:
        if re.search(pattern, message):
            return name
    return "other"

def first_error(run):
    line = run["message"].split("\n")[0]
    return re.sub(r"^\S+?\.pkt:(\d+): ", r"line \1: ", line)

by_script = collections.OrderedDict()
for run in report["runs"]:
    by_script.setdefault(run["script"], {})[run["variant"] or "as given"] = run

counts, verdicts = collections.Counter(), collections.Counter()
rows = []
for script, variants in by_script.items():
    cells, why, error = [], set(), ""
    for variant in ("ipv4", "ipv4-mapped-ipv6", "ipv6"):
        run = variants.get(variant)
        if run is None:
            cells.append("–")
            continue
        status = run["status"]
        verdicts[status] += 1
        cells.append({"passed": "pass", "expected_failure": "xfail"}.get(status, status))
        if status not in ("passed", "expected_failure"):
            cat = category(run)
            counts[cat] += 1
            why.add(cat)
            error = error or first_error(run)
    rows.append(f"| {script} | {' | '.join(cells)} | {', '.join(sorted(why))} | {error.replace('|', '/')} |")

print(f"Google corpus against `{library}`: {sum(verdicts.values())} runs, "
      + ", ".join(f"{n} {status}" for status, n in sorted(verdicts.items())) + ".\n")
print("| failing runs | category |\n|---:|---|")
for cat, n in counts.most_common():
    print(f"| {n} | {cat} |")
print("\n| script | ipv4 | ipv4-mapped-ipv6 | ipv6 | why | first error |\n|---|---|---|---|---|---|")
print("\n".join(rows))
PY
