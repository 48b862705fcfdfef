"""GraphView in a real JupyterLab (headless Chromium), used the way people use it.

Run the cell, scroll, click a node and read the side panel; filter and read the count; search
and pick among the matches; build an index with a live graph and see it framed; save the
notebook, reopen it untrusted in a fresh browser and still see every graph as a picture.
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
from lmsnb.graphrag.index import GraphIndex
from lmsnb.graphview import GraphView
idx = GraphIndex.from_parquet(Path({str(FIXTURE)!r}))
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

IPYCYTOSCAPE = """
cyw = view.to_ipycytoscape()
cyw.add_class("t-ipycy")
cyw
"""

PAINTED_PIXELS = """el => el.querySelectorAll('canvas').length && [...el.querySelectorAll('canvas')]
  .reduce((s, c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return s + n; }, 0)"""

# Page position of a node, computed from the DOM now (not from cytoscape's cache).
NODE_AT = """([el, id]) => { const cy = el.lmsnbCy, n = cy.getElementById(id);
    const r = el.querySelector('.lm-canvas').getBoundingClientRect(), p = n.renderedPosition();
    return [r.x + p.x, r.y + p.y]; }"""

NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _painted(lab: LabPage, selector: str) -> int:
    el = lab.wait_for(f"{selector}[data-painted]")
    lab.page.wait_for_function(f"() => ({PAINTED_PIXELS})"
                               f"(document.querySelector('{selector}')) > 2000")
    return el.evaluate(PAINTED_PIXELS)


def _cy(locator, script: str, arg=None):
    return locator.evaluate(f"(el, arg) => {{ const cy = el.lmsnbCy; {script} }}", arg)


def test_graphview_in_jupyterlab(jupyter_lab, lab_page: LabPage) -> None:
    jupyter_lab.write_notebook("graph.ipynb", [SETUP, HIGHLIGHT, IPYCYTOSCAPE])
    lab_page.open("graph.ipynb")
    lab_page.run_all()
    lab_page.wait_idle(timeout=300_000)  # ipycytoscape makes ~1,500 widget models
    page = lab_page.page
    main = page.locator(".t-main")

    # the canvas is drawn, counted honestly, labelled without overlaps, explained by a legend
    assert _painted(lab_page, ".t-main") > 2000
    assert main.locator(".lm-status").inner_text() == (
        "529 entities (+32 names only in relationships) · 978 relationships")
    page.wait_for_function("() => Number(document.querySelector('.t-main').dataset.labels) > 20")
    overlaps = _cy(main, """const boxes = cy.nodes('.lm-label').map(n => n.renderedBoundingBox(
            {includeNodes: false, includeEdges: false, includeLabels: true}));
        let k = 0; for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.x1 < b.x2 - 2 && b.x1 < a.x2 - 2 && a.y1 < b.y2 - 2 && b.y1 < a.y2 - 2) k++; }
        return [k, cy.nodes('.lm-label').map(n => n.data('title'))];""")
    assert overlaps[0] == 0 and "SCROOGE" in overlaps[1], overlaps
    legend = main.locator(".lm-legend").inner_text()
    assert "Colour = community" in legend and "gray: no community" in legend
    assert "hollow: only named in relationships (32)" in legend and "size = degree" in legend

    # the saved picture is in the notebook's outputs but hidden here: one graph per view
    pictures = page.locator(".jp-OutputArea-child.lmsnb-picture-hidden")
    pictures.first.wait_for(state="attached")
    assert pictures.count() == 2 and not pictures.first.is_visible()

    # bug 1: run, scroll, click. The pointer first visits the canvas (cytoscape caches its
    # position then), the notebook scrolls, and a click on a node must still select it.
    main.scroll_into_view_if_needed()
    hub = _cy(main, """const n = cy.nodes('[kind = "entity"]').max(n => n.data('degree')).ele;
        cy.zoom(3); cy.center(n); return n.id();""")
    box = main.locator(".lm-canvas").bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 30)
    page.mouse.move(box["x"] + 60, box["y"] + 40)
    scroller = "document.querySelector('.jp-WindowedPanel-outer')"
    before = page.evaluate(f"{scroller}.scrollTop")
    page.evaluate(f"{scroller}.scrollTop += 150")
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(f"{scroller}.scrollTop") > before  # it really scrolled
    x, y = main.evaluate(f"(el, id) => ({NODE_AT})([el, id])", hub)
    page.mouse.click(x, y)
    panel = main.locator(".lm-panel")
    panel.locator("h4", has_text="Source text units").wait_for()
    assert panel.locator("h3").inner_text() == "SCROOGE"
    assert panel.locator("h4", has_text="Description").count() == 1
    dimmed = _cy(main, "return [cy.nodes('.lm-dim').length, cy.$(':selected').neighborhood("
                       "'node.lm-dim').length];")
    assert dimmed[0] > 100 and dimmed[1] == 0  # the neighbours stay, the rest steps back

    # bug 4 + 6: a miss, then a hit: the miss message goes; several matches are listed
    search = main.locator(".lm-search")
    search.fill("zzz nobody")
    search.press("Enter")
    main.locator(".lm-message", has_text="no entity matches “zzz nobody”").wait_for()
    search.fill("christ")
    search.press("Enter")
    panel.locator("h3", has_text="CHRISTMAS").wait_for()
    message = main.locator(".lm-message")
    assert "no entity matches" not in message.inner_text()
    assert "entities match “christ”: showing CHRISTMAS" in message.inner_text()
    matches = message.locator(".lm-match")
    assert matches.count() > 3
    # a later redraw from the kernel (another colour level) does not bring the miss back
    colours = "() => document.querySelector('.t-main').lmsnbCy.nodes().map(n => n.data('color')).join()"
    before = page.evaluate(colours)
    main.locator(".lm-level").select_option("1")
    page.wait_for_function(f"before => ({colours})() !== before", arg=before)
    assert "no entity matches" not in message.inner_text()
    other = matches.nth(2).inner_text()
    matches.nth(2).click()
    panel.locator("h3", has_text=other).wait_for()

    # bug 4: the min-degree arrows filter at once, the count follows, the view re-frames,
    # and the panel lets go of a node the filter hid
    low = _cy(main, """const n = cy.nodes('[kind = "entity"][degree = 1]')[0];
        return [n.id(), n.data('title')];""")
    search.fill(low[1])
    search.press("Enter")
    panel.locator("h3", has_text=low[1]).wait_for()
    main.locator(".lm-min-degree").focus()
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    status = main.locator(".lm-status")
    expected = _cy(main, """const all = cy.nodes('[kind = "entity"]');
        return all.filter(n => n.data('degree') >= 3).length;""")
    page.wait_for_function("n => document.querySelector('.t-main .lm-status').textContent"
                           ".startsWith(`showing ${n.toLocaleString()} of 529 entities`)",
                           arg=expected)
    assert main.locator(".lm-min-degree").input_value() == "3"
    assert "relationships" in status.inner_text()
    framed = _cy(main, """const shown = cy.nodes().filter(n => !n.hasClass('lm-hidden')
            && n.data('kind') !== 'label');
        const bb = shown.renderedBoundingBox(), w = cy.width(), h = cy.height();
        return bb.x1 > -5 && bb.y1 > -5 && bb.x2 < w + 5 && bb.y2 < h + 5
            && (bb.w > w * 0.6 || bb.h > h * 0.6);""")
    assert framed
    assert not panel.is_visible()
    assert page.evaluate("() => document.querySelector('.t-main').lmsnbCy.$(':selected')"
                         ".length") == 0

    # a query result is highlighted, in a colour no community has, and said in words
    assert _painted(lab_page, ".t-hl") > 2000
    printed = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']",
                           has_text="HL ")
    expected = int(printed.inner_text().split()[-1])
    hl = page.locator(".t-hl")
    assert _cy(hl, "return cy.$('.lm-hl').length;") == expected >= 3
    assert hl.locator(".lm-hltext").inner_text().startswith("Highlighted 3 entities and ")
    assert "highlighted" in hl.locator(".lm-legend").inner_text()

    # the same graph through ipycytoscape: drawn, with the view's community colours
    cyto = page.locator(".t-ipycy")
    cyto.scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({PAINTED_PIXELS})(document.querySelector('.t-ipycy')) > 2000")
    colours = cyto.evaluate("""el => { const seen = new Set();
        for (const c of el.querySelectorAll('canvas')) {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255)
            seen.add('#' + [d[i], d[i + 1], d[i + 2]].map(v => v.toString(16)
              .padStart(2, '0')).join('')); }
        return [...seen]; }""")
    top = _cy(main, "return [...new Set(cy.nodes('[kind = \"entity\"]').sort((a, b) => "
                    "b.data('degree') - a.data('degree')).slice(0, 40).map(n => n.data('color')))];")
    assert len(set(top) & set(colours)) >= 3, (top, colours[:20])

    # corrections in the panel: rename, then pick two nodes (button, shift-click) and merge
    main.scroll_into_view_if_needed()
    main.locator(".lm-min-degree").fill("0")
    main.locator(".lm-min-degree").press("Enter")
    page.wait_for_function("() => document.querySelector('.t-main .lm-status').textContent"
                           ".startsWith('529 entities')")
    search.fill("fred")
    search.press("Enter")
    panel.locator("h3", has_text="FRED").first.wait_for()
    panel.locator("button.lm-action", has_text="Rename").click()
    panel.locator(".lm-rename-to").fill("FRED THE NEPHEW")
    panel.locator(".lm-rename-to").press("Enter")
    panel.locator("h3", has_text="FRED THE NEPHEW").wait_for()
    assert message.inner_text().startswith("Renamed FRED to FRED THE NEPHEW")
    search.fill("scrooge")
    search.press("Enter")
    panel.locator("h3:text-is('SCROOGE')").wait_for()
    panel.locator("button.lm-action", has_text="Pick for merge").click()
    search.fill("ebenezer scrooge")
    search.press("Enter")
    panel.locator("h3:text-is('EBENEZER SCROOGE')").wait_for()
    ebenezer = _cy(main, "return cy.$(':selected')[0].id();")
    page.wait_for_function("() => !document.querySelector('.t-main').lmsnbCy.animated()")
    x, y = main.evaluate(f"(el, id) => ({NODE_AT})([el, id])", ebenezer)
    page.keyboard.down("Shift")
    page.mouse.click(x, y)
    page.keyboard.up("Shift")
    box = panel.locator(".lm-merge-box")
    box.locator("h4", has_text="Merge 2 picked").wait_for()
    box.locator(".lm-merge-into").fill("EBENEZER SCROOGE")
    box.locator("button.lm-merge").click()
    page.wait_for_function("() => document.querySelector('.t-main .lm-status').textContent"
                           ".startsWith('528 entities')")
    assert message.inner_text().startswith("Merged SCROOGE into EBENEZER SCROOGE")
    panel.locator("h3:text-is('EBENEZER SCROOGE')").wait_for()
    assert jupyter_lab.kernel_eval(lab_page.kernel, "len(idx.entities)") == "528"

    assert not lab_page.errors, lab_page.errors
    assert not lab_page.output_errors()


LIVE = """
import lmsnb
from pathlib import Path
from lmsnb.sim import Simulator, Timing
%load_ext lmsnb
sim = Simulator(port=0, timing=Timing(), behaviour="graphrag").start()
conn = lmsnb.connect(sim.host)
text = Path({text!r}).read_text(encoding="utf-8")
idx = lmsnb.graphrag.build_index([text], llm=conn.default_model("llm"), embedding_model=False,
                                 chunk_size=300, chunk_overlap=30, progress=False, live=True)
