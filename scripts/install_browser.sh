#!/usr/bin/env bash
# The browser of the dashboard tests (tests/e2e/test_dashboard.py): the distribution's
# Chromium, driven by Playwright (a Python test dependency) without a browser download.
# Installs it with apt-get when missing and possible; otherwise says so, and the tests skip
# with that reason. Never fails the test run by itself.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
        echo "installing chromium for the dashboard's browser tests"
        $SUDO apt-get update -qq >/dev/null 2>&1
        if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null 2>&1; then
            exit 0
        fi
    fi
fi
echo "chromium could not be installed: the dashboard's browser tests will be skipped" >&2
exit 0
