"""The fast method's graph: noun phrases and co-occurrence, no LLM and no downloaded NLP data.

GraphRAG's fast method tags noun phrases with NLTK/TextBlob or spaCy, whose data it downloads at
run time (and so fails offline). Here the phrases come from a regex over capitalised word runs
(proper names, titled things) plus hyphenated compounds, filtered by a stopword list shipped in
this file. The rest follows GraphRAG: nodes = phrases with the number of text units they occur
in, edges = co-occurrence in a text unit, weights normalised by PMI, then ``prune_graph`` with
GraphRAG's defaults.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
let me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves yes oh ah well still yet though although
however perhaps maybe indeed even ever never always often sometimes every many much one two three
four five six seven eight nine ten first second third last next new old good great little own
chapter part section page book volume contents end mr mrs ms dr sir madam miss lord lady
monday tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december today tomorrow yesterday morning evening night
something nothing everything anything someone everyone anyone nobody somebody thing things
""".split())
_CAP_RUN = re.compile(
    r"(?<![\w'’])([A-Z][\w'’\-]*(?:\s+(?:of|the|de|van|von|for)?\s*[A-Z][\w'’\-]*)*)")
_HYPHEN = re.compile(r"\b[a-zA-Z]{3,}-[a-zA-Z]{3,}(?:-[a-zA-Z]{3,})*\b")
_CONTRACTION = re.compile(r"['’](ve|ll|re|m|d|t)$|n['’]t$", re.I)
MAX_WORD_LENGTH = 15  # GraphRAG's max_word_length


def noun_phrases(text: str) -> list[str]:
    """Candidate entity phrases in ``text`` (upper-cased like GraphRAG), in order of appearance.

    A capitalised word that only ever appears at a sentence start and is a stopword is dropped;
    leading/trailing stopwords are trimmed from runs; possessive ``'s`` is removed.
    """
    out: list[str] = []
    for m in _CAP_RUN.finditer(text):
        words = re.sub(r"['’]s\b", "", m.group(1)).split()
        while words and words[0].lower() in STOPWORDS:
            words.pop(0)
        while words and words[-1].lower() in STOPWORDS:
            words.pop()
        if not words or any(len(w) > MAX_WORD_LENGTH or _CONTRACTION.search(w) for w in words):
            continue
        phrase = " ".join(w.strip("'’-") for w in words)
        if len(phrase) < 3 or phrase.lower() in STOPWORDS or phrase.isdigit():
            continue
        if len(words) == 1 and _sentence_start(text, m.start()) and \
                not re.search(rf"(?<![.!?]\s)(?<!^)\b{re.escape(words[0])}\b", text[m.end():]):
            continue  # only seen capitalised because it starts a sentence
        out.append(phrase.upper())
    out += [h.upper() for h in _HYPHEN.findall(text) if h.split("-")[0].lower() not in STOPWORDS]
    return out


def _sentence_start(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3):pos].strip(" \t\"'“‘(")
    return before == "" or before[-1:] in ".!?:\n#*"


def candidate_names(text: str, limit: int = 40) -> list[str]:
    """Distinct phrases, most frequent first (used to judge if an LLM extraction looks complete)."""
    counts = Counter(noun_phrases(text))
    return [p for p, c in counts.most_common(limit) if c > 1 or " " in p]


