#!/usr/bin/env bash
# The README's test command: set up .venv, install the project with the pinned constraints, and run
# the tests. The tools that read our outputs back are installed where they can be: Debian's chromium
# (the HTML viewer test) and blender with python3-numpy (the retargeting read-back test) when apt-get
# can run as root, and the Khronos gltf-validator from npm into .cache/tools. Elsewhere those tests
# skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
want=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
command -v blender >/dev/null 2>&1 || want+=(blender python3-numpy)
if [ ${#want[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null) \
    || echo "note: could not install ${want[*]}; the tests that need them will skip"
fi
if [ ! -d .cache/tools/node_modules/gltf-validator ] && command -v npm >/dev/null 2>&1; then
  mkdir -p .cache/tools
  npm install --silent --no-audit --no-fund --prefix .cache/tools gltf-validator@2.0.0-dev.3.10 >/dev/null \
    || echo "note: could not install gltf-validator; the glTF validation test will skip"
fi
python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt -e ".[dev]"
exec .venv/bin/python -m pytest "$@"
