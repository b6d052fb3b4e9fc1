#!/usr/bin/env bash
# security/tls against the guide's certificate check, side by side in one hyperfine run, on N
# certificate files signed by a test CA (made here with openssl):
#   guide:        for f: openssl x509 -in $f -checkend 2592000 -noout       (expiry only)
#   guide+verify: the same, plus openssl verify -CAfile ca.crt $f           (what security/tls also checks)
#   opsh:         opsh run security/tls --file f1 ... --file fN --ca-file ca.crt
# The answers are compared first (the benchmark fails if they differ): the files that expire
# within 30 days, by the loop and by opsh's WARNING checks.
# Usage: Benchmarks/tls/run.sh [N]  (OPSH=path/to/opsh; default the release build, else debug)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
bench_scratch tls
n=${1:-50}
opsh=${OPSH:-$here/../../.build/release/opsh}
[[ -x $opsh ]] || opsh=$here/../../.build/debug/opsh
cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 400 \
  -subj /CN=bench-CA -addext basicConstraints=critical,CA:TRUE 2>/dev/null
files=()
for i in $(seq "$n"); do
  days=$(( i % 5 == 0 ? 20 : 200 ))   # every fifth expires within 30 days
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "c$i.key" -out "c$i.csr" -subj "/CN=c$i.test" 2>/dev/null
  openssl x509 -req -in "c$i.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "c$i.crt" -days "$days" 2>/dev/null
  files+=("c$i.crt")
done
guide() { for f in "${files[@]}"; do openssl x509 -in "$f" -checkend 2592000 -noout >/dev/null || echo "$f"; done; }
args=(); for f in "${files[@]}"; do args+=(--file "$f"); done
want=$(guide | sort)
# exit 1 (some files WARNING) is the expected answer, not a failure of the script
got=$({ "$opsh" --json run security/tls "${args[@]}" --ca-file ca.crt || true; } | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("\n".join(sorted(c["name"][len("tls.file."):] for c in r["checks"] if c["status"] == "warning")))')
if [[ "$want" != "$got" ]]; then echo "answers differ: guide [$want] opsh [$got]" >&2; exit 1; fi
echo "same answer: $(echo "$want" | wc -l) of $n files expire within 30 days ($opsh)"
files_list="${files[*]}"
# -i: opsh exits 1 when a certificate expires within 30 days, the loop's last openssl maybe too
hyperfine -N -i --warmup 2 --runs 10 \
  -n guide "bash -c 'for f in $files_list; do openssl x509 -in \$f -checkend 2592000 -noout >/dev/null || echo \$f; done'" \
  -n guide+verify "bash -c 'for f in $files_list; do openssl x509 -in \$f -checkend 2592000 -noout >/dev/null || echo \$f; openssl verify -CAfile ca.crt \$f >/dev/null; done'" \
  -n opsh "$opsh run security/tls ${args[*]} --ca-file ca.crt"
