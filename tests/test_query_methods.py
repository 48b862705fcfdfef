"""GraphRAG query methods with in-process models: contexts, budgets, citations, streaming."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import CAROL, FIXTURES

from lmsnb.errors import ConfigError, GraphIndexError
from lmsnb.events import Done, Fragment, PromptProgress
from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.llm import Completion, LocalEmbedder
from lmsnb.graphrag.query import NO_DATA_ANSWER, QueryResult, QueryStream
from lmsnb.graphrag.query.citations import parse_references
from lmsnb.graphrag.query.global_search import build_batches
from lmsnb.graphrag.query.local import build_local_context
from lmsnb.graphrag.query.params import QueryConfig
from lmsnb.graphrag.tokens import estimate_tokens
from lmsnb.sim.graphrag_stub import respond_messages


class StubChat:
    """The simulator's GraphRAG replies, in process (no server): fast and deterministic."""

    key = "stub-chat"

    def __init__(self, reply=None):
        self.calls: list[tuple[list[dict], dict]] = []
        self.reply = reply

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        self.calls.append((messages, {"json_schema": json_schema}))
        text = self.reply(messages, json_schema) if self.reply else \
            respond_messages(messages, json_schema)
        return Completion(text, sum(estimate_tokens(m["content"]) for m in messages),
                          estimate_tokens(text), 0.0)

    def count_tokens(self, text):
        return estimate_tokens(text)


class StreamingChat(StubChat):
    def stream(self, messages, **kw):
        text = self.complete(messages, **kw).text
        for word in text.split(" "):
            yield Fragment(word + " ")
        from lmsnb.events import PredictionStats

        yield Done(text=text, stats=PredictionStats(model=self.key, prompt_tokens=7,
                                                    predicted_tokens=3))


@pytest.fixture(scope="module")
def carol_base() -> GraphIndex:
    idx = GraphIndex.from_parquet(CAROL)
    emb = LocalEmbedder(256)
    # embed once for the module (what the first query does), copied per test below
    from lmsnb.graphrag.query.vectors import ensure_embeddings

    ensure_embeddings(idx, ["entity_description", "text_unit_text", "community_full_content"],
                      emb, progress=False)
    return idx


@pytest.fixture
def carol(carol_base: GraphIndex) -> GraphIndex:
    return GraphIndex(**{k: getattr(carol_base, k) for k in (
        "documents", "text_units", "entities", "relationships", "communities",
        "community_reports", "covariates", "embedding_model", "embedding_dim")},
        embeddings=dict(carol_base.embeddings))


@pytest.fixture(scope="module")
def dulce() -> GraphIndex:
    from lmsnb.graphrag import build_index

    text = (FIXTURES / "dulce" / "dulce.txt").read_text(encoding="utf-8")
    return build_index([text], llm=StubChat(), embedding_model=LocalEmbedder(256),
                       cache_dir=None, progress=False)


EMB = LocalEmbedder(256)


def ask(idx, q, method="local", chat=None, **kw):
    return idx.query(q, method=method, chat=chat or StubChat(), embedder=EMB, progress=False,
                     **kw)


# ------------------------------------------------------------------------------ local
def test_local_context_pulls_named_entity_and_respects_budget(carol):
    cfg = QueryConfig()
    ctx = build_local_context(carol, "Who is Scrooge?", cfg, embedder=EMB, count=estimate_tokens)
    assert "SCROOGE" in set(ctx.tables["entities"]["title"])
    assert estimate_tokens(ctx.text) <= cfg.max_context_tokens
    assert {"entities", "relationships", "sources"} <= set(ctx.tables)
    # every table row is really in the text, and ids resolve to index rows
    ents = carol.entities.set_index("human_readable_id")
    for row in ctx.tables["entities"].itertuples():
        assert ents.loc[row.short_id, "title"] == row.title
        assert f"\n{row.short_id}|{row.title}|" in ctx.text


@pytest.mark.parametrize("budget", [600, 2000, 5000])
def test_local_budget_is_a_hard_limit(carol, budget):
    cfg = QueryConfig(max_context_tokens=budget)
    ctx = build_local_context(carol, "Scrooge and Marley", cfg, embedder=EMB,
                              count=estimate_tokens)
    assert 0 < estimate_tokens(ctx.text) <= budget
    assert ctx.tokens <= budget


