#!/usr/bin/env bash
# Runs every protocol fuzz target for SECONDS each (default 60), starting from the
# committed seeds; new inputs go to corpus/ (not committed), crashes to artifacts/.
# Needs cargo-fuzz and a nightly toolchain:
#   cargo install cargo-fuzz && rustup toolchain install nightly
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in agent_message controller_message audio_frame signed_payload; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=300000 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed: see artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
done
