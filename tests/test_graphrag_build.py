"""Building an index in-process: the simulator's graphrag behaviour as the LLM, no server."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
from shared_data import DULCE, needs_fixtures

from lmsnb.errors import ConnectionFailed
from lmsnb.graphrag import GraphIndex, build_index, estimate
from lmsnb.graphrag.index import TABLE_COLUMNS
from lmsnb.graphrag.llm import Completion, LocalEmbedder
from lmsnb.sim.graphrag_stub import respond_messages

pytestmark = needs_fixtures


class StubLLM:
    """In-process chat model answering like the simulator's ``graphrag`` behaviour."""

    key = "stub-llm"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise ConnectionFailed("server dropped (test)")
        self.calls += 1
        return Completion(respond_messages(messages, json_schema))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def check_contract(idx: GraphIndex) -> None:
    idx.validate()
    for name, df in idx.tables().items():
        assert list(df.columns)[: len(TABLE_COLUMNS[name])] == TABLE_COLUMNS[name], name
    ent_ids, rel_ids = set(idx.entities["id"]), set(idx.relationships["id"])
    unit_ids, doc_ids = set(idx.text_units["id"]), set(idx.documents["id"])
    titles = set(idx.entities["title"])
    assert set(idx.relationships["source"]) <= titles and set(idx.relationships["target"]) <= titles
    assert set(idx.text_units["document_id"]) <= doc_ids
    assert {u for us in idx.documents["text_unit_ids"] for u in us} == unit_ids
    assert {u for us in idx.entities["text_unit_ids"] for u in us} <= unit_ids
    assert {e for es in idx.text_units["entity_ids"] for e in es} <= ent_ids
    assert {r for rs in idx.text_units["relationship_ids"] for r in rs} <= rel_ids
    com = idx.communities
    assert len(com) > 0 and com["community"].is_unique
    for _, c in com.iterrows():
        assert set(c["entity_ids"]) <= ent_ids and set(c["relationship_ids"]) <= rel_ids
        assert c["size"] == len(c["entity_ids"])
        for child in c["children"]:
            assert com.loc[com["community"] == child, "parent"].item() == c["community"]
        if c["parent"] != -1:
            assert c["parent"] in set(com["community"])
    rep = idx.community_reports
    assert sorted(rep["community"]) == sorted(com["community"])
    assert rep["full_content"].str.startswith("# ").all()
    assert all(len(f) > 0 for f in rep["findings"])
    assert rep["rank"].dtype == "float64"
    for name in ("entity_description", "text_unit_text", "community_full_content"):
        assert len(idx.embeddings[name]) == len(
            {"entity_description": idx.entities, "text_unit_text": idx.text_units,
             "community_full_content": rep}[name])


@pytest.fixture(scope="module")
def dulce_text() -> str:
    return DULCE.read_text(encoding="utf-8")


def test_standard_build_from_dulce(dulce_text, tmp_path):
    llm = StubLLM()
    idx = build_index(dulce_text, llm=llm, embedding_model=LocalEmbedder(64),
                      cache_dir=tmp_path / "cache", progress=False)
    check_contract(idx)
    assert len(idx.text_units) == 5 and len(idx.entities) >= 15
    assert idx.embedding_model == "lmsnb-lexical-64" and idx.embedding_dim == 64
    stats = idx.stats.set_index("stage")
    assert stats.loc["extract_graph", "calls"] == 5
    assert stats.loc["total", "calls"] >= llm.calls
    assert idx.meta["parse_report"]["unparsed"] == 0
    # written folder: GraphRAG file names, readable by plain pandas, loads back the same
    idx.to_parquet(tmp_path / "out")
    assert pd.read_parquet(tmp_path / "out" / "entities.parquet").shape == idx.entities.shape
    back = GraphIndex.from_parquet(tmp_path / "out")
    check_contract(back)
    assert back.embedding_model == "lmsnb-lexical-64"
    assert back.stats is not None and list(back.stats["stage"]) == list(idx.stats["stage"])

    # a second run pays for nothing: every call comes from the cache
    again = StubLLM()
    idx2 = build_index(dulce_text, llm=again, embedding_model=LocalEmbedder(64),
                       cache_dir=tmp_path / "cache", progress=False)
    assert again.calls == 0
    assert idx2.stats.set_index("stage").loc["total", "prompt_tokens"] == 0
    assert list(idx2.entities["title"]) == list(idx.entities["title"])


