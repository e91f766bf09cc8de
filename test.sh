#!/usr/bin/env bash
# Command 2: install what the tests need into .venv/, then run the whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
