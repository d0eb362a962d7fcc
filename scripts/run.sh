#!/usr/bin/env bash
# The main job on a fresh machine (offline after setup): builds omnireward, inspects the
# embedded sample benchmark, creates the database with the paper-reported reference rows,
# evaluates the content-blind baselines, the MiniLM relevance baseline and the default model (MiniLM
# with the Bradley-Terry head trained here; both on the CPU) on the sample, prints the leaderboard
# and serves the web app (server-rendered and hydrated by the browser bundle built here) with the
# REST API under /api/v1 and the scoring demo on the default model, on http://127.0.0.1:8080/
# until Ctrl-C. Extra arguments go to `serve` (for example --bind 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-web.sh
cargo build --release --locked -p omnireward --bin omnireward
binary=target/release/omnireward
"$binary" data inspect
for kind in always-a random longer-response larger-file; do
    "$binary" eval baseline --kind "$kind" >/dev/null
done
# Resumable: a second start finds the run finished and only re-prints its scorecard.
"$binary" eval checkpoint --baseline >/dev/null
"$binary" eval checkpoint >/dev/null
"$binary" leaderboard --setting with-ties
exec "$binary" serve "$@"
