"""Max Concurrent Predictions: at most N predictions per loaded instance, the rest queue silently.

Driven with the unmodified ``lmstudio`` SDK (sync client in threads, async client with tasks) and
plain httpx for REST. A gate behaviour holds running predictions open, so every assertion is
about order and state, never about time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import lmstudio as lms
import pytest
from websockets.sync.client import connect

from lmsnb.sim import ModelSpec, Simulator, Timing

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

QWEN = "qwen2.5-7b-instruct"
LLAMA = "llama-3.2-1b-instruct"


class Gate:
    """A behaviour that blocks every prediction until opened, recording who got to run."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, req) -> str:
        with self._lock:
            self.entered.append(req.last_user)
        self.opened.wait(20)
        return f"done {req.last_user}"

    def open(self) -> None:
        self.opened.set()


def warm(model: lms.LLM) -> None:
    """One prediction before using the sync client from several threads: msgspec 0.22 (the
    SDK's decoder) can crash the process when threads decode a struct type for the first
    time at once (seen with the SDK against this simulator and before these changes)."""
    model.respond("warm up")


def wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


async def async_wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def test_gguf_model_runs_four_at_once_and_queues_the_rest_silently_sync(sim):
    gate = Gate()
    sim.set_behaviour(gate)
    progress: dict[str, list[float]] = {f"q{i}": [] for i in range(6)}
    fragments: dict[str, list[str]] = {k: [] for k in progress}
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        sim.set_behaviour("echo")
        warm(model)
        sim.set_behaviour(gate)
        sim.counters.reset()

        def ask(prompt: str) -> lms.PredictionResult:
            return model.respond(prompt, on_prompt_processing_progress=progress[prompt].append,
                                 on_prediction_fragment=lambda f: fragments[prompt].append(f))

        with ThreadPoolExecutor(6) as pool:
            futures = {p: pool.submit(ask, p) for p in progress}
            wait_until(lambda: sim.counters.predictions(QWEN).waiting == 2)
            counts = sim.counters.predictions(QWEN)
            assert (counts.running, counts.waiting, counts.started) == (4, 2, 4)
            wait_until(lambda: len(gate.entered) == 4)
            queued = [p for p in progress if p not in gate.entered]
            assert len(queued) == 2
            for p in queued:  # nothing at all on the wire while queued
                assert progress[p] == [] and fragments[p] == []
                assert not futures[p].done()
            gate.open()
            results = {p: f.result(timeout=20) for p, f in futures.items()}
    assert all(r.content == f"done {p}" for p, r in results.items())
    assert all(progress[p][0] == 0.0 and progress[p][-1] == 1.0 for p in progress)
    counts = sim.counters.predictions(QWEN)
    assert counts.max_running == 4 and counts.queued == 2 and counts.max_waiting == 2
    assert (counts.started, counts.finished, counts.running, counts.waiting) == (6, 6, 0, 0)


def test_queue_is_fifo_and_a_cancelled_queued_request_never_runs_async():
    gate = Gate()
    models = [ModelSpec("mlx-llm", format="safetensors", loaded=True)]  # MLX: one at a time
    with Simulator(models=models, behaviour=gate) as sim:

        async def main() -> dict[str, lms.PredictionResult]:
            async with lms.AsyncClient(sim.host) as client:
                model = await client.llm.model("mlx-llm")
                tasks = {}
                streams = {}
                for i, prompt in enumerate(("first", "second", "third", "fourth")):
                    streams[prompt] = await model.respond_stream(prompt)
                    tasks[prompt] = asyncio.ensure_future(streams[prompt].wait_for_result())
                    # arrival order is what FIFO is about: wait until this one is in
                    await async_wait_until(lambda i=i: sim.counters.predictions("mlx-llm").queued == i)
                counts = sim.counters.predictions("mlx-llm")
                assert (counts.running, counts.waiting) == (1, 3)
                await streams["third"].cancel()  # still queued: leaves the queue, never generates
                await async_wait_until(lambda: sim.counters.predictions("mlx-llm").waiting == 2)
                gate.open()
                return {p: await t for p, t in tasks.items()}

        results = asyncio.run(main())
        assert gate.entered == ["first", "second", "fourth"]
        assert results["third"].stats.stop_reason == "userStopped"
        assert results["third"].content == "" and results["third"].stats.predicted_tokens_count == 0
        assert results["fourth"].content == "done fourth"
        counts = sim.counters.predictions("mlx-llm")
        assert counts.max_running == 1
        assert (counts.started, counts.finished, counts.cancelled, counts.queued) == (3, 3, 1, 3)


def test_limit_per_catalogue_entry_at_load_and_default():
    gate = Gate()
    models = [ModelSpec("two-at-once", max_concurrent_predictions=2, loaded=True),
              ModelSpec("plain", loaded=True)]
    with Simulator(models=models, max_concurrent_predictions=3) as s:
        s.load("plain", "plain-one", max_concurrent_predictions=1)
        with lms.Client(s.host) as client:
            warm(client.llm.model("plain"))
            s.set_behaviour(gate)
            s.counters.reset()
            limits = {i.identifier: i.max_concurrent_predictions for i in s.catalogue.loaded()}
            assert limits == {"two-at-once": 2, "plain": 3, "plain-one": 1}
            with ThreadPoolExecutor(12) as pool:
                futures = [pool.submit(client.llm.model(ident).respond, f"{ident} {n}")
                           for ident in limits for n in range(4)]
                wait_until(lambda: len(gate.entered) == 2 + 3 + 1)
                # every request has reached the server (the rest wait in the queues) before
                # the running ones finish: under load the last ones can still be on their way
                wait_until(lambda: all(s.counters.predictions(i).queued == 4 - n
                                       for i, n in limits.items()))
                gate.open()
                assert all(f.result(timeout=20).content.startswith("done") for f in futures)
        for ident, limit in limits.items():
            counts = s.counters.predictions(ident)
            assert counts.max_running == limit and counts.finished == 4
            assert counts.queued == 4 - limit


