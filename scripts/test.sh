#!/usr/bin/env bash
# The README's test command: set up .venv, install the project with the pinned constraints, and run
# the tests. Debian's chromium (for the HTML viewer test) is installed when apt-get can run as root;
# elsewhere that one test skips and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; the HTML viewer test will skip"
fi
python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt -e ".[dev]"
exec .venv/bin/python -m pytest "$@"
