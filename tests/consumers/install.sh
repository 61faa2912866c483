#!/usr/bin/env bash
# Installs the third-party readers that tests/tests/exports.rs hands the
# exports to (package.json, pinned by package-lock.json), into
# tests/consumers/node_modules. Idempotent: a no-op, without touching the
# network, when the installed tree already matches the lock file.
#
#   tests/consumers/install.sh
set -euo pipefail
cd "$(dirname "$0")"
# Chrome DevTools' trace model runs on Node.js (tested with 20); Debian's
# own package where there is none.
if ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
# npm writes node_modules/.package-lock.json after every install; it is
# newer than package-lock.json unless the lock changed since.
if [ node_modules/.package-lock.json -nt package-lock.json ] \
    && [ -f node_modules/@paulirish/trace_engine/package.json ]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
