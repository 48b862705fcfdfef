"""Fit every prompt and its answer inside the model's context window.

LM Studio loads many models with a 4,096-token context, while GraphRAG's budgets (12,000-token
query contexts, 8,000-token report inputs) assume far more. A prompt that does not fit fails in
LM Studio; an answer that does not fit stops mid-sentence. So each stage takes its budgets from
here: the loaded context length, minus the prompt's fixed part, minus room for the answer (the
stage's ``maxTokens``), minus a margin for the chat template and counting error. A budget the
user set higher is lowered with one notice (a :class:`ContextNotice` warning); defaults are
lowered quietly and recorded (``idx.meta["context"]``,
``result.details["context_window"]``).

A model whose context length is unknown (a custom ``ChatModel`` without ``context_length``)
keeps the budgets as given.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .tokens import token_cost

#: tokens kept free for the chat template (role markers, BOS) plus a share for counting error
MARGIN_TOKENS = 64
MARGIN_SHARE = 0.04
#: the smallest answer a stage is given before its input is cut instead
MIN_ANSWER = 256
#: room kept in the gleaning prompt for the names found by the first pass (estimated tokens)
KNOWN_NAMES_TOKENS = 200
#: GraphRAG's description-summary input budget (max_input_tokens)
SUMMARY_INPUT_TOKENS = 4000


class ContextNotice(UserWarning):
    """A budget you set was lowered so that prompts and answers fit the model's context."""


