"""What small local models do to GraphRAG, and what lmsnb does about it (issue #11, points 2–8).

Context windows, per-stage model settings, early give-up, honest parse reports, GraphRAG's
ranges, unclosed ``<think>`` and parser losses — with in-process models where the behaviour is
lmsnb's own, and through the simulator (real SDK, real wire) where LM Studio is part of it.
"""

from __future__ import annotations

import re
import threading
import warnings

import pytest
from shared_data import CAROL, DULCE, needs_fixtures

import lmsnb.client
from lmsnb.errors import ConfigError, PredictionError
from lmsnb.graphrag import GraphIndex, build_index
from lmsnb.graphrag.budget import ContextNotice, Window, model_window
from lmsnb.graphrag.extract import parse_records, parse_reply
from lmsnb.graphrag.llm import Completion, LMStudioChat
from lmsnb.graphrag.query.global_search import parse_points
from lmsnb.graphrag.reports import parse_report
from lmsnb.graphrag.settings import ModelSettings
from lmsnb.graphrag.tokens import estimate_tokens
from lmsnb.sim import Simulator, Timing
from lmsnb.sim.graphrag_stub import respond_messages

pytestmark = needs_fixtures
LLM = "qwen2.5-7b-instruct"  # a model the simulator serves
FAST = {"embedding_model": False, "cache_dir": None, "progress": False}
PROSE = ("The text is about a team of people who work at a base. They talk about many things "
         "and it is interesting.")


@pytest.fixture(scope="module")
def dulce() -> str:
    return DULCE.read_text(encoding="utf-8")


class Model:
    """An in-process chat model: GraphRAG-shaped replies (or ``reply``), every call recorded.

    With ``context_length`` it behaves like a loaded LM Studio model: a prompt plus its
    ``max_tokens`` that does not fit is an error, as LM Studio reports it.
    """

    key = "small-model"

    def __init__(self, reply=None, context_length=None):
        self.reply = reply or (lambda m, s: respond_messages(m, s))
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        if context_length is not None:
            self.context_length = context_length

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        prompt = sum(self.count_tokens(m["content"]) + 4 for m in messages)
        ctx = getattr(self, "context_length", None)
        if ctx is not None and prompt + (max_tokens or 0) > ctx:
            raise PredictionError(f"LM Studio reported an error: the prompt ({prompt} tokens) "
                                  f"and answer ({max_tokens}) exceed the context ({ctx})")
        with self._lock:
            self.calls.append({"prompt": prompt, "max_tokens": max_tokens,
                               "temperature": temperature, "text": messages[-1]["content"],
                               "schema": json_schema is not None})
        out = self.reply(messages, json_schema)
        return out if isinstance(out, Completion) else Completion(out)


# -- 2. context windows ---------------------------------------------------------------------


def test_build_fits_a_4k_model_and_lowers_a_users_chunk_size_with_one_notice(dulce):
    model = Model(context_length=4096)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        idx = build_index([dulce], llm=model, chunk_size=3000, chunk_overlap=300, **FAST)
    notices = [w for w in seen if issubclass(w.category, ContextNotice)]
    assert len(notices) == 1
    text = str(notices[0].message)
    assert "4,096-token context" in text and "chunk_size 3,000 →" in text
    assert __file__ == notices[0].filename  # points at the caller's line, not lmsnb's
    size = idx.meta["settings"]["chunk_size"]
    assert 1000 < size < 3000 and idx.text_units["n_tokens"].max() <= size * 1.1
    assert idx.meta["context"]["context_length"] == 4096
    assert all(c["prompt"] + c["max_tokens"] <= 4096 for c in model.calls)
    assert len(idx.entities) > 10  # a real graph, not an empty one


def test_defaults_on_a_4k_model_are_fitted_quietly(dulce):
    model = Model(context_length=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContextNotice)
        idx = build_index([dulce], llm=model, **FAST)
    assert idx.meta["settings"]["chunk_size"] == 1200  # 1,200 + prompt + answer fit in 4,096
    lowered = idx.meta["context"]["lowered"]
    assert lowered["report_max_input_tokens"]["asked"] == 8000  # recorded, not announced
    assert all(c["prompt"] + c["max_tokens"] <= 4096 for c in model.calls)


