"""Models the simulator knows about: downloaded specs and loaded instances.

Why a separate module: both the websocket protocol and the REST endpoints resolve model names the
same way (instance identifier, then model key, then path), and tests configure the catalogue
directly. All methods are synchronous and guarded by a lock, so the test thread may inspect or
change the catalogue while the server's loop runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Domain = Literal["llm", "embedding"]

__all__ = ["Domain", "ModelSpec", "Instance", "Catalogue", "default_models"]


@dataclass
class ModelSpec:
    """A downloaded model. ``loaded=True`` means it is loaded when the simulator starts."""

    key: str
    type: Domain = "llm"
    display_name: str = ""
    publisher: str = "lmstudio-community"
    size_bytes: int = 4_000_000_000
    max_context_length: int = 32768
    context_length: int = 4096  # context length used when loaded without a config
    dim: int = 768  # embedding dimension (embedding models only)
    format: str = "gguf"
    params_string: str | None = None
    architecture: str | None = None
    vision: bool = False
    trained_for_tool_use: bool = True
    loaded: bool = False
    behaviour: Any = None  # per-model behaviour (name or callable); None = simulator default

    def __post_init__(self) -> None:
        if not self.display_name:
            self.display_name = self.key

    @property
    def path(self) -> str:
        return f"{self.publisher}/{self.key}-GGUF/{self.key}-Q4_K_M.gguf"

    def info(self) -> dict[str, Any]:
        """The wire ``LlmInfo`` / ``EmbeddingModelInfo`` dict."""
        out: dict[str, Any] = {
            "type": self.type,
            "modelKey": self.key,
            "format": self.format,
            "displayName": self.display_name,
            "path": self.path,
            "sizeBytes": self.size_bytes,
            "maxContextLength": self.max_context_length,
        }
        if self.type == "llm":
            out["vision"] = self.vision
            out["trainedForToolUse"] = self.trained_for_tool_use
        if self.params_string is not None:
            out["paramsString"] = self.params_string
        if self.architecture is not None:
            out["architecture"] = self.architecture
        return out

    def matches(self, query: str) -> bool:
        return query in (self.key, self.path, self.display_name) or self.path.startswith(
            query + "/"
        )


@dataclass
class Instance:
    """A loaded model instance."""

    identifier: str
    spec: ModelSpec
    context_length: int
    instance_reference: str
    load_fields: list[dict[str, Any]] = field(default_factory=list)
    ttl_seconds: float | None = None
    last_used: float = field(default_factory=time.monotonic)

    @property
    def type(self) -> Domain:
        return self.spec.type

    def info(self) -> dict[str, Any]:
        """The wire ``LlmInstanceInfo`` / ``EmbeddingModelInstanceInfo`` dict."""
        out = self.spec.info()
        out["identifier"] = self.identifier
        out["instanceReference"] = self.instance_reference
        out["contextLength"] = self.context_length
        return out

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def load_config(self) -> dict[str, Any]:
        """KvConfig of the load: the fields the client sent, with the context length filled in."""
        ctx_key = f"{self.type}.load.contextLength"
        fields = [f for f in self.load_fields if f.get("key") != ctx_key]
        return {"fields": [{"key": ctx_key, "value": self.context_length}, *fields]}


def default_models() -> list[ModelSpec]:
    """The default catalogue; other lmsnb tests rely on these exact keys."""
    return [
        ModelSpec(
            "qwen2.5-7b-instruct",
            display_name="Qwen2.5 7B Instruct",
            size_bytes=4_683_073_952,
            max_context_length=32768,
            context_length=4096,
            params_string="7B",
            architecture="qwen2",
            loaded=True,
        ),
        ModelSpec(
            "llama-3.2-1b-instruct",
            display_name="Llama 3.2 1B Instruct",
            size_bytes=807_690_656,
            max_context_length=131072,
            context_length=4096,
            params_string="1B",
            architecture="llama",
        ),
        ModelSpec(
            "text-embedding-nomic-embed-text-v1.5",
            type="embedding",
            display_name="Nomic Embed Text v1.5",
            publisher="nomic-ai",
            size_bytes=84_106_624,
            max_context_length=2048,
            context_length=2048,
            dim=768,
            architecture="nomic-bert",
            loaded=True,
        ),
        ModelSpec(
            "text-embedding-bge-small-en-v1.5",
            type="embedding",
            display_name="BGE Small EN v1.5",
            publisher="CompendiumLabs",
            size_bytes=24_808_576,
            max_context_length=512,
            context_length=512,
            dim=384,
            architecture="bert",
        ),
    ]


class Catalogue:
    """Downloaded models plus loaded instances (identifiers ``key``, ``key:2``, … like LM Studio)."""

    def __init__(self, models: Iterable[ModelSpec] | None = None) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, ModelSpec] = {}
        self._instances: dict[str, Instance] = {}
        self._refs = 0
        for spec in default_models() if models is None else models:
            self.add(spec)

    # -- downloaded models ------------------------------------------------------------------
    def add(self, spec: ModelSpec) -> ModelSpec:
        """Add (or replace) a downloaded model; load it now if ``spec.loaded``."""
        with self._lock:
            self._models[spec.key] = spec
            if spec.loaded and not any(i.spec.key == spec.key for i in self._instances.values()):
                self.load(spec)
        return spec

    def remove(self, key: str) -> None:
        with self._lock:
            self._models.pop(key, None)
            for ident in [i.identifier for i in self._instances.values() if i.spec.key == key]:
                del self._instances[ident]

    def downloaded(self, domain: Domain | None = None) -> list[ModelSpec]:
        with self._lock:
            return [m for m in self._models.values() if domain in (None, m.type)]

    def find_downloaded(self, query: str, domain: Domain | None = None) -> ModelSpec | None:
        with self._lock:
            for spec in self._models.values():
                if domain in (None, spec.type) and spec.matches(query):
                    return spec
        return None

    # -- loaded instances -------------------------------------------------------------------
    def loaded(self, domain: Domain | None = None) -> list[Instance]:
        with self._lock:
            return [i for i in self._instances.values() if domain in (None, i.type)]

    def find_loaded(
        self, query: str | None, domain: Domain | None = None, *, reference: str | None = None
    ) -> Instance | None:
        """Match by instance reference, identifier, then model key/path; None query = first."""
        with self._lock:
            candidates = self.loaded(domain)
            if reference is not None:
                return next((i for i in candidates if i.instance_reference == reference), None)
            if query is None:
                return candidates[0] if candidates else None
            for inst in candidates:
                if inst.identifier == query:
                    return inst
            for inst in candidates:
                if inst.spec.matches(query):
                    return inst
        return None

    def get(self, identifier: str) -> Instance | None:
        with self._lock:
            return self._instances.get(identifier)

    def new_identifier(self, key: str) -> str:
        with self._lock:
            if key not in self._instances:
                return key
            n = 2
            while f"{key}:{n}" in self._instances:
                n += 1
            return f"{key}:{n}"

    def load(
        self,
        spec: ModelSpec | str,
        identifier: str | None = None,
        *,
        fields: list[dict[str, Any]] | None = None,
        context_length: int | None = None,
        ttl_seconds: float | None = None,
    ) -> Instance:
        """Register a loaded instance (instantly; simulated load time is the server's job)."""
        with self._lock:
            if isinstance(spec, str):
                found = self.find_downloaded(spec)
                if found is None:
                    raise KeyError(spec)
                spec = found
            ident = identifier or self.new_identifier(spec.key)
            if ident in self._instances:
                raise ValueError(f"an instance with identifier {ident!r} is already loaded")
            self._refs += 1
            ctx = min(context_length or spec.context_length, spec.max_context_length)
            inst = Instance(
                identifier=ident,
                spec=spec,
                context_length=ctx,
                instance_reference=f"sim-instance-{self._refs:04d}",
                load_fields=list(fields or []),
                ttl_seconds=ttl_seconds,
            )
            self._instances[ident] = inst
            return inst

    def unload(self, identifier: str) -> Instance | None:
        with self._lock:
            return self._instances.pop(identifier, None)

    def expire(self, now: float | None = None, on_unload: Callable[[Instance], None] | None = None) -> list[str]:
        """Unload instances idle for longer than their TTL; returns their identifiers."""
        now = time.monotonic() if now is None else now
        gone = []
        with self._lock:
            for inst in list(self._instances.values()):
                if inst.ttl_seconds is not None and now - inst.last_used > inst.ttl_seconds:
                    del self._instances[inst.identifier]
                    gone.append(inst.identifier)
                    if on_unload:
                        on_unload(inst)
        return gone
