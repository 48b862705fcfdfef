"""Pluggable model behaviours: what the simulated model "says".

A behaviour is any callable ``f(request: SimRequest) -> str | Iterable[str] | ToolCalls``.
The server splits the text into token-sized fragments, applies ``maxTokens``, stop strings,
the context length and timing, so a behaviour only decides the words. It runs in a worker
thread and generators are pulled there as fast as they yield, so a behaviour may be long or
slow (a real model, say); it should stop when ``request.stopped`` turns true.

A behaviour that stands for a real model can also say what a real model would:
``request.report_prompt_progress(0.5)`` while it reads the prompt, and
``request.finish("maxPredictedTokensReached")`` (or ``"contextLengthReached"``) when it
stopped for that reason. Structured output: built-in behaviours always answer with JSON that
fits the requested schema or grammar (as a grammar-constrained model does); a custom behaviour's
text goes to the client unchanged even when it does not fit (counted in
``sim.counters[...].schema_misses``), so a client's handling of bad JSON can be tested.

Built-in behaviours, by name: ``echo`` (default), ``lorem``, ``scripted`` (via
:func:`scripted`) and ``graphrag`` (delegates to ``lmsnb.sim.graphrag_stub.respond``).
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINISH_REASONS",
    "max_tokens_of",
    "SimRequest",
    "ToolCall",
    "ToolCalls",
    "Behaviour",
    "echo",
    "lorem",
    "scripted",
    "graphrag",
    "BEHAVIOURS",
    "resolve_behaviour",
    "schema_instance",
]


@dataclass
class ToolCall:
    """One tool call the model requests."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class ToolCalls:
    """Return this from a behaviour to request tool calls instead of replying with text."""

    calls: list[ToolCall]
    text: str = ""  # optional text streamed before the calls


#: Why a behaviour may say it stopped (``SimRequest.finish``); LM Studio's stop reasons.
FINISH_REASONS = ("eosFound", "maxPredictedTokensReached", "contextLengthReached",
                  "stopStringFound")


def max_tokens_of(config: dict[str, Any]) -> int | None:
    """``maxPredictedTokens`` as a limit; values < 1 or non-int mean unlimited."""
    value = config.get("llm.prediction.maxPredictedTokens")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


@dataclass
class SimRequest:
    """What a behaviour sees about one prediction request (websocket ``predict`` or REST).

    ``images`` are the images of the chat (:class:`~lmsnb.sim.files.StoredFile`: ``name``,
    ``data``, ``image_format``, ``image_size``), only ever non-empty for vision models.
    """

    model: str  # model key
    messages: list[dict[str, Any]]  # [{"role", "content": str}, ...] (see protocol.flatten_history)
    config: dict[str, Any] = field(default_factory=dict)  # wire keys → unwrapped values
    json_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None  # [{"type": "function", "function": {...}}]
    identifier: str = ""  # the loaded instance identifier
    cancelled: threading.Event = field(default_factory=threading.Event)
    gbnf_grammar: str | None = None  # structured output as a GBNF grammar
    images: list[Any] = field(default_factory=list)
    context_length: int = 0  # of the loaded instance
    stop_reason: str | None = None  # set by finish()
    _cancel_listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _progress: Callable[[float], None] | None = field(default=None, repr=False)
    _halt: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        """Stop this prediction (the client cancelled or went away); safe from any thread."""
        self.cancelled.set()
        for listener in list(self._cancel_listeners):
            listener()

    @property
    def stopped(self) -> bool:
        """True once the server needs no more text (cancelled, maxTokens, stop string, ...)."""
        return self.cancelled.is_set() or self._halt.is_set()

    @property
    def max_tokens(self) -> int | None:
        """The ``maxTokens`` limit of this request (None: unlimited)."""
        return max_tokens_of(self.config)

    def report_prompt_progress(self, fraction: float) -> None:
        """Tell the client how far prompt processing is (0..1); sent as LM Studio sends it."""
        if self._progress is not None:
            self._progress(min(max(float(fraction), 0.0), 1.0))

    def finish(self, stop_reason: str) -> None:
        """Say why the text ended, e.g. "maxPredictedTokensReached" or "contextLengthReached"."""
        if stop_reason not in FINISH_REASONS:
            raise ValueError(f"unknown stop reason {stop_reason!r} (one of {FINISH_REASONS})")
        self.stop_reason = stop_reason

    @property
    def last_user(self) -> str:
        """Content of the last user message ("" if none)."""
        for msg in reversed(self.messages):
            if msg.get("role") == "user":
                return str(msg.get("content", ""))
        return ""

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1] if self.messages else {"role": "user", "content": ""}

    @property
    def prompt(self) -> str:
        """All message contents joined (what a completion model would continue)."""
        return "".join(str(m.get("content", "")) for m in self.messages)

    def tool_names(self) -> list[str]:
        return [t.get("function", t).get("name", "") for t in self.tools or []]


Behaviour = Callable[[SimRequest], str | Iterable[str] | ToolCalls]