def test_a_model_without_a_context_length_keeps_graphrags_budgets(dulce):
    model = Model()
    idx = build_index([dulce], llm=model, **FAST)
    assert idx.meta["context"]["context_length"] is None
    assert idx.meta["settings"]["chunk_size"] == 1200
    assert idx.meta["model_settings"]["reports"]["maxTokens"] == 2000


def test_a_context_too_small_for_the_prompt_is_one_clear_error(dulce):
    with pytest.raises(ConfigError, match=r"512-token context, too small for the extraction "
                                          r"prompt.*larger context"):
        build_index([dulce], llm=Model(context_length=512), **FAST)


def test_window_splits_input_and_answer():
    w = Window(4096, 1.0, "m")
    room = w.room
    assert w.split(fixed=400, want=1200, answer=2000, default_answer=2000) == (1200, 2000)
    got, answer = w.split(fixed=400, want=8000, answer=2000, default_answer=2000)
    assert got + answer == room - 400 and answer == min(2000, (room - 400) // 2)
    assert Window().split(fixed=400, want=12000, answer=None, default_answer=2000) == (12000, 2000)


# -- 3. early give-up -----------------------------------------------------------------------


def test_a_model_that_cannot_extract_stops_after_three_chunks_and_resumes(dulce, tmp_path):
    model = Model(lambda m, s: PROSE)
    kw = {"embedding_model": False, "progress": False, "chunk_size": 300, "chunk_overlap": 0,
          "concurrency": 1, "cache_dir": tmp_path}
    with pytest.raises(PredictionError) as err:
        build_index([dulce], llm=model, **kw)
    msg = str(err.value)
    assert "gave no GraphRAG records for its first 3 chunks" in msg
    assert "The text is about a team of people" in msg  # what the model said
    assert "bigger instruction model" in msg and "method='fast'" in msg
    assert "temperature 0 (" not in msg  # it already runs at 0
    assert len(model.calls) == 3  # prose is not gleaned: 3 calls, not 6
    assert len(list((tmp_path / "chat").rglob("*.json"))) == 3  # kept for a re-run

    again = Model(lambda m, s: PROSE)
    with pytest.raises(PredictionError, match="stopped early"):
        build_index([dulce], llm=again, **kw)
    assert again.calls == []  # the three replies came from the cache

    hot = Model(lambda m, s: PROSE)
    with pytest.raises(PredictionError, match="temperature 0 \\(llm_config"):
        build_index([dulce], llm=hot, llm_config={"temperature": 0.8}, **kw)


@pytest.mark.parametrize(("slots", "concurrency", "most"),
                         [(1, 1, 3), (1, "auto", 3), (4, 4, 4)])
def test_give_up_starts_no_call_the_decision_does_not_need(dulce, tmp_path, slots, concurrency,
                                                             most):
    """Through LM Studio's queue: when the third empty chunk's call ends its slot is free
    before its reply is judged, and the next chunk must not take it (the CI failure of stop
    19: a fourth call started on a one-slot server). With more slots the ones that run at
    once are all the build starts; the rest wait for the decision. Three builds each, as it
    was a race."""
    timing = Timing(prompt_tokens_per_second=50000, tokens_per_second=2000,
                    first_token_latency=0.01)
    for attempt in range(3):
        with Simulator(behaviour=lambda req: PROSE, timing=timing,
                       max_concurrent_predictions=slots) as sim:
            lmsnb.client.connect(sim.host)
            with pytest.raises(PredictionError, match="first 3 chunks"):
                build_index([dulce], llm=LLM, embedding_model=False, chunk_size=300,
                            chunk_overlap=0, progress=False, concurrency=concurrency,
                            cache_dir=tmp_path / str(attempt))
            counts = sim.counters.predictions(LLM)
        assert 3 <= counts.started <= most, (attempt, counts)  # (a 4th may be cancelled
        kept = len(list((tmp_path / str(attempt) / "chat").rglob("*.json")))  # before it is sent)
        assert 3 <= kept <= counts.started  # every reply that came back is cached for a re-run


def test_give_up_is_settable_and_a_model_that_works_sometimes_is_not_stopped(dulce):
    n = {"calls": 0}

    def sometimes(messages, schema):
        n["calls"] += 1
        return respond_messages(messages, schema) if n["calls"] == 1 else PROSE

    idx = build_index([dulce], llm=Model(sometimes), chunk_size=300, chunk_overlap=0,
                      concurrency=1, **FAST)
    report = idx.meta["parse_report"]
    assert report["chunks"] == len(idx.text_units) and report["chunks_without_records"] >= 3
    model = Model(lambda m, s: PROSE)
    with pytest.raises(PredictionError, match="its first 5 chunks"):
        build_index([dulce], llm=model, give_up_after=5, chunk_size=300, chunk_overlap=0,
                    concurrency=1, **FAST)
    assert len(model.calls) == 5
    with pytest.raises(ConfigError, match="give_up_after must be"):
        build_index([dulce], llm=Model(), give_up_after="soon", **FAST)


# -- 4. the parse report and the summary line -----------------------------------------------


def test_chunks_without_records_are_counted_and_the_summary_says_so(dulce, capsys):
    n = {"calls": 0}

    def one_in_four(messages, schema):
        if "-Real Data-" not in messages[-1]["content"]:
            return respond_messages(messages, schema)
        n["calls"] += 1
        return respond_messages(messages, schema) if n["calls"] % 4 == 1 else PROSE

    idx = build_index([dulce], llm=Model(one_in_four), chunk_size=300, chunk_overlap=0,
                      concurrency=1, embedding_model=False, cache_dir=None, progress="text")
    report = idx.meta["parse_report"]
    m = report["chunks"]
    assert report["chunks_without_records"] == m - (m + 3) // 4
    assert report["no_record_samples"][0].startswith("The text is about")
    out = capsys.readouterr().out
    assert f"{report['chunks_without_records']} of {m} chunks gave no records" in out


# -- 5. model settings ----------------------------------------------------------------------


def test_default_settings_are_graphrags_and_overrides_reach_each_stage(dulce):
    model = Model()
    build_index([dulce], llm=model, gleaning="always", **FAST)
    by_kind = {}
    for c in model.calls:
        kind = ("report" if c["schema"] else "glean" if "Possibly missed" in c["text"]
                else "extract" if "-Real Data-" in c["text"] else "summary")
        by_kind.setdefault(kind, set()).add((c["temperature"], c["max_tokens"]))
    assert by_kind["extract"] == {(0.0, 2000)} and by_kind["glean"] == {(0.0, 1500)}
    assert by_kind["report"] == {(0.0, 2000)}

    model = Model()
    build_index([dulce], llm=model, gleaning="always", llm_config={
        "temperature": 0.3, "max_tokens": 900, "reports": {"maxTokens": 1200},
        "gleaning": {"temperature": 0.1}}, **FAST)
    seen = {(c["temperature"], c["max_tokens"], c["schema"], "Possibly missed" in c["text"])
            for c in model.calls}
    assert (0.3, 1200, True, False) in seen and (0.1, 900, False, True) in seen
    assert (0.3, 900, False, False) in seen


@pytest.mark.parametrize("config, match", [
    ({"temprature": 0}, "did you mean 'temperature'"),
    ({"extrct": {"maxTokens": 10}}, "did you mean the stage 'extract'"),
    ({"extract": {"maxTokens": 0}}, "maxTokens must be a positive integer"),
    ({"reports": 5}, "must be a dict of model settings"),
    ({"temperature": "hot"}, "temperature must be a number"),
    ("cold", "llm_config must be a dict"),
])
def test_bad_settings_are_refused_before_any_call(config, match):
    model = Model()
    with pytest.raises(ConfigError, match=match):
        build_index(["Alice met Bob in Paris."], llm=model, llm_config=config, **FAST)
    assert model.calls == []


def test_settings_a_custom_model_cannot_take_are_refused():
    with pytest.raises(ConfigError, match="takes only max_tokens and temperature.*topPSampling"):
        build_index(["Alice met Bob."], llm=Model(), llm_config={"top_p": 0.9}, **FAST)


def test_unlimited_and_query_groups():
    s = ModelSettings({"maxTokens": "unlimited", "global": {"temperature": 0.5},
                       "global_map": {"temperature": 0.2}}, kind="query")
    assert s.config("local")["maxTokens"] is None
    assert s.config("global_reduce")["temperature"] == 0.5
    assert s.config("global_map")["temperature"] == 0.2  # the stage's own wins
    with pytest.raises(ConfigError, match="did you mean the stage 'reports'"):
        ModelSettings({"repots": {}}, kind="build")


def test_cache_key_follows_the_settings_that_change_the_answer(tmp_path):
    text = ["Alice met Bob in Paris. Bob works for Acme in London."]
    kw = {"embedding_model": False, "progress": False, "cache_dir": tmp_path}
    build_index(text, llm=Model(), **kw)
    warm = Model()
    build_index(text, llm=warm, **kw)
    assert warm.calls == []
    hot = Model()
    build_index(text, llm=hot, llm_config={"temperature": 0.7}, **kw)
    assert hot.calls  # another temperature: another answer


# -- 6. GraphRAG's ranges -------------------------------------------------------------------


def test_report_ratings_and_titles_are_kept_in_range(dulce):
    def reply(messages, schema):
        if schema is None:
            return respond_messages(messages, schema)
        return ('{"title": ", ", "summary": "S", "rating": 9026857314, '
                '"rating_explanation": "x", "findings": [{"summary": "a", "explanation": "b"}]}')

    idx = build_index([dulce[:6000]], llm=Model(reply), **FAST)
    rep = idx.community_reports
    assert (rep["rank"] == 10.0).all()
    assert rep["title"].str.contains(r"[A-Za-z]").all() and (rep["title"] != ", ").all()
    report = idx.meta["parse_report"]
    assert report["report_ratings_clamped"] == report["report_titles_replaced"] == len(rep)
    repairs: dict = {}
    assert parse_report('{"title": "T", "summary": "s", "rating": -4}', repairs)["rating"] == 0
    assert parse_report('{"title": "' + "x " * 200 + '", "summary": "s", "rating": 3}',
                        repairs)["title"] == ""
    assert repairs == {"ratings_clamped": 1, "titles_replaced": 1}


def test_global_map_scores_are_clamped_and_counted():
    seen: list[str] = []
    pts = parse_points('{"points": [{"description": "a", "score": 801326}, '
                       '{"description": "b", "score": -3}, {"description": "c", "score": "x"}, '
                       '{"description": "d", "score": 55}]}', seen.append)
    assert [p["score"] for p in pts] == [100.0, 0.0, 0.0, 55.0]
    assert seen == ["scores_clamped"] * 3
    parse_points("I think the answer is yes.", seen.append)
    assert seen[-1] == "map_answers_unparsed"


# -- 7. unclosed <think> ----------------------------------------------------------------------

RECORDS = ('("entity"<|>ALEX MERCER<|>PERSON<|>An agent)##("entity"<|>DULCE<|>GEO<|>A base)##'
           '("relationship"<|>ALEX MERCER<|>DULCE<|>Mercer works at Dulce<|>7)<|COMPLETE|>')


def test_records_inside_reasoning_that_never_closed_are_parsed():
    res = parse_reply("", "Let me think about the entities.\n" + RECORDS)
    assert res.n_records == 3 and res.from_reasoning
    assert not parse_reply(RECORDS, "thinking").from_reasoning


def test_unclosed_think_through_the_sdk_still_builds(dulce):
    def behaviour(req):
        prompt = req.messages[-1]["content"]
        if "-Real Data-" in prompt:  # extraction: opens <think>, never closes it
            return "<think>\nOkay, the entities are:\n" + respond_messages(req.messages)
        return respond_messages(req.messages, req.json_schema)

    with Simulator(port=0, timing=Timing(), behaviour=behaviour) as sim:
        lmsnb.client.connect(sim.host)
        idx = build_index([dulce[:8000]], llm="qwen2.5-7b-instruct", **FAST)
    assert len(idx.entities) > 5
    assert idx.meta["parse_report"]["from_reasoning"] == len(idx.text_units)


# -- 8. parser losses -----------------------------------------------------------------------


def test_quotes_that_belong_to_the_text_are_kept():
    res = parse_records('("entity"<|>TEAM<|>ORGANIZATION<|>The team reached \'Site 7\')##'
                        '("entity"<|>CREW<|>ORGANIZATION<|>"The crew\'s base is \'Site 7\'")##'
                        '("entity"<|>OPS<|>ORGANIZATION<|>"Runs the base)<|COMPLETE|>')
    assert [e["description"] for e in res.entities] == [
        "The team reached 'Site 7'", "The crew's base is 'Site 7'", "Runs the base"]


@pytest.mark.parametrize("strength, weight", [
    ("high", 8.0), ("strong", 8.0), ("very strong", 9.0), ("low", 2.0), ("weak", 2.0),
    ("medium", 5.0), ("moderate", 5.0), ("9026857314", 10.0), ("7", 7.0), ("-2", 1.0)])
def test_strength_words_and_out_of_range_numbers(strength, weight):
    res = parse_records(f'("relationship"<|>A<|>B<|>linked<|>{strength})<|COMPLETE|>')
    assert res.relationships[0]["weight"] == weight
    assert res.repaired == (0 if strength == "7" else 1)


# -- 2 (queries) and 5 through the simulator ---------------------------------------------------


class Recorder:
    """A simulator behaviour that answers like ``graphrag`` and records what each call sent."""

    def __init__(self, sim):
        self.sim, self.calls = sim, []

    def __call__(self, req):
        inst = self.sim.catalogue.get(req.identifier)
        prompt = sum(len(re.findall(r"\S+", str(m["content"]))) for m in req.messages)
        from lmsnb.sim.engine import prompt_token_count

        self.calls.append({"prompt": prompt_token_count(req.messages),
                           "max": req.config.get("llm.prediction.maxPredictedTokens"),
                           "temperature": req.config.get("llm.prediction.temperature"),
                           "top_p": req.config.get("llm.prediction.topPSampling"),
                           "context": inst.context_length, "words": prompt})
        return respond_messages(req.messages, req.json_schema)


@pytest.fixture(scope="module")
def carol_sim():
    with Simulator(port=0, timing=Timing()) as sim:
        rec = Recorder(sim)
        sim.set_behaviour(rec)
        lmsnb.client.connect(sim.host)
        idx = GraphIndex.from_parquet(CAROL)
        yield sim, rec, idx


@pytest.mark.parametrize("method", ["local", "global", "basic", "drift"])
def test_queries_with_default_settings_fit_a_4k_model(carol_sim, method):
    sim, rec, idx = carol_sim
    rec.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContextNotice)  # defaults: lowered quietly
        res = idx.query("How does Scrooge change?", method=method, community_level=0,
                        n_depth=1, drift_k_followups=2, progress=False)
    assert res.answer and rec.calls
    for call in rec.calls:
        assert call["prompt"] + call["max"] <= call["context"] == 4096, call
        assert call["temperature"] == 0.0
    budget = res.details["context_window"]
    assert budget["context_length"] == 4096 and budget["max_context_tokens"] < 4096


