"""The Binder recipe, applied the way repo2docker applies it (Docker is not needed).

A fresh virtual environment gets exactly ``pip install -r binder/requirements.txt``, then
``binder/postBuild`` runs from the repository root; then ``binder/start`` wraps a command that
checks the simulator it started is reachable through ``LMSNB_HOST`` and executes a GraphRAG
tutorial against it (that one needs the simulator's GraphRAG replies to build a graph).

It runs whatever else runs on this machine: its own simulator port, ``LMSNB_HOST`` pointed at a
closed port so no LM Studio (or anyone's simulator) on localhost:1234 or the discovery ports is
found, and its own Jupyter config, data and runtime folders. It skips, saying so, only when the
package registry cannot be reached. pip's cache is reused, so a second run takes well under a
minute; the first can take two or three. Set ``LMSNB_BINDER_VENV`` to keep the environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOK = "05_graphrag_build.ipynb"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _registry_unreachable() -> str | None:
    """Why pip cannot reach its index (None when it can): the one reason to skip."""
    index = os.environ.get("PIP_INDEX_URL") or subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True, text=True).stdout.strip() or "https://pypi.org/simple"
    url = index.split()[0].rstrip("/") + "/lmstudio/"
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            r.read(1)
    except (OSError, ValueError) as exc:
        return (f"the package registry is unreachable ({url}: {exc}); this check builds an "
                "environment from it")
    return None


def _run(cmd: list[str], env: dict[str, str], timeout: int, cwd: Path = ROOT) -> str:
    """Run ``cmd`` in its own process group; afterwards end whatever it left running in that
    group (binder/start leaves the simulator in the background, as it should on Binder)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    reason = _registry_unreachable()
    if reason:
        pytest.skip(reason)
    keep = os.environ.get("LMSNB_BINDER_VENV")
    work = tmp_path_factory.mktemp("binder")
    venv = Path(keep) if keep else work / "venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LMSNB_", "JUPYTER")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for name in ("config", "data", "runtime"):  # no kernelspec or config from this machine
        env[f"JUPYTER_{name.upper()}_DIR"] = str(work / name)
    # Nothing this machine runs may pass for LM Studio: a closed port is where it "is".
    env["LMSNB_HOST"] = f"127.0.0.1:{_free_port()}"
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")], env, 900)
    _run(["bash", str(BINDER / "postBuild")], env, 900)
    yield env
    if not keep:
        shutil.rmtree(venv, ignore_errors=True)


def test_binder_files_are_executable() -> None:
    for name in ("postBuild", "start"):
        assert os.access(BINDER / name, os.X_OK), f"binder/{name} must be executable"


def test_start_runs_simulator_and_a_tutorial(binder_env: dict[str, str],
                                            tmp_path: Path) -> None:
    env = dict(binder_env)
    env["LMSNB_SIM_PORT"] = str(_free_port())
    out_nb = tmp_path / NOTEBOOK
    script = textwrap.dedent(f"""
        set -e
        test -n "$LMSNB_HOST" && test "$LMSNB_SIMULATOR" = 1
        python -c "import os, sys, lmsnb.client as c; sys.exit(0 if c.is_reachable(os.environ['LMSNB_HOST']) else 3)"
        echo "simulator reachable at $LMSNB_HOST"
        jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 \\
            --output "{out_nb}" "notebooks/{NOTEBOOK}"
    """)
    leftovers = [ROOT / "notebooks" / name for name in ("output", ".lmsnb-cache")]
    existed = {p for p in leftovers if p.exists()}
    try:
        log = _run(["bash", str(BINDER / "start"), "bash", "-c", script], env, 300)
    finally:
        for p in set(leftovers) - existed:
            shutil.rmtree(p, ignore_errors=True)
    assert "simulator reachable at 127.0.0.1:" in log
    import nbformat

    nb = nbformat.read(out_nb, as_version=4)
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    # it used the simulator binder/start launched (not one of its own in the kernel)
    assert "Connected to the lmsnb simulator at 127.0.0.1:" in text
    assert "started for this environment" in text
    assert "index built:" in text and " 0 entities" not in text
