"""Notebooks that call ``nest_asyncio.apply()``: what works, and the one line about what cannot.

lmsnb runs its own asyncio work (the SDK's loop, concurrent embeddings) in worker threads and
never nests a loop, so streaming chat with Stop, model loads with progress, GraphRAG builds and
queries keep working after ``nest_asyncio.apply()`` (tests/test_nest_asyncio.py, and in
JupyterLab tests/browser/test_nest_asyncio_browser.py). What cannot work is not lmsnb's: with
nest_asyncio 1.x, ipykernel 7 loses the messages that arrive while a cell runs asyncio code
("cannot enter context: … is already entered") — a click on Stop, Load or Send made then, and
the cells Run All queued behind it (seen: the kernel stays busy for good). Its maintained fork
``nest_asyncio2`` (installed with ipykernel 7, same ``apply()``) handles both. So lmsnb says so,
once per kernel, under the cell that applied it (or under ``%load_ext lmsnb`` when it was
applied before).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

MESSAGE = ("lmsnb: nest_asyncio is applied in this kernel, and with it ipykernel 7 loses what "
           "arrives while a cell runs asyncio code (clicks on Stop, Load or Send; cells queued by "
           "Run All, which then never run) — use `import nest_asyncio2 as nest_asyncio` instead "
           "(same apply(), installed with ipykernel 7)")

_said = False


def nest_asyncio_applied() -> bool:
    """True when nest_asyncio 1.x (not nest_asyncio2) has patched asyncio in this process."""
    return getattr(asyncio.run, "__module__", None) == "nest_asyncio"


def check(*_args: Any) -> None:
    """Say :data:`MESSAGE` on stderr the first time nest_asyncio 1.x is seen applied."""
    global _said
    if not _said and nest_asyncio_applied():
        _said = True
        print(MESSAGE, file=sys.stderr)


def register(ipython: Any) -> None:
    """Check now and after every cell (``post_run_cell``: the line lands under that cell)."""
    try:
        ipython.events.unregister("post_run_cell", check)
    except ValueError:
        pass
    ipython.events.register("post_run_cell", check)
    check()
