#!/usr/bin/env bash
# Integration and end-to-end tests: the files that wait for real minutes run beside the others (they mostly sleep),
# the rest one after another (vitest.config.ts). Fails when either run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
npx vitest run --project real-minutes > >(sed -u 's/^/[real-minutes] /') 2>&1 &
minutes=$!
npx vitest run --project integration
integration=$?
wait "$minutes"
real_minutes=$?
[ "$integration" -eq 0 ] && [ "$real_minutes" -eq 0 ]
