#!/usr/bin/env bash
# The main job: the controller with demo speakers, on its embedded defaults.
# Installs missing system packages first.
#
# Today the controller does not exist yet (see ARCHITECTURE.md, "Status"): this builds the
# whole workspace in release mode and stops. It becomes `dalaba-controller demo` when the
# controller lands.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cargo build --release --workspace --locked
echo "built. The controller and its demo are not implemented yet; see README.md."