def build_cooccurrence_graph(text_units: pd.DataFrame, *, min_node_freq: int = 2,
                             min_node_degree: int = 1, min_edge_weight_pct: float = 40.0,
                             remove_ego_nodes: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entities and relationships (GraphRAG columns minus ids/degrees) from phrase co-occurrence."""
    unit_phrases: dict[str, set[str]] = {}
    for uid, text in zip(text_units["id"], text_units["text"], strict=True):
        unit_phrases[uid] = set(noun_phrases(text))
    freq: Counter[str] = Counter(p for ps in unit_phrases.values() for p in ps)
    units_of: dict[str, list[str]] = {}
    for uid, ps in unit_phrases.items():
        for p in ps:
            units_of.setdefault(p, []).append(uid)
    pair_units: dict[tuple[str, str], list[str]] = {}
    for uid, ps in unit_phrases.items():
        for a, b in combinations(sorted(ps), 2):
            pair_units.setdefault((a, b), []).append(uid)
    nodes = pd.DataFrame({"title": list(freq), "frequency": [freq[p] for p in freq]})
    edges = pd.DataFrame([{"source": a, "target": b, "weight": float(len(u)), "text_unit_ids": u}
                          for (a, b), u in pair_units.items()],
                         columns=["source", "target", "weight", "text_unit_ids"])
    if len(edges):
        edges = calculate_pmi_edge_weights(nodes, edges)
    nodes, edges = prune_graph(nodes, edges, min_node_freq=min_node_freq,
                               min_node_degree=min_node_degree,
                               min_edge_weight_pct=min_edge_weight_pct,
                               remove_ego_nodes=remove_ego_nodes)
    nodes = nodes.assign(type="NOUN PHRASE",
                         text_unit_ids=[units_of[t] for t in nodes["title"]])
    return nodes.reset_index(drop=True), edges.reset_index(drop=True)


def calculate_pmi_edge_weights(nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """GraphRAG's PMI normalisation: ``p(a,b)·log2(p(a,b) / (p(a)·p(b)))``."""
    prop = nodes.set_index("title")["frequency"] / nodes["frequency"].sum()
    pw = edges["weight"] / edges["weight"].sum()
    sp = edges["source"].map(prop)
    tp = edges["target"].map(prop)
    edges = edges.copy()
    edges["weight"] = pw * np.log2(pw / (sp * tp))
    return edges


def prune_graph(nodes: pd.DataFrame, edges: pd.DataFrame, *, min_node_freq: int = 2,
                min_node_degree: int = 1, min_edge_weight_pct: float = 40.0,
                remove_ego_nodes: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GraphRAG's ``prune_graph`` defaults for the fast method (in the same order)."""
    degree: Counter[str] = Counter(edges["source"]) + Counter(edges["target"])
    keep = set(nodes["title"])
    if remove_ego_nodes and degree:
        ego = max(sorted(degree), key=lambda n: degree[n])
        keep.discard(ego)
    keep -= {n for n in list(keep) if degree.get(n, 0) < min_node_degree}
    fr = dict(zip(nodes["title"], nodes["frequency"], strict=True))
    keep -= {n for n in list(keep) if fr.get(n, 0) < min_node_freq}
    edges = edges[edges["source"].isin(keep) & edges["target"].isin(keep)]
    if min_edge_weight_pct > 0 and len(edges):
        cut = float(np.percentile(edges["weight"], min_edge_weight_pct))
        edges = edges[edges["weight"] >= cut]
    nodes = nodes[nodes["title"].isin(keep)]
    return nodes, edges


def describe_entities(entities: pd.DataFrame, text_units: pd.DataFrame,
                      max_words: int = 60) -> list[str]:
    """Extractive descriptions: the first sentences mentioning each phrase.

    GraphRAG leaves fast-method descriptions empty; a quoted sentence makes the
    ``entity_description`` embedding (and local search) useful at no LLM cost.
    """
    text_of = dict(zip(text_units["id"], text_units["text"], strict=True))
    out = []
    for title, uids in zip(entities["title"], entities["text_unit_ids"], strict=True):
        sents: list[str] = []
        pat = re.compile(rf"\b{re.escape(title)}\b", re.I)
        for uid in list(uids)[:3]:
            for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
                if pat.search(s) and s.strip() not in sents:
                    sents.append(" ".join(s.split()))
                    break
        words = " ".join(sents).split()
        out.append(" ".join(words[:max_words]) + (" …" if len(words) > max_words else ""))
    return out


def describe_relationship(source: str, target: str, units: list[str],
                          text_of: dict[str, Any]) -> str:
    """A sentence that mentions both ends, or a plain co-occurrence statement."""
    for uid in units[:3]:
        for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
            low = s.lower()
            if source.lower() in low and target.lower() in low:
                return " ".join(s.split()[:50])
    n = len(units)
    return f"{source} and {target} appear in the same passage ({n} text unit{'s' if n != 1 else ''})."


def pmi(a: float, b: float, ab: float) -> float:  # pragma: no cover - documentation helper
    """Pointwise mutual information of probabilities (for readers of the docstring above)."""
    return math.log2(ab / (a * b)) if a and b and ab else 0.0
