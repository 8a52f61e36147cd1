#!/usr/bin/env bash
# The main job: the controller with three demo speakers (agent processes with WAV sinks),
# on its embedded defaults (SQLite and keys in ./dalaba-demo). Installs missing system
# packages first. Extra arguments go to `dalaba-controller demo` (e.g. --listen ADDR).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cargo build --release --workspace --locked
exec target/release/dalaba-controller demo "$@"
