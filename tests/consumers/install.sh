#!/usr/bin/env bash
# Installs the third-party readers that tests/tests/exports.rs hands the
# exports to (package.json, pinned by package-lock.json), into
# tests/consumers/node_modules. Idempotent: a no-op, without touching the
# network, when the installed tree already matches the lock file.
#
#   tests/consumers/install.sh
#
# Node.js itself, where it is missing, comes from Debian's packages when
# apt-get can run (as root, or through passwordless sudo). When something
# cannot be installed, the last line says why and it exits 1; with
# CARO_TEST_INSTALL=0 it installs nothing, only checks.
set -euo pipefail
cd "$(dirname "$0")"
say() { echo "tests/consumers/install.sh: $*" >&2; }
install_off() { [ "${CARO_TEST_INSTALL:-1}" = 0 ]; }
# Chrome DevTools' trace model runs on Node.js (tested with 20).
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    programs="$(command -v node >/dev/null && echo npm || echo node/npm)"
    apt=
    if install_off; then
        why="installing is off (CARO_TEST_INSTALL=0)"
    elif ! command -v apt-get >/dev/null; then
        why="apt-get not found"
    elif [ "$(id -u)" = 0 ]; then
        apt=apt-get
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        apt="sudo apt-get"
    else
        why="apt-get unavailable (not root, no passwordless sudo)"
    fi
    if [ -z "$apt" ]; then
        say "$programs not found and $why"
        exit 1
    fi
    say "installing ${missing[*]} (apt-get)"
    $apt update -qq || true
    if ! DEBIAN_FRONTEND=noninteractive $apt install -y -qq --no-install-recommends "${missing[@]}"; then
        say "$programs not found and apt-get install ${missing[*]} failed"
        exit 1
    fi
fi
# npm writes node_modules/.package-lock.json after every install; it is
# newer than package-lock.json unless the lock changed since.
if [ node_modules/.package-lock.json -nt package-lock.json ] \
    && [ -f node_modules/@paulirish/trace_engine/package.json ]; then
    exit 0
fi
if install_off; then
    say "Chrome DevTools' trace model is not installed and installing is off (CARO_TEST_INSTALL=0)"
    exit 1
fi
if ! npm ci --no-audit --no-fund --loglevel=error; then
    say "npm ci failed (offline?): Chrome DevTools' trace model is not installed"
    exit 1
fi