def test_local_query_result(carol):
    chat = StubChat()
    res = ask(carol, "Who is Scrooge, and how does his attitude to Christmas change?", chat=chat)
    assert isinstance(res, QueryResult)
    assert res.llm_calls == 1 and len(chat.calls) == 1
    system = chat.calls[0][0][0]["content"]
    assert "-----Entities-----" in system and "Multiple Paragraphs" in system
    assert "SCROOGE" in set(res.context["entities"]["title"])
    assert res.context_text[0] in system
    # the stub cites the context's entities (those the question names first): real rows
    cited = res.citations[res.citations["dataset"] == "entities"]
    assert len(cited) >= 2 and cited["found"].all() and cited["in_context"].all()
    assert "SCROOGE" in set(res.cited("entities")["title"])
    assert res.stats["prompt_tokens"] > 5000
    assert "<details>" in res._repr_html_()


def test_dulce_local_and_history(dulce):
    res = ask(dulce, "What does Alex Mercer do?")
    assert "ALEX MERCER" in set(res.context["entities"]["title"])
    chat = StubChat()
    res2 = res.follow_up("And Jordan Hayes?", chat=chat, embedder=EMB, progress=False)
    assert [m["role"] for m in res2.history] == ["user", "assistant", "user", "assistant"]
    system = chat.calls[0][0][0]["content"]
    assert "-----Conversation-----" in system and "What does Alex Mercer do?" in system
    assert "JORDAN HAYES" in set(res2.context["entities"]["title"])


# ------------------------------------------------------------------------------ global
def test_global_map_reduce(carol):
    chat = StubChat()
    res = ask(carol, "What are the main themes of the story?", method="global", chat=chat)
    cfg = QueryConfig()
    batches = build_batches(carol, cfg, estimate_tokens)
    maps = [c for c in chat.calls if c[1]["json_schema"]]
    assert len(maps) == len(batches) == res.details["batches"] and len(chat.calls) == len(maps) + 1
    for b in batches:
        assert estimate_tokens(b.text) <= cfg.max_context_tokens
    # every report at level <= 2 went to exactly one batch
    used = pd.concat([b.tables["reports"] for b in batches])
    assert sorted(used["short_id"]) == sorted(
        carol.community_reports.query("level <= 2")["community"])
    assert res.calls["stage"].tolist().count("global reduce") == 1
    assert res.citations["found"].all()


def test_global_level_changes_reports(carol):
    batches = build_batches(carol, QueryConfig(community_level=0), estimate_tokens)
    levels = pd.concat([b.tables["reports"] for b in batches])["level"]
    assert set(levels) == {0}


def test_global_i_do_not_know_makes_no_reduce_call(carol):
    chat = StubChat(reply=lambda m, s: '{"points": [{"description": "I do not know", "score": 0}]}')
    res = ask(carol, "What is the airspeed of a swallow?", method="global", chat=chat)
    assert res.answer == NO_DATA_ANSWER
    assert all(c[1]["json_schema"] for c in chat.calls)  # only map calls


def test_global_unparseable_map_answers_are_dropped(carol):
    chat = StubChat(reply=lambda m, s: "not json at all")
    res = ask(carol, "Themes?", method="global", chat=chat)
    assert res.answer == NO_DATA_ANSWER


# ------------------------------------------------------------------------------ basic
def test_basic_search(carol):
    res = ask(carol, "Scrooge and the ghost of Marley at the door knocker", method="basic",
              k=3, max_context_tokens=3000)
    src = res.context["sources"]
    assert 1 <= len(src) <= 3
    assert estimate_tokens(res.context_text[0]) <= 3000
    assert src["score"].is_monotonic_decreasing


# ------------------------------------------------------------------------------ drift
def test_drift_is_bounded(carol):
    chat = StubChat()
    res = ask(carol, "How does Scrooge change?", method="drift", chat=chat, n_depth=2,
              drift_k_followups=4, primer_folds=2)
    stages = res.calls.loc[res.calls["kind"] == "chat", "stage"].tolist()
    assert stages.count("drift hyde") == 1 and stages.count("drift primer") == 2
    assert stages.count("drift local") <= 2 * 4 and stages[-1] == "drift reduce"
    assert len(res.details["primer_reports"]) == 4
    assert set(res.details["tree"]["depth"]) <= {0, 1, 2}
    assert "reports" in res.context


