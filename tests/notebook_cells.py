"""Run a few code cells in a real kernel (nbclient) that talks to a test's simulator."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_cells(cells: list[str], sim, monkeypatch, tmp_path, *, timeout: int = 120
              ) -> nbformat.NotebookNode:
    """Execute ``cells`` in a fresh kernel with this checkout's lmsnb and ``LMSNB_HOST`` = sim."""
    monkeypatch.setenv("LMSNB_HOST", sim.host)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb
