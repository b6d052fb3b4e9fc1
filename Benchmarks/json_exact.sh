#!/bin/sh
# JSON number exactness, side by side: opsh (opsh.json) and lua5.4 (Debian's lua-cjson).
# Usage: Benchmarks/json_exact.sh [OPSH]   (or OPSH=path; default .build/release/opsh). Builds nothing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
OPSH=${1:-${OPSH:-.build/release/opsh}}
"$OPSH" "$here/json_exact.lua"
echo
lua5.4 "$here/json_exact.lua"
