#!/usr/bin/env bash
# The whole test suite. Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")"
# ffmpeg makes MP3/AAC/FLAC/Vorbis test inputs and checks our Ogg Opus output; opus-tools
# (opusinfo) checks it too; chromium and chromium-driver run the web console's browser
# tests (headless, over WebDriver); fonts-wqy-zenhei draws the Chinese in their screenshots.
scripts/install-deps.sh ffmpeg opus-tools chromium chromium-driver fonts-wqy-zenhei
cargo test --workspace --locked