def test_interrupted_build_resumes_with_only_missing_calls(dulce_text, tmp_path):
    full = StubLLM()
    build_index(dulce_text, llm=full, embedding_model=False, cache_dir=tmp_path / "ref",
                progress=False)
    total = full.calls
    dying = StubLLM(fail_after=3)
    with pytest.raises(ConnectionFailed):
        build_index(dulce_text, llm=dying, embedding_model=False, cache_dir=tmp_path / "c",
                    concurrency=1, retries=1, retry_backoff=0.001, progress=False)
    assert dying.calls == 3
    resumed = StubLLM()
    idx = build_index(dulce_text, llm=resumed, embedding_model=False, cache_dir=tmp_path / "c",
                      progress=False)
    assert resumed.calls == total - 3
    assert idx.stats.set_index("stage").loc["extract_graph", "cached_calls"] == 3


def test_gleaning_modes_and_prompt_override(dulce_text, tmp_path):
    never = build_index(dulce_text, llm=StubLLM(), embedding_model=False, gleaning="never",
                        cache_dir=None, progress=False)
    always = build_index(dulce_text, llm=StubLLM(), embedding_model=False, gleaning="always",
                         cache_dir=None, progress=False)
    assert "gleaning" not in set(never.stats["stage"])
    assert always.stats.set_index("stage").loc["gleaning", "calls"] == 5
    seen = []

    class Spy(StubLLM):
        def complete(self, messages, **kw):
            seen.append(messages[-1]["content"])
            return super().complete(messages, **kw)

    custom = "CUSTOM SUMMARY for {entity_name}:\n{description_list}\nDescriptions:\nSummary:"
    build_index(dulce_text, llm=Spy(), embedding_model=False, cache_dir=None, progress=False,
                prompts={"summarize_descriptions": custom}, summary_threshold_tokens=0)
    assert any(s.startswith("CUSTOM SUMMARY") for s in seen)


def test_fast_method_without_network_or_llm(dulce_text, monkeypatch):
    import lmsnb.client

    def no_network(*a, **k):  # what a machine with no network (and no LM Studio) answers
        raise ConnectionRefusedError("no network (test)")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(lmsnb.client, "_connection", None)
    idx = build_index(dulce_text, method="fast", cache_dir=None, progress=False)
    check_contract(idx)
    assert idx.meta["llm"] is None and idx.embedding_model.startswith("lmsnb-lexical")
    assert "not reachable" in idx.meta["embedder"]["source"]  # says why it is offline
    # fast-method types: GraphRAG's NOUN PHRASE, or PERSON where the text shows the name speaking
    assert set(idx.entities["type"]) <= {"NOUN PHRASE", "PERSON"}
    people = set(idx.entities.loc[idx.entities["type"] == "PERSON", "title"])
    assert people and all(any(n in p for n in ("ALEX", "TAYLOR", "JORDAN", "SAM", "CRUZ", "MERCER",
                                                "HAYES", "RIVERA")) for p in people), people
    assert idx.entities["description"].str.len().gt(0).all()
    assert idx.stats.set_index("stage").loc["total", "completion_tokens"] == 0


def test_documents_inputs_update_and_estimate(dulce_text, tmp_path):
    half = len(dulce_text) // 2
    cut = dulce_text.rfind("\n", 0, half)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(dulce_text[:cut], encoding="utf-8")
    llm = StubLLM()
    idx = build_index(folder, llm=llm, embedding_model=LocalEmbedder(32),
                      cache_dir=tmp_path / "c", progress=False)
    assert list(idx.documents["title"]) == ["a.txt"]
    n_units = len(idx.text_units)
    upd = StubLLM()
    idx2 = idx.update(pd.DataFrame({"title": ["b.txt"], "text": [dulce_text[cut:]]}), llm=upd,
                      embedding_model=LocalEmbedder(32), cache_dir=tmp_path / "c", progress=False)
    check_contract(idx2)
    assert len(idx2.documents) == 2 and len(idx2.text_units) > n_units
    extract_calls = idx2.stats.set_index("stage").loc["extract_graph", "calls"]
    assert extract_calls == len(idx2.text_units) - n_units  # only the new chunks
    assert set(idx.entities["id"]) <= set(idx2.entities["id"])  # old ids kept

    est = estimate(dulce_text)
    assert list(est.columns) == ["stage", "calls", "prompt_tokens", "completion_tokens"]
    assert est.set_index("stage").loc["extract_graph", "calls"] == 5
    assert est.attrs["chunks"] == 5


