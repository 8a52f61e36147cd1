#!/usr/bin/env bash
# Builds the Debian packages of the controller and the agent (release builds, with
# cargo-deb) into target/debian/, then checks them with scripts/check-packages.sh.
#
# For a speaker terminal's arm64 board: DALABA_DEB_TARGET=aarch64-unknown-linux-gnu
# (needs `rustup target add aarch64-unknown-linux-gnu`, a cross linker such as
# gcc-aarch64-linux-gnu set in .cargo/config.toml, and libasound2-dev:arm64). The recipe
# is ready for it; it has not been built on this project's x86-64 machines.
set -euo pipefail
cd "$(dirname "$0")/.."
# dpkg-dev: dpkg-shlibdeps works out the libraries' packages ($auto);
# systemd: systemd-analyze checks the units.
scripts/install-deps.sh dpkg-dev systemd
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked --version 3.8.0
fi
args=(--locked --strip)
if [ -n "${DALABA_DEB_TARGET:-}" ]; then
    args+=(--target "$DALABA_DEB_TARGET")
fi
rm -f target/debian/dalaba-*.deb
cargo deb -p dalaba-controller "${args[@]}"
cargo deb -p dalaba-agent "${args[@]}"
scripts/check-packages.sh target/debian/dalaba-controller_*.deb target/debian/dalaba-agent_*.deb
