#!/usr/bin/env bash
# The main job on a fresh machine, offline after setup: builds omnireward, inspects the embedded
# sample benchmark, creates the database (with the paper-reported reference rows) and prints
# the leaderboard. The web server replaces this once it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p omnireward --bin omnireward
binary=target/release/omnireward
"$binary" data inspect
echo
"$binary" leaderboard --setting with-ties
echo
"$binary" leaderboard --setting without-ties
