"""The simulator's ``graphrag`` behaviour: deterministic GraphRAG-format replies built from the prompt.

Like the stub behind ``graphrag-baseline.md``: extraction replies name the capitalised names in
the chunk as entities (with the sentence they appear in) and co-occurring pairs as relationships,
in GraphRAG's tuple format; gleaning replies add the names the prompt says were missed (lmsnb)
or the names the first pass left out (Microsoft GraphRAG's "were missed" follow-up, and its
Y/N "still missing?" question); summaries stitch the given descriptions (lmsnb's
``Descriptions:``/``Summary:`` prompt and GraphRAG's ``Entities:``/``Description List:``);
community reports are valid JSON (title, summary, rating, rating_explanation, findings) about
the entities of the report's data (lmsnb's ``Data:`` section, GraphRAG's ``# Real Data``
``Text:``). The aim is realistic shapes and token volumes, not quality.
Imports nothing from the rest of lmsnb (the simulator's rule).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

MAX_ENTITIES = 12
MAX_RELATIONSHIPS = 10
# Microsoft GraphRAG's gleaning follow-up and its yes/no loop question (phrases they contain)
GLEAN_MARK = "entities and relationships were missed"
LOOP_MARK = "Answer Y if there are still entities"

# Kept short and separate from lmsnb.graphrag's list (the simulator imports nothing from lmsnb).
_STOP = frozenset("""a an the and or but if then so of in on at to for from by with as is was were be
been are this that these those it its he she they we you i his her their our your my not no yes
all any some each every when where what which who why how there here after before while during
into onto over under about above below again once also just only very more most much many
chapter part section one two three first second new old mr mrs ms dr sir good well oh ah nay
let come go have has had do does did since because both nothing something still yet now""".split())
_TOKEN = r"[A-Z](?:[a-zA-Z]|['’](?=[a-zA-Z])|-(?=[a-zA-Z]))*"  # "--" is a dash, not a hyphen
_NAME_RE = re.compile(rf"(?<![\w\-])(?<!\w['’]){_TOKEN}(?:(?:[ \t]+|[ \t]*\n[ \t]*)(?:(?:of|the|de)\s+)?{_TOKEN})*")
_CONTRACTION_RE = re.compile(r"n['’]t$|['’](?:re|ll|ve|m|d)$", re.I)
_SENT_RE = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def _text_after(prompt: str, marker: str, end: str | None = None) -> str:
    i = prompt.rfind(marker)
    if i < 0:
        return ""
    s = prompt[i + len(marker):]
    if end:
        j = s.rfind(end)
        if j >= 0:
            s = s[:j]
    return s.strip()


def names_in(text: str) -> list[str]:
    """Capitalised names, most frequent first (ties: first occurrence).

    Like a decent small model: a word capitalised only because it starts a sentence (or a
    quotation) counts only if the text also capitalises it mid-sentence; contractions
    ("Don't", "You're") and repeats ("Scrooge Scrooge") split a name, and so does "--".
    """
    mid = {m.group(0) for m in re.finditer(rf"(?<=[\w,;])[ \t\n]+({_TOKEN})", text)}
    mid = {re.sub(r"['’]s$", "", w.split()[-1]) for w in mid}
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for m in _NAME_RE.finditer(text):
        parts: list[list[str]] = [[]]
        for w in m.group(0).split():
            if _CONTRACTION_RE.search(w) or (parts[-1] and w == parts[-1][-1]):
                parts.append([] if _CONTRACTION_RE.search(w) else [w])
                continue
            parts[-1].append(w)
        before = text[:m.start()].rstrip()
        at_start = not before or not (before[-1].isalnum() or before[-1] in ",;")
        if re.search(r"\b(?:Mr|Mrs|Ms|Dr|St)\.$", before):
            at_start = False  # "St. Paul's", "Mrs. Cratchit"
        for k, words in enumerate(p for p in parts if p):
            words = [re.sub(r"['’]s$", "", w) if i == len(words) - 1 else w
                     for i, w in enumerate(words)]
            if k == 0 and at_start and words and (words[0] not in mid or
                                                  words[0].lower() in _STOP):
                words = words[1:]
            while words and words[0].lower() in _STOP:
                words.pop(0)
            while words and words[-1].lower() in _STOP:
                words.pop()
            name = " ".join(words).strip("'’-")
            if len(name) < 3 or name.lower() in _STOP:
                continue
            counts[name] += 1
            first.setdefault(name, m.start())
    return sorted(counts, key=lambda n: (-counts[n], first[n]))


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_RE.split(text) if s.strip()]


def _etype(name: str, text: str) -> str:
    if re.search(r"\b(Base|Mountain|City|River|Street|Lake|Mesa|Dulce|Mexico|London|Earth)\b", name):
        return "GEO"
    if re.search(r"\b(Team|Corps|Agency|Command|Institute|Company|Corporation|Group|Project|"
                 r"Operation|Council|Society|Foundation)\b", name):
        return "ORGANIZATION"
    if re.search(rf"\b(Agent|Dr\.?|Mr\.?|Mrs\.?|Captain|Sergeant)\s+{re.escape(name)}", text):
        return "PERSON"
    return "PERSON" if len(name.split()) <= 2 else "EVENT"


def _describe(name: str, sentences: list[str]) -> str:
    hits = [s for s in sentences if name in s]
    quote = " ".join(hits[0].split()[:28]) if hits else ""
    more = f" It appears in {len(hits)} sentences of the passage." if len(hits) > 1 else ""
    return f"{name} is mentioned in the text: \"{quote}\".{more}".replace("<|>", " ")


def _records(text: str, names: list[str], pairs_from: list[str]) -> list[str]:
    sents = _sentences(text)
    recs = [f'("entity"<|>{n.upper()}<|>{_etype(n, text)}<|>{_describe(n, sents)})' for n in names]
    pair_counts: Counter[tuple[str, str]] = Counter()
    for s in sents:
        present = [n for n in pairs_from if n in s]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                if a != b and (a in names or b in names):
                    pair_counts[(a, b)] += 1
    for (a, b), c in pair_counts.most_common(MAX_RELATIONSHIPS):
        desc = f"{a} and {b} appear together in the text, {c} time{'s' if c > 1 else ''}"
        recs.append(f'("relationship"<|>{a.upper()}<|>{b.upper()}<|>{desc}<|>{min(2 + c, 9)})')
    return recs


def extraction(prompt: str) -> str:
    text = _text_after(prompt, "Text:", "Output:")
    names = names_in(text)[:MAX_ENTITIES]
    return "\n##\n".join(_records(text, names, names)) + "\n<|COMPLETE|>"


def _first_pass(messages: list[dict[str, Any]]) -> tuple[str, set[str]]:
    """The chunk of a GraphRAG extraction conversation, and the names extracted so far."""
    first = next((str(m.get("content", "")) for m in messages
                  if m.get("role") == "user" and "-Real Data-" in str(m.get("content", ""))), "")
    done = set()
    for m in messages:
        if m.get("role") == "assistant":
            done.update(re.findall(r'\("entity"<\|>([^<]+)<\|>', str(m.get("content", ""))))
    return _text_after(first, "Text:", "Output:"), done


def missed(messages: list[dict[str, Any]]) -> str:
    """Microsoft GraphRAG's "MANY entities … were missed" follow-up: the names not yet extracted."""
    text, done = _first_pass(messages)
    names = names_in(text)
    new = [n for n in names if n.upper() not in done][:4]
    if not new:
        return "<|COMPLETE|>"
    pool = new + [n for n in names if n.upper() in done]
    return "\n##\n".join(_records(text, new, pool)) + "\n<|COMPLETE|>"


