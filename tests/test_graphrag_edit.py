"""Correcting an index: merge, rename, delete, refresh, and update() with changed documents.

Every edit is checked against the same invariants (``check_consistent``) on Microsoft GraphRAG's
own Christmas Carol output and on fresh builds (the stub LLM's standard method, and the fast one).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import CAROL, DULCE, needs_fixtures
from test_graphrag_build import StubLLM, check_contract

from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex, build_index
from lmsnb.graphrag.index import TABLE_COLUMNS
from lmsnb.graphrag.llm import LocalEmbedder

pytestmark = needs_fixtures


# -- invariants ------------------------------------------------------------------------------


def _l(v) -> list:
    return [] if v is None else list(v)


def check_consistent(idx: GraphIndex, before: GraphIndex | None = None) -> None:
    """What GraphRAG's readers and lmsnb's queries rely on, after any edit."""
    idx.validate()
    e, r, tu, c = idx.entities, idx.relationships, idx.text_units, idx.communities
    for df in (e, r, tu, c, idx.community_reports, idx.documents):
        assert df["id"].is_unique and df["human_readable_id"].is_unique
        assert str(df["human_readable_id"].dtype) == "int64"
    ent_ids, rel_ids, unit_ids = set(e["id"]), set(r["id"]), set(tu["id"])
    # degrees: distinct neighbours, as GraphRAG computes them
    deg: Counter = Counter()
    for s, t in {tuple(sorted(p)) for p in zip(r["source"], r["target"], strict=True)}:
        deg[s] += 1
        deg[t] += 1
    assert list(e["degree"]) == [deg.get(t, 0) for t in e["title"]]
    assert list(r["combined_degree"]) == [deg[s] + deg[t] for s, t in
                                          zip(r["source"], r["target"], strict=True)]
    assert list(e["frequency"]) == [len(_l(u)) for u in e["text_unit_ids"]]
    # text units point at what exists, and are exactly the inverse of the entities' units
    inv: dict = {}
    for eid, units in zip(e["id"], e["text_unit_ids"], strict=True):
        assert set(_l(units)) <= unit_ids
        for u in _l(units):
            inv.setdefault(u, set()).add(eid)
    for uid, es, rs in zip(tu["id"], tu["entity_ids"], tu["relationship_ids"], strict=True):
        assert set(_l(es)) == inv.get(uid, set()), uid
        assert set(_l(rs)) <= rel_ids
    assert set(tu["document_id"]) <= set(idx.documents["id"])
    assert {u for us in idx.documents["text_unit_ids"] for u in _l(us)} == unit_ids
    for units in r["text_unit_ids"]:
        assert set(_l(units)) <= unit_ids
    # communities: a partition per level, a consistent hierarchy, GraphRAG's derived columns
    if len(c):
        by_id = c.set_index("community")
        for level, g in c.groupby("level"):
            members = [i for es in g["entity_ids"] for i in _l(es)]
            assert len(members) == len(set(members)), f"level {level} is not a partition"
        units_of = dict(zip(r["id"], r["text_unit_ids"], strict=True))
        for _, row in c.iterrows():
            es = set(_l(row["entity_ids"]))
            assert es <= ent_ids and row["size"] == len(es) > 0
            assert set(_l(row["relationship_ids"])) <= rel_ids
            assert set(_l(row["text_unit_ids"])) == {u for x in _l(row["relationship_ids"])
                                                     for u in _l(units_of[x])}
            for child in _l(row["children"]):
                assert by_id.loc[child, "parent"] == row["community"]
                assert set(_l(by_id.loc[child, "entity_ids"])) <= es
            if row["parent"] != -1:
                assert row["parent"] in by_id.index
    rep = idx.community_reports
    assert sorted(rep["community"]) == sorted(c["community"])
    size = dict(zip(c["community"], c["size"], strict=True))
    assert all(size[k] == s for k, s in zip(rep["community"], rep["size"], strict=True))
    if idx.covariates is not None and len(idx.covariates):
        assert set(idx.covariates["text_unit_id"]) <= unit_ids
        cov_ids = {x for xs in tu["covariate_ids"] for x in _l(xs)}
        assert cov_ids <= set(idx.covariates["id"])
    for name, table in (("entity_description", e), ("text_unit_text", tu),
                        ("community_full_content", rep)):
        if name in idx.embeddings:
            assert set(idx.embeddings[name]["id"]) <= set(table["id"])
    stale = idx.meta.get("stale", {})
    assert set(stale.get("entity_descriptions", {})) <= ent_ids
    assert set(stale.get("relationship_descriptions", {})) <= rel_ids
    assert set(stale.get("community_reports", [])) <= set(c["community"])
    if before is not None:  # dtypes never drift (GraphRAG's readers and our queries rely on them)
        for name, df in before.tables().items():
            assert dict(idx.tables()[name].dtypes.astype(str)) == dict(df.dtypes.astype(str)), name


def pairs(idx: GraphIndex) -> set[frozenset]:
    return {frozenset(p) for p in zip(idx.relationships["source"], idx.relationships["target"],
                                      strict=True)}


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def carol_loaded() -> GraphIndex:
    return GraphIndex.from_parquet(CAROL)


@pytest.fixture
def carol(carol_loaded) -> GraphIndex:
    return carol_loaded.copy()


@pytest.fixture(scope="module")
def dulce_parts() -> list[str]:
    text = DULCE.read_text(encoding="utf-8")
    cut = text.find("\n", len(text) // 2)
    return [text[:cut], text[cut:]]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(scope="module")
def stub_built(dulce_parts, cache) -> GraphIndex:
    docs = pd.DataFrame({"title": ["part1.txt", "part2.txt"], "text": dulce_parts})
    return build_index(docs, llm=StubLLM(), embedding_model=LocalEmbedder(64), cache_dir=cache,
                       progress=False)


@pytest.fixture(scope="module")
def fast_built(dulce_parts) -> GraphIndex:
    docs = pd.DataFrame({"title": ["part1.txt", "part2.txt"], "text": dulce_parts})
    return build_index(docs, method="fast", embedding_model=LocalEmbedder(64), cache_dir=None,
                       progress=False)


# -- merge ---------------------------------------------------------------------------------------


def test_merge_on_graphrags_own_output(carol):
    before = carol.copy()
    e0, r0 = before.entities.set_index("title"), before.relationships
    names = ["SCROOGE", "ebenezer scrooge", "MR. SCROOGE"]
    ids = [e0.loc[n.upper(), "id"] for n in names]
    edit = carol.merge_entities(names, into="EBENEZER SCROOGE")
    check_consistent(carol, before)
    e = carol.entities.set_index("title")
    assert "SCROOGE" not in e.index and "MR. SCROOGE" not in e.index
    assert e.loc["EBENEZER SCROOGE", "id"] == ids[1]  # the entity named in into= keeps its id
    assert sorted(edit.removed_entities) == sorted([ids[0], ids[2]])
    # no self-loop from the merge; the old SCROOGE—EBENEZER SCROOGE edge is gone
    assert not (carol.relationships["source"] == carol.relationships["target"]).any()
    # parallel edges combined: weights summed, text units united, one row
    old = r0[r0["source"].isin(["SCROOGE", "EBENEZER SCROOGE", "MR. SCROOGE"])
             & (r0["target"] == "JACOB MARLEY")
             | r0["target"].isin(["SCROOGE", "EBENEZER SCROOGE", "MR. SCROOGE"])
             & (r0["source"] == "JACOB MARLEY")]
    assert len(old) >= 2
    new = carol.relationships[[{s, t} == {"EBENEZER SCROOGE", "JACOB MARLEY"} for s, t in
                               zip(carol.relationships["source"], carol.relationships["target"],
                                   strict=True)]]
    assert len(new) == 1
    assert new["weight"].iloc[0] == pytest.approx(old["weight"].sum())
    assert set(new["text_unit_ids"].iloc[0]) == {u for us in old["text_unit_ids"] for u in us}
    assert new["human_readable_id"].iloc[0] in set(old["human_readable_id"])
    # the survivor has every text unit and every neighbour of the three
    units = {u for n in names for u in e0.loc[n.upper(), "text_unit_ids"]}
    assert set(e.loc["EBENEZER SCROOGE", "text_unit_ids"]) == units
    # untouched rows keep their human_readable_id (reports and answers cite them)
    keep = before.entities[~before.entities["id"].isin(ids)]
    assert list(carol.entities.set_index("id").loc[keep["id"], "human_readable_id"]) == \
        list(keep["human_readable_id"])
    # claims follow the new title
    assert "SCROOGE" not in set(carol.covariates["subject_id"])
    # stale: the joined description, reports of communities that changed; nothing else
    stale = carol.meta["stale"]
    assert stale["entity_descriptions"][ids[1]]  # descriptions to summarise
    assert "\n" in e.loc["EBENEZER SCROOGE", "description"]
    changed = {c for c, es in zip(carol.communities["community"], carol.communities["entity_ids"],
                                  strict=True) if ids[1] in set(es)}
    assert changed <= set(stale["community_reports"])
    assert len(stale["community_reports"]) < len(carol.communities)
    assert carol.meta["aliases"]["EBENEZER SCROOGE"] == ["SCROOGE", "MR. SCROOGE"]
    assert carol.meta["edits"][-1]["op"] == "merge"
    assert "Merged" in repr(edit) and "idx.refresh()" in repr(edit)


def test_merge_keeps_one_place_in_the_hierarchy(carol):
    com = carol.communities
    a, b = "BOB CRATCHIT", "FEZZIWIG"  # in different communities at level 0
    ids = carol.entities.set_index("title")["id"]
    where = {t: set(com.loc[[ids[t] in set(es) for es in com["entity_ids"]], "community"])
             for t in (a, b)}
    assert where[a] != where[b]
    carol.merge_entities([a, b], into=a)
    check_consistent(carol)
    now = set(carol.communities.loc[[ids[a] in set(es) for es in carol.communities["entity_ids"]],
                                    "community"])
    assert now == where[a]


def test_names_are_found_case_insensitively_and_unknown_ones_get_one_line(carol):
    with pytest.raises(GraphIndexError) as err:
        carol.merge_entities(["scrooge", "MARLY", "Tiny Tin"])
    msg = str(err.value)
    assert "'MARLY' (did you mean 'MARLEY'?)" in msg and "'Tiny Tin' (did you mean 'TINY TIM'?)" in msg
    assert len(msg.splitlines()) == 1
    before = carol.entities
    with pytest.raises(GraphIndexError, match="at least two entities"):
        carol.merge_entities(["SCROOGE"])
    with pytest.raises(GraphIndexError, match="No entities given"):
        carol.delete_entities([])
    with pytest.raises(GraphIndexError, match="No documents named 'nope.txt', 'x'"):
        carol.delete_documents(["nope.txt", "x"])
    assert carol.entities is before  # a refused edit changes nothing
    carol.merge_entities(["SCROOGE", "MR. SCROOGE"], into="Scrooge")
    assert "SCROOGE" in set(carol.entities["title"])  # into= matched the existing title
    with pytest.raises(GraphIndexError, match=r"'MR. SCROOGE' \(merged into 'SCROOGE'\)"):
        carol.delete_entities(["MR. SCROOGE"])


def test_merge_of_a_fresh_build_refreshes_with_counted_calls(stub_built, cache):
    idx = stub_built.copy()
    before = idx.copy()
    ent = idx.entities.sort_values("degree", ascending=False)
    a, b = ent["title"].iloc[0], ent["title"].iloc[1]
    edit = idx.merge_entities([a, b])
    check_consistent(idx, before)
    check_contract(idx)
    stale = idx.meta["stale"]
    kid = idx.entities.set_index("title").loc[a, "id"]
    assert stale["embeddings"]["entity_description"] == [kid]
    n_reports = len(stale["community_reports"])
    assert n_reports >= 1 and edit.stale["community reports"] == n_reports
    untouched = idx.community_reports[~idx.community_reports["community"].isin(
        stale["community_reports"])]
    llm = StubLLM()
    done = idx.refresh(llm=llm, cache_dir=cache, progress=False)
    assert idx.stale == {} and "stale" not in idx.meta
    assert done.reports == n_reports
    stats = done.stats.set_index("stage")
    assert stats.loc["community_reports", "calls"] == n_reports  # only the stale reports
    assert llm.calls == done.calls - int(stats.loc["embeddings", "calls"]) - \
        int(stats.loc["community_reports", "cached_calls"]) - \
        (int(stats.loc["summarize_descriptions", "cached_calls"])
         if "summarize_descriptions" in stats.index else 0)
    assert done.embeddings >= 1 + n_reports  # the merged entity and the rewritten reports
    after = idx.community_reports.set_index("id").loc[untouched["id"], "full_content"]
    assert list(after) == list(untouched["full_content"])  # the others are left alone
    check_consistent(idx, before)
    # the rewritten reports and the merged entity were re-embedded; nothing else
    old = before.embeddings["text_unit_text"]
    assert all(np.array_equal(x, y) for x, y in zip(old["embedding"],
                                                    idx.embeddings["text_unit_text"]["embedding"],
                                                    strict=True))
    # the same edit again on a copy: the LLM cache answers every call
    again = before.copy()
    again.merge_entities([a, b])
    llm2 = StubLLM()
    done2 = again.refresh(llm=llm2, cache_dir=cache, progress=False)
    assert llm2.calls == 0 and done2.calls == done2.cached_calls


def test_fast_refresh_needs_no_llm_and_uses_the_aliases(fast_built):
    idx = fast_built.copy()
    titles = set(idx.entities["title"])
    people = [t for t in ("ALEX MERCER", "TAYLOR CRUZ", "JORDAN HAYES", "SAM RIVERA") if t in titles]
    assert len(people) >= 2
    idx.merge_entities(people[:2], into="THE TWO")
    check_consistent(idx, fast_built)
    done = idx.refresh(progress=False)  # the fast index has no LLM: extractive throughout
    stats = done.stats.set_index("stage")
    assert done.reports >= 1 and stats.loc["community_reports", "calls"] == 0
    assert done.calls == stats.loc["embeddings", "calls"]  # embeddings are the only calls
    desc = idx.entities.set_index("title").loc["THE TWO", "description"]
    first = people[0].split()[0].title()
    assert first in desc  # found through the aliases, though no sentence says "THE TWO"
    assert idx.stale == {}


# -- rename and delete -----------------------------------------------------------------------------


def test_rename_follows_everywhere_and_refuses_a_taken_title(stub_built):
    idx = stub_built.copy()
    old = idx.entities.sort_values("degree", ascending=False)["title"].iloc[0]
    other = idx.entities.sort_values("degree", ascending=False)["title"].iloc[1]
    with pytest.raises(GraphIndexError, match=rf"already an entity called '{other}'.*merge_entities"):
        idx.rename_entity(old, other.lower())
    eid = idx.entities.set_index("title").loc[old, "id"]
    idx.rename_entity(old, "The Boss")
    check_consistent(idx, stub_built)
    assert old not in set(idx.relationships["source"]) | set(idx.relationships["target"])
    assert "The Boss" in set(idx.relationships["source"]) | set(idx.relationships["target"])
    assert idx.meta["stale"]["embeddings"]["entity_description"] == [eid]
    assert idx.meta["aliases"]["The Boss"] == [old]


def test_delete_entities_on_graphrags_output(carol):
    before = carol.copy()
    gone = carol.entities.set_index("title")["id"]["PROJECT GUTENBERG"]
    edit = carol.delete_entities(["PROJECT GUTENBERG", "THE DEAD MAN"])
    check_consistent(carol, before)
    assert not any("PROJECT GUTENBERG" in p for p in pairs(carol))
    assert gone in edit.removed_entities and len(edit.removed_relationships) >= 28
    assert not any(gone in set(es) for es in carol.text_units["entity_ids"])
    assert "PROJECT GUTENBERG" not in set(carol.covariates["subject_id"])


def test_delete_documents_removes_what_only_they_supported(stub_built, cache):
    idx = stub_built.copy()
    doc1, doc2 = idx.documents["id"]
    units2 = set(idx.documents["text_unit_ids"].iloc[1])
    only2 = [t for t, us in zip(idx.entities["title"], idx.entities["text_unit_ids"], strict=True)
             if set(us) <= units2]
    both = [t for t, us in zip(idx.entities["title"], idx.entities["text_unit_ids"], strict=True)
            if set(us) & units2 and set(us) - units2]
    assert only2 and both
    idx.delete_documents(["part2.txt"])
    check_consistent(idx, stub_built)
    assert list(idx.documents["id"]) == [doc1]
    assert not set(idx.text_units["id"]) & units2
    assert not set(only2) & set(idx.entities["title"])
    assert set(both) <= set(idx.entities["title"])
    stale = idx.meta["stale"]
    kept = idx.entities.set_index("title").loc[both, "id"]
    assert all(stale["entity_descriptions"][i] == [] for i in kept)  # re-derive from sources
    assert not set(idx.embeddings["text_unit_text"]["id"]) & units2
    # refresh re-derives those descriptions from the build's own (cached) extraction calls
    llm = StubLLM()
    done = idx.refresh(llm=llm, cache_dir=cache, progress=False)
    stats = done.stats.set_index("stage")
    assert stats.loc["extract_graph", "calls"] == stats.loc["extract_graph", "cached_calls"] > 0
    assert idx.stale == {}
    check_consistent(idx, stub_built)


def test_a_document_shared_unit_moves_to_the_document_that_stays():
    shared = "Alice Smith met Bob Jones in Paris. " * 3
    docs = pd.DataFrame({"title": ["a", "b"], "text": [shared, shared + " Carol King came too."]})
    idx = build_index(docs, method="fast", embedding_model=False, cache_dir=None, progress=False,
                      chunk_size=30, chunk_overlap=0)
    idx.delete_documents(["a"])
    check_consistent(idx)
    assert set(idx.text_units["document_id"]) == set(idx.documents["id"])


# -- saving an edited index -------------------------------------------------------------------------


def test_an_edited_index_keeps_graphrags_schema_and_round_trips(carol, tmp_path):
    carol.merge_entities(["SCROOGE", "EBENEZER SCROOGE", "MR. SCROOGE"], into="EBENEZER SCROOGE")
    carol.rename_entity("BOB CRATCHIT", "BOB")
    carol.delete_entities(["PROJECT GUTENBERG"])
    carol.to_parquet(tmp_path)
    again = GraphIndex.from_parquet(tmp_path)
    for name, df in carol.tables().items():
        assert list(df.columns) == TABLE_COLUMNS[name]
        out = again.tables()[name]
        assert dict(out.dtypes.astype(str)) == dict(df.dtypes.astype(str)), name
        assert pq.read_schema(tmp_path / f"{name}.parquet").equals(
            pq.read_schema(CAROL / f"{name}.parquet"), check_metadata=False), name
        assert len(out) == len(df)
    pd.testing.assert_frame_equal(again.entities[["id", "title", "degree", "frequency"]],
                                  carol.entities[["id", "title", "degree", "frequency"]])
    assert again.meta["stale"] == carol.meta["stale"]
    assert again.meta["aliases"] == carol.meta["aliases"]
    assert [e["op"] for e in again.meta["edits"]] == ["merge", "rename", "delete_entities"]
    check_consistent(again)


# -- update(): changed and removed documents ---------------------------------------------------------


def test_update_replaces_a_changed_document_and_removes_a_missing_one(stub_built, dulce_parts,
                                                                      cache):
    p1, p2 = dulce_parts
    edited = p2.replace("Alex Mercer", "Alexandra Mercer", 3)
    assert edited != p2
    llm = StubLLM()
    new = stub_built.update(pd.DataFrame({"title": ["part1.txt", "part2.txt"],
                                          "text": [p1, edited]}),
                            llm=llm, embedding_model=LocalEmbedder(64), cache_dir=cache,
                            progress=False)
    check_contract(new)
    check_consistent(new)
    assert list(new.documents["title"]) == ["part1.txt", "part2.txt"]
    old_units = set(stub_built.documents["text_unit_ids"].iloc[1])
    new_units = set(new.documents["text_unit_ids"].iloc[1])
    assert new_units != old_units and set(new.text_units["id"]) >= new_units
    assert not (old_units - new_units) & set(new.text_units["id"])
    stats = new.stats.set_index("stage")
    changed = len(new_units - old_units)
    assert stats.loc["extract_graph", "calls"] - stats.loc["extract_graph", "cached_calls"] \
        == changed  # only the changed chunks cost an extraction
    assert "ALEXANDRA MERCER" in " ".join(new.entities["title"]) or llm.calls
    # removed: remove_missing=True makes the list the corpus
    gone = new.update(pd.DataFrame({"title": ["part1.txt"], "text": [p1]}), remove_missing=True,
                      llm=StubLLM(), embedding_model=LocalEmbedder(64), cache_dir=cache,
                      progress=False)
    check_contract(gone)
    assert list(gone.documents["title"]) == ["part1.txt"]
    assert set(gone.text_units["id"]) == set(stub_built.documents["text_unit_ids"].iloc[0])


def test_update_keeps_your_merges_and_follows_the_folder(dulce_parts, tmp_path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "part1.txt").write_text(dulce_parts[0], encoding="utf-8")
    (folder / "part2.txt").write_text(dulce_parts[1], encoding="utf-8")
    idx = build_index(folder, method="fast", embedding_model=LocalEmbedder(32), cache_dir=None,
                      progress=False)
    titles = set(idx.entities["title"])
    a, b = [t for t in ("TAYLOR CRUZ", "JORDAN HAYES", "SAM RIVERA") if t in titles][:2]
    idx.merge_entities([a, b], into="THE PAIR")
    (folder / "part3.txt").write_text(f"Later, {a.title()} met {b.title()} again at the gate.",
                                      encoding="utf-8")
    new = idx.update(folder, cache_dir=None)
    assert "documents: 1 added, 0 changed, 0 removed, 2 unchanged" in capsys.readouterr().out
    check_consistent(new)
    assert "THE PAIR" in set(new.entities["title"])
    assert not {a, b} & set(new.entities["title"])  # the new text's mentions joined it
    assert new.stale == {}
    assert new.meta["edits"] == idx.meta["edits"]
    # the folder is the corpus: an edited file is changed, a deleted one leaves the index
    (folder / "part3.txt").unlink()
    (folder / "part2.txt").write_text(dulce_parts[1].replace("Dulce", "Dulce Base", 5),
                                      encoding="utf-8")
    newer = new.update(folder, cache_dir=None)
    assert "documents: 0 added, 1 changed, 1 removed, 1 unchanged" in capsys.readouterr().out
    check_consistent(newer)
    assert list(newer.documents["title"]) == ["part1.txt", "part2.txt"]
    assert newer.documents["id"].iloc[1] != new.documents["id"].iloc[1]
    assert "THE PAIR" in set(newer.entities["title"])
    # a folder read with other patterns: files that are still there stay
    same = newer.update(folder, include="*.md", cache_dir=None, progress=False)
    assert len(same.documents) == 2


# -- every edit, on every kind of index: consistent, saved in GraphRAG's schema, loaded back ----------


def _top(idx: GraphIndex, n: int) -> list[str]:
    ent = idx.entities.sort_values(["degree", "frequency"], ascending=False)
    return [str(t) for t in ent["title"].head(n)]


EDITS = {
    "merge": lambda idx: idx.merge_entities(_top(idx, 3)[1:], into=_top(idx, 3)[1]),
    "merge into a new title": lambda idx: idx.merge_entities(_top(idx, 2), into="Someone New"),
    "rename": lambda idx: idx.rename_entity(_top(idx, 1)[0], "Renamed"),
    "delete entities": lambda idx: idx.delete_entities(_top(idx, 2)),
    "delete a document": lambda idx: idx.delete_documents([idx.documents["title"].iloc[-1]]),
}


@pytest.fixture(params=["graphrag", "stub", "fast"])
def any_index(request, carol_loaded, stub_built, fast_built) -> GraphIndex:
    return {"graphrag": carol_loaded, "stub": stub_built, "fast": fast_built}[request.param]


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_edit_keeps_the_tables_consistent_and_graphrags_schema(any_index, edit, tmp_path):
    idx = any_index.copy()
    if edit == "delete a document" and len(idx.documents) < 2:
        idx.delete_documents([idx.documents["id"].iloc[0]])  # the fixture's only document
        assert len(idx.entities) == len(idx.relationships) == len(idx.communities) == 0
    else:
        EDITS[edit](idx)
    check_consistent(idx, any_index)
    idx.to_parquet(tmp_path)
    for name in any_index.tables():  # lmsnb's own builds add columns (documents.source)
        want = pq.read_schema(CAROL / f"{name}.parquet")
        got = pq.read_schema(tmp_path / f"{name}.parquet")
        for f in want:  # every GraphRAG column, with GraphRAG's type
            if f.name != "raw_data":
                assert got.field(f.name).type == f.type, (name, f.name)
    back = GraphIndex.from_parquet(tmp_path)
    check_consistent(back)
    for name, df in idx.tables().items():
        assert list(back.tables()[name]["id"]) == list(df["id"]), name
    assert back.meta.get("stale") == idx.meta.get("stale")
    assert back.meta.get("edits") == idx.meta.get("edits")


def test_refresh_of_graphrags_own_output_pays_only_for_stale_reports(carol, tmp_path):
    carol.merge_entities(["SCROOGE", "EBENEZER SCROOGE", "MR. SCROOGE"], into="EBENEZER SCROOGE")
    stale = carol.meta["stale"]
    n_reports = len(stale["community_reports"])
    before = carol.community_reports.set_index("community")["full_content"]
    llm = StubLLM()
    done = carol.refresh(llm=llm, cache_dir=tmp_path, progress=False)
    stats = done.stats.set_index("stage")
    assert stats.loc["community_reports", "calls"] == n_reports == done.reports
    # GraphRAG's descriptions are short: joined where the build would not summarise
    assert llm.calls == n_reports + stats.loc["summarize_descriptions", "calls"]
    after = carol.community_reports.set_index("community")["full_content"]
    changed = {c for c in after.index if after[c] != before[c]}
    assert changed == set(stale["community_reports"])
    assert carol.stale == {}
    check_consistent(carol)


def test_changed_and_removed_documents_are_found_by_file_then_title(carol, tmp_path):
    from lmsnb.graphrag.edit import document_changes
    from lmsnb.graphrag.inputs import load_documents

    text = carol.documents["text"].iloc[0]
    (tmp_path / "a-christmas-carol.txt").write_text(text.replace("Scrooge", "Scrooge!", 1),
                                                    encoding="utf-8")
    (tmp_path / "new.txt").write_text("Fred married Belle's daughter.", encoding="utf-8")
    new, _ = load_documents(tmp_path)
    ch = document_changes(carol, new, removable=set())  # GraphRAG wrote no sources: the title
    # names the file
    assert ch.replaced == list(carol.documents["id"]) and len(ch.changed) == 1
    assert list(ch.added["title"]) == ["new.txt"] and ch.removed == []
    # plain strings name nothing: an edited string is a new document, the old one stays
    idx = build_index(["Alice Smith met Bob Jones.", "Carol King sang."], method="fast",
                      embedding_model=False, cache_dir=None, progress=False)
    new, _ = load_documents(["Alice Smith met Bob Jones again.", "Carol King sang."])
    ch = document_changes(idx, new, removable=set())
    assert len(ch.added) == 1 and not len(ch.changed) and ch.kept_missing == 1
    assert document_changes(idx, new, removable=None).removed == [idx.documents["id"].iloc[0]]