def test_live_view_grows_while_chunks_are_extracted(dulce_text, tmp_path):
    from lmsnb.graphview import LiveGraph

    sizes: list[int] = []

    class Recording(LiveGraph):
        def flush(self) -> None:
            super().flush()
            sizes.append(len(self.view._g.entities))

    live = Recording(interval=0.0)
    idx = build_index([dulce_text], llm=StubLLM(), embedding_model=False, live=live,
                      cache_dir=tmp_path / "cache", progress=False, chunk_size=300)
    assert len(sizes) >= 3  # redrawn as chunks arrived, not only at the end
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    shown = set(live.view._g.entities["title"].str.upper())
    assert set(idx.entities["title"].str.upper()) <= shown


# -- bad input and malformed model output: one clear message, nothing lost ------------------

from lmsnb.errors import ConfigError, GraphIndexError, PredictionError  # noqa: E402

FAST = dict(embedding_model=False, cache_dir=None, progress=False)


class ReplyLLM(StubLLM):
    """Answers every call with ``reply(messages, json_schema)`` (a str, None, or raises)."""

    def __init__(self, reply):
        super().__init__()
        self.reply = reply
        self.key = "reply-llm"

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        self.calls += 1
        return Completion(self.reply(messages, json_schema))


@pytest.mark.parametrize("docs, match", [
    (None, "No documents given"),
    ([], "no text to index"),
    (["", "   ", None], "no text to index"),
    ([1, 2], "item 0 is a int"),
    ("my_docs/", "No file or folder at 'my_docs/'"),
    ("notes.txt", "No file or folder at 'notes.txt'"),
    (pd.DataFrame({"name": ["Alice", "Bob"], "city": ["Paris", "Rome"]}),
     "which column is the text\\? no column holds running text: name"),
])
def test_bad_documents_are_one_clear_error(docs, match):
    with pytest.raises(GraphIndexError, match=match):
        build_index(docs, llm=StubLLM(), **FAST)


def test_missing_texts_in_a_dataframe_are_skipped_not_indexed_as_nan():
    idx = build_index(pd.DataFrame({"text": ["Alice met Bob in Paris.", None, float("nan")]}),
                      method="fast", **FAST)
    assert idx.documents["text"].tolist() == ["Alice met Bob in Paris."]


def test_folder_without_text_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\x00\xff")
    with pytest.raises(GraphIndexError, match=r"no text to index: skipped .*: 1 file not "
                                              r"included \(\.bin ×1\)"):
        build_index(tmp_path, llm=StubLLM(), **FAST)


@pytest.mark.parametrize("size, overlap, match", [
    (0, None, "chunk_size must be at least 1"),
    (-5, None, "chunk_size must be at least 1"),
    (None, -1, "chunk_overlap cannot be negative"),
    (10, 20, r"chunk_overlap \(20\) must be smaller than chunk_size \(10\)"),
    ("big", None, "chunk_size must be a number"),
])
def test_bad_chunk_settings_are_refused_before_any_call(size, overlap, match):
    llm = StubLLM()
    with pytest.raises(ConfigError, match=match):
        build_index(["Alice met Bob."], llm=llm, chunk_size=size, chunk_overlap=overlap, **FAST)
    with pytest.raises(ConfigError, match=match):
        estimate(["Alice met Bob."], chunk_size=size, chunk_overlap=overlap)
    assert llm.calls == 0


def test_models_of_the_wrong_type_are_refused():
    with pytest.raises(ConfigError, match="llm must be a model key or a chat model"):
        build_index(["Alice met Bob."], llm=123, **FAST)
    with pytest.raises(ConfigError, match="embedding_model must be a model key"):
        build_index(["Alice met Bob."], llm=StubLLM(), embedding_model=123, cache_dir=None,
                    progress=False)


@pytest.mark.parametrize("reply", [lambda m, s: "lol I don't know {{{ ]]", lambda m, s: "",
                                   lambda m, s: None])