@dataclass
class Window:
    """A model's context window: its length (model tokens) and its tokens per estimated token.

    Budgets elsewhere are counted with :func:`~lmsnb.graphrag.tokens.estimate_tokens`; ``ratio``
    converts. It is the highest ratio measured on samples of the real inputs (one
    ``count_tokens`` call each): markdown reports and tables cost a model more tokens per
    estimated token than prose does.
    """

    context_length: int | None = None
    ratio: float = 1.0
    model: str = ""
    count: Any = field(default=None, repr=False, compare=False)
    #: settings the user chose that had to be lowered: name -> (asked, got)
    lowered: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: budgets (user's or default) this window cut: name -> (asked, got)
    cut: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.context_length is not None

    @property
    def room(self) -> int:
        """Model tokens left for prompt + answer once the margin is taken."""
        assert self.context_length is not None
        c = self.context_length
        return c - MARGIN_TOKENS - math.ceil(c * MARGIN_SHARE)

    def calibrate(self, samples: Any) -> float:
        """Raise ``ratio`` to the highest model/estimate ratio among ``samples``; returns it."""
        if self.count is None or not self.known:
            return self.ratio
        for sample in samples:
            sample = str(sample)[:12000]
            est = token_cost(sample) if sample.strip() else 0.0
            if est < 20:
                continue
            try:
                measured = float(self.count(sample)) / est
            except Exception:  # noqa: BLE001 - a model that cannot count keeps the estimate
                continue
            self.ratio = max(self.ratio, min(4.0, max(0.25, measured)))
        return self.ratio

    def model_tokens(self, estimated: int) -> int:
        return math.ceil(estimated * self.ratio)

    def estimated(self, model_tokens: int) -> int:
        return max(0, math.floor(model_tokens / self.ratio))

    def split(self, *, fixed: int, want: int, answer: int | None, default_answer: int,
              min_input: int = 1, what: str = "prompt",
              answer_share: float = 0.5) -> tuple[int, int]:
        """``(input budget, answer tokens)`` that fit, all in model tokens.

        ``fixed``: the prompt without its input; ``want``: the input budget asked for;
        ``answer``: the stage's maxTokens (None: no limit, so ``default_answer`` is reserved).
        When both do not fit, the answer keeps at most ``answer_share`` of the room (at least
        :data:`MIN_ANSWER`) and the input gets the rest.
        """
        reserve = answer if answer is not None else default_answer
        if not self.known:
            return want, reserve
        room = self.room - fixed
        if want + reserve <= room:
            return want, reserve
        reserve = min(reserve, max(MIN_ANSWER, int(room * answer_share)))
        got = min(want, room - reserve)
        if got < min_input:
            raise ConfigError(
                f"{self.model or 'The model'} is loaded with a {self.context_length:,}-token "
                f"context, too small for the {what} ({fixed:,} tokens before any input, plus "
                f"{reserve:,} for the answer)",
                hint="load the model with a larger context (%lms_models load KEY --context "
                     "8192), or shorten the prompt")
        return got, reserve

    def note(self, name: str, asked: int, got: int, *, user: bool) -> None:
        """Record a budget lowered to ``got``; a ``user`` setting is told by :meth:`notify`."""
        first = self.cut.get(name, (asked, got))[0]
        self.cut[name] = (first, got)
        if user:
            self.lowered[name] = (first, got)

    def notify(self) -> None:
        """One :class:`ContextNotice` for every user setting :meth:`note` recorded."""
        if not self.lowered:
            return
        items = ", ".join(f"{k} {a:,} → {b:,}" for k, (a, b) in self.lowered.items())
        warnings.warn(ContextNotice(
            f"lmsnb: {self.model or 'the model'} is loaded with a {self.context_length:,}-token "
            f"context, so these settings were lowered to fit it: {items} (load the model with "
            "a larger context to keep them)"), stacklevel=_user_level())

    def as_dict(self) -> dict[str, Any]:
        return {"context_length": self.context_length, "ratio": round(self.ratio, 3),
                "model": self.model,
                "lowered": {k: {"asked": a, "got": b} for k, (a, b) in self.cut.items()}}


def _user_level() -> int:
    """The stack level of the first caller outside lmsnb (where the warning points)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("lmsnb"):
        frame, level = frame.f_back, level + 1
    return level


def context_length_of(model: Any) -> int | None:
    """The model's context length: its ``context_length`` attribute or method, else None."""
    value = getattr(model, "context_length", None)
    if callable(value):
        value = value()
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def model_window(model: Any, samples: Any = ()) -> Window:
    """The :class:`Window` of a chat model (unknown length: budgets stay as given).

    ``samples`` (real text of the corpus, in the shapes the prompts carry) calibrate model
    tokens per estimated token through the model's ``count_tokens`` (see
    :meth:`Window.calibrate`); without them, or when counting fails, the ratio is 1.
    """
    if model is None:
        return Window()
    length = context_length_of(model)
    key = str(getattr(model, "key", "") or "")
    if length is None:
        return Window(model=key)
    count = getattr(model, "count_tokens", None)
    window = Window(length, 0.0, key, count=count if callable(count) else None)
    window.calibrate(samples)
    window.ratio = window.ratio or 1.0
    return window


def words_for(tokens: int) -> int:
    """How many words to ask for so the answer (with its JSON or markup) fits ``tokens``."""
    return max(50, int(tokens * 0.6))


@dataclass
class BuildPlan:
    """The build's budgets after fitting: chunk size (counter units), per-stage settings,
    and the input budgets (estimated tokens) and word limits the prompts get."""

    chunk_size: int
    configs: dict[str, dict[str, Any]]
    summary_input_tokens: int
    summary_max_length: int
    report_input_tokens: int
    report_max_length: int
    window: Window
    settings: Any = None
    report_template: str | None = None
    report_set: bool = False

    def fit_reports(self, samples: Any = ()) -> None:
        """Fit the report stage; again with ``samples`` of the real report inputs (tables of
        entity descriptions cost more tokens than prose), lowering quietly what still would not
        fit."""
        from .tokens import estimate_tokens

        window, cfg, settings = self.window, self.configs["reports"], self.settings
        template, report_set = self.report_template, self.report_set
        if template is None or not window.known:
            return
        if samples:
            window.calibrate(samples)
        want = self.report_input_tokens
        got, answer = window.split(fixed=window.model_tokens(estimate_tokens(template)),
                                   want=window.model_tokens(want), answer=cfg["maxTokens"],
                                   default_answer=settings.limits["reports"], min_input=200,
                                   what="community report prompt")
        got = min(want, window.estimated(got))
        if got < want:
            window.note("report_max_input_tokens", want, got, user=report_set and not samples)
            self.report_input_tokens = got
        if cfg["maxTokens"] is not None and answer < cfg["maxTokens"]:
            window.note("reports maxTokens", cfg["maxTokens"], answer,
                        user=settings.user_set("reports", "maxTokens") and not samples)
            cfg["maxTokens"] = answer
        if cfg["maxTokens"] is not None:
            self.report_max_length = min(self.report_max_length, words_for(cfg["maxTokens"]))


def plan_build(window: Window, settings: Any, *, method: str, gleaning: str, prompts: Any,
               entity_types: Any, has_chat: bool, chunk_size: int, chunk_size_set: bool,
               exact_chunks: bool, summary_max_length: int, report_max_input_tokens: int,
               report_set: bool, report_max_length: int) -> BuildPlan:
    """Fit extraction (chunk + prompt + answer), gleaning, summaries and report inputs.

    ``exact_chunks``: chunk sizes are counted in the model's tokens (else estimated tokens).
    User settings lowered here are noted on ``window``; call ``window.notify()`` once.
    """
    from .extract import fill, load_prompt
    from .tokens import estimate_tokens

    types = ", ".join(entity_types)
    templates: dict[str, str] = {}
    if method == "standard":
        templates["extract"] = fill(load_prompt("extract_graph", prompts), entity_types=types,
                                    input_text="")
        if gleaning != "never":
            templates["glean"] = fill(load_prompt("extract_graph_glean", prompts),
                                      entity_types=types, input_text="", known_entities="",
                                      candidates="")
        templates["summarize"] = fill(load_prompt("summarize_descriptions", prompts),
                                      entity_name="", max_length=summary_max_length,
                                      description_list="")
    if has_chat:
        name = "community_report" if method == "standard" else "community_report_text"
        templates["reports"] = fill(load_prompt(name, prompts), input_text="",
                                    max_length=report_max_length)
    standard = method == "standard"

    configs = settings.as_dict()
    limits = settings.limits

    def fixed(name: str, extra: int = 0) -> int:
        return window.model_tokens(estimate_tokens(templates.get(name, "")) + extra)

    def fit(stage: str, want: int, fixed_tokens: int, min_input: int, what: str) -> int:
        cfg = configs[stage]
        got, answer = window.split(fixed=fixed_tokens, want=want, answer=cfg["maxTokens"],
                                   default_answer=limits[stage], min_input=min_input, what=what)
        if cfg["maxTokens"] is not None and answer < cfg["maxTokens"]:
            window.note(f"{stage} maxTokens", cfg["maxTokens"], answer,
                        user=settings.user_set(stage, "maxTokens"))
            cfg["maxTokens"] = answer
        return got

    size = chunk_size
    if standard and "extract" in templates:
        want = chunk_size if exact_chunks else window.model_tokens(chunk_size)
        got = fit("extract", want, fixed("extract"), 100, "extraction prompt")
        if "glean" in templates:
            got = min(got, fit("glean", want, fixed("glean", KNOWN_NAMES_TOKENS), 100,
                               "gleaning prompt"))
        size = got if exact_chunks else window.estimated(got)
        size = min(size, chunk_size)
        if size < chunk_size:
            window.note("chunk_size", chunk_size, size, user=chunk_size_set)
    summary_input = SUMMARY_INPUT_TOKENS
    if "summarize" in templates:
        got = fit("summarize", window.model_tokens(SUMMARY_INPUT_TOKENS),
                  fixed("summarize", 20), 100, "description summary prompt")
        summary_input = window.estimated(got)
    summary_words = summary_max_length
    if window.known and configs["summarize"]["maxTokens"] is not None:
        summary_words = min(summary_max_length, words_for(configs["summarize"]["maxTokens"]))
    plan = BuildPlan(size, configs, summary_input, summary_words, report_max_input_tokens,
                     report_max_length, window, settings, templates.get("reports"), report_set)
    plan.fit_reports()
    return plan

