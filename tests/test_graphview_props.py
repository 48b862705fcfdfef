"""Property-based: any index a person can build, load or edit by hand must display.

Hypothesis generates GraphRAG-shaped tables with the oddities people's indexes have (issue
#17): weights <= 0, NaN, infinite or not numbers; relationships naming entities that are not in
the table (or nothing at all); entities without relationships; duplicate, empty, non-ASCII and
very long titles; duplicate ids; numbers stored as strings; communities with stray ids, missing
levels and unknown members; reports for communities that do not exist. The view must build,
draw (JSON without NaN), answer clicks and searches, and make its pictures. A fixed number of
examples, derandomised unless ``LMSNB_HYPOTHESIS`` asks otherwise (``hypothesis_profiles.py``).
"""

from __future__ import annotations

import io
import json
import math
import types
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsnb.graphview import GraphView, LiveGraph

PROPS = settings()  # the profile's (tests/hypothesis_profiles.py): derandomised unless asked

TITLES = st.one_of(
    st.sampled_from(["SCROOGE", "Scrooge", "MARLEY", "BOB CRATCHIT", "TINY TIM", "", "  ",
                     "ÉBÈNE ZÜRICH", "北京", "A" * 400, "42", "nan", "None", "a/b\\c <b>&amp;",
                     "</script>", "'; DROP TABLE"]),
    st.text(min_size=0, max_size=30))
WEIGHTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.00034, -5.0, 1e-300, 1e308, "3.5", "heavy", None]))
DEGREES = st.one_of(st.integers(-3, 50), st.sampled_from([None, float("nan"), "7", "x", 1e9]))


@st.composite
def indexes(draw: st.DrawFn) -> types.SimpleNamespace:
    n = draw(st.integers(0, 25))
    titles = [draw(TITLES) for _ in range(n)]
    ids = [draw(st.sampled_from([f"e{k}", f"e{k}", "dup", None])) for k in range(n)]
    entities = pd.DataFrame({
        "id": ids, "human_readable_id": list(range(n)), "title": titles,
        "type": [draw(st.sampled_from(["PERSON", "GEO", "", None])) for _ in range(n)],
        "description": [draw(st.sampled_from(["", None, "d", "x" * 3000])) for _ in range(n)],
        "degree": [draw(DEGREES) for _ in range(n)],
        "text_unit_ids": [draw(st.sampled_from([None, [], ["t1"], "t1"])) for _ in range(n)],
    })
    ends = titles + ["GHOST NAME", "", None, "scrooge"]
    m = draw(st.integers(0, 40))
    relationships = pd.DataFrame({
        "id": [draw(st.sampled_from([f"r{k}", f"r{k}", "rdup"])) for k in range(m)],
        "human_readable_id": list(range(m)),
        "source": [draw(st.sampled_from(ends)) for _ in range(m)],
        "target": [draw(st.sampled_from(ends)) for _ in range(m)],
        "weight": [draw(WEIGHTS) for _ in range(m)],
        "description": [draw(st.sampled_from(["", None, "rel"])) for _ in range(m)],
    })
    if draw(st.booleans()):
        entities = entities.drop(columns=draw(st.sets(st.sampled_from(
            ["id", "type", "description", "degree", "text_unit_ids"]))))
    idx = types.SimpleNamespace(entities=entities, relationships=relationships,
                                communities=None, community_reports=None, text_units=None)
    if draw(st.booleans()):
        k = draw(st.integers(1, 6))
        member_pool = [i for i in ids if i is not None] + ["unknown-id"]
        idx.communities = pd.DataFrame({
            "id": [f"c{c}" for c in range(k)],
            "community": [draw(st.sampled_from([c, c, str(c), float(c), None, "x"]))
                          for c in range(k)],
            "level": [draw(st.sampled_from([0, 0, 1, "1", None])) for _ in range(k)],
            "parent": [draw(st.sampled_from([-1, 0, None, "0"])) for _ in range(k)],
            "children": [draw(st.sampled_from([[], [1], None, [99], ["x"]])) for _ in range(k)],
            "title": [draw(st.sampled_from(["Community", "", None, "Ü" * 200])) for _ in range(k)],
            "entity_ids": [draw(st.lists(st.sampled_from(member_pool), max_size=8))
                           if member_pool else [] for _ in range(k)],
        })
        if draw(st.booleans()):
            idx.community_reports = pd.DataFrame({
                "community": [draw(st.sampled_from([0, 1, 2, 99, None])) for _ in range(k)],
                "title": [draw(st.sampled_from(["Report", "", None])) for _ in range(k)],
                "summary": [draw(st.sampled_from(["s", None])) for _ in range(k)],
                "rank": [draw(st.sampled_from([1.0, float("nan"), "high"])) for _ in range(k)],
            })
    return idx


def _check_drawn(v: GraphView) -> None:
    text = json.dumps({"graph": v.graph, "info": v.info, "hl": v.highlighted}, allow_nan=False)
    assert "NaN" not in text
    ids = {n["id"] for n in v.graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in v.graph["edges"])
    for n in v.graph["nodes"]:
        assert all(math.isfinite(n[k]) for k in ("x", "y", "size"))
    for e in v.graph["edges"]:
        assert math.isfinite(e["width"]) and e["width"] > 0


