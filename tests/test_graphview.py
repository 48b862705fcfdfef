"""GraphView without a browser: what the kernel computes and sends (the front end only draws)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pandas as pd
import pytest

from lmsnb.graphview import GraphView, LiveGraph, synthetic_index

FIXTURE = Path(__file__).parents[1].parent / "shared" / "fixtures" / "graphrag-christmas-carol"
TABLES = ("entities", "relationships", "communities", "community_reports", "text_units")


@pytest.fixture(scope="module")
def idx() -> types.SimpleNamespace:
    if not FIXTURE.exists():
        pytest.skip("Christmas Carol fixture missing")
    return types.SimpleNamespace(**{t: pd.read_parquet(FIXTURE / f"{t}.parquet") for t in TABLES})


@pytest.fixture(scope="module")
def view(idx: types.SimpleNamespace) -> GraphView:
    return GraphView(idx)


def _node(view: GraphView, title: str) -> dict:
    return next(n for n in view.graph["nodes"] if n.get("title") == title)


def test_draws_every_entity_and_relationship(view: GraphView, idx) -> None:
    nodes, edges = view.graph["nodes"], view.graph["edges"]
    # 529 entities + 32 relationship endpoints the fixture has no entity row for
    assert len(nodes) == 561 and len(edges) == len(idx.relationships) == 978
    ids = {n["id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids for e in edges)
    scrooge, tim = _node(view, "SCROOGE"), _node(view, "TIM")
    assert scrooge["size"] > tim["size"] and scrooge["font"] > tim["font"]  # size by degree
    assert len({n["color"] for n in nodes}) > 10  # colour by community
    assert len({e["width"] for e in edges}) > 5  # width by weight
    assert view.info["mode"] == "entities" and "PERSON" in view.info["types"]
    json.dumps(view.graph)  # plain JSON, no numpy scalars


def test_level_recolours(idx) -> None:
    v = GraphView(idx, level=0)
    before = {n["id"]: n["community"] for n in v.graph["nodes"]}
    v.level = 2
    after = {n["id"]: n["community"] for n in v.graph["nodes"]}
    assert before != after and v.info["levels"] == [0, 1, 2, 3]


def test_click_details(view: GraphView, idx) -> None:
    view.selected = _node(view, "SCROOGE")["id"]
    d = view.details
    assert d["title"] == "SCROOGE" and "PERSON" in d["badges"]
    headings = [s["heading"] for s in d["sections"]]
    assert "Description" in headings and "Communities" in headings
    units = next(s for s in d["sections"] if s["heading"].startswith("Source text units"))
    assert units["items"] and units["items"][0]["label"].startswith("#")
    view.selected = view.graph["edges"][0]["id"]
    assert view.details["title"].count("—") == 1 and view.details["badges"][0].startswith("weight")


def test_find_and_highlight_variants(idx) -> None:
    v = GraphView(idx)
    sent: list[dict] = []
    v.send = sent.append  # type: ignore[method-assign]
    eid = v.find("jacob marley")
    assert v.selected == eid and v.details["title"] == "JACOB MARLEY"
    assert sent == [{"event": "center", "id": eid}]
    assert v.find("no such entity") is None

    names = ["SCROOGE", "BOB CRATCHIT"]
    by_title = v.highlight(names).highlighted
    assert len(by_title["nodes"]) == 2 and by_title["edges"]  # induced relationships
    e = idx.entities[idx.entities.title.isin(names)]
    assert v.highlight(e).highlighted == by_title  # a DataFrame of entities
    assert v.highlight(list(e.id)).highlighted == by_title  # ids
    # a query result whose context uses GraphRAG's context tables (human-readable ids)
    ctx = {"entities": pd.DataFrame({"id": e.human_readable_id.astype(str), "entity": e.title,
                                     "in_context": True})}
    assert v.highlight(types.SimpleNamespace(context=ctx)).highlighted == by_title
    rel = idx.relationships.iloc[:3]
    only_rel = v.highlight(types.SimpleNamespace(entities=None, relationships=rel)).highlighted
    assert sorted(only_rel["edges"]) == sorted(rel.id) and len(only_rel["nodes"]) >= 2
    assert v.highlight(None).highlighted == {"nodes": [], "edges": []}


def test_expand_adds_neighbours_inside_a_community(idx) -> None:
    v = GraphView(idx, max_nodes=150)  # the Carol has 561 > 150: aggregated
    assert v.info["mode"] == "communities"
    biggest = max(v.graph["nodes"], key=lambda n: n["degree"])
    v.drill(biggest["id"])
    assert v.info["mode"] == "entities" and v.info["scope"] == biggest["id"][2:]
    inside = {n["id"] for n in v.graph["nodes"]}
    hub = max(v.graph["nodes"], key=lambda n: n["degree"])
    v.expand(hub["id"])
    grown = {n["id"] for n in v.graph["nodes"]}
    assert grown > inside and hub["id"] in v.highlighted["nodes"]
    v.back()
    assert v.info["mode"] == "communities" and v.info["scope"] == ""


def test_large_graph_aggregates_and_search_drills_in() -> None:
    v = GraphView(synthetic_index(10_000), max_nodes=2500)
    assert v.info["mode"] == "communities" and len(v.graph["nodes"]) == 250
    v.send = lambda *a, **k: None  # type: ignore[method-assign]
    eid = v.find("ENTITY 9999")
    assert v.info["mode"] == "entities" and eid in {n["id"] for n in v.graph["nodes"]}
    assert len(v.graph["nodes"]) < 100
    v.highlight(["ENTITY 1"])
    v.back()
    assert v.highlighted["nodes"] and v.highlighted["nodes"][0].startswith("c:")


def test_live_graph_throttles() -> None:
    live = LiveGraph(interval=60)
    redraws = []
    live.view.observe(lambda ch: redraws.append(len(ch["new"]["nodes"])), names="graph")
    live.add(pd.DataFrame({"title": ["A", "B"], "type": ["PERSON", "GEO"]}),
             pd.DataFrame({"source": ["A"], "target": ["B"], "weight": [2.0]}))
    live.add(pd.DataFrame({"title": ["C"]}), pd.DataFrame({"source": ["C"], "target": ["D"]}))
    assert redraws == [2]  # the second batch waits for the interval
    live.close()
    assert redraws == [2, 4] and len(live.view.graph["edges"]) == 2
    live.view.add(None, pd.DataFrame({"source": ["A"], "target": ["D"]}))  # unthrottled
    assert len(live.view.graph["edges"]) == 3


def test_static_fallbacks(view: GraphView, tmp_path: Path) -> None:
    data, _meta = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].startswith("<div class='lmsnb-graph-static'><svg")
    page = view.to_html(tmp_path / "g.html")
    assert (tmp_path / "g.html").read_text() == page
    assert "http://" not in page.split("<script", 1)[1][:200] and "src=" not in page[:2000]
    assert page.count("</script>") == 1  # nothing in the data closes the script early


def test_graphindex_if_available() -> None:
    index = pytest.importorskip("lmsnb.graphrag.index")
    if not FIXTURE.exists():
        pytest.skip("fixture missing")
    v = GraphView(index.GraphIndex.from_parquet(FIXTURE))
    assert len(v.graph["nodes"]) == 561


# -- bad input: one clear message, and clicks on stale ids never raise in the kernel ---------
def test_not_an_index_is_refused() -> None:
    from lmsnb.errors import GraphIndexError

    with pytest.raises(GraphIndexError, match="needs a GraphRAG index, not the string 'idx'"):
        GraphView("idx")
    with pytest.raises(GraphIndexError, match="not a int"):
        GraphView(42)
    assert GraphView(None).info["status"] == "0 entities · 0 relationships"


def test_missing_cells_are_blank_not_nan(idx) -> None:
    import numpy as np

    ent = idx.entities.head(60).copy()
    titles = set(ent["title"])
    rel = idx.relationships[idx.relationships["source"].isin(titles)
                            & idx.relationships["target"].isin(titles)].reset_index(drop=True)
    ent.loc[0, ["description", "type"]] = np.nan
    rel.loc[0, "source"] = None  # an edge without an end cannot be drawn: dropped
    v = GraphView(types.SimpleNamespace(entities=ent, relationships=rel))
    node = next(n for n in v.graph["nodes"] if n["id"] == ent.loc[0, "id"])
    assert node["type"] == "" and node["desc"] == ""
    assert len(v.graph["edges"]) == len(rel) - 1
    v.selected = node["id"]
    assert v.details["sections"][0]["text"] == ""


def test_unknown_ids_are_clear_errors_from_python_and_a_status_from_the_browser(idx) -> None:
    from lmsnb.errors import GraphIndexError

    v = GraphView(idx)
    with pytest.raises(GraphIndexError, match="No entity 'nobody' in this view"):
        v.expand("nobody")
    with pytest.raises(GraphIndexError, match="No community 99999 in this view"):
        v.drill(99999)
    with pytest.raises(GraphIndexError, match="No community 'abc'"):
        v.drill("abc")
    assert v.find("") is None and v.find(None) is None
    v._on_msg(v, {"event": "drill", "id": "c:bogus"}, None)
    assert "No community" in v.info["status"]
    v._on_msg(v, {"event": "expand", "id": "bogus"}, None)
    assert "No entity 'bogus'" in v.info["status"]


def test_to_html_to_an_unwritable_path(view: GraphView, tmp_path: Path) -> None:
    from lmsnb.errors import GraphIndexError

    (tmp_path / "file").write_text("x")
    with pytest.raises(GraphIndexError, match="Cannot write .*Not a directory"):
        view.to_html(tmp_path / "file" / "graph.html")
    with pytest.raises(GraphIndexError, match="Is a directory"):
        view.to_html(tmp_path)
