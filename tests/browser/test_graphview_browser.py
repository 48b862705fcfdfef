"""GraphView in a real JupyterLab (headless Chromium) on the Christmas Carol index.

One notebook, one Run All: the view paints, a click shows kernel-computed details, search
centres an entity, a query result is highlighted. Plus the offline ``to_html`` page.
"""

from __future__ import annotations

import pytest

from .conftest import REPO, LabPage

FIXTURE = REPO.parent / "shared" / "fixtures" / "graphrag-christmas-carol"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not FIXTURE.exists(), reason="fixture missing")]

SETUP = f"""
import types
from pathlib import Path
import pandas as pd
from lmsnb.graphview import GraphView
FIX = Path({str(FIXTURE)!r})
try:
    from lmsnb.graphrag.index import GraphIndex
    idx = GraphIndex.from_parquet(FIX)
except ImportError:  # GraphIndex not there yet: GraphView is duck-typed anyway
    idx = types.SimpleNamespace(**{{n: pd.read_parquet(FIX / f"{{n}}.parquet") for n in
        ("entities", "relationships", "communities", "community_reports", "text_units")}})
view = GraphView(idx)
view.add_class("t-main")
view
"""

# A GraphRAG local-search context: ids are human-readable ids, names in `entity`.
HIGHLIGHT = """
names = ["SCROOGE", "BOB CRATCHIT", "TINY TIM"]
e = idx.entities[idx.entities.title.isin(names)]
r = idx.relationships[idx.relationships.source.isin(names) & idx.relationships.target.isin(names)]
ctx = {"entities": pd.DataFrame({"id": e.human_readable_id.astype(str), "entity": e.title,
                                 "in_context": True}),
       "relationships": pd.DataFrame({"id": r.human_readable_id.astype(str),
                                      "source": r.source, "target": r.target})}
hv = GraphView(idx).highlight(types.SimpleNamespace(context=ctx))
hv.add_class("t-hl")
print("HL", len(hv.highlighted["nodes"]) + len(hv.highlighted["edges"]))
hv
"""

PAINTED_PIXELS = """el => el.querySelectorAll('canvas').length && [...el.querySelectorAll('canvas')]
  .reduce((s, c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return s + n; }, 0)"""


def _painted(lab: LabPage, selector: str) -> int:
    el = lab.wait_for(f"{selector}[data-painted]")
    lab.page.wait_for_function(f"() => ({PAINTED_PIXELS})"
                               f"(document.querySelector('{selector}')) > 2000")
    return el.evaluate(PAINTED_PIXELS)


def test_graphview_in_jupyterlab(jupyter_lab, lab_page: LabPage) -> None:
    jupyter_lab.write_notebook("graph.ipynb", [SETUP, HIGHLIGHT])
    lab_page.open("graph.ipynb")
    lab_page.run_all()
    page = lab_page.page

    # 1. the canvas is drawn
    assert _painted(lab_page, ".t-main") > 2000
    main = page.locator(".t-main")
    assert main.locator(".lm-status").inner_text().startswith("561 entities")

    # 2. click the biggest node: the panel shows details computed by the kernel
    main.scroll_into_view_if_needed()
    x, y, title = main.evaluate("""el => { const cy = el.lmsnbCy;
        const n = cy.nodes().max(n => n.data('degree')).ele;
        cy.zoom(4); cy.center(n);  // zoomed in, no neighbour overlaps it
        const r = el.querySelector('.lm-canvas').getBoundingClientRect();
        const p = n.renderedPosition(); return [r.x + p.x, r.y + p.y, n.data('title')]; }""")
    page.mouse.click(x, y)
    panel = main.locator(".lm-panel")
    panel.locator("h4", has_text="Source text units").wait_for()
    assert panel.locator("h3").inner_text() == title
    assert panel.locator("h4", has_text="Description").count() == 1

    # 3. search centres and selects an entity
    main.locator(".lm-search").fill("jacob marley")
    main.locator(".lm-search").press("Enter")
    panel.locator("h3", has_text="JACOB MARLEY").wait_for()
    centred = """() => { const cy = document.querySelector('.t-main').lmsnbCy;
        const n = cy.$(':selected')[0], p = n.renderedPosition();
        return n.data('title') === 'JACOB MARLEY' && Math.abs(p.x / cy.width() - 0.5) < 0.1
            && Math.abs(p.y / cy.height() - 0.5) < 0.1; }"""
    page.wait_for_function(centred, timeout=5_000)  # after the 250 ms centring animation

    # 4. a query result is highlighted in a view opened with GraphView(idx).highlight(res)
    assert _painted(lab_page, ".t-hl") > 2000
    lab_page.wait_idle()
    expected = int(page.locator(".jp-OutputArea-output", has_text="HL ").last.inner_text()
                   .split()[-1])
    marked = page.locator(".t-hl").evaluate("el => el.lmsnbCy.$('.lm-hl').length")
    assert marked == expected >= 3

    assert not lab_page.errors, lab_page.errors
    assert not lab_page.output_errors()


def test_to_html_is_self_contained(browser_context, tmp_path) -> None:
    import pandas as pd

    from lmsnb.graphview import GraphView

    idx = {n: pd.read_parquet(FIXTURE / f"{n}.parquet")
           for n in ("entities", "relationships", "communities", "community_reports")}
    view = GraphView(idx).highlight(["SCROOGE", "JACOB MARLEY"])
    page_file = tmp_path / "graph.html"
    view.to_html(page_file)
    page = browser_context.new_page()
    outside: list[str] = []
    page.route("**/*", lambda route: (outside.append(route.request.url), route.abort())
               if not route.request.url.startswith("file://") else route.continue_())
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_selector(".lmsnb-graph[data-painted]", timeout=30_000)
        page.wait_for_function(f"() => ({PAINTED_PIXELS})"
                               "(document.querySelector('.lmsnb-graph')) > 2000")
        assert page.evaluate("document.querySelector('.lmsnb-graph').lmsnbCy"
                             ".$('node.lm-hl').length") == 2
        page.fill(".lm-search", "tiny tim")
        page.press(".lm-search", "Enter")
        page.wait_for_selector(".lm-panel h3:text-is('TINY TIM')")
    finally:
        page.close()
    assert not outside and not errors, (outside, errors)
