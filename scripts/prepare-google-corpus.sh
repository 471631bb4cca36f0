#!/usr/bin/env bash
# Copies Google's packetdrill corpus (../shared/corpus/google/gtests) to DEST/gtests so that it
# runs: the shared copy is read-only, its helpers (defaults.sh, set_sysctls.py) must be
# executable, and upstream's tcp/common/defaults.sh symlink is stored as a file holding the link
# target, which, run as a script, would run itself forever — it becomes a link again.
#
# usage: scripts/prepare-google-corpus.sh DEST     (prints DEST/gtests/net)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: prepare-google-corpus.sh DEST}"
cp -r "$here/../shared/corpus/google/gtests" "$dest/gtests"
chmod -R u+w "$dest/gtests"
find "$dest/gtests" \( -name '*.sh' -o -name '*.py' \) -exec chmod +x {} +
find "$dest/gtests" -type f -size -200c -name '*.sh' | while read -r f; do
    target="$(head -c 200 "$f")"
    case "$target" in
        ../*) [ -f "$(dirname "$f")/$target" ] && ln -sf "$target" "$f" ;;
    esac
done
echo "$dest/gtests/net"
