#!/usr/bin/env bash
# Command 1: set up .venv/, bring the index up to date with corpus/ (a no-op when nothing changed), start the chat.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
status=0
.venv/bin/python -m ingest corpus || status=$?
# 3 = some files were skipped (listed above); the rest is indexed, so the page can still start.
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || exit "$status"
exec .venv/bin/python app.py
