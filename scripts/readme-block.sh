#!/usr/bin/env bash
# readme-block.sh MARKER [FILE] - print the fenced code block of FILE
# (README.md) that follows the line "<!-- MARKER -->", without its fences. The README marks with such comments the commands and programs
# that the check-*.sh scripts run as written, so that they cannot drift.
# Prints nothing if there is no such block.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 MARKER [FILE]" >&2
    exit 2
fi
awk -v marker="$1" '
    $0 == "<!-- " marker " -->" { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }
' "${2:-$(dirname "$0")/../README.md}"
