"""Model settings per stage: what every GraphRAG call sends along with its prompt.

GraphRAG runs its calls at temperature 0 with a bounded answer length. lmsnb does the same by
default, so a small model that starts repeating itself stops at a limit instead of generating
until its context is full. ``llm_config`` changes a setting for every stage; a stage's own dict
changes it for that stage only (a query method's name stands for all of its stages)::

    build_index(docs, llm_config={"temperature": 0.2, "extract": {"maxTokens": 3000}})
    idx.query(q, method="global", llm_config={"global_map": {"maxTokens": 600}})

Keys are LM Studio's prediction settings in any spelling ``lmsnb.config`` accepts
(``max_tokens``, ``topP``, …); a typo is refused with the closest key or stage name.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from ..config import canonical_prediction_key, normalize_prediction_config
from ..errors import ConfigError

#: build stages and their default answer limit (tokens). An extraction answer is about as long
#: as its chunk; a report of 5–10 findings is ~700 tokens; a summary ~100.
BUILD_STAGES: dict[str, int] = {"extract": 2000, "glean": 1500, "summarize": 600, "reports": 2000}
#: query stages and their default answer limit (GraphRAG 1.x: map 1000, reduce/answers 2000).
QUERY_STAGES: dict[str, int] = {"local": 2000, "basic": 2000, "global_map": 1000,
                                "global_reduce": 2000, "drift_primer": 1000, "drift_local": 1000,
                                "drift_reduce": 2000}
#: a query method's name stands for all its stages
GROUPS: dict[str, tuple[str, ...]] = {
    "global": ("global_map", "global_reduce"),
    "drift": ("drift_primer", "drift_local", "drift_reduce"),
}
#: the names ``idx.stats`` and the prompt files use, accepted for the build stages
ALIASES = {"extract_graph": "extract", "gleaning": "glean", "summarize_descriptions": "summarize",
           "community_reports": "reports", "community_report": "reports"}
#: the stages whose answer is the one the user reads (QueryConfig.max_tokens caps them)
ANSWER_STAGES = ("local", "basic", "global_reduce", "drift_reduce")
DEFAULTS: dict[str, Any] = {"temperature": 0.0}
#: settings that do not change the answer (the cache key leaves them out)
NO_EFFECT = frozenset({"cpuThreads", "draftModel", "speculativeDecodingNumDraftTokensExact",
                       "speculativeDecodingMinDraftLengthToConsider",
                       "speculativeDecodingMinContinueDraftingProbability"})
#: what the ChatModel protocol's complete() takes as keyword arguments
_DIRECT = {"maxTokens": "max_tokens", "temperature": "temperature"}


def _normalize(config: Any, where: str, stages: tuple[str, ...]) -> dict[str, Any]:
    """SDK keys → values; an explicit "unlimited" maxTokens is kept as None."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where} must be a dict of model settings, not {config!r}",
                          hint='e.g. {"temperature": 0, "maxTokens": 2000}')
    out: dict[str, Any] = {}
    for key, value in config.items():
        try:
            name = canonical_prediction_key(str(key))
        except ConfigError as err:
            close = difflib.get_close_matches(str(key), stages, n=1, cutoff=0.6)
            if close:
                raise ConfigError(f"Unknown {where} key {key!r}",
                                  hint=f"did you mean the stage {close[0]!r}?") from None
            raise ConfigError(f"Unknown {where} key {key!r}", hint=err.hint) from None
        got = normalize_prediction_config({name: value})
        out[name] = got.get(name) if name == "maxTokens" else got[name]
    return out


