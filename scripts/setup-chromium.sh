#!/usr/bin/env bash
# Makes sure Chromium (Debian package chromium) is installed for the console's browser tests
# (test/integration/console-browser.test.ts) and its benchmark (test/bench/console.bench.ts), which drive it with
# playwright-core through its executable path. Idempotent: when the binary is already there it only prints its
# version. Installing needs root (CI containers run as root); otherwise it says what to run.
set -euo pipefail

SETUP_NAME=setup-chromium
PACKAGE=chromium
# shellcheck source=lib/apt-install.sh
. "$(dirname "$0")/lib/apt-install.sh"

find_binary() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  [ -x /usr/bin/chromium ] && printf '%s\n' /usr/bin/chromium && return 0
  return 1
}

print_version() {
  # e.g. "Chromium 120.0.6099.224 built on Debian 12.4, running on Debian 12.4"
  "$1" --version 2>/dev/null | head -n 1
}

if binary=$(find_binary); then
  say "found $binary: $(print_version "$binary")"
  exit 0
fi

apt_install "$PACKAGE"

if ! binary=$(find_binary); then
  say "installed $PACKAGE, but no 'chromium' binary is on PATH" >&2
  exit 1
fi
say "installed $binary: $(print_version "$binary")"
