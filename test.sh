#!/usr/bin/env bash
# Command 2: install what the tests need into .venv/ (and Debian's Chromium for the browser tests), then run the
# whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Chromium for the browser tests (apt-get install chromium) ..." >&2
    apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
fi
exec .venv/bin/python -m pytest "$@"