# -- echo ------------------------------------------------------------------------------------
_ARITH = {
    "+": ("add", "sum", "plus", "addition"),
    "*": ("multiply", "mul", "times", "product"),
    "-": ("subtract", "sub", "minus", "difference"),
    "/": ("divide", "div", "quotient"),
}
_ARITH_RE = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×]|plus|minus|times)\s*(-?\d+(?:\.\d+)?)")
_WORD_OPS = {"plus": "+", "minus": "-", "times": "*", "x": "*", "×": "*"}
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _num(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _pick_tool(req: SimRequest) -> dict[str, Any] | None:
    """The tool the echo model calls, or None (see :func:`echo` for the rules)."""
    text = req.last_user.lower()
    tools = [t.get("function", t) for t in req.tools or []]
    for tool in tools:
        name = tool.get("name", "")
        spaced = name.replace("_", " ").lower()
        if name and (re.search(rf"\b{re.escape(name.lower())}\b", text) or spaced in text):
            return tool
    m = _ARITH_RE.search(text)
    if m:
        op = _WORD_OPS.get(m.group(2), m.group(2))
        for tool in tools:
            name = tool.get("name", "").lower()
            if any(word in name for word in _ARITH.get(op, ())):
                return tool
    return None


def _tool_arguments(tool: dict[str, Any], text: str) -> dict[str, Any]:
    """Fill a tool's parameters from the user text: numbers in order, strings get the text."""
    params = tool.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    numbers = [_num(n) for n in _NUM_RE.findall(text)]
    args: dict[str, Any] = {}
    for name, schema in props.items():
        kind = schema.get("type")
        if kind in ("integer", "number") and numbers:
            value = numbers.pop(0)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "string" and "enum" not in schema:
            args[name] = text
        else:
            args[name] = schema_instance(schema, name=name)
    return args


def echo(req: SimRequest) -> str | ToolCalls:
    """Deterministic default model.

    * After a tool result (last message has role ``tool``): "The result is <result>."
    * With tools offered and a user message that names a tool (``get_weather`` or
      "get weather"), or contains ``a <op> b`` (``+ - * /``, plus/minus/times) while a tool whose
      name contains add/sum/plus, multiply/mul/times/product, subtract/sub/minus or
      divide/div exists: one call to that tool, numbers from the message filling numeric
      parameters in order, the whole message filling string parameters.
    * Otherwise: "You said: <last user message>", and for each image the chat carries,
      " [image: <name>, <width>×<height> <FORMAT>]".
    """
    last = req.last
    if last.get("role") == "tool":
        return f"The result is {last.get('content', '')}."
    if req.tools and last.get("role") == "user":
        tool = _pick_tool(req)
        if tool is not None:
            return ToolCalls([ToolCall(tool["name"], _tool_arguments(tool, req.last_user))])
    return f"You said: {req.last_user}" + "".join(_seen(image) for image in req.images)


def _seen(image: Any) -> str:
    size = image.image_size
    dims = f"{size[0]}×{size[1]} " if size else ""
    return f" [image: {image.name}, {dims}{(image.image_format or 'image').upper()}]"


# -- lorem -------------------------------------------------------------------------------------
_LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in "
    "voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat "
    "cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum. "
)


def lorem(req: SimRequest, words: int = 2000) -> Iterator[str]:
    """A long deterministic text (``words`` words) for stop, cancel and maxTokens tests."""
    vocab = _LOREM.split(" ")[:-1]
    for i, word in zip(range(words), itertools.cycle(vocab)):
        yield word if i == 0 else " " + word


# -- scripted ----------------------------------------------------------------------------------
def scripted(replies: Sequence[str | ToolCalls], *, cycle: bool = False) -> Behaviour:
    """A behaviour that returns ``replies`` in order, one per request (then repeats the last,
    or starts over when ``cycle``)."""
    items = list(replies)
    if not items:
        raise ValueError("scripted() needs at least one reply")
    lock = threading.Lock()
    state = {"n": 0}

    def behaviour(req: SimRequest) -> str | ToolCalls:
        with lock:
            n = state["n"]
            state["n"] += 1
        if cycle:
            return items[n % len(items)]
        return items[min(n, len(items) - 1)]

    behaviour.__name__ = "scripted"
    return behaviour


# -- graphrag ----------------------------------------------------------------------------------
def graphrag(req: SimRequest) -> Any:
    """Delegate to ``lmsnb.sim.graphrag_stub.respond`` (imported lazily: written separately)."""
    module = importlib.import_module("lmsnb.sim.graphrag_stub")
    return module.respond(req)


BEHAVIOURS: dict[str, Behaviour] = {"echo": echo, "lorem": lorem, "graphrag": graphrag}


def resolve_behaviour(behaviour: str | Behaviour | None) -> Behaviour:
    """A behaviour from a name in :data:`BEHAVIOURS` or a callable (None → echo)."""
    if behaviour is None:
        return echo
    if callable(behaviour):
        return behaviour
    try:
        return BEHAVIOURS[behaviour]
    except KeyError:
        names = ", ".join(sorted(BEHAVIOURS))
        raise ValueError(f"unknown behaviour {behaviour!r} (known: {names})") from None


# -- structured output -------------------------------------------------------------------------
def schema_instance(
    schema: dict[str, Any] | bool | None, *, name: str = "value", root: dict[str, Any] | None = None
) -> Any:
    """A small valid instance of a JSON schema, so structured output always parses.

    Handles type/enum/const/anyOf/oneOf/allOf/$ref(#/...)/properties/items/min*; strings are the
    property name (padded to ``minLength``).
    """
    if not isinstance(schema, dict):
        return {}
    root = schema if root is None else root
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if part else target
        return schema_instance(target, name=name, root=root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], name=name, root=root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            merged.update(sub)
        return schema_instance(merged, name=name, root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: schema_instance(v, name=k, root=root) for k, v in props.items()}
    if kind == "array":
        count = int(schema.get("minItems", 0))
        return [schema_instance(schema.get("items", {}), name=name, root=root) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    text = name + "x" * max(0, int(schema.get("minLength", 0)) - len(name))
    return text[: int(schema.get("maxLength", len(text)))]


def structured_text(text: str, schema: dict[str, Any]) -> str:
    """``text`` if it is a JSON object already, else a JSON instance of ``schema``."""
    try:
        if isinstance(json.loads(text), dict):
            return text
    except (ValueError, TypeError):
        pass
    return json.dumps(schema_instance(schema))
