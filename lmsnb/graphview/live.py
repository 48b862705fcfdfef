"""A graph view that grows while an index is built (``build_index(..., live=True)``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd

from .view import GraphView


class LiveGraph:
    """A ``GraphView`` fed in batches while an index is built, redrawn at most every
    ``interval`` seconds (each redraw resends the graph, so per-chunk redraws would flood the
    front end). The page keeps the growing graph framed until you pan or zoom it. ``finish``
    shows the finished index (communities and their colours); ``close()`` (or ``with``) just
    draws the last batch. Safe to feed from several threads.

    Hook for the indexer: ``live = LiveGraph(); display(live.view)``, then per extracted chunk
    ``live.add(entities_df, relationships_df)``, and ``live.finish(index)`` at the end.
    """

    def __init__(self, view: GraphView | None = None, *, interval: float = 0.5) -> None:
        self.view = view if view is not None else GraphView()
        self.interval = interval
        self._last = 0.0
        self._dirty = False
        self._lock = threading.RLock()

    def add(self, entities: pd.DataFrame | None = None,
            relationships: pd.DataFrame | None = None) -> None:
        """Merge one batch; redraw if the last redraw is older than ``interval``."""
        with self._lock:
            self.view._g.add(entities, relationships)
            self._dirty = True
            if time.monotonic() - self._last >= self.interval:
                self.flush()

    def chunk(self, result: Any) -> None:
        """Add one chunk's extraction: an object with ``entities`` / ``relationships`` lists
        of records (what ``build_index`` parses from the model's answer)."""
        ents, rels = getattr(result, "entities", None), getattr(result, "relationships", None)
        if ents or rels:
            self.add(pd.DataFrame(ents) if ents else None, pd.DataFrame(rels) if rels else None)

    def flush(self) -> None:
        """Redraw now if anything arrived since the last redraw."""
        with self._lock:
            if self._dirty:
                self.view._redraw()
                self._dirty = False
                self._last = time.monotonic()

    def finish(self, index: Any) -> None:
        """Show the finished ``index`` (with its communities), framed."""
        with self._lock:
            self._dirty = False
            self.view.set_index(index)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> LiveGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)


def live_feed(live: Any) -> LiveGraph | None:
    """The ``LiveGraph`` that ``build_index(live=...)`` feeds: ``True`` shows a new one here."""
    if not live:
        return None
    if live is True:
        from IPython.display import display

        live = LiveGraph()
        display(live.view)
    return live
