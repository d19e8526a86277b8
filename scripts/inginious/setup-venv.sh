#!/bin/bash
# Creates a Python virtualenv with the stock INGInious 0.9.2 (back-end, Docker
# agent, client, inginious-test-task) from PyPI.
#
#   scripts/inginious/setup-venv.sh [DIR]      (default DIR: /opt/gradebox-inginious-venv)
#
# Idempotent: does nothing when DIR/bin/inginious-backend already works.
set -euo pipefail

DIR="${1:-/opt/gradebox-inginious-venv}"
VERSION=0.9.2
say() { printf '==> %s\n' "$*" >&2; }

if [ -x "$DIR/bin/inginious-backend" ] && "$DIR/bin/inginious-backend" --help >/dev/null 2>&1 \
    && [ "$("$DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("INGInious"))' 2>/dev/null)" = "$VERSION" ]; then
    say "$DIR already has a working INGInious $VERSION: nothing to do"
    exit 0
fi

# Debian's python3 (not a pyenv shim): python3-venv for the venv, python3-dev and
# build-essential in case a dependency has no wheel for this Python (pip builds it).
PACKAGES=(python3 python3-venv python3-dev build-essential libzmq3-dev)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "Debian packages already installed: ${PACKAGES[*]}"
fi

say "creating the virtualenv $DIR (/usr/bin/python3: $(/usr/bin/python3 --version))"
/usr/bin/python3 -m venv "$DIR"
say "pip install inginious==$VERSION into $DIR"
"$DIR/bin/pip" install --upgrade pip
"$DIR/bin/pip" install "inginious==$VERSION"

say "checking: $DIR/bin/inginious-backend --help"
"$DIR/bin/inginious-backend" --help
for tool in inginious-agent-docker inginious-test-task; do
    [ -x "$DIR/bin/$tool" ] || { echo "missing $DIR/bin/$tool" >&2; exit 1; }
done
say "ok: INGInious $("$DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("INGInious"))') in $DIR"
