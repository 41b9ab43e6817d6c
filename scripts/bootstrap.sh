# Sourced by the other scripts: creates .venv on first use and installs the project with its test tools.
# uv is installed into the venv by pip, so a fresh machine needs only Python 3.11+.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
    for candidate in python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PYTHON_BIN="$candidate"
            break
        fi
    done
fi
[ -n "$PYTHON_BIN" ] || { echo "Python 3.11 or newer is required" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON_BIN" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
    "$VENV/bin/python" -m pip install --quiet uv
fi
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -e "$ROOT[test]"
export PATH="$VENV/bin:$PATH"
