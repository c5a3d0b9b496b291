#!/usr/bin/env bash
# Makes sure the real Alertmanager (Debian/Ubuntu package prometheus-alertmanager) is installed for the local stack
# and the integration tests (test/integration/alertmanager.test.ts). Idempotent: when the binary is already there it
# only prints its version. Installing needs root (CI containers run as root); otherwise it says what to run.
#
# The package's own service is never left running: it would hold 127.0.0.1:9093/9094 and is not what the tests start
# (local/alertmanager.ts runs its own instance on a free port with its own config).
set -euo pipefail

PACKAGE=prometheus-alertmanager
FALLBACK=/usr/bin/prometheus-alertmanager

say() { printf 'setup-alertmanager: %s\n' "$*"; }

find_binary() {
  if command -v "$PACKAGE" >/dev/null 2>&1; then
    command -v "$PACKAGE"
  elif [ -x "$FALLBACK" ]; then
    printf '%s\n' "$FALLBACK"
  else
    return 1
  fi
}

print_version() {
  # `--version` prints e.g. "alertmanager, version 0.25.0 (branch: debian/sid, …)" on its first line.
  "$1" --version 2>&1 | head -n 1
}

if binary=$(find_binary); then
  say "found $binary: $(print_version "$binary")"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "$PACKAGE is not installed, and installing it needs root. Run:" >&2
  say "  sudo $0" >&2
  say "(or: sudo apt-get update && sudo apt-get install -y --no-install-recommends $PACKAGE)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get is not available: install Alertmanager 0.25+ so that '$PACKAGE' is on PATH" >&2
  exit 1
fi

# Keep the package's maintainer scripts from starting its service (invoke-rc.d consults policy-rc.d; 101 = "action
# not allowed"). Only a policy file we create ourselves is removed again.
POLICY=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
  created_policy=yes
fi
cleanup() {
  if [ "$created_policy" = yes ]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
say "updating the package lists (apt-get update)…"
apt-get update -qq
say "installing $PACKAGE…"
apt-get install -y -qq --no-install-recommends "$PACKAGE" >/dev/null

# Should a service have started anyway (a system with a real init), stop it through its own init script, which
# stops exactly the process in its pid file.
PIDFILE=/run/prometheus/prometheus-alertmanager.pid
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  say "stopping the package's own $PACKAGE service"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop "$PACKAGE" || true
    systemctl disable "$PACKAGE" >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/$PACKAGE ]; then
    /etc/init.d/$PACKAGE stop || true
  fi
fi

if ! binary=$(find_binary); then
  say "installed $PACKAGE, but no '$PACKAGE' binary is on PATH or at $FALLBACK" >&2
  exit 1
fi
say "installed $binary: $(print_version "$binary")"