def test_limit_sent_with_load_config(sim):
    """``llm.load.numParallelSessions`` (lmstudio-js, ``lms load --parallel``) sets the limit."""
    fields = [{"key": "llm.load.numParallelSessions", "value": 2}]
    with connect(f"ws://{sim.host}/llm") as ws:
        ws.send(json.dumps({"authVersion": 1, "clientIdentifier": "raw", "clientPasskey": "x"}))
        assert json.loads(ws.recv()) == {"success": True}
        ws.send(json.dumps({"type": "channelCreate", "endpoint": "loadModel", "channelId": 1,
                            "creationParameter": {"modelKey": LLAMA, "identifier": "par2",
                                                  "loadConfigStack": {"layers": [{
                                                      "layerName": "apiOverride",
                                                      "config": {"fields": fields}}]}}}))
        while json.loads(ws.recv())["type"] != "channelClose":
            pass
    assert sim.catalogue.get("par2").max_concurrent_predictions == 2
    with lms.Client(sim.host) as client:
        config = client.llm.model("par2").get_load_config()
    assert config.context_length == 4096


def test_rest_requests_share_the_queue(sim):
    gate = Gate()
    sim.set_behaviour(gate)
    body = {"model": QWEN, "messages": [{"role": "user", "content": "over rest"}]}
    with lms.Client(sim.host) as client, ThreadPoolExecutor(5) as pool:
        model = client.llm.model(QWEN)
        sim.set_behaviour("echo")
        warm(model)
        sim.set_behaviour(gate)
        ws_calls = [pool.submit(model.respond, f"ws {i}") for i in range(4)]
        wait_until(lambda: len(gate.entered) == 4)
        rest = pool.submit(httpx.post, f"{sim.url}/v1/chat/completions", json=body, timeout=30)
        wait_until(lambda: sim.counters.predictions(QWEN).waiting == 1)
        assert "over rest" not in gate.entered
        gate.open()
        assert rest.result(timeout=20).json()["choices"][0]["message"]["content"] == "done over rest"
        assert all(f.result(timeout=20).content.startswith("done ws") for f in ws_calls)
    assert sim.counters.predictions(QWEN).max_running == 4


def test_unload_ends_running_and_queued_predictions(sim):
    gate = Gate()
    sim.load(LLAMA, max_concurrent_predictions=1)
    with lms.Client(sim.host) as client, ThreadPoolExecutor(2) as pool:
        model = client.llm.model(LLAMA)
        warm(model)
        sim.set_behaviour(gate)
        sim.counters.reset()
        running = pool.submit(model.respond, "running")
        wait_until(lambda: gate.entered == ["running"])
        queued = pool.submit(model.respond, "queued")
        wait_until(lambda: sim.counters.predictions(LLAMA).waiting == 1)
        sim.unload(LLAMA)
        assert queued.result(timeout=20).stats.stop_reason == "modelUnloaded"
        gate.open()
        assert running.result(timeout=20).stats.stop_reason == "modelUnloaded"
    counts = sim.counters.predictions(LLAMA)
    assert (counts.started, counts.unloaded, counts.running, counts.waiting) == (1, 2, 0, 0)


def test_queued_requests_wait_then_run_at_full_speed(sim):
    """Under load each running prediction keeps the model's pace; queued ones only wait.

    No wall-clock bounds (the CPU is shared): the reported stats must agree with the setting.
    """
    sim.set_behaviour("lorem")
    # a second before each first token: all six requests reach the server while the first two
    # run, however busy the machine (tokens/s is measured from the first token)
    sim.timing = Timing(tokens_per_second=400, first_token_latency=1.0)
    sim.load(LLAMA, max_concurrent_predictions=2)

    async def main() -> list[lms.PredictionResult]:
        async with lms.AsyncClient(sim.host) as client:
            model = await client.llm.model(LLAMA)
            return await asyncio.gather(*(model.respond(f"go {i}", config={"maxTokens": 20})
                                          for i in range(6)))

    results = asyncio.run(main())
    assert all(r.stats.predicted_tokens_count == 20 for r in results)
    assert all(r.stats.stop_reason == "maxPredictedTokensReached" for r in results)
    # tokens/s is measured per prediction from its first token: never faster than the model
    assert all(r.stats.tokens_per_second <= 400 * 1.05 for r in results)
    counts = sim.counters.predictions(LLAMA)
    assert counts.max_running == 2 and counts.queued == 4 and counts.finished == 6


def test_reset_keeps_what_is_still_running(sim):
    gate = Gate()
    sim.set_behaviour(gate)
    with lms.Client(sim.host) as client, ThreadPoolExecutor(1) as pool:
        future = pool.submit(client.llm.model(QWEN).respond, "hold")
        wait_until(lambda: gate.entered == ["hold"])
        sim.counters.reset()
        counts = sim.counters.predictions(QWEN)
        assert (counts.started, counts.running, counts.max_running) == (0, 1, 1)
        gate.open()
        future.result(timeout=20)
    assert sim.counters.predictions(QWEN).finished == 1
