#!/usr/bin/env bash
# Measures the default mllm adapter (session 4): the held-out synthetic media set with and
# without the media, and every 16th test item, calibrated (the default) and not.
#
#   cargo build --release -p mmtool-cli && mmtool data synth-media && scripts/measure-media-adapter.sh
#
# Writes predictions to runs/synth/ and prints the tables of docs/media-training.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMTOOL_DATA_DIR=${MMTOOL_DATA_DIR:-../shared/toolmmbench}
M=target/release/mmtool
E=${MMTOOL_CACHE:-$HOME/.cache/mmtool}/synth-media/eval.json
T=$MMTOOL_DATA_DIR/test.json
o=runs/synth
mkdir -p $o
[ -f runs/test_every16.json ] || python3 -c "import json,sys; t=json.load(open(sys.argv[1])); json.dump(t[::16], open('runs/test_every16.json','w'))" "$T"
run() { # name, flags before predict, flags after
  local name=$1 pre=$2 post=$3
  # shellcheck disable=SC2086
  $M $pre predict $post --out $o/$name.json --force 2>&1 | tail -1
}
for m in words media; do
  fl=""; [ $m = media ] && fl="--with-media"
  run retr-$m "" "--backend retrieval --data $E $fl"
  run mllm-$m "--no-calibration" "--backend mllm --data $E $fl"
  run mllm-fw0-$m "--no-calibration --fusion-weight 0" "--backend mllm --data $E $fl"
  run cal-fw0-$m "--fusion-weight 0" "--backend mllm --data $E $fl"
  run cal-$m "" "--backend mllm --data $E $fl"
done
run test16-default "--no-calibration" "--backend mllm --data $T --every 16"
run test16-cal-fw0 "--fusion-weight 0" "--backend mllm --data $T --every 16"
run test16-cal "" "--backend mllm --data $T --every 16"
python3 scripts/synth_breakdown.py "$E" \
  "retrieval, words=$o/retr-words.json" "retrieval, words + media hint=$o/retr-media.json" \
  "mllm fused, plain likelihood, words=$o/mllm-words.json" "mllm fused, plain likelihood, media=$o/mllm-media.json" \
  "mllm alone, plain likelihood, words=$o/mllm-fw0-words.json" "mllm alone, plain likelihood, media=$o/mllm-fw0-media.json" \
  "mllm alone, calibrated, words=$o/cal-fw0-words.json" "mllm alone, calibrated, media=$o/cal-fw0-media.json" \
  "mllm fused, calibrated (default), words=$o/cal-words.json" "mllm fused, calibrated (default), media=$o/cal-media.json"
for f in test16-default test16-cal-fw0 test16-cal; do
  echo "$f"; $M eval --gold runs/test_every16.json --pred $o/$f.json | sed -n 2,5p
done
