#!/usr/bin/env bash
# lmsnb's front door.
#   bash run.sh [lab] [ARGS]  set up .venv (lmsnb, JupyterLab, what the tutorials use) and open the
#                             tutorials in JupyterLab. The notebooks talk to LM Studio when it is
#                             reachable, otherwise to the bundled simulator (`python -m lmsnb.sim`);
#                             one line says which. ARGS go to `jupyter lab` (e.g. --ip=0.0.0.0
#                             --port=9000 --no-browser).
#   bash run.sh test [ARGS]   set up .venv with the test and docs extras too, and the real-model
#                             tier (tests/realmodel, built from source) when a C++ compiler and
#                             cmake are here, then `pytest -q ARGS`.
# Environment: LMSNB_VENV (default .venv), PYTHON (default python3), LMSNB_HOST (where LM Studio
# is; default localhost:1234, then LM Studio's discovery ports), LMSNB_SIM_PORT (the simulator's
# port, default 41343; a free one when that is taken), LMSNB_INSTALL=0 (use the venv as it is),
# LMSNB_REALMODEL=0 (leave the real-model tier out: its tests skip).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${LMSNB_VENV:-.venv}
PY=${PYTHON:-python3}
SIM_PORT=${LMSNB_SIM_PORT:-41343}

die() { echo "run.sh: $*" >&2; exit 1; }

# setup EXTRAS: a venv with lmsnb installed (editable) with those extras (comma-separated),
# redone when pyproject.toml changes. The test set includes the lab.
ALL=lab,test,docs
setup() {
  [ "${LMSNB_INSTALL:-1}" = 0 ] && return 0
  if [ ! -e "$VENV" ]; then
    "$PY" -m venv "$VENV" >/dev/null 2>&1 && "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || {
      rm -rf "$VENV"   # half made (no ensurepip): it would fool the next run
      die "cannot create a virtual environment with $PY (on Debian/Ubuntu: sudo apt-get install python3-venv)"
    }
  elif ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    die "$VENV is not a virtual environment with pip: remove it (rm -rf $VENV) and run again"
  fi
  local stamp
  for stamp in "$VENV/.lmsnb-installed-$1" "$VENV/.lmsnb-installed-$ALL"; do
    [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] && return 0
  done
  echo "Installing lmsnb[$1] into $VENV (from PyPI; a few minutes the first time)..."
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$1]"
  touch "$VENV/.lmsnb-installed-$1"
}

# realmodel: the real-model test tier (tests/realmodel/install.sh: llama-cpp-python, built from
# source, about 8 minutes once) when a C++ compiler and cmake are here; otherwise one line says
# why its tests will skip.
realmodel() {
  [ "${LMSNB_INSTALL:-1}" = 0 ] || [ "${LMSNB_REALMODEL:-1}" = 0 ] && return 0
  local stamp="$VENV/.lmsnb-installed-realmodel" log="$VENV/realmodel-install.log"
  [ -f "$stamp" ] && [ ! tests/realmodel/install.sh -nt "$stamp" ] && return 0
  if ! command -v cmake >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    echo "The real-model tests will skip: they need a C++ compiler and cmake" \
         "(Debian/Ubuntu: sudo apt-get install build-essential cmake)."
    return 0
  fi
  echo "Installing the real-model test tier into $VENV (llama-cpp-python builds from source: about 8 minutes the first time)..."
  if ! PYTHON="$VENV/bin/python" bash tests/realmodel/install.sh >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "the real-model tier did not install (above; all of it in $log). LMSNB_REALMODEL=0 leaves it out."
  fi
  touch "$stamp"
}

# probe: "HOST LOADED" when LM Studio (anything answering its greeting) is reachable at
# $LMSNB_HOST, localhost:1234 or one of its discovery ports; otherwise prints the host tried
# and fails (status 1), or says what is wrong with $LMSNB_HOST (status 2).
probe() {
  "$VENV/bin/python" - <<'PY'
import sys
from lmsnb import client
from lmsnb.errors import LmsnbError
try:
    host = client.resolve_host()
except LmsnbError as exc:
    print(f"LMSNB_HOST: {exc}", file=sys.stderr)
    sys.exit(2)
if not client.is_reachable(host):
    print(host)
    sys.exit(1)
conn = client.Connection(host)
try:
    loaded = str(len(conn.list_loaded()))
except Exception:  # noqa: BLE001 - it answered the greeting; the count is a courtesy
    loaded = "?"
finally:
    conn.close()
print(host, loaded)
PY
}

