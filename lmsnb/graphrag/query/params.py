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
    temperature: float | None = None
    max_tokens: int | None = None  # cap on the *answer* length (tokens), None = model default
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


def make_config(base: QueryConfig | None = None, **kw: Any) -> QueryConfig:
    """Build a :class:`QueryConfig` from keyword arguments (aliases accepted) and validate it."""
    kw = {ALIASES.get(k, k): v for k, v in kw.items()}
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
    if problems:
        raise ConfigError("Bad query parameters: " + "; ".join(problems))
    return cfg
