"""Community reports: structured JSON from the LLM, rendered to GraphRAG's ``full_content``.

Reports are written from the leaves up, so a parent community whose own records overflow the
input budget can use its children's reports instead (as GraphRAG does). The model is asked for
JSON with a ``json_schema`` response format (LM Studio accepts ``json_schema``, not
``json_object``); the reply is still parsed leniently, and a reply that cannot be used becomes an
extractive report and is counted, never dropped. With no LLM at all, reports are extractive.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pandas as pd

from .extract import _loads_lenient, fill, strip_wrappers
from .progress import StageProgress, run_parallel
from .tokens import estimate_tokens

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "rating": {"type": "number"},
        "rating_explanation": {"type": "string"},
        "findings": {"type": "array", "items": {
            "type": "object",
            "properties": {"summary": {"type": "string"}, "explanation": {"type": "string"}},
            "required": ["summary", "explanation"]}},
    },
    "required": ["title", "summary", "rating", "rating_explanation", "findings"],
}
REPORT_COLUMNS = ["id", "human_readable_id", "community", "level", "parent", "children", "title",
                  "summary", "full_content", "rank", "rating_explanation", "findings",
                  "full_content_json", "period", "size"]


def parse_report(text: str) -> dict[str, Any] | None:
    """A report dict from a model reply (fenced, wrapped in chatter, or truncated), or None."""
    body = strip_wrappers(text or "")
    start = body.find("{")
    if start < 0:
        return None
    data = _loads_lenient(body[start: body.rfind("}") + 1] or body[start:])
    if not isinstance(data, dict):
        data = _loads_lenient(body[start:])
    if not isinstance(data, dict) or not data.get("title") and not data.get("summary"):
        return None
    raw_findings = data.get("findings") or []
    if isinstance(raw_findings, (str, dict)):  # one finding instead of a list of them
        raw_findings = [raw_findings]
    findings = []
    for f in raw_findings if isinstance(raw_findings, list) else []:
        if isinstance(f, dict):
            findings.append({"summary": _text(f.get("summary")),
                             "explanation": _text(f.get("explanation"))})
        elif isinstance(f, str) and f.strip():
            findings.append({"summary": f, "explanation": ""})
    try:
        rating = float(re.findall(r"-?\d+(?:\.\d+)?", _text(data.get("rating")))[0])
    except IndexError:
        rating = 0.0
    return {"title": _text(data.get("title")), "summary": _text(data.get("summary")),
            "rating": rating, "rating_explanation": _text(data.get("rating_explanation")),
            "findings": findings}


def _text(value: Any) -> str:
    """A report field as text: None is empty, a list is joined, anything else is str()."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(report: dict[str, Any]) -> str:
    """GraphRAG's markdown ``full_content``: ``# title``, summary, ``## finding`` sections."""
    parts = [f"# {report['title']}", report["summary"]]
    for f in report["findings"]:
        parts.append(f"## {f['summary']}\n\n{f['explanation']}")
    return "\n\n".join(parts)


