#!/usr/bin/env bash
# Fetch scikit-image's bundled skimage/data photographs (public domain / CC0,
# see skimage/data/README), taken from one pinned, sha256-verified wheel:
#  - 5 of them for the image-encoder tests, in $MMTOOL_CACHE/testdata/skimage;
#  - every real photograph (colour or grey; not the synthetic test patterns,
#    logos or tiny images) as base photos for `mmtool data synth-media`, in
#    $MMTOOL_CACHE/testdata/skimage-all.
#
#   scripts/fetch-test-images.sh
#
# Default cache ~/.cache/mmtool. Idempotent: each folder is skipped when its
# .complete marker exists.
set -euo pipefail

cache=${MMTOOL_CACHE:-$HOME/.cache/mmtool}
wheels=$cache/wheels
dest=$cache/testdata/skimage
dest_all=$cache/testdata/skimage-all
spec=scikit-image==0.24.0
# The wheel is pinned by platform and Python tag so its checksum is the same
# wherever this runs; only the data files are used, never the code.
file=scikit_image-0.24.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
sum=8579bda9c3f78cb3b3ed8b9425213c53a25fa7e994b7ac01f2440b395babf660
images=(astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png)
# Left out on purpose: chessboard_*.png, color.png (a colour wheel),
# phantom.png (a CT test pattern), logo.png, horse.png (a binary silhouette)
# and microaneurysms.png (102x102): none is a photograph a user would attach.
photos=(astronaut.png brick.png camera.png cell.png chelsea.png clock_motion.png
  coffee.png coins.png grass.png gravel.png hubble_deep_field.jpg ihc.png moon.png
  motorcycle_left.png motorcycle_right.png page.png retina.jpg rocket.jpg text.png)

if [ -f "$dest/.complete" ] && [ -f "$dest_all/.complete" ]; then
  echo "fetch-test-images: already in $dest and $dest_all"
  exit 0
fi
mkdir -p "$wheels" "$dest" "$dest_all"
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
extract() { # DEST NAME...
  python3 - "$wheels/$file" "$@" <<'PY'
import os, sys, zipfile
whl, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        out = os.path.join(dest, n)
        with z.open("skimage/data/" + n) as src, open(out + ".part", "wb") as dst:
            dst.write(src.read())
        os.replace(out + ".part", out)
PY
  touch "$1/.complete"
}
[ -f "$dest/.complete" ] || extract "$dest" "${images[@]}"
[ -f "$dest_all/.complete" ] || extract "$dest_all" "${photos[@]}"
echo "fetch-test-images: ready in $dest and $dest_all"
