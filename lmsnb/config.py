"""Normalise prediction and load configs before they reach the SDK.

The SDK silently drops keys it does not know (``topP``, ``gpuOffload`` …), so a typo changes
nothing and nobody notices. Here every key is mapped to the SDK's real name, the seed guide's
spellings are accepted, values are checked, and an unknown key raises ``ConfigError`` with the
closest valid key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

# The SDK's own keys (lmstudio 1.5.0 ``LlmPredictionConfigDict`` / load-config dicts).
PREDICTION_KEYS = (
    "maxTokens", "temperature", "stopStrings", "toolCallStopStrings", "contextOverflowPolicy",
    "structured", "rawTools", "topKSampling", "repeatPenalty", "minPSampling", "topPSampling",
    "cpuThreads", "promptTemplate", "draftModel", "speculativeDecodingNumDraftTokensExact",
    "speculativeDecodingMinDraftLengthToConsider",
    "speculativeDecodingMinContinueDraftingProbability", "reasoningParsing", "raw",
)
EMBEDDING_LOAD_KEYS = (
    "gpu", "contextLength", "ropeFrequencyBase", "ropeFrequencyScale", "keepModelInMemory",
    "tryMmap",
)
LLM_LOAD_KEYS = EMBEDDING_LOAD_KEYS + (
    "gpuStrictVramCap", "offloadKVCacheToGpu", "evalBatchSize", "flashAttention", "seed",
    "numExperts", "useFp16ForKVCache", "llamaKCacheQuantizationType",
    "llamaVCacheQuantizationType",
)

# Spellings people actually use (the seed guide, OpenAI habits, LM Studio's UI) → SDK key.
ALIASES = {
    "topP": "topPSampling", "top_p": "topPSampling",
    "topK": "topKSampling", "top_k": "topKSampling",
    "minP": "minPSampling", "min_p": "minPSampling",
    "maxTokens": "maxTokens", "max_tokens": "maxTokens", "maxPredictedTokens": "maxTokens",
    "stop": "stopStrings", "repetitionPenalty": "repeatPenalty",
    "repetition_penalty": "repeatPenalty",
    "contextLength": "contextLength", "ctx": "contextLength", "n_ctx": "contextLength",
    "numCtx": "contextLength",
}
GPU_ALIASES = ("gpuOffload", "gpu_offload", "gpuRatio", "gpu_ratio")

_UNLIMITED = ("unlimited", "none", "inf", "infinite", "max")


def _camel(key: str) -> str:
    """``max_tokens`` → ``maxTokens`` (the SDK accepts both; we compare in camel case)."""
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _canonical(key: str, valid: tuple[str, ...], what: str) -> str:
    if key in ALIASES and ALIASES[key] in valid:
        return ALIASES[key]
    camel = _camel(key)
    if camel in valid:
        return camel
    if camel in ALIASES and ALIASES[camel] in valid:
        return ALIASES[camel]
    lowered = {v.lower(): v for v in valid}
    if camel.lower() in lowered:
        return lowered[camel.lower()]
    candidates = list(valid) + [a for a, v in ALIASES.items() if v in valid]
    close = difflib.get_close_matches(camel, candidates, n=1, cutoff=0.5)
    hint = f"did you mean {ALIASES.get(close[0], close[0])!r}?" if close else (
        f"valid keys: {', '.join(valid)}")
    raise ConfigError(f"Unknown {what} config key {key!r}", hint=hint)


def _number(key: str, value: Any, *, low: float | None = None, high: float | None = None,
            integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value) if not integer else int(str(value))
        except (TypeError, ValueError):
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"{key} must be {kind}, got {value!r}") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, ±inf
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{key} must be {span}, got {value!r}")
    return int(value) if integer else float(value)


def _max_tokens(value: Any) -> int | bool:
    """A positive int, or an explicit 'unlimited' (None/False/-1/"unlimited") → ``False``."""
    if value is None or value is False or value == -1 or value == float("inf") or (
            isinstance(value, str) and value.strip().lower() in _UNLIMITED):
        return False
    n = _number("maxTokens", value, integer=True)
    if n < 1:
        raise ConfigError(f"maxTokens must be a positive integer, got {value!r}",
                          hint="use -1 or 'unlimited' for no limit")
    return int(n)


def _gpu(value: Any) -> dict[str, Any]:
    """Accept ``0.5``, ``"max"``, ``"off"`` or ``{"ratio": …}`` for GPU offload."""
    if isinstance(value, Mapping):
        out = dict(value)
        if "ratio" in out:
            out["ratio"] = _gpu(out["ratio"])["ratio"]
        return out
    if isinstance(value, str) and value.lower() in ("max", "off"):
        return {"ratio": value.lower()}
    return {"ratio": _number("gpu offload ratio", value, low=0.0, high=1.0)}


_CHECKS = {
    "temperature": lambda v: _number("temperature", v, low=0.0),
    "topPSampling": lambda v: _number("topPSampling", v, low=0.0, high=1.0),
    "minPSampling": lambda v: _number("minPSampling", v, low=0.0, high=1.0),
    "topKSampling": lambda v: _number("topKSampling", v, low=0.0),
    "repeatPenalty": lambda v: _number("repeatPenalty", v, low=0.0),
    "cpuThreads": lambda v: _number("cpuThreads", v, low=1, integer=True),
    "contextLength": lambda v: _number("contextLength", v, low=1, integer=True),
    "evalBatchSize": lambda v: _number("evalBatchSize", v, low=1, integer=True),
    "maxTokens": _max_tokens,
    "gpu": _gpu,
    "stopStrings": lambda v: _strings("stopStrings", v),
    "toolCallStopStrings": lambda v: _strings("toolCallStopStrings", v),
}


def _strings(key: str, value: Any) -> list[str]:
    """One string or a list of strings (``stop="###"`` or ``stop=["###", "\n\n"]``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{key} must be a string or a list of strings, got {value!r}",
                      hint=f'e.g. {key}=["###"]')

