#!/usr/bin/env bash
# Fuzzes every decoder of untrusted input for SECONDS per target (default 60): the
# protocol's messages, frames and signed payloads (protocol/fuzz), uploaded media files
# (audio/fuzz: the whole upload pipeline), and CAP messages (controller/fuzz). Starts from
# the committed seeds; new inputs go to each crate's corpus/ (not committed), crashes to
# artifacts/. Prints the executions per target. Needs cargo-fuzz and a nightly toolchain:
#   cargo install cargo-fuzz && rustup toolchain install nightly
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run() {
    local dir="$1" target="$2" max_len="$3"
    mkdir -p "$dir/corpus/$target"
    echo "== $dir $target: ${seconds}s"
    if ! (cd "$dir" && cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=20 -print_final_stats=1) >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $dir $target failed: see $dir/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
}
for target in agent_message controller_message audio_frame signed_payload; do
    run protocol/fuzz "$target" 300000
done
run audio/fuzz media_file 65536
run controller/fuzz cap 65536