# start_sim PORT: the simulator in the background (SIM_PID); sets SIM_HOST once it answers
# LM Studio's greeting. Fails (SIM_PID empty) if it exits first, e.g. when PORT is taken.
start_sim() {
  : >"$TMP/sim.out"
  # one line: tests/test_sim_tutorial_stop.py reads these flags
  "$VENV/bin/python" -m lmsnb.sim --bind 127.0.0.1 --port "$1" --behaviour graphrag --tokens-per-second 60 --first-token-latency 0.2 --load-seconds 1.5 >"$TMP/sim.out" 2>"$TMP/sim.log" &
  SIM_PID=$!
  "$VENV/bin/python" - "$SIM_PID" "$TMP/sim.out" <<'PY' || { wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; return 1; }
import os, sys, time
from pathlib import Path
from lmsnb import client
pid, out = int(sys.argv[1]), Path(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)  # it exited: port taken, bad arguments, ...
    host = out.read_text().strip()
    if host and client.is_reachable(host):
        sys.exit(0)
    time.sleep(0.2)
sys.exit(2)
PY
  SIM_HOST=$(head -n 1 "$TMP/sim.out")
}

# lab_url PID: JupyterLab's URL (with its token) once the server with that pid serves.
lab_url() {
  "$VENV/bin/python" - "$1" "$("$VENV/bin/jupyter" --runtime-dir)" <<'PY'
import json, os, sys, time, urllib.request
from pathlib import Path
pid, info = int(sys.argv[1]), Path(sys.argv[2]) / f"jpserver-{sys.argv[1]}.json"
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    if info.exists():
        try:
            server = json.loads(info.read_text())
            token = f"?token={server['token']}" if server.get("token") else ""
            url = server["url"].rstrip("/") + "/"
            urllib.request.urlopen(f"{url}api/status{token}", timeout=5).read()
            print(f"{url}lab{token}")
            sys.exit(0)
        except (OSError, ValueError, KeyError):
            pass  # written but not serving yet
    time.sleep(0.2)
sys.exit(2)
PY
}

lab() {
  setup lab
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmsnb-run.XXXXXX")
  SIM_PID="" LAB_PID="" TAIL_PID=""
  cleanup() {
    [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
    if [ -n "$LAB_PID" ] && kill -0 "$LAB_PID" 2>/dev/null; then
      kill -TERM "$LAB_PID" 2>/dev/null; wait "$LAB_PID" 2>/dev/null
    fi
    if [ -n "$SIM_PID" ]; then
      kill -TERM "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
  }
  trap 'cleanup' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  local found server status=0
  found=$(probe) || status=$?
  [ "$status" = 2 ] && exit 1   # probe said what is wrong
  if [ "$status" = 0 ]; then
    read -r host loaded <<<"$found"
    export LMSNB_HOST=$host
    unset LMSNB_SIMULATOR
    case $loaded in 1) loaded="1 model" ;; *) loaded="$loaded models" ;; esac
    server="Using LM Studio at $host ($loaded loaded)"
  else
    local tried=$found where
    [ -n "${LMSNB_HOST:-}" ] && where="at $tried (LMSNB_HOST)" || where="at $tried or its discovery ports"
    if ! start_sim "$SIM_PORT"; then
      if grep -q "cannot serve" "$TMP/sim.log"; then
        echo "Port $SIM_PORT is taken by another program: the simulator takes a free port."
        start_sim 0 || die "the simulator did not start: $(tail -n 5 "$TMP/sim.log")"
      else
        die "the simulator did not start: $(tail -n 5 "$TMP/sim.log")"
      fi
    fi
    export LMSNB_HOST=$SIM_HOST LMSNB_SIMULATOR=1
    server="LM Studio not found $where: simulator at $SIM_HOST (python -m lmsnb.sim)"
  fi

  # Warnings and errors only (ARGS come later and win, e.g. --log-level=INFO); a token of our
  # own (in the environment, not on the command line) so JupyterLab does not print its own
  # URL banner; Ctrl-C stops it without asking.
  local extra=(--log-level=WARN --LabApp.log_level=WARN --ServerApp.answer_yes=True)
  [ "$(id -u)" = 0 ] && extra+=(--allow-root)   # containers and CI machines run as root
  JUPYTER_TOKEN=${JUPYTER_TOKEN:-$("$VENV/bin/python" -c "import secrets; print(secrets.token_hex(24))")} \
    "$VENV/bin/jupyter" lab notebooks/ "${extra[@]}" "$@" >"$TMP/lab.log" 2>&1 &
  LAB_PID=$!
  local url
  if ! url=$(lab_url "$LAB_PID"); then
    cat "$TMP/lab.log" >&2
    die "JupyterLab did not start (its output is above)"
  fi
  echo "$server"
  echo "JupyterLab: $url   (Ctrl-C stops it$([ -n "$SIM_PID" ] && echo " and the simulator"))"
  tail -n +1 -f "$TMP/lab.log" &
  TAIL_PID=$!
  wait "$LAB_PID" || true
  LAB_PID=""
}

case "${1:-lab}" in
  test)
    shift
    setup "$ALL"
    realmodel
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  lab)
    [ $# -gt 0 ] && shift
    lab "$@"
    ;;
  -h|--help|help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    ;;
  -*)
    lab "$@"
    ;;
  *)
    echo "usage: bash run.sh [lab|test] [args]   (bash run.sh --help)" >&2
    exit 2
    ;;
esac