def still_missing(messages: list[dict[str, Any]]) -> str:
    """GraphRAG's "Answer Y ... or N": Y while capitalised names remain unextracted."""
    text, done = _first_pass(messages)
    return "Y" if any(n.upper() not in done for n in names_in(text)) else "N"


def gleaning(prompt: str) -> str:
    text = _text_after(prompt, "Text:", "Output:")
    missed = [c.strip() for c in _text_after(prompt, "Possibly missed:", "Text:").split(",")]
    known_line = _text_after(prompt, "Already extracted:", "Possibly missed:")
    known = [k.strip().title() for k in known_line.split(",") if k.strip()]
    new = [m for m in missed if m and m != "(none)" and m in text][:4]
    if not new:
        return "<|COMPLETE|>"
    pool = new + [k for k in names_in(text) if k.upper() in {x.upper() for x in known}]
    return "\n##\n".join(_records(text, new, pool)) + "\n<|COMPLETE|>"


def summary(prompt: str) -> str:
    name = _text_after(prompt, "Entity:", "Descriptions:").splitlines()[0] if "Entity:" in prompt else "It"
    body = _text_after(prompt, "Descriptions:", "Summary:")
    return _summarize(name, [ln.lstrip("- ").strip() for ln in body.splitlines() if ln.strip()])


