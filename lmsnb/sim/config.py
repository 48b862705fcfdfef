"""Catalogue files and ``--model`` flags: mirror your own LM Studio in the simulator.

Why: a user testing a notebook against the simulator needs the models *their* LM Studio has
(keys, paths, context lengths, vision, Max Concurrent Predictions), not ours. A catalogue is a
JSON or TOML file::

    max_concurrent_predictions = 4        # optional defaults for every loaded LLM
    jit_auto_evict = true

    [[models]]
    key = "qwen2.5-7b-instruct"
    path = "lmstudio-community/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    context_length = 8192                 # what it is loaded with
    loaded = true

    [presets.Terse]                       # prediction-config fields, LM Studio's wire keys
    "llm.prediction.maxPredictedTokens" = 200

JSON takes the same shape, or just the list of models; entries may also use the camelCase
fields of LM Studio's own model listings (``modelKey``, ``maxContextLength``, ...), so the JSON
LM Studio reports for its models can be used as is (other fields of such listings are ignored).
``--model KEY,field=value,...`` adds a model or changes fields of the one with that key.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .behaviours import BEHAVIOURS
from .catalogue import ModelSpec

__all__ = ["CatalogueError", "SimConfig", "read_catalogue", "parse_model_flag", "apply_models"]

FORMATS = ("gguf", "safetensors", "onnx", "ggml", "mlx_placeholder", "torch_safetensors")
_FIELDS = {f.name: f for f in fields(ModelSpec) if f.name != "embedder"}
_ALIASES = {  # LM Studio's camelCase (model listings, lms) and a few natural spellings
    "modelKey": "key", "model_key": "key", "displayName": "display_name",
    "sizeBytes": "size_bytes", "maxContextLength": "max_context_length",
    "contextLength": "context_length", "paramsString": "params_string",
    "trainedForToolUse": "trained_for_tool_use", "behavior": "behaviour",
    "maxConcurrentPredictions": "max_concurrent_predictions", "dimensions": "dim",
}
_TOP = ("models", "presets", "max_concurrent_predictions", "jit_auto_evict")


class CatalogueError(ValueError):
    """A catalogue file or ``--model`` flag the simulator cannot use (the message says why)."""


@dataclass
class SimConfig:
    """What a catalogue file sets (None: not set there)."""

    models: list[ModelSpec] | None = None
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_concurrent_predictions: int | None = None
    jit_auto_evict: bool | None = None


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"


def _check(name: str, value: Any, where: str) -> Any:
    """``value`` for ModelSpec field ``name``, type-checked."""
    kind = _FIELDS[name].type
    if "bool" in str(kind):
        if not isinstance(value, bool):
            raise CatalogueError(f"{where}: {name} must be true or false, not {value!r}")
    elif "int" in str(kind):
        if value is None and "None" in str(kind):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CatalogueError(f"{where}: {name} must be a positive whole number, not {value!r}")
    elif name == "behaviour":
        if value not in BEHAVIOURS:
            raise CatalogueError(f"{where}: behaviour {value!r} is not one of "
                                 f"{', '.join(sorted(BEHAVIOURS))}")
    elif not isinstance(value, str) and value is not None:
        raise CatalogueError(f"{where}: {name} must be text, not {value!r}")
    if name == "type" and value not in ("llm", "embedding"):
        raise CatalogueError(f"{where}: type must be 'llm' or 'embedding', not {value!r}")
    if name == "format" and value not in FORMATS:
        raise CatalogueError(f"{where}: format must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def _entry_fields(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """ModelSpec keyword arguments from one catalogue entry."""
    listing = "modelKey" in entry  # LM Studio's own listing: it has more fields than we model
    out: dict[str, Any] = {}
    for raw, value in entry.items():
        name = _ALIASES.get(raw, raw)
        if name not in _FIELDS:
            if listing:
                continue
            raise CatalogueError(f"{where}: unknown field {raw!r}"
                                 + _did_you_mean(raw, list(_FIELDS)))
        out[name] = _check(name, value, where)
    return out


def _spec(values: dict[str, Any], where: str) -> ModelSpec:
    if not values.get("key"):
        raise CatalogueError(f"{where}: every model needs a key (its model key in LM Studio)")
    spec = ModelSpec(**values)
    if "context_length" not in values:  # LM Studio's default load, within what the model takes
        spec.context_length = min(spec.context_length, spec.max_context_length)
    if spec.context_length > spec.max_context_length:
        raise CatalogueError(f"{where}: context_length {spec.context_length} is more than "
                             f"max_context_length {spec.max_context_length}")
    return spec


def read_catalogue(path: str | Path) -> SimConfig:
    """Read a ``.json`` or ``.toml`` catalogue file (CatalogueError with the reason if unusable)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {str(p)!r}: {exc.strerror or exc}") from None
    if p.suffix.lower() == ".toml":
        data = _toml(text, p)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CatalogueError(f"{p.name} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        data = {"models": data}
    if not isinstance(data, dict):
        raise CatalogueError(f"{p.name}: expected a list of models or a table with 'models'")
    for key in data:
        if key not in _TOP:
            raise CatalogueError(f"{p.name}: unknown setting {key!r}" + _did_you_mean(key, list(_TOP)))
    models = data.get("models")
    if models is None or not isinstance(models, list) or not models:
        raise CatalogueError(f"{p.name}: 'models' must be a non-empty list of models")
    specs = []
    for i, entry in enumerate(models):
        where = f"{p.name}, model {i + 1}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: expected a table of fields, not {entry!r}")
        specs.append(_spec(_entry_fields(entry, where), where))
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise CatalogueError(f"{p.name}: model {dup!r} is listed twice")
    presets = data.get("presets") or {}
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise CatalogueError(f"{p.name}: presets must map a preset name to config fields")
    limit = data.get("max_concurrent_predictions")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise CatalogueError(f"{p.name}: max_concurrent_predictions must be a positive whole number")
    evict = data.get("jit_auto_evict")
    if evict is not None and not isinstance(evict, bool):
        raise CatalogueError(f"{p.name}: jit_auto_evict must be true or false")
    return SimConfig(specs, dict(presets), limit, evict)


