#!/usr/bin/env bash
# The whole test suite. Installs missing system packages first.
set -euo pipefail
cd "$(dirname "$0")"
# ffmpeg makes MP3/AAC/FLAC/Vorbis test inputs and checks our Ogg Opus output; opus-tools
# (opusinfo) checks it too.
scripts/install-deps.sh ffmpeg opus-tools
cargo test --workspace --locked