def description_list_summary(prompt: str) -> str:
    """Microsoft GraphRAG's summary prompt: ``Entities: <json>`` and ``Description List: <json>``."""
    head = prompt[prompt.rfind("Entities:") + len("Entities:"):]
    raw_name = head.split("Description List:")[0].strip()
    raw_list = _text_after(prompt, "Description List:").split("\n#")[0].strip()
    try:
        ent = json.loads(raw_name)
    except ValueError:
        ent = raw_name
    name = " and ".join(map(str, ent)) if isinstance(ent, list) else str(ent)
    try:
        parts = [str(d) for d in json.loads(raw_list)]
    except ValueError:
        parts = [ln.strip() for ln in raw_list.splitlines() if ln.strip()]
    return _summarize(name, parts)


def _summarize(name: str, parts: list[str]) -> str:
    quotes = []
    for p in parts:
        m = re.search(r'"([^"]+)"', p)
        quotes.append(m.group(1) if m else p)
    joined = " ".join(" ".join(q.split()[:18]) + "." for q in quotes[:3])
    return (f"{name.strip()} is described in {len(parts)} passages. {joined} "
            f"Together these passages show the role {name.strip()} plays in the story.").strip()


def report(prompt: str) -> str:
    if "# Real Data" in prompt:  # Microsoft GraphRAG: the CSV tables after the real data's Text:
        real = prompt[prompt.rfind("# Real Data"):]
        data = _text_after(real[:real.find("The report should")] if "The report should" in real
                           else real, "Text:")
    else:
        data = _text_after(prompt, "Data:", "JSON report:") or prompt[-4000:]
    titles = re.findall(r"^\d+,([^,\n]+),", data, re.M)
    if not titles:
        titles = [n.upper() for n in names_in(data)[:8]]
    titles = list(dict.fromkeys(t.strip() for t in titles if t.strip()))[:8] or ["THE COMMUNITY"]
    h = int(hashlib.sha1(data.encode()).hexdigest()[:4], 16)
    rating = float(2 + h % 7)
    lead = ", ".join(t.title() for t in titles[:3])
    findings = [{"summary": f"The role of {t.title()}",
                 "explanation": f"{t.title()} is one of the central entities of this community and is "
                                f"connected to {lead}. The records describe how it relates to the others "
                                f"[Data: Entities ({i})]."}
                for i, t in enumerate(titles[:5])]
    return json.dumps({
        "title": f"{lead} community",
        "summary": f"This community centres on {lead}. It groups {len(titles)} closely related "
                   f"entities that appear together in the source text.",
        "rating": rating,
        "rating_explanation": f"The community has an impact rating of {rating:.0f} because of how "
                              f"often its entities interact.",
        "findings": findings,
    }, indent=2)


def _tables(prompt: str) -> dict[str, list[list[str]]]:
    """GraphRAG-style context tables in a prompt: ``-----Name-----``, a header, ``|`` rows."""
    tables: dict[str, list[list[str]]] = {}
    for m in re.finditer(r"-----(\w[\w ]*)-----\n[^\n]*\n((?:[^\n]*\|[^\n]*\n?)*)", prompt):
        rows = [line.split("|") for line in m.group(2).splitlines() if line.strip()]
        tables.setdefault(m.group(1).strip().title(), []).extend(rows)
    return tables


