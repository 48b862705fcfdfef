"""Interactive view of a GraphRAG index (entities, relationships, communities) in a notebook.

``GraphView(idx)`` is one anywidget model carrying the whole visible graph as JSON, drawn by a
vendored copy of cytoscape.js (``lmsnb/static``). We measured ipycytoscape first: it makes one
widget model per node and per edge, and a 2,000-entity graph takes far longer than 2 s to paint
(``benchmarks/bench_graphview.py``); one model plus positions computed here paints it in well
under that. No network is needed anywhere: the JS is inlined into the widget and into
``to_html`` pages. ``idx`` is duck-typed: any object (or mapping) with ``entities`` /
``relationships`` and, if it has them, ``communities`` / ``community_reports`` /
``text_units`` DataFrames in Microsoft GraphRAG's columns.

The package, by concept: ``data`` (the tables, normalised; odd rows counted), ``layout``
(positions), ``draw`` (the JSON the browser draws, the legend), ``details`` (the side panel),
``highlight`` (what a query result points at), ``picture`` (the PNG/SVG a saved notebook keeps),
``view`` (the widget), ``live`` (a view that grows during a build), ``export`` (HTML page,
ipycytoscape), ``synthetic`` (test data).
"""

from .live import LiveGraph
from .synthetic import synthetic_index
from .view import GraphView

__all__ = ["GraphView", "LiveGraph", "synthetic_index"]
