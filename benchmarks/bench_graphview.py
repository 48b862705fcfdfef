"""Time to first paint of GraphView in JupyterLab (headless Chromium), synthetic graphs.

    .venv/bin/python benchmarks/bench_graphview.py [--sizes 500 2000 10000] [--no-baseline]

For each case a fresh notebook runs one cell that builds the view from a synthetic GraphRAG
index (``lmsnb.graphview.synthetic_index``; generating the data is not timed) and displays it.
First paint = the first animation frame in which the output's canvases hold drawn pixels,
minus the kernel's clock when the cell started (same machine, same clock). It includes the
Python work (layout, JSON), the comm transfer and cytoscape's drawing.

Baseline, same run: plain ipycytoscape with the *same* positions (preset layout), so the
difference is the cost of one widget model per node and per edge. A case that has not painted
within ``--timeout`` seconds is reported as such.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import JupyterLab, LabPage, open_browser  # noqa: E402

GRAPHVIEW = """
import time
from lmsnb.graphview import GraphView, synthetic_index
idx = synthetic_index({n})
T0 = time.time()
view = GraphView(idx, max_nodes={max_nodes})
print("T0", T0, "PY", round(time.time() - T0, 3), "NODES", len(view.graph["nodes"]))
view
"""

IPYCYTOSCAPE = """
import time
import ipycytoscape
from lmsnb.graphview import GraphView, synthetic_index
idx = synthetic_index({n})
pos = {{x["id"]: x for x in GraphView(idx, max_nodes=10**6).graph["nodes"]}}  # same layout
T0 = time.time()
ids = dict(zip(idx.entities.title, idx.entities.id))
w = ipycytoscape.CytoscapeWidget()
w.set_layout(name="preset")
w.graph.add_nodes([ipycytoscape.Node(data={{"id": i, "label": p["label"]}},
                                     position={{"x": p["x"], "y": p["y"]}}) for i, p in pos.items()])
w.graph.add_edges([ipycytoscape.Edge(data={{"source": ids[s], "target": ids[t]}})
                   for s, t in zip(idx.relationships.source, idx.relationships.target)])
print("T0", T0, "PY", round(time.time() - T0, 3), "NODES", len(pos))
w
"""

# Resolves to Date.now() in the first frame where some output canvas has drawn pixels.
PAINTED = """() => { let n = 0;
  for (const c of document.querySelectorAll('.jp-OutputArea-output canvas')) {
    if (!c.width || !c.height) continue;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 16) if (d[i]) { n++; if (n > 200) return Date.now(); }
  }
  return false; }"""


def first_paint(lab: JupyterLab, ctx: object, name: str, source: str,
                timeout: float) -> tuple[float | None, str]:
    """Seconds from cell start to first painted canvas (None if it did not paint)."""
    lab.write_notebook(name, [source])
    page = LabPage(ctx.new_page(), lab)  # type: ignore[attr-defined]
    try:
        page.open(name)
        page.run_all()
        try:
            painted = page.page.wait_for_function(PAINTED, timeout=timeout * 1000).json_value()
        except Exception:  # noqa: BLE001 - a timeout is a result here
            return None, "did not paint"
        line = page.page.locator(".jp-OutputArea-output", has_text="T0 ").first.inner_text()
        words = line.split()
        t0, py = float(words[1]), float(words[3])
        return painted / 1000 - t0, f"python {py:.2f} s, {words[5]} nodes"
    finally:
        for line in page.console:
            if line.startswith("dialog:"):
                print("  (" + line[:200] + ")")
        page.page.close()
        lab.shutdown_kernels()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10000])
    ap.add_argument("--baseline-sizes", type=int, nargs="*", default=[500, 2000])
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-graphview-"))
    results: dict[tuple[str, int], float | None] = {}
    with JupyterLab.start(work) as lab, open_browser(work) as ctx:
        cases = [("GraphView", n, GRAPHVIEW.format(n=n, max_nodes=2500)) for n in args.sizes]
        if 10000 in args.sizes:  # the same 10k graph without aggregation, for the record
            cases.append(("GraphView, no aggregation", 10000,
                          GRAPHVIEW.format(n=10000, max_nodes=10**6)))
        if not args.no_baseline:
            cases += [("ipycytoscape", n, IPYCYTOSCAPE.format(n=n)) for n in args.baseline_sizes]
        first_paint(lab, ctx, "warmup.ipynb", GRAPHVIEW.format(n=100, max_nodes=2500), 60)
        print(f"{'renderer':28} {'entities':>8} {'first paint':>12}  notes")
        for k, (label, n, src) in enumerate(cases):
            secs, note = first_paint(lab, ctx, f"case{k}.ipynb", src, args.timeout)
            results[(label, n)] = secs
            shown = f"{secs:10.2f} s" if secs is not None else f"> {args.timeout:.0f} s"
            print(f"{label:28} {n:8,} {shown:>12}  {note}", flush=True)
    for n in args.baseline_sizes:
        ours, base = results.get(("GraphView", n)), results.get(("ipycytoscape", n))
        if ours and base:
            print(f"ratio ipycytoscape / GraphView at {n:,} entities: {base / ours:.1f}x")
        elif ours and ("ipycytoscape", n) in results:
            print(f"ratio ipycytoscape / GraphView at {n:,} entities: "
                  f"> {args.timeout / ours:.1f}x (ipycytoscape did not paint)")


if __name__ == "__main__":
    main()