def test_a_users_query_budget_is_lowered_with_one_notice(carol_sim):
    sim, rec, idx = carol_sim
    rec.calls.clear()
    with pytest.warns(ContextNotice) as seen:
        res = idx.query("Who is Scrooge?", method="local", max_context_tokens=12000,
                        llm_config={"top_p": 0.5, "local": {"maxTokens": 3000}}, progress=False)
    assert len(seen) == 1
    msg = str(seen[0].message)
    assert "max_context_tokens 12,000 →" in msg and "local maxTokens 3,000 →" in msg
    (call,) = rec.calls
    assert call["prompt"] + call["max"] <= 4096 and call["top_p"] == 0.5
    assert res.config.max_context_tokens < 4096


def test_jit_model_is_loaded_to_read_its_context_length(carol_sim):
    sim, rec, idx = carol_sim
    key = "llama-3.2-1b-instruct"
    assert key not in {i.spec.key for i in sim.catalogue.loaded()}
    chat = LMStudioChat(key)
    assert chat.context_length() == 4096  # LM Studio's default for a JIT load
    assert key in {i.spec.key for i in sim.catalogue.loaded()}
    window = model_window(chat, "Marley was dead: to begin with. " * 20)
    assert window.context_length == 4096 and 0.5 < window.ratio < 2
    sim.unload(key)


def test_a_first_row_longer_than_a_small_budget_is_cut_not_dropped():
    from lmsnb.graphrag.query.context import build_table

    rows = [((1, "SCROOGE", "A miser. " * 600), {"id": "a", "short_id": 1}),
            ((2, "MARLEY", "His partner."), {"id": "b", "short_id": 2})]
    ctx = build_table("entities", ("id", "entity", "description"), rows, 600)
    table = ctx.tables["entities"]
    assert list(table["id"]) == ["a"] and bool(table["shortened"].iloc[0])
    assert 400 < ctx.tokens <= 600 and "SCROOGE" in ctx.text
    assert not build_table("entities", ("id", "entity", "description"), rows, 150).tables
