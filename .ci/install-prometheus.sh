#!/usr/bin/env bash
# Installs Debian's `prometheus` package for the analysis tests, which start
# the binary themselves on 127.0.0.1 with their own config and storage.
# The package's own service must not run: a policy-rc.d that refuses every
# start is in place for the install (unless the machine already has one),
# and the service is left disabled when systemd is present.
#
# Usage: .ci/install-prometheus.sh   (as root; does nothing when `prometheus` is on PATH)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v prometheus >/dev/null 2>&1; then
    echo "prometheus already installed: $(command -v prometheus)"
    exit 0
fi

guard=/usr/sbin/policy-rc.d
placed=0
if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    placed=1
fi
cleanup() { if [ "$placed" = 1 ]; then rm -f "$guard"; fi; }
trap cleanup EXIT

echo "ci: installing prometheus"
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
prometheus --version 2>&1 | head -1
