#!/usr/bin/env bash
# The load predictor, walk-forward against its baselines on two traces, and its speed.
# See BENCHMARKS.md "Load predictor". Usage (from anywhere):
#   Benchmarks/predict/run.sh [PATH/TO/predict-bench]     # ~20-40 min, mostly the forest
# It runs Benchmarks/predict/setup (numpy, scikit-learn, pmdarima: installed only if missing) and,
# without a path, builds .build-pbench/release/predict-bench when it is missing
# (swift build -c release --scratch-path .build-pbench --product predict-bench; rebuild it
# yourself after changing the sources).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bench="${1:-$root/.build-pbench/release/predict-bench}"
if [[ ! -x $bench && -z ${1:-} ]]; then
    (cd "$root" && swift build -c release --scratch-path .build-pbench --product predict-bench >&2)
fi
[[ -x $bench ]] || { echo "run.sh: no predict-bench at $bench (build it first)" >&2; exit 2; }
"$here/setup"
out="${OUT:-/tmp/predict-bench}"
mkdir -p "$out"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== speed"
"$bench" speed
# instructions per operation: the difference of two counts (valgrind refuses the debug info: a stripped copy)
tmpd=$(mktemp -d) && tmpb=$tmpd/predict-bench && cp "$bench" "$tmpb" && strip --strip-debug "$tmpb"
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmpb" count "$1" "$2" 2>&1 | sed -n 's/.*Collected : //p'; }
p1=$(ir predict 10000); p2=$(ir predict 30000); t1=$(ir train 2); t2=$(ir train 6)
echo "callgrind: predict $(( (p2 - p1) / 20000 )) instructions, train(1000 samples) $(( (t2 - t1) / 4 )) instructions"
rm -rf "$tmpd"

echo "== synthetic: 17 days at 5 s (seed 1); the last 3 days scored, every minute, horizons 25 s and 15 min"
python3 "$here/gen_trace.py" "$out/synthetic.csv" --days 17 --seed 1
"$bench" walk "$out/synthetic.csv" 5 25 900 241920 "$out/synthetic-model.csv" | tail -3
python3 "$here/score.py" "$out/synthetic.csv" "$out/synthetic-model.csv" --interval 5 --h1 5 --h2 180 \
  --test-from 241920 --validation 17280 --day 17280 --week 120960 --rf-every 60 --stride 12

echo "== public: Taylor's half-hourly demand (pmdarima), weeks 9-12 scored, horizons 5 and 180 steps (2.5 h, 90 h)"
python3 "$here/public_trace.py" "$out/taylor.csv"
"$bench" walk "$out/taylor.csv" 1800 9000 324000 2688 "$out/taylor-model.csv" | tail -3
python3 "$here/score.py" "$out/taylor.csv" "$out/taylor-model.csv" --interval 1800 --h1 5 --h2 180 \
  --test-from 2688 --validation 336 --day 48 --week 336 --rf-every 20
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
