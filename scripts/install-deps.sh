#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Dalaba needs to build, plus any named as arguments
# (./test.sh adds the tools the tests check our output with), if any are missing.
# Run by ./run.sh and ./test.sh; safe to run again (does nothing when all are there).
set -euo pipefail

# Build: pkg-config and the ALSA headers for cpal, cmake and a C compiler for libopus.
packages=(pkg-config cmake build-essential libasound2-dev espeak-ng "$@")

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "installing missing system packages: ${missing[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust from https://rustup.rs (stable, 1.85 or newer)" >&2
    exit 1
fi