_POLICIES = ("stopAtLimit", "truncateMiddle", "rollingWindow")


def canonical_prediction_key(key: str) -> str:
    """The SDK's name for a prediction setting (``top_p`` → ``topPSampling``), or ConfigError."""
    return _canonical(str(key), PREDICTION_KEYS, "prediction")


def normalize_prediction_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a dict of SDK prediction keys; raise ``ConfigError`` on unknown keys or bad values."""
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        name = _canonical(str(key), PREDICTION_KEYS, "prediction")
        if name == "contextOverflowPolicy" and value not in _POLICIES:
            raise ConfigError(f"contextOverflowPolicy must be one of {', '.join(_POLICIES)}",
                              hint=f"got {value!r}")
        value = _CHECKS[name](value) if name in _CHECKS else value
        if name == "maxTokens" and value is False:
            continue  # unlimited: the SDK's default; never send -1 over the wire
        out[name] = value
    return out


def normalize_load_config(config: Mapping[str, Any] | None, *,
                          kind: str = "llm") -> dict[str, Any]:
    """Return a dict of SDK load keys for an ``llm`` or ``embedding`` model."""
    valid = LLM_LOAD_KEYS if kind == "llm" else EMBEDDING_LOAD_KEYS
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if str(key) in GPU_ALIASES or _camel(str(key)) in GPU_ALIASES:
            name = "gpu"
        else:
            name = _canonical(str(key), valid, f"{kind} load")
        value = _CHECKS[name](value) if name in _CHECKS else value
        if name == "gpu" and "gpu" in out:
            value = {**out["gpu"], **value}
        out[name] = value
    return out


def parse_ttl(ttl: Any) -> int | None:
    """TTL in seconds: a positive int, ``"10m"``/``"2h"``/``"30s"``, or None for no TTL."""
    if ttl is None:
        return None
    if isinstance(ttl, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", ttl.lower())
        if not m:
            raise ConfigError(f"TTL {ttl!r} is not a duration", hint="use e.g. 300, '10m' or '2h'")
        ttl = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    seconds = _number("ttl", ttl, low=1)
    return int(seconds)
