#!/usr/bin/env bash
# Checks the Debian packages scripts/package.sh built: what each holds (binary, systemd
# unit, default configuration, conffiles), what it depends on (a time-sync daemon; for the
# agent nothing but what an arm64 board has too), that its maintainer scripts parse, that
# its binary runs and its shipped configuration passes check-config, and that its unit
# passes `systemd-analyze verify` without a single complaint and scores as hardened
# (`systemd-analyze security`, exposure at most 2.0 of 10).
#
# Usage: scripts/check-packages.sh CONTROLLER.deb AGENT.deb
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 CONTROLLER.deb AGENT.deb" >&2; exit 2; }

fail() { echo "check-packages: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A root for systemd-analyze: the host's own units (sysinit.target and the rest) plus
# each package's files.
mkdir -p "$work/root/usr/lib/systemd"
cp -r /usr/lib/systemd/system "$work/root/usr/lib/systemd/"

check() {
    local deb=$1 name=$2
    [ -f "$deb" ] || fail "$deb: no such file"
    local package depends
    package=$(dpkg-deb --field "$deb" Package)
    [ "$package" = "$name" ] || fail "$deb: package $package, expected $name"
    depends=$(dpkg-deb --field "$deb" Depends)
    echo "$name $(dpkg-deb --field "$deb" Version) ($(dpkg-deb --field "$deb" Architecture)): Depends: $depends"
    case "$depends" in
        *"chrony | time-daemon"*) ;;
        *) fail "$name: does not depend on a time-sync daemon" ;;
    esac

    local contents
    contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
    local unit=""
    for dir in ./usr/lib/systemd/system ./lib/systemd/system; do
        if grep -qx "$dir/$name.service" <<<"$contents"; then unit=${dir#.}/$name.service; fi
    done
    [ -n "$unit" ] || fail "$name: no $name.service in the package"
    grep -qx "./usr/bin/$name" <<<"$contents" || fail "$name: no /usr/bin/$name"

    dpkg-deb --control "$deb" "$work/$name.control"
    for script in "$work/$name.control"/{preinst,postinst,prerm,postrm}; do
        [ -f "$script" ] || continue
        sh -n "$script" || fail "$name: $(basename "$script") does not parse"
        ! grep -q '#DEBHELPER#' "$script" || fail "$name: $(basename "$script") still holds #DEBHELPER#"
    done
    grep -q 'adduser --system' "$work/$name.control/postinst" || fail "$name: postinst makes no user"
    grep -q 'systemctl\|deb-systemd-helper' "$work/$name.control/postinst" \
        || fail "$name: postinst does not enable the unit"

    dpkg-deb --extract "$deb" "$work/root"
    "$work/root/usr/bin/$name" --version >/dev/null || fail "$name: the binary does not run"

    local said
    said=$(systemd-analyze verify --root="$work/root" --man=no "$unit" 2>&1) \
        || fail "$name: systemd-analyze verify failed: $said"
    [ -z "$said" ] || fail "$name: systemd-analyze verify complains: $said"
    local exposure
    exposure=$(systemd-analyze security --offline=yes --root="$work/root" --threshold=20 \
        "$name.service" 2>&1 | grep 'Overall exposure level') \
        || fail "$name: systemd-analyze security scores it above 2.0"
    echo "  $unit: verify OK; ${exposure#→ }"
}

check "$1" dalaba-controller
grep -qx '/etc/dalaba/controller.toml' "$work/dalaba-controller.control/conffiles" \
    || fail "dalaba-controller: /etc/dalaba/controller.toml is not a conffile"
"$work/root/usr/bin/dalaba-controller" check-config "$work/root/etc/dalaba/controller.toml" >/dev/null \
    || fail "dalaba-controller: the shipped configuration does not pass check-config"

check "$2" dalaba-agent
# An arm64 board has these too: nothing x86-only may creep into the agent's dependencies.
for dep in $(dpkg-deb --field "$2" Depends | tr ',|' '\n\n' | sed 's/(.*)//; s/ //g'); do
    case "$dep" in
        libc6 | libgcc-s1 | libasound2 | libasound2t64 | adduser | chrony | time-daemon) ;;
        *) fail "dalaba-agent: depends on $dep, which a speaker terminal may not have" ;;
    esac
done
"$work/root/usr/bin/dalaba-agent" check-config "$work/root/usr/share/doc/dalaba-agent/examples/agent.toml" >/dev/null \
    || fail "dalaba-agent: the example configuration does not pass check-config"
echo "check-packages: both packages OK"
