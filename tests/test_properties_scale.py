"""A big odd index (tens of thousands of rows) through every consumer, in bounded time (#17).

Not a Hypothesis test: one large example, built once, with the oddities of the small ones at
scale. Speed targets live in ``benchmarks/``; here the bound is the test timeout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_query_methods import StubChat

from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.index import TABLE_COLUMNS
from lmsnb.graphrag.llm import LocalEmbedder
from lmsnb.graphview import synthetic_index

N = 20_000
EMB = LocalEmbedder(32)


@pytest.fixture(scope="module")
def big() -> tuple[GraphIndex, dict[str, int]]:
    """20k entities, ~40k relationships, with odd weights, names, numbers and lists."""
    rng = np.random.default_rng(17)
    s = synthetic_index(N, seed=17)
    ents, rels, comms = s.entities.copy(), s.relationships.copy(), s.communities.copy()
    planted = {}
    w = rels["weight"].to_numpy().copy()
    odd = rng.choice(len(w), 400, replace=False)
    w[odd[:100]], w[odd[100:200]], w[odd[200:300]], w[odd[300:]] = -0.5, 0.0, np.nan, np.inf
    rels["weight"] = w
    planted.update(weight_nonpositive=200, weight_missing=100, weight_infinite=100)
    ghosts = rng.choice(len(rels), 84, replace=False)
    rels.loc[ghosts, "target"] = [f"NOT AN ENTITY {k}" for k in range(84)]
    planted["unknown_endpoint"] = 84
    ents["human_readable_id"] = ents["human_readable_id"].astype(float)
    ents.loc[rng.choice(N, 50, replace=False), "human_readable_id"] = np.nan
    planted["no_short_id"] = 50
    ents["text_unit_ids"] = [np.array([], dtype=object) if k % 3 else None
                             for k in range(len(ents))]
    odd_titles = ["北京", "ZOË", "", "   ", "X" * 5000, "ZOË", "A|B", "nan", "None", "e\u0301cole"]
    extra = ents.iloc[:10].assign(id=[f"odd{k}" for k in range(10)], title=odd_titles)
    ents = pd.concat([ents, extra], ignore_index=True)  # people's own additions, unlinked
    rels["combined_degree"] = rels["combined_degree"].astype(str)
    texts = pd.DataFrame({c: pd.Series([], dtype=object) for c in TABLE_COLUMNS["text_units"]})
    reps = pd.DataFrame({
        "id": [f"r{c}" for c in comms["community"]], "human_readable_id": comms["community"],
        "community": comms["community"], "level": 0, "parent": -1,
        "children": [[] for _ in range(len(comms))], "title": comms["title"],
        "summary": "A synthetic community.", "full_content": "A synthetic community of names.",
        "rank": rng.uniform(0, 10, len(comms)), "rating_explanation": "",
        "findings": [[] for _ in range(len(comms))], "full_content_json": "{}", "period": "",
        "size": comms["size"]})
    vectors = rng.normal(size=(len(ents), EMB.dimension)).astype(np.float32)
    idx = GraphIndex(entities=ents[TABLE_COLUMNS["entities"]], relationships=rels,
                     communities=comms, community_reports=reps, text_units=texts,
                     embeddings={"entity_description": pd.DataFrame(
                         {"id": ents["id"], "embedding": list(vectors)})},
                     embedding_model=EMB.key, embedding_dim=EMB.dimension)
    return idx, planted


@pytest.mark.timeout(240)
def test_a_big_odd_index_validates_saves_displays_and_answers(big, tmp_path, capsys):
    from lmsnb import GraphView

    idx, planted = big
    idx.validate()
    found = idx.findings()
    for rule in ("weight_nonpositive", "weight_missing", "weight_infinite", "unknown_endpoint"):
        assert found.count("relationships", rule) == planted[rule], rule
    assert found.count("entities", "no_short_id") == planted["no_short_id"]
    assert "84 relationships name entities not in the entities table" in capsys.readouterr().out

    idx.to_parquet(tmp_path)
    again = GraphIndex.from_parquet(tmp_path)
    assert len(again.entities) == N + 10 and len(again.relationships) == len(idx.relationships)
    assert again.findings().frame()[["table", "rule", "rows"]].equals(
        found.frame()[["table", "rule", "rows"]])

    view = GraphView(idx, max_nodes=2000)
    assert view.info["mode"] == "communities"  # above the budget: communities, drillable
    assert "200 relationship weights are ≤ 0 (drawn thinnest)" in view.notes
    view.to_html()
    assert view.to_png().startswith(b"\x89PNG")

    for method in ("local", "global"):
        res = idx.query("Who is ENTITY 12?", method=method, chat=StubChat(), embedder=EMB,
                        progress=False, max_context_tokens=4000)
        assert res.answer
    assert "queries skip or adjust odd rows" in capsys.readouterr().err