"""

GLOBAL = """%%graphrag_query idx --method global --graph
What are the main themes?"""

PLAIN = "lmsnb.GraphView(idx)"


def test_live_graph_framed_and_every_graph_survives_reopening(jupyter_lab,
                                                               lab_page: LabPage) -> None:
    """Bugs 2 and 3: the live graph piled up in a corner, gray; a reopened notebook showed
    "model not found" or word soup instead of the graphs."""
    text = REPO / "notebooks" / "data" / "christmas_carol_part1.txt"
    jupyter_lab.write_notebook("saved.ipynb", [LIVE.format(text=str(text)),
                                               GLOBAL, PLAIN])
    lab_page.open("saved.ipynb")
    lab_page.run_all()
    lab_page.wait_idle(timeout=300_000)
    page = lab_page.page
    assert not lab_page.output_errors(), lab_page.output_errors()
    views = page.locator(".lmsnb-graph")
    assert views.count() == 3
    live = views.first
    live.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.lmsnb-graph').dataset.painted")
    framed = _cy(live, """const nodes = cy.nodes('[kind != "label"]');
        const bb = nodes.renderedBoundingBox(), w = cy.width(), h = cy.height();
        const colours = new Set(nodes.map(n => n.data('color')));
        colours.delete('#b8b8b8');
        return [nodes.length, bb.x1, bb.y1, w - bb.x2, h - bb.y2, colours.size,
                (bb.x1 + bb.x2) / 2 / w, (bb.y1 + bb.y2) / 2 / h];""")
    n, left, top, right, bottom, colours, cx, cy = framed
    assert n >= 5 and colours >= 2, framed  # coloured by community, not all gray
    assert min(left, top, right, bottom) > -5, framed  # nothing cut off
    assert abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1, framed  # in the middle, not a corner
    assert live.locator(".lm-legend").inner_text().startswith("Colour = community")
    glob = views.nth(1)
    assert "communities whose reports the global search read" in \
        glob.locator(".lm-hltext").inner_text()
    hidden = page.locator(".jp-OutputArea-child.lmsnb-picture-hidden")
    hidden.nth(2).wait_for(state="attached")
    assert hidden.count() == 3 and not any(hidden.nth(k).is_visible() for k in range(3))

    saved = lab_page.save()
    kinds = [[sorted(o.get("data", {})) for o in c["outputs"]] for c in saved["cells"]]
    pngs = [k for cell in kinds for k in cell if "image/png" in k]
    assert len(pngs) == 3, kinds
    assert all("text/html" not in k for cell in kinds for k in cell
               if "application/vnd.jupyter.widget-view+json" in k)

    again = lab_page.reopen_untrusted()
    p2 = again.page
    imgs = p2.locator(".jp-OutputArea-output img")
    imgs.nth(2).wait_for()
    p2.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                         ".every(i => i.complete && i.naturalWidth === 960)")
    assert imgs.count() == 3 and all(imgs.nth(k).is_visible() for k in range(3))
    text_all = " ".join(p2.locator(".jp-OutputArea-output").all_inner_texts())
    assert "model not found" not in text_all and "SCROOGE" not in text_all.split("lmsnb")[0]
    assert text_all.count("lmsnb GraphView:") >= 3  # each view says what it was, in words
    assert not again.errors, again.errors


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
