"""A view outside its widget: a self-contained HTML page, or an ipycytoscape widget.

People who build on ipycytoscape get the same graph (positions, colours, sizes, the most
important labels, the highlight) with the same style sheet, as an ``ipycytoscape.CytoscapeWidget``.
It makes one widget model per node and per edge, so it is slower to open than ``GraphView``
for big graphs (``benchmarks/bench_graphview.py``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from . import picture
from .view import GraphView, _view_error, bundle, style_sheet


def html_page(view: GraphView, path: str | Path | None, title: str) -> str:
    state = {"graph": view.graph, "info": view.info, "level": view.level,
             "filters": view.filters, "selected": view.selected, "details": view.details,
             "highlighted": view.highlighted, "_static": True, "_picture_key": ""}
    data = json.dumps(state).replace("</", "<\\/")
    boot = ("const STATE = " + data + ";\nconst model = { get: (k) => STATE[k], "
            "set: (k, v) => { STATE[k] = v; }, save_changes() {}, send() {}, on() {}, "
            "off() {} };\nrender({ model, el: document.getElementById('lmsnb-root') });\n")
    js = bundle().replace("export default { render };", boot).replace("</script", "<\\/script")
    page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title>\n<style>{view._css}</style></head>\n<body><div id='lmsnb-root'></div>\n"
            f"<script type='module'>\n{js}</script>\n</body></html>\n")
    if path is not None:
        try:
            Path(path).expanduser().write_text(page, encoding="utf-8")
        except OSError as exc:
            raise _view_error(f"Cannot write {path}: {exc.strerror or exc}",
                              "pass a file path in a folder you can write to") from None
    return page


def ipycytoscape_widget(view: GraphView) -> Any:
    try:
        import ipycytoscape
    except ImportError:
        raise _view_error("to_ipycytoscape() needs the ipycytoscape package",
                          "pip install ipycytoscape") from None
    shown = set(picture.scene(view.graph, view.highlighted).labelled)  # fit without overlap
    hl_nodes = set(view.highlighted.get("nodes", []))
    hl_edges = set(view.highlighted.get("edges", []))
    fade = bool(hl_nodes or hl_edges)

    def classes(ident: str, hl: set[str], label: bool = False) -> str:
        out = ["lm-hl"] if ident in hl else (["lm-faded"] if fade else [])
        return " ".join(out + (["lm-label"] if label else []))

    nodes = [{"data": {**n, "lf": n.get("lfs", 12)}, "position": {"x": n["x"], "y": n["y"]},
              "classes": classes(n["id"], hl_nodes, n["id"] in shown or n["id"] in hl_nodes)}
             for n in view.graph.get("nodes", [])]
    nodes += [{"data": {**lab, "lf": 14}, "position": {"x": lab["x"], "y": lab["y"]},
               "classes": "lm-label"} for lab in view.graph.get("labels", [])]
    edges = [{"data": e, "classes": classes(e["id"], hl_edges)}
             for e in view.graph.get("edges", [])]
    # Each element's state goes in its widget's opening message, which Jupyter Server does not
    # rate-limit, and the graph's bookkeeping in one update: ipycytoscape's add_graph_from_json
    # sends an update per attribute and per node, and past 1,000 messages a second the server
    # drops output, the widget's display included.
    widget = ipycytoscape.CytoscapeWidget()
    with widget.graph.hold_sync():
        widget.graph.add_nodes([ipycytoscape.Node(**n) for n in nodes])
        widget.graph.add_edges([ipycytoscape.Edge(data=e["data"],
                                                  classes=e["classes"] + " multiple_edges")
                                for e in edges], multiple_edges=True)
    widget.set_style(style_sheet())
    widget.set_layout(name="preset", fit=True, padding=20)
    widget.min_zoom, widget.max_zoom = 0.02, 6
    return widget
