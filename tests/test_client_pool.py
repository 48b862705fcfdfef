"""Scheduled calls (GraphRAG's) through lmsnb.client: hosts, failover, stalls, cancels.

Everything runs against in-process simulators through the unmodified SDK; what the servers saw
(their own counters) is compared with what lmsnb reports.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import lmsnb
from lmsnb.client import Connection, HostPool
from lmsnb.errors import Cancelled, ConfigError, ConnectionFailed, RequestTimeout
from lmsnb.sim import Simulator, Timing

LLM = "qwen2.5-7b-instruct"


def wait_until(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


@pytest.fixture
def two_sims():
    timing = Timing(tokens_per_second=100)
    with Simulator(port=0, timing=timing) as a, Simulator(port=0, timing=timing) as b:
        for s in (a, b):
            s.set_behaviour("lorem")
        yield a, b


def run_calls(pool, n: int, max_tokens: int = 40, **kw):
    with ThreadPoolExecutor(n) as ex:
        futures = [ex.submit(pool.complete, LLM, f"question {i}",
                             config={"maxTokens": max_tokens}, **kw) for i in range(n)]
        return [f.result() for f in futures]


def predict_requests(sim: Simulator) -> int:
    return sim.counters["llm.predict"].requests


# -- connecting to several hosts ---------------------------------------------------------


def test_connect_accepts_several_hosts_in_the_forms_people_write(two_sims):
    a, b = two_sims
    try:
        for given in ([a.host, b.host], f"{a.host}, {b.host}", f"{a.host} {b.host}"):
            pool = lmsnb.connect(given)
            assert isinstance(pool, HostPool) and pool.hosts == [a.host, b.host]
            assert lmsnb.get_connection() is pool
            assert "2 LM Studio hosts" in pool.label
        pool = lmsnb.connect(hosts=[a.host, f"http://{b.host}/v1"])
        assert pool.hosts == [a.host, b.host]
        assert isinstance(lmsnb.connect([a.host]), Connection)  # one host: a plain connection
        with pytest.raises(ConfigError, match="host or hosts="):
            lmsnb.connect(a.host, hosts=[b.host])
        with pytest.raises(ConnectionFailed, match="127.0.0.1:9"):
            lmsnb.connect([a.host, "127.0.0.1:9"])
    finally:
        lmsnb.connect(a.host, check=False)


def test_env_variable_with_several_hosts_makes_a_pool(two_sims, monkeypatch):
    from lmsnb.client import connection

    a, b = two_sims
    monkeypatch.setenv("LMSNB_HOST", f"{a.host},{b.host}")
    monkeypatch.setattr(connection, "_connection", None)
    conn = lmsnb.get_connection()
    assert isinstance(conn, HostPool) and conn.hosts == [a.host, b.host]
    assert conn.default_model("llm") == LLM


def test_a_pool_loads_and_unloads_on_every_host(two_sims):
    a, b = two_sims
    pool = HostPool([Connection(a.host), Connection(b.host)])
    seen: list[float] = []
    pool.load("llama-3.2-1b-instruct", on_progress=seen.append)
    for s in (a, b):
        assert any(i.spec.key == "llama-3.2-1b-instruct" for i in s.catalogue.loaded("llm"))
    assert seen and seen[-1] == 1.0
    pool.unload("llama-3.2-1b-instruct")
    for s in (a, b):
        assert not any(i.spec.key == "llama-3.2-1b-instruct" for i in s.catalogue.loaded("llm"))


# -- spreading and failover ----------------------------------------------------------------


def test_calls_are_spread_over_hosts_and_counted_per_host(two_sims):
    a, b = two_sims
    pool = HostPool([Connection(a.host), Connection(b.host)])
    done = run_calls(pool, 8, concurrency=2)
    assert all(d.text.startswith("Lorem") for d in done)
    by_host = {h: sum(d.stats.host == h for d in done) for h in pool.hosts}
    assert all(n >= 2 for n in by_host.values()), by_host
    stats = pool.stats().set_index("host")
    for s in (a, b):  # the servers saw exactly what lmsnb says it sent them
        assert predict_requests(s) == stats.loc[s.host, "calls"] == by_host[s.host]
        assert stats.loc[s.host, "completion_tokens"] == 40 * by_host[s.host]


def test_a_host_that_dies_midway_hands_its_calls_to_the_others(two_sims):
    a, b = two_sims
    pool = HostPool([Connection(a.host), Connection(b.host)])
    with ThreadPoolExecutor(6) as ex:
        futures = [ex.submit(pool.complete, LLM, f"q{i}", config={"maxTokens": 60},
                             concurrency=3) for i in range(6)]
        wait_until(lambda: b.counters.predictions(LLM).running >= 2)  # b is generating
        b.stop()
        done = [f.result() for f in futures]
    assert all(d.text.startswith("Lorem") and d.stats.predicted_tokens == 60 for d in done)
    assert all(d.stats.host == a.host for d in done if d.stats.attempts > 1)
    stats = pool.stats().set_index("host")
    assert stats.loc[b.host, "failed_over"] >= 1 and bool(stats.loc[b.host, "down"])
    sent = sum(d.stats.attempts for d in done)
    assert sent == stats["calls"].sum() and predict_requests(a) == stats.loc[a.host, "calls"]
    assert predict_requests(b) <= stats.loc[b.host, "calls"]  # one sent as it died may be lost
    assert stats.loc[a.host, "completed"] + stats.loc[b.host, "completed"] == 6
    # nothing generated twice: each call finished on exactly one server; b's unfinished ones
    # stopped with it
    finished = [s.counters.predictions(LLM).finished for s in (a, b)]
    assert sum(finished) == 6 and finished[1] == stats.loc[b.host, "completed"]


@pytest.mark.parametrize("slots", [1, 3])
def test_auto_concurrency_learns_how_many_calls_a_host_runs(slots):
    with Simulator(port=0, timing=Timing(tokens_per_second=100),
                   max_concurrent_predictions=slots) as sim:
        sim.set_behaviour("lorem")
        conn = Connection(sim.host)
        done = run_calls(conn, 12, max_tokens=30)
        counts = sim.counters.predictions(LLM)
    assert all(d.stats.predicted_tokens == 30 for d in done)
    assert counts.finished == 12 and counts.max_running == slots
    assert counts.max_waiting <= 1  # only the check for one more ever waits in LM Studio's queue
    assert conn.pool.capacity(LLM) == {sim.host: slots}


def test_waiting_calls_take_a_free_slot_by_priority_then_in_arrival_order():
    """One slot, one call running; five wait. They run highest priority first, and among
    equals the one that came first (a build's order: most-names-first chunks, gleaning
    before the next extraction)."""
    ran: list[str] = []
    release = threading.Event()

    def behaviour(req):
        ran.append(req.last_user)
        if req.last_user == "first":
            release.wait(20)
        return "ok"

    with Simulator(port=0, behaviour=behaviour, max_concurrent_predictions=1) as sim:
        conn = Connection(sim.host)
        pool = conn.pool
        with ThreadPoolExecutor(6) as ex:
            futures = [ex.submit(pool.complete, LLM, "first", concurrency=1)]
            wait_until(lambda: ran == ["first"])
            for i, (name, priority) in enumerate([("a", 0), ("b", 1.5), ("c", 0), ("d", 0.5),
                                                  ("e", 1.5)]):
                futures.append(ex.submit(pool.complete, LLM, name, concurrency=1,
                                         priority=priority))
                wait_until(lambda n=i + 1: len(pool._queues[LLM]) == n)
            release.set()
            for f in futures:
                f.result()
    assert ran == ["first", "b", "e", "d", "a", "c"]


def test_an_explicit_concurrency_wins_and_queued_calls_are_not_errors(sync_timeout):
    """Six in flight on a server that runs four: two wait in its queue past the silence limit,
    and that is fine — no timeout, no retry, six predictions on the server."""
    with Simulator(port=0, timing=Timing(tokens_per_second=20),
                   max_concurrent_predictions=4) as sim:
        sim.set_behaviour("lorem")
        lmsnb.set_timeout(1)
        conn = Connection(sim.host)
        done = run_calls(conn, 6, max_tokens=40, concurrency=6)  # 2 s each
        counts = sim.counters.predictions(LLM)
        assert sim.counters["llm.predict"].requests == 6
    assert counts.max_running == 4 and counts.max_waiting == 2 and counts.finished == 6
    assert all(d.stats.attempts == 1 for d in done)
    # (the two queued waited for a 2 s prediction to end: twice the silence limit)
    assert sum(d.stats.queued_seconds > 0 for d in done) >= 2
    with Simulator(port=0, max_concurrent_predictions=4) as sim:
        conn = Connection(sim.host)
        run_calls(conn, 8, max_tokens=5, concurrency=2)
        assert sim.counters.predictions(LLM).max_running <= 2


def test_a_host_that_comes_back_is_used_again(two_sims, monkeypatch):
    from lmsnb.client import pool as pool_mod

    monkeypatch.setattr(pool_mod, "REVIVE_EVERY", 0.1)
    a, b = two_sims
    pool = HostPool([Connection(a.host), Connection(b.host)])
    run_calls(pool, 4, concurrency=2)
    b.stop()
    run_calls(pool, 4, concurrency=2)
    assert bool(pool.stats().set_index("host").loc[b.host, "down"])
    b.start()  # same port
    wait_until(lambda: not pool.stats().set_index("host").loc[b.host, "down"])
    before = predict_requests(b)
    run_calls(pool, 6, concurrency=2)
    assert predict_requests(b) > before


def test_every_host_down_is_one_clear_error(two_sims, monkeypatch):
    from lmsnb.client import pool as pool_mod

    monkeypatch.setattr(pool_mod, "DOWN_WAIT", 0.5)
    a, b = two_sims
    pool = HostPool([Connection(a.host), Connection(b.host)])
    a.stop()
    b.stop()
    with pytest.raises(ConnectionFailed, match="No LM Studio host answers"):
        pool.complete(LLM, "hi")


# -- queued, stalled, cancelled --------------------------------------------------------------


def test_a_stalled_prediction_is_cancelled_on_the_server(sim, sync_timeout):
    """Started, then silent past the limit: lmsnb gives up and the server stops generating."""
    sim.set_behaviour("lorem")
    sim.timing = Timing(tokens_per_second=200)
    lmsnb.set_timeout(2)
    sim.inject("stall", "predict", after=5, seconds=5)
    conn = Connection(sim.host)
    with pytest.raises(RequestTimeout, match="stopped answering a prediction"):
        conn.complete(LLM, "hi", config={"maxTokens": 400})
    assert conn.pool.stats()["timeouts"].sum() == 1
    # the server was told to stop: it ended the prediction right after its stall
    assert sim.counters["llm.predict"].generated_tokens < 10
    assert conn.complete(LLM, "again", config={"maxTokens": 5}).stats.predicted_tokens == 5


def test_a_slow_prompt_read_is_not_a_stall(sim, sync_timeout):
    """A long prompt on a slow machine reports its progress seconds apart, longer than the
    silence limit: the host still answers, so lmsnb waits — one generation, no retry (#11)."""

    def slow_reader(req):
        for i in range(1, 4):
            time.sleep(1.5)  # reading the prompt
            req.report_prompt_progress(i / 3)
        yield "read it all"

    sim.set_behaviour(slow_reader)
    lmsnb.set_timeout(1)
    conn = Connection(sim.host)
    done = conn.complete(LLM, "a long prompt", config={"maxTokens": 20})
    assert done.text == "read it all" and done.stats.attempts == 1
    assert sim.counters["llm.predict"].requests == 1
    assert conn.pool.stats()["timeouts"].sum() == 0


def test_an_aborted_build_cancels_its_calls_in_flight(sim):
    sim.set_behaviour("lorem")
    sim.timing = Timing(tokens_per_second=50)
    conn = Connection(sim.host)
    abort = threading.Event()
    with ThreadPoolExecutor(3) as ex:
        futures = [ex.submit(conn.complete, LLM, f"q{i}", config={"maxTokens": 500},
                             abort=abort) for i in range(3)]
        wait_until(lambda: sim.counters.predictions(LLM).running == 3)  # all three generating
        abort.set()
        for f in futures:
            with pytest.raises(Cancelled):
                f.result()
    assert sim.counters["llm.predict"].generated_tokens < 3 * 100
    with pytest.raises(Cancelled):  # nothing new starts after an abort
        conn.complete(LLM, "late", abort=abort)


def test_lms_host_magic_connects_to_several_hosts(two_sims, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from lmsnb import magics

    a, b = two_sims
    shell = InteractiveShell.instance()
    magics.register(shell)
    try:
        shell.run_line_magic("lms_host", f"{a.host} {b.host}")
        assert f"connected to 2 LM Studio hosts: {a.host}, {b.host}" in capsys.readouterr().out
        assert isinstance(lmsnb.get_connection(), HostPool)
        b.stop()
        shell.run_line_magic("lms_host", "")
        out = capsys.readouterr().out
        assert f"LM Studio at {a.host} (reachable)" in out
        assert f"LM Studio at {b.host} (NOT reachable)" in out
    finally:
        shell.events.unregister("pre_run_cell", magics._before_cell)
        lmsnb.connect(a.host, check=False)


def test_auto_concurrency_on_several_hosts_uses_free_slots_before_trying_more():
    timing = Timing(tokens_per_second=100)
    with Simulator(port=0, timing=timing, max_concurrent_predictions=1) as a, \
            Simulator(port=0, timing=timing, max_concurrent_predictions=2) as b:
        for s in (a, b):
            s.set_behaviour("lorem")
        pool = HostPool([Connection(a.host), Connection(b.host)])
        done = run_calls(pool, 12, max_tokens=30)
        counts = {s.host: s.counters.predictions(LLM) for s in (a, b)}
    assert all(d.stats.predicted_tokens == 30 for d in done)
    assert counts[a.host].max_running == 1 and counts[b.host].max_running == 2
    assert all(c.max_waiting <= 1 for c in counts.values())
    assert pool.capacity(LLM) == {a.host: 1, b.host: 2}
