"""Merge extracted records across chunks and summarise descriptions — only where it pays.

GraphRAG calls the LLM for every entity or relationship with more than one description (about
2.3 calls per chunk in the baseline). Short description lists carry little redundancy, so we join
them verbatim and call the LLM only when an item has several descriptions *and* their combined
length exceeds ``threshold_tokens``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .extract import fill
from .progress import StageProgress, run_parallel
from .tokens import estimate_tokens


@dataclass
class Item:
    key: Any
    name: str
    descriptions: list[str]


def unique_descriptions(descs: list[str]) -> list[str]:
    return sorted({d.strip() for d in descs if d and d.strip()})


def summarize(items: list[Item], chat: Any | None, template: str, *, max_length: int = 500,
              threshold_tokens: int = 200, max_input_tokens: int = 4000, concurrency: int = 4,
              progress: StageProgress | None = None, stage: str = "summarize") -> dict[Any, str]:
    """``key -> description`` for every item, with as few LLM calls as the rule above allows."""
    out, todo = plan(items, chat, threshold_tokens)

    def one(it: Item) -> tuple[Any, str]:
        return it.key, summarize_item(it, chat, template, max_length=max_length,
                                      max_input_tokens=max_input_tokens, stage=stage)

    for key, text in run_parallel(one, todo, concurrency, progress):
        out[key] = text
    return out


def plan(items: list[Item], chat: Any | None, threshold_tokens: int = 200
         ) -> tuple[dict[Any, str], list[Item]]:
    """Descriptions that need no LLM (``key -> text``), and the items that do."""
    out: dict[Any, str] = {}
    todo: list[Item] = []
    for it in items:
        descs = unique_descriptions(it.descriptions)
        if len(descs) <= 1:
            out[it.key] = descs[0] if descs else ""
        elif chat is None or sum(estimate_tokens(d) for d in descs) <= threshold_tokens:
            out[it.key] = " ".join(d if d.endswith((".", "!", "?")) else d + "." for d in descs)
        else:
            todo.append(Item(it.key, it.name, descs))
    return out, todo


def summarize_item(it: Item, chat: Any, template: str, *, max_length: int = 500,
                   max_input_tokens: int = 4000, stage: str = "summarize") -> str:
    """One item's summary (rolling summaries when its list overflows the input budget)."""
    summary = ""
    batch: list[str] = []
    used = 0
    for d in it.descriptions:
        n = estimate_tokens(d)
        if batch and used + n > max_input_tokens:
            summary = _call(chat, template, it.name, batch, max_length, stage)
            batch, used = [summary], estimate_tokens(summary)
        batch.append(d)
        used += n
    summary = _call(chat, template, it.name, batch, max_length, stage)
    return summary or " ".join(it.descriptions)


def _call(chat: Any, template: str, name: str, descs: list[str], max_length: int, stage: str) -> str:
    from .extract import strip_wrappers

    prompt = fill(template, entity_name=name, max_length=max_length,
                  description_list="\n".join(f"- {d}" for d in descs))
    c = chat.complete(stage, [{"role": "user", "content": prompt}])
    return strip_wrappers(c.text).strip()


def most_common(values: list[str]) -> str:
    vals = [v for v in values if v]
    return Counter(vals).most_common(1)[0][0] if vals else ""
