#!/usr/bin/env bash
# The whole test suite. Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cargo test --workspace --locked
