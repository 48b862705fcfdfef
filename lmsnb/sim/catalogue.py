"""Models the simulator knows about: downloaded specs and loaded instances.

Why a separate module: both the websocket protocol and the REST endpoints resolve model names the
same way (instance identifier, then model key, then path or path prefix, case-insensitively, as
LM Studio does), and tests configure the catalogue directly. All methods are synchronous and
guarded by a lock, so the test thread may inspect or change the catalogue while the server's loop
runs. Each loaded LLM instance has its own prediction :class:`~lmsnb.sim.slots.Slots`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .slots import Slots, default_max_concurrent
from .timing import Counters

Domain = Literal["llm", "embedding"]

__all__ = ["Domain", "ModelSpec", "Instance", "Catalogue", "default_models"]


@dataclass
class ModelSpec:
    """A downloaded model. ``loaded=True`` means it is loaded when the simulator starts.

    ``path`` is the model's path under LM Studio's models folder (default:
    ``publisher/KEY-GGUF/KEY-Q4_K_M.gguf``); requests may name the model by it or by any prefix
    of it, case-insensitively (``"hugging-quants/llama-3.2-1b-instruct"``).
    ``max_concurrent_predictions`` is LM Studio's "Max Concurrent Predictions" for instances of
    this model (None: the engine default, 4 for GGUF, 1 for MLX, i.e. ``format="safetensors"``).
    ``behaviour`` / ``embedder`` override the simulator's for this model.
    """

    key: str
    type: Domain = "llm"
    display_name: str = ""
    publisher: str = ""  # default: the first part of ``path``, else "lmstudio-community"
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
    path: str = ""
    max_concurrent_predictions: int | None = None
    embedder: Any = None  # per-model embedding callable f(text) -> vector (embedding models)

    def __post_init__(self) -> None:
        if not self.display_name:
            self.display_name = self.key
        if not self.publisher:
            self.publisher = self.path.split("/")[0] if "/" in self.path else "lmstudio-community"
        if not self.path:
            self.path = f"{self.publisher}/{self.key}-GGUF/{self.key}-Q4_K_M.gguf"

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
        """Key, display name, path or path prefix, ignoring case (LM Studio's model lookup)."""
        q = query.lower()
        return bool(q) and (q in (self.key.lower(), self.display_name.lower())
                            or self.path.lower().startswith(q))


@dataclass
class Instance:
    """A loaded model instance. ``jit``: loaded on demand (``getOrLoad``, or a request naming a
    model that was not loaded), so LM Studio's auto-evict may unload it for the next JIT load."""

    identifier: str
    spec: ModelSpec
    context_length: int
    instance_reference: str
    slots: Slots
    load_fields: list[dict[str, Any]] = field(default_factory=list)
    ttl_seconds: float | None = None
    last_used: float = field(default_factory=time.monotonic)
    jit: bool = False
    unloaded: bool = False  # set when unloaded: running predictions stop ("modelUnloaded")

    @property
    def max_concurrent_predictions(self) -> int | None:
        return self.slots.limit

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
        """KvConfig of the load: the fields the client sent, with the context length (and, for
        LLMs, the max concurrent predictions) filled in."""
        filled = {f"{self.type}.load.contextLength": self.context_length}
        if self.type == "llm" and self.slots.limit is not None:
            filled[PARALLEL_KEY] = self.slots.limit
        fields = [f for f in self.load_fields if f.get("key") not in filled]
        return {"fields": [*({"key": k, "value": v} for k, v in filled.items()), *fields]}

    def mark_unloaded(self) -> None:
        self.unloaded = True
        self.slots.close()


#: The load-config key of "Max Concurrent Predictions" (lmstudio-js ``llm.load.numParallelSessions``).
PARALLEL_KEY = "llm.load.numParallelSessions"


def _int_field(fields: list[dict[str, Any]] | None, key: str) -> int | None:
    value = next((f.get("value") for f in fields or [] if f.get("key") == key), None)
    if isinstance(value, dict) and "checked" in value:  # a checkbox field
        value = value.get("value") if value.get("checked") else None
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else None


def default_models() -> list[ModelSpec]:
    """The default catalogue; other lmsnb tests rely on these exact keys.

    Paths are the ones LM Studio shows for these downloads, so applications may name the models
    by path prefix (``"hugging-quants/llama-3.2-1b-instruct"``, ``"nomic-ai/nomic-embed-text-v1.5"``).
    ``qwen2-vl-2b-instruct`` is a vision model (accepts images), downloaded but not loaded.
    """
    return [
        ModelSpec(
            "qwen2.5-7b-instruct",
            display_name="Qwen2.5 7B Instruct",
            path="lmstudio-community/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
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
            path="hugging-quants/Llama-3.2-1B-Instruct-Q8_0-GGUF/llama-3.2-1b-instruct-q8_0.gguf",
            size_bytes=1_321_082_528,
            max_context_length=131072,
            context_length=4096,
            params_string="1B",
            architecture="llama",
        ),
        ModelSpec(
            "text-embedding-nomic-embed-text-v1.5",
            type="embedding",
            display_name="Nomic Embed Text v1.5",
            path="nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf",
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
            path="CompendiumLabs/bge-small-en-v1.5-gguf/bge-small-en-v1.5-q8_0.gguf",
            size_bytes=36_755_008,
            max_context_length=512,
            context_length=512,
            dim=384,
            architecture="bert",
        ),
        ModelSpec(
            "qwen2-vl-2b-instruct",
            display_name="Qwen2 VL 2B Instruct",
            path="lmstudio-community/Qwen2-VL-2B-Instruct-GGUF/Qwen2-VL-2B-Instruct-Q4_K_M.gguf",
            size_bytes=1_594_554_080,
            max_context_length=32768,
            context_length=4096,
            params_string="2B",
            architecture="qwen2vl",
            vision=True,
        ),
    ]


class Catalogue:
    """Downloaded models plus loaded instances (identifiers ``key``, ``key:2``, … like LM Studio).

    ``max_concurrent_predictions`` is the default for models whose spec does not set one (None:
    LM Studio's engine defaults). ``counters`` holds the per-instance prediction counts.
    """

    def __init__(self, models: Iterable[ModelSpec] | None = None, *,
                 max_concurrent_predictions: int | None = None,
                 counters: Counters | None = None) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, ModelSpec] = {}
        self._instances: dict[str, Instance] = {}
        self._refs = 0
        self.max_concurrent_predictions = max_concurrent_predictions
        self.counters = counters or Counters()
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
                self._instances.pop(ident).mark_unloaded()

    def downloaded(self, domain: Domain | None = None) -> list[ModelSpec]:
        with self._lock:
            return [m for m in self._models.values() if domain in (None, m.type)]

    def find_downloaded(self, query: str, domain: Domain | None = None) -> ModelSpec | None:
        """The model with this key (exactly), else the first whose key/path matches."""
        with self._lock:
            exact = self._models.get(query)
            if exact is not None and domain in (None, exact.type):
                return exact
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
        """Match by instance reference, identifier, then model key/path (prefix, any case);
        None query = the first loaded."""
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
                if inst.identifier.lower() == query.lower() or inst.spec.matches(query):
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
        max_concurrent_predictions: int | None = None,
        jit: bool = False,
    ) -> Instance:
        """Register a loaded instance (instantly; simulated load time is the server's job).

        The context length and max concurrent predictions come from the arguments, else the
        load ``fields`` (``llm.load.contextLength``, ``llm.load.numParallelSessions``), else the
        spec, else (concurrency) the catalogue's default, else LM Studio's engine default.
        """
        with self._lock:
            if isinstance(spec, str):
                found = self.find_downloaded(spec)
                if found is None:
                    raise KeyError(spec)
                spec = found
            ident = identifier or self.new_identifier(spec.key)
            if ident in self._instances:
                raise ValueError(f'A model with the identifier "{ident}" already exists')
            self._refs += 1
            ctx = context_length or _int_field(fields, f"{spec.type}.load.contextLength")
            ctx = min(ctx or spec.context_length, spec.max_context_length)
            limit = None
            if spec.type == "llm":
                limit = (max_concurrent_predictions or _int_field(fields, PARALLEL_KEY)
                         or spec.max_concurrent_predictions or self.max_concurrent_predictions
                         or default_max_concurrent(spec.format))
            counts = self.counters.prediction_counts(ident)
            inst = Instance(
                identifier=ident,
                spec=spec,
                context_length=ctx,
                instance_reference=f"sim-instance-{self._refs:04d}",
                slots=Slots(limit, counts, self.counters.lock),
                load_fields=list(fields or []),
                ttl_seconds=ttl_seconds,
                jit=jit,
            )
            self._instances[ident] = inst
            return inst

    def unload(self, identifier: str) -> Instance | None:
        """Unload an instance: its queued predictions end now, running ones at the next token."""
        with self._lock:
            inst = self._instances.pop(identifier, None)
        if inst is not None:
            inst.mark_unloaded()
        return inst

    def expire(self, now: float | None = None, on_unload: Callable[[Instance], None] | None = None) -> list[str]:
        """Unload instances idle for longer than their TTL; returns their identifiers."""
        now = time.monotonic() if now is None else now
        gone = []
        with self._lock:
            for inst in list(self._instances.values()):
                idle = inst.slots.counts.running == 0 and inst.slots.counts.waiting == 0
                if (inst.ttl_seconds is not None and idle
                        and now - inst.last_used > inst.ttl_seconds):
                    del self._instances[inst.identifier]
                    inst.mark_unloaded()
                    gone.append(inst.identifier)
                    if on_unload:
                        on_unload(inst)
        return gone
