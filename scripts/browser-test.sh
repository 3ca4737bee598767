#!/usr/bin/env bash
# Browser test of the web demo (`mmtool serve`) in the system's headless
# Chromium (Debian package `chromium`, see apt-packages.txt), driven by
# playwright-core from npm (no browser download). Screenshots land in
# target/browser-test/. Needs MMTOOL_DATA_DIR or ../shared/toolmmbench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The server runs from the test folder, so a relative default would not resolve there.
export MMTOOL_DATA_DIR=${MMTOOL_DATA_DIR:-$root/../shared/toolmmbench}
cargo build -p mmtool-cli
cd crates/mmtool-server/browser-test
npm ci --no-audit --no-fund --silent
MMTOOL_BIN="$root/target/debug/mmtool" node test.mjs
