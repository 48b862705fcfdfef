"""Execute every tutorial notebook top to bottom against the simulator (nbclient).

A cell that raises fails the test, and so does a magic that reports an error (magics print
``lmsnb: …`` on stderr instead of raising). Cells tagged ``raises-exception`` may do both — they
show an error on purpose.

The kernel gets ``LMSNB_HOST`` pointing at a closed port, so each notebook's first cell finds no
LM Studio and starts ``lmsnb.sim`` in-process — even on a machine where LM Studio is running.

``python tests/test_notebooks.py [NAME ...]`` executes the notebooks in place and saves their
outputs (what GitHub, Binder and the docs site show).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9]*.ipynb"))
CELL_TIMEOUT = 120
OK_TAG = "raises-exception"

pytestmark = pytest.mark.notebook


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_host() -> str:
    """``localhost:1234`` for the saved outputs, unless something really answers there."""
    from lmsnb.client import is_reachable

    return "localhost:1234" if not is_reachable("localhost:1234") else f"127.0.0.1:{_closed_port()}"


def kernel_env(host: str | None = None) -> dict[str, str]:
    """The environment the kernel inherits: lmsnb importable, no LM Studio reachable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["LMSNB_HOST"] = host or f"127.0.0.1:{_closed_port()}"
    env.pop("LMSNB_SIMULATOR", None)
    env["LMSNB_WAIT"] = "1"  # %%lms_chat blocks, so each answer lands in its own cell's output
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def execute(path: Path, *, timeout: int = CELL_TIMEOUT, host: str | None = None
            ) -> tuple[object, float]:
    """Run ``path`` with cwd = notebooks/; returns (notebook with outputs, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(NB_DIR)}}, record_timing=False,
        # Saved notebooks keep each output's static fallback (HTML, SVG), not the widget models:
        # GraphView's model alone carries ~0.5 MB of JavaScript per view.
        store_widget_state=False,
    )
    start = time.perf_counter()
    client.execute(env=kernel_env(host))
    return nb, time.perf_counter() - start


def magic_errors(nb: object) -> list[str]:
    """``lmsnb: …`` lines on stderr from cells not tagged as showing an error on purpose."""
    found = []
    for i, cell in enumerate(nb.cells):  # type: ignore[attr-defined]
        if cell.cell_type != "code" or OK_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [ln for ln in out.get("text", "").splitlines() if ln.startswith("lmsnb:")]
                found += [f"cell {i}: {ln}" for ln in lines]
    return found


def test_notebooks_exist() -> None:
    assert len(NOTEBOOKS) >= 8, [p.name for p in NOTEBOOKS]


LEFTOVERS = ("output", ".lmsnb-cache")  # what the notebooks write next to themselves


@pytest.fixture
def clean_notebook_dir():
    """Remove what a notebook wrote in notebooks/ (only what did not exist before the test)."""
    before = {name for name in LEFTOVERS if (NB_DIR / name).exists()}
    yield
    for name in set(LEFTOVERS) - before:
        shutil.rmtree(NB_DIR / name, ignore_errors=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, clean_notebook_dir: None) -> None:
    nb, seconds = execute(path)
    errors = magic_errors(nb)
    assert not errors, "\n".join(errors)
    for i, cell in enumerate(nb.cells):  # every %%lms_chat answer is kept in the notebook
        if cell.cell_type == "code" and cell.source.lstrip().startswith("%%lms_chat"):
            html = "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)
            assert "lmsnb-static" in html and "lmsnb-answer" in html, f"cell {i}: no answer"
    print(f"{path.name}: {seconds:.1f} s")


def _write(names: list[str]) -> int:
    chosen = [p for p in NOTEBOOKS if not names or any(n in p.name for n in names)]
    total = 0.0
    for path in chosen:
        nb, seconds = execute(path, host=_default_host())
        total += seconds
        errors = magic_errors(nb)
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
        print(f"{path.name}: {seconds:.1f} s" + (f"  ERRORS: {errors}" if errors else ""))
    print(f"total {total:.1f} s")
    for leftover in LEFTOVERS:
        shutil.rmtree(NB_DIR / leftover, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(_write(sys.argv[1:]))