# ------------------------------------------------------------------------------ streaming
def test_stream_events_end_in_done_with_result(carol):
    s = ask(carol, "Who is Scrooge?", chat=StreamingChat(), stream=True)
    assert isinstance(s, QueryStream)
    events = list(s)
    assert isinstance(events[-1], Done) and isinstance(events[-1].parsed, QueryResult)
    text = "".join(e.text for e in events if isinstance(e, Fragment))
    assert text.strip() == events[-1].text.strip() == s.result.answer.strip()


def test_global_stream_reports_map_progress(carol):
    events = list(ask(carol, "Themes?", method="global", stream=True))
    prog = [e.progress for e in events if isinstance(e, PromptProgress)]
    assert prog[0] == 0.0 and prog[-1] == 1.0
    assert isinstance(events[-1], Done)


def test_cancel_before_answer_keeps_result(carol):
    s = ask(carol, "Themes?", method="global", stream=True)
    next(s)  # map started
    s.cancel()
    res = s.collect()
    assert res.stopped and res.calls["stage"].tolist().count("global reduce") == 0


# ------------------------------------------------------------------------------ embeddings
def test_missing_embeddings_are_computed_once_and_recorded():
    idx = GraphIndex.from_parquet(CAROL)
    assert not idx.embeddings and idx.embedding_model is None
    seen = []
    res = idx.query("Who is Scrooge?", chat=StubChat(), embedder=LocalEmbedder(64),
                    progress=lambda name, done, total: seen.append((name, done, total)))
    assert list(idx.embeddings) == ["entity_description"]
    assert idx.embedding_model == "lmsnb-lexical-64" and idx.embedding_dim == 64
    assert seen and seen[-1][1] == seen[-1][2] == len(idx.entities)
    assert (res.calls["kind"] == "embed").sum() > 1
    res2 = idx.query("Who is Marley?", chat=StubChat(), progress=False)  # index's own model
    assert (res2.calls["kind"] == "embed").sum() == 1  # the question only


def test_other_embedder_is_refused(carol):
    with pytest.raises(GraphIndexError, match="lmsnb-lexical-256"):
        carol.query("Who is Scrooge?", chat=StubChat(), embedder=LocalEmbedder(128))


# ------------------------------------------------------------------------------ errors
def test_bad_method_and_params(carol):
    with pytest.raises(ConfigError, match="did you mean 'global'"):
        ask(carol, "q", method="globl")
    with pytest.raises(ConfigError, match="did you mean 'top_k_entities'"):
        ask(carol, "q", top_k_entites=3)
    with pytest.raises(ConfigError, match="empty"):
        ask(carol, "  ")


def test_index_without_reports_refuses_global(carol):
    carol.community_reports = carol.community_reports.iloc[:0]
    with pytest.raises(GraphIndexError, match="no community reports"):
        ask(carol, "Themes?", method="global")
    with pytest.raises(GraphIndexError, match="community_level=0"):
        GraphIndex.from_parquet(CAROL).query("x", method="global", community_level=-1,
                                             chat=StubChat())


# ------------------------------------------------------------------------------ citations
def test_parse_references_is_lenient():
    text = ("A [Data: Entities (1, 2, +more); Reports (3)]. B [Data: Sources (5), Relationship (7)]"
            " C [data: claims (9); Unknown (4)]")
    assert parse_references(text) == {"entities": [1, 2], "reports": [3], "sources": [5],
                                      "relationships": [7], "claims": [9]}


def test_citations_flag_invented_ids(carol):
    res = ask(carol, "Who?", chat=StubChat(reply=lambda m, s: "X [Data: Entities (39, 999999)]."))
    cit = res.citations.set_index("short_id")
    assert cit.loc[39, "found"] and not cit.loc[999999, "found"]