class ModelSettings:
    """Validated ``llm_config``: settings for all stages, plus per-stage overrides."""

    def __init__(self, llm_config: Mapping[str, Any] | None = None, *, kind: str = "build") -> None:
        self.kind = kind
        self.limits = dict(BUILD_STAGES if kind == "build" else QUERY_STAGES)
        names = tuple(self.limits) + (tuple(ALIASES) if kind == "build" else tuple(GROUPS))
        if llm_config is not None and not isinstance(llm_config, Mapping):
            raise ConfigError(f"llm_config must be a dict, not {type(llm_config).__name__}",
                              hint='e.g. llm_config={"temperature": 0, "maxTokens": 2000}')
        base: dict[str, Any] = {}
        self.stages: dict[str, dict[str, Any]] = {}
        groups: dict[str, dict[str, Any]] = {}
        for key, value in (llm_config or {}).items():
            stage = ALIASES.get(str(key), str(key)) if kind == "build" else str(key)
            if stage in self.limits:
                self.stages.setdefault(stage, {}).update(
                    _normalize(value, f"llm_config[{key!r}]", names))
            elif stage in GROUPS and kind == "query":
                groups[stage] = _normalize(value, f"llm_config[{key!r}]", names)
            else:
                base.update(_normalize({key: value}, "llm_config", names))
        self.base = base
        for group, settings in groups.items():  # a stage's own dict wins over its method's
            for stage in GROUPS[group]:
                self.stages[stage] = {**settings, **self.stages.get(stage, {})}

    def config(self, stage: str) -> dict[str, Any]:
        """The settings ``stage`` sends: defaults ← all-stage settings ← the stage's own.

        ``maxTokens`` is always there: a number, or None when the user asked for no limit.
        """
        out = {**DEFAULTS, "maxTokens": self.limits[stage], **self.base,
               **self.stages.get(stage, {})}
        return out

    def user_set(self, stage: str, key: str) -> bool:
        """Whether the user chose ``key`` for ``stage`` (so lowering it deserves a notice)."""
        return key in self.stages.get(stage, {}) or key in self.base

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every stage's settings (for ``idx.meta`` and query results)."""
        return {stage: self.config(stage) for stage in self.limits}

    def __repr__(self) -> str:
        return f"ModelSettings({self.kind}, base={self.base}, stages={self.stages})"


def build_configs(recorded: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The build stages' settings an index was built with (``idx.meta["model_settings"]``),
    else the defaults: what a later refresh of the same index must send to hit the cache."""
    out = ModelSettings(None, kind="build").as_dict()
    for stage, config in (recorded or {}).items():
        if stage in out and isinstance(config, Mapping):
            out[stage] = dict(config)
    return out


def call_kwargs(model: Any, config: Mapping[str, Any] | None,
                method: str = "complete") -> dict[str, Any]:
    """Keyword arguments for ``model.complete`` (or ``stream``) carrying ``config``.

    ``maxTokens`` and ``temperature`` are the protocol's own arguments; other settings go in
    ``config=`` (which :class:`~lmsnb.graphrag.llm.LMStudioChat` accepts). A model that takes no
    ``config`` must not be asked for more: :func:`check_model` says so before anything runs.
    """
    kw: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if key in _DIRECT:
            if value is not None:
                kw[_DIRECT[key]] = value
        else:
            rest[key] = value
    if rest and accepts_config(model, method):
        kw["config"] = rest
    return kw


def accepts_config(model: Any, method: str = "complete") -> bool:
    """True when ``model.<method>`` takes a ``config`` dict (or ``**kwargs``)."""
    try:
        params = inspect.signature(getattr(model, method)).parameters
    except (TypeError, ValueError):
        return False
    return "config" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_model(model: Any, settings: ModelSettings) -> None:
    """Refuse settings a custom chat model cannot receive (a silent drop would mislead)."""
    if model is None or accepts_config(model):
        return
    extra = sorted({k for s in settings.limits for k in settings.config(s) if k not in _DIRECT})
    if extra:
        raise ConfigError(f"The chat model {getattr(model, 'key', model)!r} takes only "
                          f"max_tokens and temperature, so llm_config cannot set "
                          f"{', '.join(extra)}",
                          hint="accept a config= dict in its complete() method, or leave "
                               "those keys out")


def cache_part(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings that change an answer, for the LLM cache key."""
    return {k: v for k, v in sorted((config or {}).items()) if k not in NO_EFFECT}


__all__ = ["BUILD_STAGES", "QUERY_STAGES", "GROUPS", "ModelSettings", "call_kwargs",
           "check_model", "cache_part", "build_configs"]
