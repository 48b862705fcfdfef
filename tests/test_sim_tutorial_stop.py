"""Tutorial 02's "Stop an answer" demo stops under an external simulator too.

``bash run.sh`` and Binder start ``python -m lmsnb.sim`` in the background, so the notebook
cannot switch that simulator to a long-winded behaviour; the demo must stop the answer anyway.
The simulator runs with the exact flags run.sh and binder/start use, and the demo's own cells
run against it, in a fresh interpreter, as a kernel would run them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_chat.ipynb"


def sim_flags(launcher: str) -> list[str]:
    """The ``python -m lmsnb.sim`` flags of run.sh or binder/start (port left out)."""
    text = (ROOT / launcher).read_text(encoding="utf-8")
    line = re.search(r"-m lmsnb\.sim (.*?)(?:&|>|$)", text, re.M)
    assert line, f"{launcher} does not start lmsnb.sim"
    flags = shlex.split(line.group(1).replace('"$port"', "0"))
    while "--port" in flags:
        i = flags.index("--port")
        del flags[i:i + 2]
    return [f for f in flags if "$" not in f]


def cells(*ids: str) -> str:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    by_id = {c.get("id"): "".join(c["source"]) for c in nb["cells"]}
    return "\n\n".join(by_id[i] for i in ids)


@pytest.mark.parametrize("launcher", ["run.sh", "binder/start"])
def test_stop_demo_stops_with_the_external_simulator(launcher):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    sim = subprocess.Popen([sys.executable, "-m", "lmsnb.sim", "--port", "0",
                            *sim_flags(launcher)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        host = sim.stdout.readline().strip()
        code = ("import lmsnb\nconn = lmsnb.connect(simulate=True)\n"
                + cells("02-26", "02-27"))
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, cwd=ROOT,
                             env=dict(env, LMSNB_HOST=host, LMSNB_SIMULATOR="1"))
        assert run.returncode == 0, run.stderr[-3000:]
        first = run.stdout.splitlines()[0]
        assert first.startswith("True · userStopped ·"), run.stdout
    finally:
        sim.terminate()
        sim.wait(timeout=10)
