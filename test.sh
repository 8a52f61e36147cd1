#!/usr/bin/env bash
# The whole test suite. Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")"
# ffmpeg makes MP3/AAC/FLAC/Vorbis test inputs and checks our Ogg Opus output; opus-tools
# (opusinfo) checks it too; chromium and chromium-driver run the web console's browser
# tests (headless, over WebDriver).
scripts/install-deps.sh ffmpeg opus-tools chromium chromium-driver
cargo test --workspace --locked