def _answer(prompt: str, question: str = "") -> str:
    """An answer that names what the context holds and cites real row ids, as GraphRAG asks."""
    tables = _tables(prompt)
    ents = [r for r in tables.get("Entities", []) if len(r) > 1]
    asked = {w.lower() for w in re.findall(r"[A-Za-z']+", question)}
    named = [r for r in ents if set(r[1].lower().split()) & asked]
    chosen = (named + [r for r in ents if r not in named])[:4]
    if chosen:
        listing = ", ".join(r[1].title() for r in chosen)
        refs = [f"Entities ({', '.join(r[0] for r in chosen)})"]
        for table in ("Reports", "Relationships", "Sources"):
            ids = [r[0] for r in tables.get(table, [])[:2] if r[0].strip()]
            if ids:
                refs.append(f"{table} ({', '.join(ids)})")
        return (f"Based on the data provided, the answer involves {listing}. The records "
                "describe how these entities relate to one another and to the question asked "
                f"[Data: {'; '.join(refs)}].")
    names = names_in(question or prompt[-6000:])[:5]
    sources = [r[0] for r in tables.get("Sources", [])[:3] if r[0].strip()]
    cite = f" [Data: Sources ({', '.join(sources)})]" if sources else ""
    start = max(prompt.find(m) for m in ("----Analyst ", "---Research notes---",
                                         "---Data tables---"))
    carried = [c for c in re.findall(r"\[Data: [^\]]+\]", prompt[start:])
               if "..." not in c] if start >= 0 else []
    if not cite and carried:  # a reduce step: keep the analysts' citations, as GraphRAG asks
        cite = " " + " ".join(dict.fromkeys(carried[:3]))
    listing = ", ".join(names) or "the indexed documents"
    return f"Based on the data provided, the answer involves {listing}.{cite}"


def respond(request: Any) -> str:
    """Reply to a simulator request (``SimRequest``: ``messages``, ``json_schema``)."""
    messages = getattr(request, "messages", None) or []
    schema = getattr(request, "json_schema", None)
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    markers = ("---", "<|>", "Descriptions:", "Possibly missed:", "Question:",
               "Description List:", "# Real Data", GLEAN_MARK, LOOP_MARK)
    if not schema and not any(m in prompt for m in markers):
        # Plain chat (no GraphRAG prompt): behave like the default assistant, tools included.
        from .behaviours import echo

        return echo(request)
    return respond_messages(messages, schema)


def respond_messages(messages: list[dict[str, Any]], json_schema: dict | None = None) -> str:
    """The reply for a message list (usable in-process, without a server)."""
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    last = str(messages[-1].get("content", "")) if messages else ""
    props = (json_schema or {}).get("properties", {}) if isinstance(json_schema, dict) else {}
    if "findings" in props or "JSON report:" in last or "report about the community" in last:
        return report(last)
    if GLEAN_MARK in last:
        return missed(messages)
    if LOOP_MARK in last:
        return still_missing(messages)
    if "Possibly missed:" in last:
        return gleaning(last)
    if "Description List:" in last:
        return description_list_summary(last)
    if "<|>" in last and "-Real Data-" in last:
        return extraction(last)
    if "Descriptions:" in last and "Summary:" in last:
        return summary(last)
    if "points" in props:
        names = names_in(prompt[-6000:])[:3] or ["the data"]
        ids = [r[0] for r in _tables(prompt).get("Reports", []) if r[0].strip()] or ["0"]
        return json.dumps({"points": [{"description": f"{n} is relevant to the question "
                                                      f"[Data: Reports ({ids[i % len(ids)]})].",
                                       "score": 60 - 10 * i}
                                      for i, n in enumerate(names)]})
    answer_key = next((k for k in ("response", "intermediate_answer") if k in props), None)
    if answer_key and "follow_up_queries" in props:  # DRIFT's primer and follow-up steps
        question = next((str(m.get("content", "")) for m in reversed(messages)
                         if m.get("role") == "user"), last)
        names = names_in(prompt[-6000:])[:2]
        return json.dumps({answer_key: _answer(prompt, question), "score": 60,
                           "follow_up_queries": [f"What is the role of {n}?" for n in names]})
    if json_schema:
        try:
            from .behaviours import schema_instance

            return json.dumps(schema_instance(json_schema))
        except Exception:
            return "{}"
    question = next((str(m.get("content", "")) for m in reversed(messages)
                     if m.get("role") == "user"), last)
    return _answer(prompt, question)