def test_vector_search_matches_bruteforce(carol):
    from lmsnb.graphrag.query.vectors import matrix, nearest

    ids, mat = matrix(carol, "entity_description")
    q = EMB.embed(["Scrooge counting house"])[0]
    top, scores = nearest(carol, "entity_description", q, 5)
    ref = np.argsort(-(mat @ q))[:5]
    assert list(top) == list(ids[ref])
    assert np.all(np.diff(scores) <= 1e-7)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("params, match", [
    ({"max_context_tokens": "abc"}, "max_context_tokens must be a whole number, not 'abc'"),
    ({"top_k": 2.5}, "top_k_entities must be a whole number"),
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"response_type": ""}, "response_type must be a non-empty string"),
    ({"top_k_relationships": -3}, "top_k_relationships cannot be negative"),
    ({"drift_k_followups": 0}, "drift_k_followups must be at least 1"),
    ({"community_prop": 1.5}, r"community_prop must lie in \[0, 1\]"),
])
def test_bad_parameter_values_are_refused_before_any_call(carol, params, match):
    chat = StubChat()
    for method in ("local", "drift"):
        with pytest.raises(ConfigError, match=match):
            ask(carol, "Who is Scrooge?", method=method, chat=chat, **params)
    assert not chat.calls


def test_numeric_strings_are_accepted(carol):
    assert ask(carol, "Who is Scrooge?", method="basic", k="3").config.k == 3


@pytest.mark.parametrize("method, what", [("local", "entity, relationship"),
                                          ("basic", "text unit"),
                                          ("global", "community report"),
                                          ("drift", "community report")])
def test_budget_smaller_than_one_row_is_refused_not_answered_from_nothing(carol, method, what):
    with pytest.raises(ConfigError, match=f"max_context_tokens=100 is too small to hold a "
                                          f"single {what}"):
        ask(carol, "Who is Scrooge?", method=method, max_context_tokens=100)


def test_index_missing_columns_is_refused_with_the_list(carol):
    carol.entities = carol.entities.drop(columns=["title", "degree"])
    with pytest.raises(GraphIndexError, match="entities lacks title, degree"):
        ask(carol, "Who is Scrooge?")
    assert ask(carol, "Who is Scrooge?", method="basic").answer  # basic does not need them


def test_follow_up_keeps_the_models_that_answered(carol):
    chat = StubChat()
    res = ask(carol, "Who is Scrooge?", chat=chat)
    res2 = res.follow_up("And Marley?", progress=False)
    res3 = res2.follow_up("What are the themes?", method="global", progress=False)
    assert len(chat.calls) >= 3 and res3.method == "global" and len(res3.history) == 6
    detached = QueryResult(question="q", method="local", answer="", context={},
                           context_text=[], citations=pd.DataFrame(), calls=pd.DataFrame(),
                           seconds=0.0, config=QueryConfig())
    with pytest.raises(GraphIndexError, match="not attached to an index"):
        detached.follow_up("again?")


def test_a_failing_custom_model_or_embedder_is_one_message(carol):
    class Broken(StubChat):
        def complete(self, messages, **kw):
            raise RuntimeError("boom")

    from lmsnb.errors import PredictionError

    with pytest.raises(PredictionError, match="'stub-chat' failed during local answer: "
                                              "RuntimeError: boom"):
        ask(carol, "Who is Scrooge?", chat=Broken())

    class BadDim(LocalEmbedder):
        def embed(self, texts):
            return np.ones((len(texts), 3), np.float32)

    fresh = GraphIndex.from_parquet(CAROL)
    with pytest.raises(PredictionError, match="returned 3-d vectors after 256-d ones"):
        fresh.query("Who is Scrooge?", chat=StubChat(), embedder=BadDim(256), progress=False)
    assert fresh.embeddings == {}  # nothing half-computed is stored


def test_non_english_entity_names_are_matched_in_the_question():
    from lmsnb.graphrag.query.context import entities_named_in, lookups

    idx = GraphIndex(entities=pd.DataFrame({
        "id": ["a", "b"], "human_readable_id": [0, 1], "title": ["ZOË MÜLLER", "ZÜRICH"],
        "type": "", "description": "", "text_unit_ids": [[], []], "frequency": 1,
        "degree": 1}))
    assert entities_named_in(lookups(idx), "Wann kam Zoë Müller nach Zürich?") == [0, 1]
