"""A tiny in-process stand-in for ``lmsnb.client.Connection`` (unit tests without a server)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from lmsnb.errors import ModelNotFound
from lmsnb.events import Done, FirstToken, Fragment, PredictionStats, PromptProgress


class FakePrediction:
    def __init__(self, words: list[str], delay: float, model: str) -> None:
        self.words, self.delay, self.model = words, delay, model
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def __iter__(self):
        start = time.perf_counter()
        yield PromptProgress(0.0)
        yield PromptProgress(1.0)
        text = ""
        for i, word in enumerate(self.words):
            if self._cancel.is_set():
                break
            if i == 0:
                yield FirstToken(time.perf_counter() - start)
            text += word
            yield Fragment(word)
            if self.delay:
                time.sleep(self.delay)
        stats = PredictionStats(model=self.model, prompt_tokens=5, predicted_tokens=len(text.split()),
                                tokens_per_second=100.0, time_to_first_token=0.01,
                                stop_reason="userStopped" if self._cancel.is_set() else "eosFound")
        yield Done(text, stats)


class FakeConnection:
    host = "fake:1234"

    def __init__(self, words: list[str] | None = None, delay: float = 0.0) -> None:
        self.words = words
        self.delay = delay
        self.calls: list[dict[str, Any]] = []

    def predict(self, model, history, *, config=None, response_format=None, kind="chat"):
        if model == "nope":
            raise ModelNotFound("Model 'nope' is not available", hint="did you mean 'qwen'?")
        self.calls.append({"model": model, "history": [dict(m) for m in history],
                           "config": config})
        words = self.words or [f"echo: {history[-1]['content']}"]
        return FakePrediction(list(words), self.delay, model or "qwen")

    def embed(self, model, texts, *, on_progress=None):
        if on_progress:
            on_progress(len(texts), len(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    def default_model(self, kind="llm"):
        return "qwen" if kind == "llm" else "nomic"