def test_model_that_never_follows_the_format_is_one_error(dulce_text, reply):
    llm = ReplyLLM(reply)
    with pytest.raises(PredictionError, match="gave no GraphRAG records for (its only chunk|"
                                              r"any of its \d+ chunks)") as err:
        build_index([dulce_text[:6000]], llm=llm, **FAST)
    assert "method='fast'" in err.value.hint


def test_a_text_without_entities_still_builds(dulce_text):
    idx = build_index(["the cat sat."], llm=ReplyLLM(lambda m, s: "<|COMPLETE|>"), **FAST)
    assert len(idx.documents) == 1 and len(idx.entities) == 0


def test_model_exception_becomes_one_message_and_completed_calls_are_kept(dulce_text, tmp_path):
    class Flaky(StubLLM):
        def complete(self, messages, **kw):
            if self.calls >= 2:
                raise RuntimeError("model crashed")
            return super().complete(messages, **kw)

    flaky = Flaky()
    with pytest.raises(PredictionError, match="failed during .*RuntimeError: model crashed"):
        build_index([dulce_text], llm=flaky, embedding_model=False, cache_dir=tmp_path,
                    concurrency=1, progress=False)
    assert flaky.calls == 2 and len(list((tmp_path / "chat").rglob("*.json"))) == 2
    again, fresh = StubLLM(), StubLLM()
    build_index([dulce_text], llm=again, embedding_model=False, cache_dir=tmp_path,
                concurrency=1, progress=False)
    build_index([dulce_text], llm=fresh, embedding_model=False, cache_dir=None,
                concurrency=1, progress=False)
    assert again.calls == fresh.calls - 2  # the two completed calls were not paid again


def test_malformed_report_fields_never_show_as_none_or_letters(dulce_text):
    def reply(messages, schema):
        if schema is not None:
            return '{"title": "T", "summary": null, "rating": "high", "findings": "one finding"}'
        return respond_messages(messages, schema)

    idx = build_index([dulce_text[:6000]], llm=ReplyLLM(reply), **FAST)
    rep = idx.community_reports
    # a null summary is replaced by the extractive one; "high" is no rating: 0, counted
    assert len(rep) and rep["summary"].str.startswith("This community of").all()
    assert (rep["rank"] == 0.0).all() and (rep["title"] == "T").all()
    assert all([f["summary"] for f in fs] == ["one finding"] for fs in rep["findings"])
    report = idx.meta["parse_report"]
    assert report["report_summaries_replaced"] == report["report_ratings_clamped"] == len(rep)


class ShapeEmbedder:
    key, dimension = "shape-embedder", 8

    def __init__(self, shape_of):
        self.shape_of, self.calls = shape_of, 0

    def embed(self, texts):
        import numpy as np

        self.calls += 1
        rows, dim, fill = self.shape_of(self.calls, len(texts))
        return np.full((rows, dim), fill, dtype="float32")


@pytest.mark.parametrize("shape_of, match", [
    (lambda call, n: (n, 8 if call < 2 else 4, 1.0), "returned 4-d vectors after 8-d ones"),
    (lambda call, n: (n - 1, 8, 1.0), r"values for \d+ texts"),
    (lambda call, n: (n, 8, float("nan")), "NaN or infinite"),
])
def test_embedder_with_bad_vectors_is_one_error(dulce_text, shape_of, match):
    with pytest.raises(PredictionError, match=match):
        build_index([dulce_text[:6000]], llm=StubLLM(), embedding_model=ShapeEmbedder(shape_of),
                    cache_dir=None, concurrency=1, progress=False)


def test_update_with_nothing_new_makes_no_calls_and_typos_are_refused(dulce_text, tmp_path,
                                                                      capsys):
    idx = build_index([dulce_text[:5000]], llm=StubLLM(), embedding_model=LocalEmbedder(64),
                      cache_dir=None, progress=False)
    llm = StubLLM()
    same = idx.update([dulce_text[:5000]], llm=llm)
    assert llm.calls == 0 and len(same.entities) == len(idx.entities)
    assert "nothing to update" in capsys.readouterr().out
    assert idx.update([], llm=llm, progress=False).entities is idx.entities
    with pytest.raises(ConfigError, match="did you mean 'chunk_size'"):
        idx.update(["more text"], llm=llm, chunk_sise=3)
    with pytest.raises(GraphIndexError, match="No documents given"):
        idx.update(None, llm=llm)
    assert llm.calls == 0
