#!/usr/bin/env bash
# Makes sure the real Alertmanager (Debian/Ubuntu package prometheus-alertmanager) is installed for the local stack
# and the integration tests (test/integration/alertmanager.test.ts). Idempotent: when the binary is already there it
# only prints its version. Installing needs root (CI containers run as root); otherwise it says what to run.
#
# The package's own service is never left running: it would hold 127.0.0.1:9093/9094 and is not what the tests start
# (local/alertmanager.ts runs its own instance on a free port with its own config).
set -euo pipefail

SETUP_NAME=setup-alertmanager
PACKAGE=prometheus-alertmanager
FALLBACK=/usr/bin/prometheus-alertmanager
# shellcheck source=lib/apt-install.sh
. "$(dirname "$0")/lib/apt-install.sh"

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

apt_install "$PACKAGE"

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
