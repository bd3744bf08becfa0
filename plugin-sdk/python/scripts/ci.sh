#!/usr/bin/env bash
# Checks of the Python SDK, run from anywhere (also on a fresh clone): installs the pinned
# dependencies into plugin-sdk/python/.deps with Debian's /usr/bin/python3 (the interpreter
# modules run with under the supervisor's sandbox), runs the tests, and fails when the
# committed generated code (src/convotic_sdk/_generated) is stale.
#
# Environment: PYTHON (default /usr/bin/python3, else python3 on PATH).
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$SDK_DIR/.deps"
PYTHON="${PYTHON:-/usr/bin/python3}"
if [[ ! -x "$PYTHON" ]]; then
    PYTHON="$(command -v python3)"
fi
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$SDK_DIR/src:$DEPS"

# 1. Dependencies: reinstalled only when the requirement files or the interpreter change.
stamp="$(cat "$SDK_DIR/requirements.txt" "$SDK_DIR/requirements-dev.txt" | sha256sum | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -f "$DEPS/.installed" || "$(cat "$DEPS/.installed")" != "$stamp" ]]; then
    echo "python sdk: installing dependencies into $DEPS"
    rm -rf "$DEPS"
    pip_install=("$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input --target "$DEPS" -r "$SDK_DIR/requirements-dev.txt")
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        echo "python sdk: $PYTHON has no pip (on Debian: apt-get install python3-pip)" >&2
        exit 1
    fi
    # --target installs never touch the system packages, so PEP 668 does not apply; older or
    # stricter pips still ask for the flag.
    if ! "${pip_install[@]}" 2>"$SDK_DIR/.pip-error.log"; then
        if grep -q externally-managed "$SDK_DIR/.pip-error.log"; then
            "${pip_install[@]}" --break-system-packages
        else
            cat "$SDK_DIR/.pip-error.log" >&2
            rm -f "$SDK_DIR/.pip-error.log"
            exit 1
        fi
    fi
    rm -f "$SDK_DIR/.pip-error.log"
    echo "$stamp" > "$DEPS/.installed"
fi

cd "$SDK_DIR"

# 2. The committed generated code matches proto/.
"$PYTHON" -m convotic_sdk.check_generated

# 3. The tests.
"$PYTHON" -m pytest -p no:cacheprovider -q tests