def graph_context(com: pd.Series, ents: pd.DataFrame, rels: pd.DataFrame, max_tokens: int,
                  sub_reports: list[dict[str, Any]]) -> str:
    """Entities and relationships as CSV-like tables sorted by degree, within ``max_tokens``.

    If the community's own records overflow and its children have reports, the children's report
    summaries come first (GraphRAG's substitution), then as many records as still fit.
    """
    lines_e, lines_r = _record_lines(com, ents, rels)
    full = sum(estimate_tokens(x) for x in lines_e + lines_r)
    head: list[str] = []
    if full > max_tokens and sub_reports:
        head = ["-----Reports-----", "id,title,summary"] + [
            f"{s['community']},{s['title']},{s['summary']}" for s in sub_reports]
    budget = max_tokens - sum(estimate_tokens(x) for x in head)
    out_e, out_r = _fit(lines_e, budget // 2 if lines_r else budget)
    used = sum(estimate_tokens(x) for x in out_e)
    out_r, _ = _fit(lines_r, budget - used)
    return "\n".join(head + ["-----Entities-----", "id,entity,description"] + out_e
                     + ["-----Relationships-----", "id,source,target,description"] + out_r)


def _record_lines(com: pd.Series, ents: pd.DataFrame, rels: pd.DataFrame
                  ) -> tuple[list[str], list[str]]:
    """The community's entity and relationship rows as CSV-like lines, by degree."""
    e = ents[ents["id"].isin(set(com["entity_ids"]))].sort_values("degree", ascending=False)
    r = rels[rels["id"].isin(set(com["relationship_ids"]))].sort_values("combined_degree",
                                                                         ascending=False)
    lines_e = [f"{h},{t},{(d or '').replace(chr(10), ' ')}" for h, t, d in
               zip(e["human_readable_id"], e["title"], e["description"], strict=True)]
    lines_r = [f"{h},{s},{t},{(d or '').replace(chr(10), ' ')}" for h, s, t, d in
               zip(r["human_readable_id"], r["source"], r["target"], r["description"], strict=True)]
    return lines_e, lines_r


def _fit(lines: list[str], budget: int) -> tuple[list[str], int]:
    out, used = [], 0
    for ln in lines:
        n = estimate_tokens(ln)
        if used + n > budget and out:
            break
        out.append(ln)
        used += n
    return out, used


def text_context(com: pd.Series, units: pd.DataFrame, ents: pd.DataFrame, max_tokens: int) -> str:
    """Fast method: the community's key terms plus the text units that mention most of them."""
    e = ents[ents["id"].isin(set(com["entity_ids"]))].sort_values("degree", ascending=False)
    terms = list(e["title"])
    ids = set(com["text_unit_ids"]) or {u for us in e["text_unit_ids"] for u in us}
    u = units[units["id"].isin(ids)].copy()
    u["hits"] = [sum(t.lower() in txt.lower() for t in terms) for txt in u["text"]]
    u = u.sort_values("hits", ascending=False)
    lines = [f"{h},{' '.join(str(t).split())}" for h, t in
             zip(u["human_readable_id"], u["text"], strict=True)]
    out, _ = _fit(lines, max_tokens - 50)
    return "\n".join([f"Key terms: {', '.join(terms[:30])}", "-----Sources-----", "id,text"] + out)


def extractive_report(com: pd.Series, ents: pd.DataFrame, rels: pd.DataFrame) -> dict[str, Any]:
    """A report without an LLM: top entities and relationships, their own descriptions."""
    e = ents[ents["id"].isin(set(com["entity_ids"]))].sort_values("degree", ascending=False)
    r = rels[rels["id"].isin(set(com["relationship_ids"]))].sort_values("combined_degree",
                                                                         ascending=False)
    names = [str(t).title() for t in e["title"].head(3)]
    lead = ", ".join(names) or f"Community {com['community']}"
    findings = []
    for _, row in e.head(5).iterrows():
        rel_ids = list(r[(r["source"] == row["title"]) | (r["target"] == row["title"])]
                       ["human_readable_id"].head(5))
        cite = f" [Data: Entities ({row['human_readable_id']})"
        cite += f"; Relationships ({', '.join(map(str, rel_ids))})]" if rel_ids else "]"
        findings.append({"summary": f"{str(row['title']).title()} ({row['type']})",
                         "explanation": (str(row["description"]) or "No description.") + cite})
    rels_txt = "; ".join(f"{s.title()} – {t.title()}" for s, t in
                         zip(r["source"].head(3), r["target"].head(3), strict=True))
    summary = (f"This community of {len(e)} entities centres on {lead}."
               + (f" Its strongest links: {rels_txt}." if rels_txt else ""))
    rating = round(min(10.0, 1.0 + len(e) ** 0.5 + len(r) ** 0.25), 1)
    return {"title": f"{lead}", "summary": summary, "rating": rating,
            "rating_explanation": "Extractive report (no LLM): rated by the community's size and "
                                  "connectivity.", "findings": findings}


def create_reports(communities: pd.DataFrame, entities: pd.DataFrame,
                   relationships: pd.DataFrame, text_units: pd.DataFrame, chat: Any | None,
                   template: str, *, mode: str = "graph", max_input_tokens: int = 8000,
                   max_length: int = 2000, concurrency: int = 4,
                   progress: StageProgress | None = None,
                   failures: list[str] | None = None) -> pd.DataFrame:
    """GraphRAG's ``community_reports`` table: one report per community, leaves first."""
    done: dict[int, dict[str, Any]] = {}
    by_level = sorted(communities["level"].unique(), reverse=True) if len(communities) else []
    for level in by_level:
        rows = communities[communities["level"] == level]

        def one(row: pd.Series) -> tuple[int, dict[str, Any]]:
            subs = [{"community": c, **done[c]} for c in row["children"] if c in done]
            return int(row["community"]), write_report(
                row, entities, relationships, text_units, chat, template, mode=mode,
                max_input_tokens=max_input_tokens, max_length=max_length, sub_reports=subs,
                failures=failures)

        for cid, rep in run_parallel(one, [r for _, r in rows.iterrows()], concurrency, progress):
            done[cid] = rep
    return report_table(communities, done)


def needs_sub_reports(com: pd.Series, ents: pd.DataFrame, rels: pd.DataFrame,
                      max_tokens: int) -> bool:
    """Whether ``com``'s own records overflow ``max_tokens`` and its children's reports would
    stand in for them (so its report must wait for theirs)."""
    if not len(com["children"]):
        return False
    lines_e, lines_r = _record_lines(com, ents, rels)
    return sum(estimate_tokens(x) for x in lines_e + lines_r) > max_tokens


def write_report(row: pd.Series, entities: pd.DataFrame, relationships: pd.DataFrame,
                 text_units: pd.DataFrame, chat: Any | None, template: str, *,
                 mode: str = "graph", max_input_tokens: int = 8000, max_length: int = 2000,
                 sub_reports: list[dict[str, Any]] | None = None,
                 failures: list[str] | None = None) -> dict[str, Any]:
    """One community's report dict (extractive without an LLM, or when the reply is unusable)."""
    if chat is None:
        return extractive_report(row, entities, relationships)
    ctx = (text_context(row, text_units, entities, max_input_tokens) if mode == "text"
           else graph_context(row, entities, relationships, max_input_tokens, sub_reports or []))
    prompt = fill(template, input_text=ctx, max_length=max_length)
    c = chat.complete("community_reports", [{"role": "user", "content": prompt}],
                      json_schema=REPORT_SCHEMA)
    rep = parse_report(c.text)
    if rep is None:
        if failures is not None:
            failures.append(f"community {row['community']}: {c.text[:200]!r}")
        rep = extractive_report(row, entities, relationships)
    return rep


def report_table(communities: pd.DataFrame, done: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """The ``community_reports`` DataFrame from ``community -> report dict``."""
    out = []
    for _, row in communities.iterrows():
        rep = done[int(row["community"])]
        out.append({"id": uuid.uuid4().hex, "human_readable_id": int(row["community"]),
                    "community": int(row["community"]), "level": int(row["level"]),
                    "parent": int(row["parent"]), "children": list(row["children"]),
                    "title": rep["title"], "summary": rep["summary"], "full_content": render(rep),
                    "rank": float(rep["rating"]), "rating_explanation": rep["rating_explanation"],
                    "findings": rep["findings"],
                    "full_content_json": json.dumps(rep, indent=4, ensure_ascii=False),
                    "period": row["period"], "size": int(row["size"])})
    df = pd.DataFrame(out, columns=REPORT_COLUMNS)
    for c in ("human_readable_id", "community", "level", "parent", "size"):
        df[c] = df[c].astype("int64")
    df["rank"] = df["rank"].astype("float64")
    return df
