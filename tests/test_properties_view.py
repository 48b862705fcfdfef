"""Property-based tests of the graph view: any index a person can build, load or edit is drawn,
exported and pictured without a crash, with the same rules ``idx.validate()`` reports (#17)."""

from __future__ import annotations

import json

from hypothesis import given
from index_strategies import indexes

from lmsnb import GraphView
from lmsnb.graphrag import sanity

#: validate()'s rule -> the words of the graph view's note for the same rows
NOTES = {"open_end": "no source or target", "weight_missing": "no numeric weight",
         "weight_nonpositive": "≤ 0", "weight_infinite": "infinite"}


def _expected(idx):
    """Relationships the view can draw and names only relationships use, by sanity's rules."""
    rels = idx.relationships
    open_end = sanity.blank(rels["source"]) | sanity.blank(rels["target"])
    drawn = rels[~open_end]
    drawn = drawn[~sanity.text(drawn["id"]).duplicated(keep="last").to_numpy()]
    titles = sanity.Titles.of(idx.entities)
    names = {sanity.title_key(n) for n in [*drawn["source"], *drawn["target"]]
             if titles.find(n) < 0}
    return len(drawn), len(names)


@given(case=indexes())
def test_any_index_is_drawn_exported_and_pictured(case):
    idx, _ = case
    view = GraphView(idx)
    graph = json.loads(json.dumps(view.graph, allow_nan=False))  # NaN breaks the browser's JSON
    json.dumps(view.info, allow_nan=False)
    nodes = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in nodes and e["target"] in nodes for e in graph["edges"])
    assert all(e["width"] > 0 for e in graph["edges"])
    edges, mentions = _expected(idx)
    assert len(graph["edges"]) == edges
    entities = len(set(sanity.text(idx.entities["id"])))
    assert len(nodes) == entities + mentions or not entities
    # the view's notes count what validate() counts, by the same rules
    found = idx.findings()
    for rule, phrase in NOTES.items():
        n = found.count("relationships", rule)
        said = [x for x in view.notes if phrase in x]
        assert said == ([] if not n else [said[0]]) and (not n or said[0].startswith(f"{n:,} "))
    page = view.to_html()
    assert page.startswith("<!doctype html>") and "NaN" not in page.split("const STATE", 1)[-1][:200]
    assert view.to_svg().lstrip().startswith("<")
    if hasattr(view, "to_png"):
        assert view.to_png().startswith(b"\x89PNG")
