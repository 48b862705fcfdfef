"""Query parameters, with Microsoft GraphRAG's defaults (graphrag-reference §1.10).

One flat dataclass rather than one per method: the magic maps flags onto it, and a follow-up
question can reuse the previous result's parameters unchanged. Unknown keys fail loudly with a
"did you mean", because a typo (``top_k_entites=3``) would otherwise silently keep the default.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from typing import Any

from ...errors import ConfigError

METHODS = ("local", "global", "basic", "drift")

#: GraphRAG's canned answer when no map point scores above zero (no reduce call is made then).
NO_DATA_ANSWER = "I am sorry but I am unable to answer this question given the provided data."


@dataclass(frozen=True)
class QueryConfig:
    """Every knob of every query method. Defaults are GraphRAG 3.x's ``config/defaults.py``."""

    response_type: str = "Multiple Paragraphs"
    max_context_tokens: int = 12_000
    community_level: int = 2
    temperature: float | None = None  # shortcut for llm_config's temperature (default 0)
    max_tokens: int | None = None  # cap on the *answer* length (tokens), None = the stage default
    #: model settings ({"temperature": 0, "maxTokens": ...}) with per-stage dicts
    #: (local, basic, global_map, global_reduce, drift_primer, drift_local, drift_reduce, or a
    #: method's name for all its stages) — lmsnb.graphrag.settings
    llm_config: dict[str, Any] | None = None
    concurrency: int = 8  # threads for global map / DRIFT follow-ups (GraphRAG: 32 async tasks)
    # conversation history (local/global/basic/drift all put it in front of the context)
    history_max_turns: int = 5
    history_user_turns_only: bool = True
    # local search
    top_k_entities: int = 10
    top_k_relationships: int = 10
    text_unit_prop: float = 0.5
    community_prop: float = 0.15
    oversample: int = 2
    match_entity_names: bool = True  # lmsnb: entities named in the question are always selected
    include_claims: bool = True
    # global search
    data_max_tokens: int = 12_000
    map_max_length: int = 1_000  # words
    reduce_max_length: int = 2_000  # words
    shuffle_seed: int | None = 86
    # basic search
    k: int = 10
    # DRIFT search
    drift_k_followups: int = 20
    primer_folds: int = 5
    n_depth: int = 3
    followups_per_answer: int = 5
    local_text_unit_prop: float = 0.9
    local_community_prop: float = 0.1

    def with_(self, **kw: Any) -> QueryConfig:
        """A copy with some fields changed (unknown names raise ``ConfigError``)."""
        check_keys(kw)
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


FIELD_NAMES = tuple(f.name for f in fields(QueryConfig))
#: Friendly spellings people reach for (magic flags, GraphRAG's own names).
ALIASES = {
    "level": "community_level", "top_k": "top_k_entities", "max_context": "max_context_tokens",
    "budget": "max_context_tokens", "max_length": "reduce_max_length", "depth": "n_depth",
    "followups": "drift_k_followups", "folds": "primer_folds",
}


def check_keys(kw: dict[str, Any]) -> None:
    for key in kw:
        if key in FIELD_NAMES:
            continue
        close = difflib.get_close_matches(key, FIELD_NAMES + tuple(ALIASES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see lmsnb.graphrag.query.QueryConfig"
        raise ConfigError(f"Unknown query parameter {key!r}", hint=hint)


_TYPES: dict[str, Any] = {f.name: f.type for f in fields(QueryConfig)}


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the field's type (``"5"`` -> 5), or a ``ConfigError`` naming the field."""
    typ = str(_TYPES[name])
    if value is None:
        return None
    if name == "llm_config":
        from ..settings import ModelSettings

        ModelSettings(value, kind="query")  # refuses unknown keys and bad values now
        return dict(value)
    if "bool" in typ:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be True or False, not {value!r}")
    if typ.startswith("str"):
        if isinstance(value, str) and value.strip():
            return value
        raise ConfigError(f"{name} must be a non-empty string, not {value!r}",
                          hint='e.g. response_type="Multiple Paragraphs"' if
                          name == "response_type" else None)
    want_int = typ.startswith("int")
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError
        if want_int:
            if not number.is_integer():
                raise ValueError
            return int(number)
        return number
    except (TypeError, ValueError):
        kind = "a whole number" if want_int else "a number"
        raise ConfigError(f"{name} must be {kind}, not {value!r}",
                          hint=f"default: {getattr(QueryConfig(), name)!r}"
                          if getattr(QueryConfig(), name) is not None
                          else "or None for the model's default") from None


def make_config(base: QueryConfig | None = None, **kw: Any) -> QueryConfig:
    """Build a :class:`QueryConfig` from keyword arguments (aliases accepted) and validate it."""
    kw = {ALIASES.get(k, k): v for k, v in kw.items()}
    check_keys(kw)
    kw = {k: _coerce(k, v) for k, v in kw.items()}
    cfg = (base or QueryConfig()).with_(**kw)
    problems = []
    if cfg.max_context_tokens < 100:
        problems.append("max_context_tokens must be at least 100")
    if cfg.top_k_entities < 1 or cfg.k < 1:
        problems.append("top-k values must be at least 1")
    if not 0 <= cfg.text_unit_prop + cfg.community_prop <= 1:
        problems.append("text_unit_prop + community_prop must lie in [0, 1]")
    if cfg.concurrency < 1:
        problems.append("concurrency must be at least 1")
    if cfg.n_depth < 0 or cfg.primer_folds < 1:
        problems.append("n_depth must be >= 0 and primer_folds >= 1")
    for name in ("top_k_relationships", "history_max_turns", "followups_per_answer"):
        if getattr(cfg, name) < 0:
            problems.append(f"{name} cannot be negative")
    for name in ("drift_k_followups", "oversample", "map_max_length", "reduce_max_length"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} must be at least 1")
    if cfg.data_max_tokens < 100:
        problems.append("data_max_tokens must be at least 100")
    for name in ("text_unit_prop", "community_prop", "local_text_unit_prop",
                 "local_community_prop"):
        if not 0 <= getattr(cfg, name) <= 1:
            problems.append(f"{name} must lie in [0, 1]")
    if not 0 <= cfg.local_text_unit_prop + cfg.local_community_prop <= 1:
        problems.append("local_text_unit_prop + local_community_prop must lie in [0, 1]")
    if cfg.max_tokens is not None and cfg.max_tokens < 1:
        problems.append("max_tokens must be at least 1 (or None for the model's default)")
    if cfg.temperature is not None and cfg.temperature < 0:
        problems.append("temperature cannot be negative")
    if problems:
        raise ConfigError("Bad query parameters: " + "; ".join(problems))
    return cfg
