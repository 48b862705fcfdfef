"""Models on the server: what is downloaded and loaded, loading with progress, tokenizers.

Rows are flat dicts (``key``, ``type``, ``identifier``, ``context_length``, …) so DataFrames and
widgets can show them without knowing the SDK's structs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

import lmstudio

from .. import config as cfg
from ..errors import LmsnbError, ModelNotFound


def _model_row(info: Mapping[str, Any]) -> dict[str, Any]:
    """LM Studio's model info (wire dict) → the flat row lmsnb shows everywhere."""
    row = {
        "key": info.get("modelKey"),
        "type": info.get("type"),
        "display_name": info.get("displayName"),
        "path": info.get("path"),
        "size_bytes": info.get("sizeBytes"),
        "max_context_length": info.get("maxContextLength"),
        "format": info.get("format"),
        "params": info.get("paramsString"),
        "architecture": info.get("architecture"),
        "vision": info.get("vision", False),
        "tool_use": info.get("trainedForToolUse", False),
    }
    if "identifier" in info:
        row["identifier"] = info["identifier"]
        row["context_length"] = info.get("contextLength")
    return row


def _session(client: lmstudio.Client, kind: str) -> Any:
    return client.llm if kind == "llm" else client.embedding


class ModelsMixin:
    """Model listing, loading and tokenizing of a :class:`~lmsnb.client.Connection`."""

    def list_downloaded(self) -> list[dict[str, Any]]:
        """Every model on disk (LLMs and embedding models)."""
        infos = self._call(lambda c: c.system.remote_call("listDownloadedModels"))
        return [_model_row(i) for i in infos or []]

    def list_loaded(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Models in memory, with their instance identifier and loaded context length."""
        kinds = [kind] if kind else ["llm", "embedding"]
        rows: list[dict[str, Any]] = []
        for k in kinds:
            infos = self._call(lambda c, k=k: _session(c, k).remote_call("listLoaded"))
            rows.extend(_model_row({**i, "type": i.get("type", k)}) for i in infos or [])
        return rows

    def _kind_of(self, key: str) -> str:
        for row in self.list_downloaded():
            if key in (row["key"], row["path"]):
                return str(row["type"])
        for row in self.list_loaded():
            if key in (row.get("identifier"), row["key"]):
                return str(row["type"])
        raise ModelNotFound(f"Model {key!r} is not downloaded in LM Studio at {self.host}",
                            hint=self._suggest(key))

    def _suggest(self, key: str, kind: str | None = None) -> str:
        """A "did you mean" among downloaded models of ``kind`` (chat needs an LLM, …)."""
        try:
            keys = [r["key"] for r in self.list_downloaded() if kind in (None, r["type"])]
        except LmsnbError:
            return "check the key with %lms_models"
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.4)
        noun = {"llm": " LLMs", "embedding": " embedding models"}.get(kind or "", "")
        if close:
            return f"did you mean {close[0]!r}?"
        if keys:
            return f"downloaded{noun}: {', '.join(keys[:8])}"
        one = {"llm": "an LLM", "embedding": "an embedding model"}.get(kind or "", "a model")
        return f"download {one} in LM Studio"

    def require_vision(self, model: str | None) -> None:
        """Refuse images for a model whose listing says it cannot see them (before uploading).

        A model the listings do not name is left to LM Studio (it refuses unknown models).
        """
        name = model or self.default_model("llm")
        loaded = self.list_loaded("llm")
        downloaded = [r for r in self.list_downloaded() if r["type"] == "llm"]
        low = name.lower()
        row = next((r for r in loaded if low in (str(r["identifier"]).lower(),
                                                 str(r["key"]).lower())), None)
        row = row or next((r for r in downloaded if str(r["key"]).lower() == low
                           or str(r["path"] or "").lower().startswith(low)), None)
        if row is not None and not row["vision"]:
            raise self.not_vision(name, loaded, downloaded)

    def not_vision(self, name: str | None, loaded: list[dict[str, Any]] | None = None,
                   downloaded: list[dict[str, Any]] | None = None) -> ModelNotFound:
        """The one line for images sent to a model that cannot see them, naming those that can."""
        try:
            loaded = self.list_loaded("llm") if loaded is None else loaded
            downloaded = self.list_downloaded() if downloaded is None else downloaded
        except LmsnbError:
            loaded, downloaded = [], []
        seeing = [str(r["identifier"]) for r in loaded if r["vision"]]
        keys = {r["key"] for r in loaded if r["vision"]}
        spare = [str(r["key"]) for r in downloaded
                 if r["vision"] and r["type"] == "llm" and r["key"] not in keys]
        who = repr(name) if name else "The model"
        message = (f"{who} is not a vision model; vision models loaded: "
                   f"{', '.join(seeing) or 'none'}; downloaded: {', '.join(spare) or 'none'}")
        if seeing or spare:
            hint = f"pick one with --model / model=, e.g. {(seeing or spare)[0]}"
        else:
            hint = ("download one in LM Studio (e.g. Qwen2.5-VL, Gemma 3), or ask without "
                    "images")
        return ModelNotFound(message, hint=hint)

    def default_model(self, kind: str = "llm") -> str:
        """The first loaded model of ``kind`` — what a call without ``model=`` uses."""
        loaded = self.list_loaded(kind)
        if not loaded:
            noun = "LLM" if kind == "llm" else "embedding model"
            raise ModelNotFound(f"No {noun} is loaded in LM Studio at {self.host}",
                                hint="load one with %lms_models load KEY or "
                                     "lmsnb.models.load(KEY), or pass model=")
        return str(loaded[0]["identifier"])

    def load(self, key: str, *, identifier: str | None = None, new_instance: bool = False,
             ttl: Any = None, config: Mapping[str, Any] | None = None,
             on_progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Load ``key`` (or return it if loaded, unless ``new_instance``), reporting progress."""
        kind = self._kind_of(key)
        load_cfg = cfg.normalize_load_config(config, kind=kind)
        ttl_s = cfg.parse_ttl(ttl)

        if not (new_instance or identifier):
            for row in self.list_loaded(kind):
                if key in (row["key"], row["identifier"]):
                    return row
        # loadModel, not getOrLoad: LM Studio counts a getOrLoad as a just-in-time load, which
        # its auto-evict unloads at the next one; a model someone loads must stay.
        handle = self._call(lambda c: _session(c, kind).load_new_instance(
            key, identifier, ttl=ttl_s, config=load_cfg, on_load_progress=on_progress), model=key)
        self._handles.pop((kind, key), None)
        return self.model_info(handle.identifier, kind=kind)

    def unload(self, identifier: str) -> None:
        """Unload an instance (by identifier or model key)."""
        for row in self.list_loaded():
            if identifier in (row["identifier"], row["key"]):
                kind, ident = row["type"], row["identifier"]
                break
        else:
            raise ModelNotFound(f"No loaded model is called {identifier!r}",
                                hint="see the loaded identifiers with %lms_models")
        self._call(lambda c: _session(c, kind).unload(ident),
                   model=identifier)
        self._handles = {k: h for k, h in self._handles.items() if k[1] not in (identifier, ident)}

    def model_info(self, identifier: str, *, kind: str | None = None) -> dict[str, Any]:
        """Info of a loaded instance (context length included)."""
        for row in self.list_loaded(kind):
            if identifier in (row["identifier"], row["key"]):
                return row
        raise ModelNotFound(f"No loaded model is called {identifier!r}",
                            hint="load it with %lms_models load KEY")

    def load_config(self, identifier: str) -> dict[str, Any]:
        """The load config LM Studio used for a loaded instance (SDK keys)."""
        kind = self.model_info(identifier)["type"]
        conf = self._call(lambda c: self._handle(kind, identifier, c).get_load_config(),
                          model=identifier)
        return conf.to_dict() if hasattr(conf, "to_dict") else dict(conf)

    def count_tokens(self, model: str | None, text: str, *, kind: str = "llm") -> int:
        """Tokens in ``text`` by the model's own tokenizer."""
        return int(self._call(lambda c: self._handle(kind, model, c).count_tokens(text),
                              model=model, kind=kind))

    def tokenize(self, model: str | None, text: str, *, kind: str = "llm") -> list[int]:
        return list(self._call(lambda c: self._handle(kind, model, c).tokenize(text),
                               model=model, kind=kind))
