#!/usr/bin/env bash
# Shared by the setup-*.sh scripts: installs one Debian/Ubuntu package without letting its maintainer scripts start
# a service. Source it, set SETUP_NAME (the prefix of every line printed), then call `apt_install <package>`.
# Needs root and apt-get; says what to run otherwise and returns 1.

say() { printf '%s: %s\n' "${SETUP_NAME:-setup}" "$*"; }

apt_install() {
  local package=$1
  if [ "$(id -u)" -ne 0 ]; then
    say "$package is not installed, and installing it needs root. Run:" >&2
    say "  sudo $0" >&2
    say "(or: sudo apt-get update && sudo apt-get install -y --no-install-recommends $package)" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get is not available: install '$package' so that it is on PATH" >&2
    return 1
  fi
  # Keep the package's maintainer scripts from starting its service (invoke-rc.d consults policy-rc.d; 101 = "action
  # not allowed"). Only a policy file we create ourselves is removed again.
  local policy=/usr/sbin/policy-rc.d created_policy=no status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    created_policy=yes
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "updating the package lists (apt-get update)…"
  if apt-get update -qq; then
    say "installing $package…"
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null || status=$?
  else
    status=$?
  fi
  if [ "$created_policy" = yes ]; then rm -f "$policy"; fi
  return "$status"
}
