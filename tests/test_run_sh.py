"""``bash run.sh``: the lab part, run for real on the test environment's Python.

``LMSNB_VENV`` points run.sh at this interpreter's environment and ``LMSNB_INSTALL=0`` skips the
install (``tests/test_binder.py`` covers installing from the registries), so each test costs one
JupyterLab start. ``LMSNB_HOST`` always names the server a test wants found (or a closed port),
so whatever else runs on this machine — LM Studio on 1234, another simulator on 41343 — does
not change the outcome. Ctrl-C is sent to the whole process group, as a terminal does.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsnb import client

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


class RunSh:
    """``bash run.sh ARGS`` in its own process group, its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["bash", str(ROOT / "run.sh"), *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, prefix: str, timeout: float = 180) -> str:
        """The first line starting with ``prefix`` (fails with the output so far if none)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                if time.monotonic() < deadline:
                    continue
            if line is None:
                raise AssertionError(f"no line starting {prefix!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def ctrl_c(self, timeout: float = 60) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def rest(self, timeout: float = 60) -> str:
        """Everything it prints until it exits."""
        self.proc.wait(timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def run_sh(tmp_path: Path) -> Iterator[callable]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LMSNB_", "JUPYTER"))}
    env.update(LMSNB_VENV=sys.prefix, LMSNB_INSTALL="0", PYTHONPATH=str(ROOT),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               TMPDIR=str(tmp_path), PIP_NO_INDEX="1")  # LMSNB_INSTALL=0: nothing to fetch
    started: list[RunSh] = []

    def start(*args: str, **extra_env: str) -> RunSh:
        run = RunSh(list(args), {**env, **extra_env})
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()


def _open(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status


def test_simulator_on_a_busy_port(run_sh) -> None:
    """Nothing answers LMSNB_HOST and the simulator's port is held by a program that is not LM
    Studio: the simulator takes a free port, and the line says where it is."""
    dead = _free_port()
    with socket.socket() as squatter:  # a plain TCP listener: not LM Studio
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        lab_port = _free_port()
        run = run_sh("lab", "--no-browser", f"--port={lab_port}",
                     LMSNB_HOST=f"127.0.0.1:{dead}", LMSNB_SIM_PORT=str(busy))
        server = run.until("LM Studio not found")
        url = run.until("JupyterLab: ")
    assert run.lines[0] == f"Port {busy} is taken by another program: the simulator takes a free port."
    assert run.lines[1:] == [server, url], run.lines  # nothing from JupyterLab before these
    assert server.startswith(f"LM Studio not found at 127.0.0.1:{dead} (LMSNB_HOST): simulator at 127.0.0.1:")
    sim_host = server.split("simulator at ")[1].split()[0]
    assert sim_host != f"127.0.0.1:{busy}" and client.is_reachable(sim_host)
    link = url.split()[1]
    assert f":{lab_port}/lab?token=" in link
    assert _open(link.replace("/lab?", "/api/status?")) == 200

    assert run.ctrl_c() == 130
    sim_port = int(sim_host.rsplit(":", 1)[1])
    assert _closed(lab_port) and _closed(sim_port), "Ctrl-C must stop JupyterLab and the simulator"


def test_lm_studio_found_and_args_pass_through(run_sh, sim) -> None:
    """A server answering LM Studio's greeting is used and named, with its loaded models; the
    extra arguments reach JupyterLab (a base URL here) and the printed URL follows them."""
    loaded = len(client.Connection(sim.host).list_loaded())
    sim.load("llama-3.2-1b-instruct")
    lab_port = _free_port()
    run = run_sh("lab", "--no-browser", f"--port={lab_port}", "--ServerApp.base_url=/lmsnb-x/",
                 LMSNB_HOST=sim.host)
    server = run.until("Using LM Studio")
    url = run.until("JupyterLab: ")
    assert server == f"Using LM Studio at {sim.host} ({loaded + 1} models loaded)"
    assert run.lines == [server, url]
    link = url.split()[1]
    assert link.startswith(("http://localhost:", "http://127.0.0.1:"))
    assert f":{lab_port}/lmsnb-x/lab?token=" in link
    assert _open(link.replace("/lab?", "/api/status?")) == 200
    assert "and the simulator" not in url
    assert run.ctrl_c() == 130
    assert _closed(lab_port)
    assert client.is_reachable(sim.host)  # someone else's server is left alone


def test_dead_simulator_never_starts_the_lab(run_sh) -> None:
    """When the simulator cannot start, run.sh says why and stops: no lab pointed at nothing."""
    lab_port = _free_port()
    run = run_sh("lab", "--no-browser", f"--port={lab_port}",
                 LMSNB_HOST=f"127.0.0.1:{_free_port()}", LMSNB_SIM_PORT="not-a-port")
    out = run.rest()
    assert run.proc.returncode == 1
    assert "run.sh: the simulator did not start:" in out and "not-a-port" in out
    assert "JupyterLab" not in out and _closed(lab_port)


def test_bad_lmsnb_host_is_one_line(run_sh) -> None:
    run = run_sh("lab", "--no-browser", LMSNB_HOST="not a host")
    out = run.rest()
    assert run.proc.returncode == 1
    assert out == ("LMSNB_HOST: 'not a host' is not a host — use e.g. 'localhost:1234', "
                   "'192.168.1.20:1234' or '[::1]:1234'"), out


def test_missing_python3_venv_is_named(run_sh, tmp_path) -> None:
    """Debian/Ubuntu's python3 without python3-venv leaves a venv without pip and fails: run.sh
    names the package, and removes the half-made folder so the next run starts clean."""
    fake = tmp_path / "python3"
    fake.write_text('#!/bin/sh\nmkdir -p "$3/bin" && printf "#!/bin/sh\\nexit 1\\n" > "$3/bin/python"'
                    ' && chmod +x "$3/bin/python"\necho "ensurepip is not available" >&2\nexit 1\n')
    fake.chmod(0o755)
    venv = tmp_path / "fresh-venv"
    run = run_sh("lab", PYTHON=str(fake), LMSNB_VENV=str(venv), LMSNB_INSTALL="1")
    out = run.rest()
    assert run.proc.returncode == 1
    assert out == (f"run.sh: cannot create a virtual environment with {fake} "
                   "(on Debian/Ubuntu: sudo apt-get install python3-venv)"), out
    assert not venv.exists()


def test_unknown_command_says_usage(run_sh) -> None:
    run = run_sh("serve")
    out = run.rest()
    assert run.proc.returncode == 2 and out.startswith("usage: bash run.sh [lab|test]")
