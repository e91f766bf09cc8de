#!/usr/bin/env bash
# Create .venv/ in the repo root and install the project into it; a no-op when nothing changed since last time.
# Usage: scripts/setup.sh [extra]   (extra = "test" also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)${extra:+-$extra}"
if [ ! -e "$stamp" ]; then
    # torch first and pinned: an open requirement would pull a multi-GB CUDA build; 2.13.0 has a CPU wheel.
    .venv/bin/pip install --quiet "torch==2.13.0"
    .venv/bin/pip install --quiet -e ".${extra:+[$extra]}"
    touch "$stamp"
fi
