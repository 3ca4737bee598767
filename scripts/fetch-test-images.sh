#!/usr/bin/env bash
# Fetch the sample photographs the image-encoder tests classify: scikit-image's
# bundled skimage/data pictures (public domain / CC0, see skimage/data/README),
# taken from one pinned, sha256-verified scikit-image wheel.
#
#   scripts/fetch-test-images.sh
#
# Output: $MMTOOL_CACHE/testdata/skimage/*.png|jpg (default ~/.cache/mmtool).
# Idempotent: skipped when the .complete marker exists.
set -euo pipefail

cache=${MMTOOL_CACHE:-$HOME/.cache/mmtool}
wheels=$cache/wheels
dest=$cache/testdata/skimage
spec=scikit-image==0.24.0
# The wheel is pinned by platform and Python tag so its checksum is the same
# wherever this runs; only the data files are used, never the code.
file=scikit_image-0.24.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
sum=8579bda9c3f78cb3b3ed8b9425213c53a25fa7e994b7ac01f2440b395babf660
images=(astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png)

if [ -f "$dest/.complete" ]; then
  echo "fetch-test-images: already in $dest"
  exit 0
fi
mkdir -p "$wheels" "$dest"
if [ ! -f "$wheels/$file" ] || ! echo "$sum  $wheels/$file" | sha256sum -c --status; then
  rm -f "$wheels/$file"
  echo "fetch-test-images: downloading $spec" >&2
  python3 -m pip download --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --python-version 3.12 --implementation cp -q -d "$wheels" "$spec" >&2
fi
if ! echo "$sum  $wheels/$file" | sha256sum -c --status; then
  echo "fetch-test-images: checksum mismatch for $wheels/$file (expected $sum); refusing to use it" >&2
  exit 1
fi
python3 - "$wheels/$file" "$dest" "${images[@]}" <<'PY'
import os, sys, zipfile
whl, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        out = os.path.join(dest, n)
        with z.open("skimage/data/" + n) as src, open(out + ".part", "wb") as dst:
            dst.write(src.read())
        os.replace(out + ".part", out)
PY
touch "$dest/.complete"
echo "fetch-test-images: ready in $dest"
