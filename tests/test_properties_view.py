"""Property-based tests of the graph view: any index a person can build, load or edit is drawn,
exported and pictured without a crash, with the same rules ``idx.validate()`` reports (#17)."""

from __future__ import annotations

import io
import json
import math
import xml.etree.ElementTree as ET

from hypothesis import event, given
from index_strategies import indexes
from PIL import Image

from lmsnb import GraphView
from lmsnb.graphrag import sanity

#: validate()'s (table, rule) -> words only the graph view's note for the same rows uses; the
#: note starts with the number validate() counts
SAME_COUNT = {("relationships", "open_end"): "no source or target",
              ("relationships", "weight_missing"): "no numeric weight",
              ("relationships", "weight_nonpositive"): "≤ 0",
              ("relationships", "weight_infinite"): "infinite",
              ("entities", "duplicate_id"): "id appears twice",
              ("communities", "no_number"): "community number or level"}
#: rules the view counts in its own unit (names, not rows), said whenever validate() finds any
SAME_PRESENCE = {("relationships", "unknown_endpoint"): "only in relationships"}


def _expected(idx):
    """Relationships the view can draw and names only relationships use, by sanity's rules."""
    drawn = idx.relationships[sanity.used_relationships(idx.relationships)]
    titles = sanity.Titles.of(idx.entities)
    names = {sanity.title_key(n) for n in [*drawn["source"], *drawn["target"]]
             if titles.find(n) < 0}
    return len(drawn), len(names)


def _page_state(page: str) -> dict:
    """The state the exported page boots from (what its cytoscape draws)."""
    start = page.index("const STATE = ") + len("const STATE = ")
    end = page.index(";\nconst model", start)
    return json.loads(page[start:end].replace("<\\/", "</"))


@given(case=indexes())
def test_any_index_is_drawn_exported_and_pictured(case):
    idx, plan = case
    view = GraphView(idx)
    # drawn: JSON the browser can read (NaN is not JSON), every edge between drawn nodes
    graph = json.loads(json.dumps(view.graph, allow_nan=False))
    json.dumps(view.info, allow_nan=False)
    nodes = {n["id"] for n in graph["nodes"]}
    assert all(math.isfinite(n[k]) for n in graph["nodes"] for k in ("x", "y", "size"))
    assert all(e["source"] in nodes and e["target"] in nodes for e in graph["edges"])
    assert all(math.isfinite(e["width"]) and e["width"] > 0 for e in graph["edges"])
    # every relationship in use, every entity (the last row of an id) and every name only
    # relationships use is drawn
    edges, mentions = _expected(idx)
    assert len(graph["edges"]) == edges
    ents = idx.entities
    named = ~(sanity.blank(ents["id"]) & sanity.blank(ents["title"]))
    entities = len(set(sanity.text(ents["id"][named]).str.strip()))  # a blank id is one id
    assert len(nodes) == entities + mentions
    event(f"drawn: {'some' if nodes else 'no'} nodes, {'some' if edges else 'no'} edges")

    # said: the view's notes count what validate() counts, by the same rules, once each
    found = idx.findings()
    assert len(view.notes) == len(set(view.notes))
    for key, words in SAME_COUNT.items():
        n = found.count(*key)
        said = [x for x in view.notes if words in x]
        assert len(said) == (1 if n else 0), (key, n, view.notes)
        assert not n or said[0].startswith(f"{n:,} "), (key, n, said)
    for key, words in SAME_PRESENCE.items():
        assert any(words in x for x in view.notes) == bool(found.count(*key)), (key, view.notes)

    # exported: the page boots from the same graph
    page = view.to_html()
    assert page.startswith("<!doctype html>") and page.count("</script>") == 1
    state = _page_state(page)
    assert state["graph"] == graph

    # pictured: an SVG that parses and a PNG that decodes, whatever the titles hold
    ET.fromstring(view.to_svg())
    png = Image.open(io.BytesIO(view.to_png()))
    png.verify()
    assert png.size[0] > 0 and png.size[1] > 0
