#!/usr/bin/env bash
# lmsnb's front door.
#   bash run.sh        set up .venv and open the tutorials in JupyterLab (LM Studio if it is
#                      reachable, otherwise the bundled simulator `python -m lmsnb.sim`)
#   bash run.sh test   set up .venv and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
VENV=${LMSNB_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.lmsnb-installed" ] || [ pyproject.toml -nt "$VENV/.lmsnb-installed" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[test,docs]"
    touch "$VENV/.lmsnb-installed"
  fi
}

case "${1:-lab}" in
  test)
    setup
    shift || true
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  lab)
    setup
    SIM_PID=""
    if ! "$VENV/bin/python" -c "import sys, lmsnb.client as c; sys.exit(0 if c.is_reachable(c.resolve_host()) else 1)" 2>/dev/null; then
      echo "LM Studio is not reachable: starting the simulator (python -m lmsnb.sim) on 127.0.0.1:41343"
      "$VENV/bin/python" -m lmsnb.sim --bind 127.0.0.1 --port 41343 --behaviour graphrag --model qwen2.5-7b-instruct,context_length=32768 --tokens-per-second 60 --first-token-latency 0.2 --load-seconds 1.5 &
      SIM_PID=$!
      export LMSNB_HOST=127.0.0.1:41343 LMSNB_SIMULATOR=1
      trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null' EXIT
    fi
    shift || true
    extra=()
    [ "$(id -u)" = 0 ] && extra+=(--allow-root)   # containers and CI machines run as root
    "$VENV/bin/jupyter" lab notebooks/ "${extra[@]}" "$@"
    ;;
  *)
    echo "usage: bash run.sh [lab|test] [args]" >&2
    exit 2
    ;;
esac
