"""The same SDK call made through the sync ``lmstudio.Client`` and the ``AsyncClient``.

Simulator tests parametrize over both (``@BOTH``), so each behaviour is checked the way either
kind of application would see it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import lmstudio as lms
import pytest


class SyncSDK:
    """``with SyncSDK(host) as sdk: sdk.respond(...)`` through ``lmstudio.Client``."""

    name = "sync"

    def __init__(self, host: str) -> None:
        self.host = host

    def respond(self, model: str, history: Any, **kw: Any) -> lms.PredictionResult:
        with lms.Client(self.host) as client:
            return client.llm.model(model).respond(history, **kw)

    def complete(self, model: str, prompt: str, **kw: Any) -> lms.PredictionResult:
        with lms.Client(self.host) as client:
            return client.llm.model(model).complete(prompt, **kw)

    def embed(self, model: str, texts: Any) -> Any:
        with lms.Client(self.host) as client:
            return client.embedding.model(model).embed(texts)

    def call(self, fn: Any) -> Any:
        """``fn(client)`` with a sync client (for anything else)."""
        with lms.Client(self.host) as client:
            return fn(client)


class AsyncSDK:
    """The same through ``lmstudio.AsyncClient`` (each call in its own event loop)."""

    name = "async"

    def __init__(self, host: str) -> None:
        self.host = host

    def _run(self, fn: Any) -> Any:
        async def main() -> Any:
            async with lms.AsyncClient(self.host) as client:
                return await fn(client)

        return asyncio.run(main())

    def respond(self, model: str, history: Any, **kw: Any) -> lms.PredictionResult:
        async def go(client: lms.AsyncClient) -> Any:
            return await (await client.llm.model(model)).respond(history, **kw)

        return self._run(go)

    def complete(self, model: str, prompt: str, **kw: Any) -> lms.PredictionResult:
        async def go(client: lms.AsyncClient) -> Any:
            return await (await client.llm.model(model)).complete(prompt, **kw)

        return self._run(go)

    def embed(self, model: str, texts: Any) -> Any:
        async def go(client: lms.AsyncClient) -> Any:
            return await (await client.embedding.model(model)).embed(texts)

        return self._run(go)

    def call(self, fn: Any) -> Any:
        """``await fn(client)`` with an async client."""
        return self._run(fn)


BOTH = pytest.mark.parametrize("SDK", [SyncSDK, AsyncSDK], ids=["sync", "async"])