def _toml(text: str, path: Path) -> Any:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise CatalogueError("reading TOML needs Python 3.11+ or `pip install tomli`; "
                                 "or write the catalogue as JSON") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path.name} is not valid TOML: {exc}") from None


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return int(text.replace("_", ""))
    except ValueError:
        return text


def parse_model_flag(text: str) -> dict[str, Any]:
    """``"KEY,field=value,..."`` (a ``--model`` flag) → checked ModelSpec fields with ``key``."""
    key, *pairs = [part.strip() for part in text.split(",")]
    where = f"--model {text}"
    if not key or "=" in key:
        raise CatalogueError(f"{where}: start with the model key, e.g. "
                             "--model qwen2.5-7b-instruct,context_length=8192")
    entry: dict[str, Any] = {"key": key}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CatalogueError(f"{where}: {pair!r} is not field=value")
        entry[name.strip()] = _value(value.strip())
    return _entry_fields(entry, where)


def apply_models(base: list[ModelSpec], flags: list[dict[str, Any]]) -> list[ModelSpec]:
    """``base`` with each ``--model`` applied: new keys are added, known ones changed."""
    models = {m.key: m for m in base}
    for values in flags:
        where = f"--model {values['key']}"
        old = models.get(values["key"])
        models[values["key"]] = _spec(values, where) if old is None else _respec(old, values, where)
    return list(models.values())


def _respec(old: ModelSpec, values: dict[str, Any], where: str) -> ModelSpec:
    """``old`` with ``values`` changed."""
    merged = replace(old, **values)
    if merged.context_length > merged.max_context_length:
        raise CatalogueError(f"{where}: context_length {merged.context_length} is more than "
                             f"max_context_length {merged.max_context_length}")
    return merged