@PROPS
@given(indexes(), st.integers(1, 30))
def test_any_index_displays(idx, max_nodes) -> None:
    from PIL import Image

    v = GraphView(idx, max_nodes=max_nodes)
    _check_drawn(v)
    assert len(v.notes) == len(set(v.notes))  # each oddity said once
    Image.open(io.BytesIO(v.to_png())).verify()
    ET.fromstring(v.to_svg())  # well-formed, whatever the titles hold
    page = v.to_html()
    assert page.count("</script>") == 1
    v.send = lambda *a, **k: None  # type: ignore[method-assign]
    for node in v.graph["nodes"][:5]:
        v.selected = node["id"]
        json.dumps(v.details, allow_nan=False)
        if node["kind"] == "community":
            v.drill(node["id"])
            _check_drawn(v)
            v.back()
    titles = [str(t) for t in idx.entities["title"].dropna()][:3]
    v.highlight(titles)
    _check_drawn(v)
    for t in titles:
        v.find(t)
    json.dumps(v.info, allow_nan=False)


@settings(PROPS, max_examples=20)
@given(st.lists(indexes(), min_size=1, max_size=4))
def test_a_live_graph_takes_any_batches(batches) -> None:
    live = LiveGraph(interval=0)
    for idx in batches:
        live.add(idx.entities, idx.relationships)
        _check_drawn(live.view)
    live.finish(batches[-1])
    _check_drawn(live.view)


# -- what the property tests (and issue #17) found, kept as plain regression tests ----------

def test_slightly_negative_pmi_weight_does_not_crash_the_layout() -> None:
    """Issue #17: ``ValueError: cannot convert float NaN to integer`` from a -0.00034 weight
    (the fast method's PMI) whose square root the layout took."""
    ent = pd.DataFrame({"title": ["SCROOGE", "MARLEY", "FRED", "BELLE"]})
    rel = pd.DataFrame({"source": ["SCROOGE", "MARLEY", "FRED"],
                        "target": ["MARLEY", "FRED", "BELLE"],
                        "weight": [-0.00034, 2.0, float("nan")]})
    v = GraphView(types.SimpleNamespace(entities=ent, relationships=rel))
    _check_drawn(v)
    widths = {e["source"]: e["width"] for e in v.graph["edges"]}
    assert widths["SCROOGE"] == min(widths.values())  # drawn thinnest
    assert v.notes == ["1 relationship has no numeric weight (drawn as 1)",
                       "1 relationship weight is ≤ 0 (drawn thinnest)"]
    v.selected = v.graph["edges"][0]["id"]
    assert v.details["badges"] == ["weight -0.00034"]  # the index's own value, shown as is


@pytest.mark.parametrize("case", ["empty", "one", "isolated", "all_infinite"])
def test_degenerate_indexes(case: str) -> None:
    ent = {"empty": [], "one": ["SOLO"], "isolated": ["A", "B", "C"],
           "all_infinite": ["A", "B"]}[case]
    rel = pd.DataFrame({"source": ["A"], "target": ["B"], "weight": [math.inf]}) \
        if case == "all_infinite" else None
    v = GraphView(types.SimpleNamespace(entities=pd.DataFrame({"title": ent}),
                                        relationships=rel))
    _check_drawn(v)
    assert len(v.graph["nodes"]) == len(ent)
    assert v.to_png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_extreme_weights_among_unclustered_nodes() -> None:
    """Found: Leiden (grouping nodes without a community for the layout) panicked in Rust on
    weights like 1e308 next to 1e-300."""
    names = [f"N{k}" for k in range(8)]
    rel = pd.DataFrame({"source": names[:-1], "target": names[1:],
                        "weight": [1e308, 1e-300, 1e308, 5.0, 1e-300, 1e308, 2.0]})
    v = GraphView(types.SimpleNamespace(entities=pd.DataFrame({"title": names}),
                                        relationships=rel))
    _check_drawn(v)
    assert len(v.graph["nodes"]) == 8


def test_huge_weights_between_communities_sum_to_a_finite_overview() -> None:
    """Found: the community overview sums the weights between two communities; two 1e308
    weights summed to inf and the view's JSON could not be sent."""
    names = ["A", "B", "C", "D"]
    rel = pd.DataFrame({"source": ["A", "B", "A"], "target": ["C", "D", "D"],
                        "weight": [1e308, 1e308, 1e308]})
    comm = pd.DataFrame({"id": ["c0", "c1"], "community": [0, 1], "level": [0, 0],
                         "parent": [-1, -1], "children": [[], []], "title": ["X", "Y"],
                         "entity_ids": [["A", "B"], ["C", "D"]]})
    ents = pd.DataFrame({"id": names, "title": names})
    v = GraphView(types.SimpleNamespace(entities=ents, relationships=rel, communities=comm),
                  max_nodes=1)
    _check_drawn(v)
    assert v.info.get("mode") == "communities"


def test_titles_with_control_characters_and_line_breaks() -> None:
    """Found: a title holding NUL or a line break made the SVG invalid XML and Pillow's text
    layout fail; labels are one clean line, the panel keeps the title as it is."""
    from PIL import Image

    titles = ["A\x00B\nC", "\x0b", "TAB\tHERE", "</text><script>"]
    v = GraphView(types.SimpleNamespace(entities=pd.DataFrame({"title": titles}),
                                        relationships=None))
    labels = sorted(n["label"] for n in v.graph["nodes"])
    assert labels == ["</text><script>", "AB C", "TAB HERE"]
    assert v.notes == ["1 entity has neither title nor id (skipped)"]
    ET.fromstring(v.to_svg())
    Image.open(io.BytesIO(v.to_png())).verify()
    v.selected = v.graph["nodes"][0]["id"]
    assert v.details["title"] == "A\x00B\nC"
