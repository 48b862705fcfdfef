"""The fast method's graph: noun phrases and co-occurrence, no LLM and no downloaded NLP data.

GraphRAG's fast method tags noun phrases with NLTK/TextBlob or spaCy, whose data it downloads at
run time (and so fails offline). Here the phrases come from heuristics that need no tagger:

* **Capitalised runs** (proper names, titled things: ``JACOB MARLEY``, ``GHOST OF CHRISTMAS
  PAST``). Capitals only mean "name" where they are not forced by the grammar, so the corpus is
  read once for a :class:`CaseProfile`: how often each word is capitalised *mid-sentence* and
  how often it is written in lower case. A capitalised word at a sentence start (or after an
  opening quote) counts only if the profile says it is a name (``'Come, then,'`` and ``Let``,
  ``Nay``, ``Have`` do not). Contractions (``Don't``, ``You're``), possessive ``'s``, ``--``
  dashes and repeats (``Scrooge Scrooge``) split or end a run.
* **Hyphenated compounds** (``COUNTING-HOUSE``), as GraphRAG's ``regex_english`` keeps them.
* **Speaking roles**: a lower-case noun that is the subject of speech attribution at least
  twice (``said the nephew``, ``returned the nephew``) is a character whose name the text may
  never give; its definite mentions (``the/his nephew``, ``Scrooge's nephew``) become one entity,
  titled by its usual possessor when there is one (``SCROOGE'S NEPHEW``).

Entity ``type`` is ``PERSON`` where the text itself says the thing speaks (it is the subject of
a speech verb: ``said Scrooge``, ``cried Tiny Tim``) or it carries a personal title (``Mr.``,
``Mrs.``, ``Miss``); everything else stays GraphRAG's ``NOUN PHRASE``.

The graph follows GraphRAG: nodes = phrases with the number of text units they occur in, edges =
co-occurrence, weights normalised by PMI, then :func:`prune_graph`. Two choices differ, both
because GraphRAG's defaults assume its own setting (50-100-token chunks, large corpora):

* co-occurrence is counted in **windows of about 40-80 words** (whole sentences, never across a
  paragraph) inside each text unit, not in the whole unit. GraphRAG's docs advise 50-100-token
  chunks for the fast method; lmsnb keeps 300-token chunks so basic search has context, and the
  window gives the graph the resolution the advice is about. In a 300-token unit of a novel
  every name co-occurs with the protagonist, and PMI then has nothing to tell apart.
* pruning defaults follow the corpus size (see :func:`auto_prune_settings`); notably the ego
  node (the most connected phrase) is kept, because in a single text it is its subject
  (``SCROOGE``), the first thing people ask about.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
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
since come go went see look say said tell shall must might upon nay aye hark alas lo hallo halloa
ha ho hum hem pooh bah hush hey ay o dear man men woman women another either neither whose whether
thus hence therefore besides meanwhile otherwise else back away quite rather almost enough
""".split())
TITLES = frozenset("mr mrs ms miss dr master mister madam madame sir lady lord captain".split())
SPEECH_VERBS = ("said|says|cried|returned|replied|asked|answered|pleaded|repeated|exclaimed|"
                "observed|rejoined|retorted|added|continued|whispered|muttered|inquired|enquired|"
                "demanded|interposed|resumed|urged|shouted|growled|sobbed|remarked|rejoined")
_TOKEN = r"[A-Z](?:[A-Za-z0-9]|['’](?=[A-Za-z])|-(?=[A-Za-z]))*"
_CAP_RUN = re.compile(rf"(?<![\w\-])(?<!\w['’])({_TOKEN}(?:(?:[ \t]+|[ \t]*\n[ \t]*)"
                      rf"(?:(?:of|the|de|van|von|for)\s+)?{_TOKEN})*)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_HYPHEN = re.compile(r"(?<![\w-])[a-zA-Z]{3,}-[a-zA-Z]{3,}(?:-[a-zA-Z]{3,})*(?![\w-])")
_CONTRACTION = re.compile(r"['’](ve|ll|re|m|d|t)$|n['’]t$", re.I)
_POSSESSIVE = re.compile(r"['’]s$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])['’\"”)]*\s+(?=['‘\"“(]*[A-Z])|\n[ \t]*\n")
_DETERMINER = r"(?:the|his|her|their|my|our|your|this|that|[A-Z][a-z]+['’]s)"
_SPEAKER_NOUN = re.compile(
    rf"\b(?:{SPEECH_VERBS})\s+{_DETERMINER}\s+([a-z]{{3,}})\b(?=\s*[,.;:!?'’\"”\-])"
    rf"|\b{_DETERMINER}\s+([a-z]{{3,}})\s+(?:{SPEECH_VERBS})\b")
_SPEAKER_NAME = re.compile(
    rf"\b(?:{SPEECH_VERBS})\s+(?:the\s+)?({_TOKEN}(?:[ \t]+{_TOKEN})*)(?!['’\w])"
    rf"|(?<![\w'’])({_TOKEN}(?:[ \t]+{_TOKEN})*)\s+(?:{SPEECH_VERBS})\b")
_INTRO = re.compile(  # "  Belle, a comely matron" (a cast list) or "'Belle,' said the husband"
    rf"(?:^|\n)[ \t]*({_TOKEN}),[ \t]+(?:a|an|the|[A-Z][a-z]+['’]s)\b"
    rf"|['‘\"“]({_TOKEN}),['’\"”]\s+(?:{SPEECH_VERBS})\b")
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Messrs|Mme|Mlle)\.$")
_CONNECTORS = frozenset({"of", "the", "de", "van", "von", "for"})
MAX_WORD_LENGTH = 15  # GraphRAG's max_word_length
WINDOW_WORDS = 40  # a co-occurrence window is whole sentences adding up to at least this many


@dataclass
class CaseProfile:
    """Corpus statistics that tell names from words capitalised by position.

    ``cap_mid``: times a word is capitalised where the grammar does not require it (after a
    word or a comma). ``lower``: times it is written in lower case. ``roles``: lower-case nouns
    that speak (see module docstring), mapped to their entity title. ``speakers``: upper-cased
    names seen as the subject of a speech verb or after a personal title.
    """

    cap_mid: Counter[str] = field(default_factory=Counter)
    cap_start: Counter[str] = field(default_factory=Counter)
    lower: Counter[str] = field(default_factory=Counter)
    introduced: set[str] = field(default_factory=set)
    roles: dict[str, str] = field(default_factory=dict)
    speakers: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, texts: Any) -> CaseProfile:
        prof = cls()
        role_hits: Counter[str] = Counter()
        owners: dict[str, Counter[str]] = {}
        all_text: list[str] = []
        for text in ([texts] if isinstance(texts, str) else texts):
            for m in _WORD.finditer(text):
                w = m.group(0)
                key = _POSSESSIVE.sub("", w).lower()
                if w[0].islower():
                    prof.lower[key] += 1
                elif len(w) > 1 and w.isupper():
                    continue  # SHOUTED or a heading: capitals say nothing about the word
                elif _sentence_start(text, m.start()):
                    prof.cap_start[key] += 1
                else:
                    prof.cap_mid[key] += 1
            for m in _SPEAKER_NOUN.finditer(text):
                noun = m.group(1) or m.group(2)
                if noun not in STOPWORDS and len(noun) <= MAX_WORD_LENGTH:
                    role_hits[noun] += 1
            for m in _SPEAKER_NAME.finditer(text):
                prof.speakers.add(" ".join((m.group(1) or m.group(2)).split()).upper())
            for m in re.finditer(r"\b([A-Z][a-z]+)\.?\s+([A-Z][a-z]+)", text):
                if m.group(1).lower() in TITLES:
                    prof.speakers.add(m.group(2).upper())
            for m in re.finditer(r"\b([A-Z][a-z]+)['’]s\s+([a-z]{3,})\b", text):
                owners.setdefault(m.group(2), Counter())[m.group(1)] += 1
            for m in _INTRO.finditer(text):
                prof.introduced.add((m.group(1) or m.group(2)).lower())
            all_text.append(text)
        for noun, hits in role_hits.items():
            if hits < 2:
                continue
            owner, n = (owners.get(noun) or Counter({"": 0})).most_common(1)[0]
            definite = sum(len(re.findall(rf"\b{_DETERMINER}\s+{noun}\b", t)) for t in all_text)
            titled = n >= 2 and 3 * n >= definite and prof.is_name(owner)
            prof.roles[noun] = f"{owner.upper()}'S {noun.upper()}" if titled else noun.upper()
        return prof

    def is_name(self, word: str) -> bool:
        """True if ``word`` is capitalised for itself, not for its place in the sentence."""
        key = _POSSESSIVE.sub("", word).lower()
        if key in STOPWORDS or not key:
            return False
        mid, low = self.cap_mid[key], self.lower[key]
        if mid:
            return mid >= low
        return low == 0 and key in self.introduced  # only ever at sentence starts

    def is_person(self, phrase: str) -> bool:
        if phrase in self.speakers or phrase in self.roles.values():
            return True
        words = phrase.split()
        return len(words) <= 3 and any(w in self.speakers for w in (words[0], words[-1]))


def noun_phrases(text: str, profile: CaseProfile | None = None) -> list[str]:
    """Candidate entity phrases in ``text`` (upper-cased like GraphRAG), in order of appearance.

    ``profile`` carries the corpus's capitalisation statistics (built from ``text`` alone when
    not given); see the module docstring for the rules.
    """
    profile = profile or CaseProfile.of(text)
    found: list[tuple[int, str]] = []
    for m in _CAP_RUN.finditer(text):
        at_start = _sentence_start(text, m.start())
        for k, words in enumerate(_split_run(m.group(1).split(), profile)):
            while k == 0 and at_start and words and not profile.is_name(words[0]):
                words = words[1:]  # "Long Past?", "Nay Scrooge": capitalised by position
            phrase = _clean(words)
            if phrase:
                found.append((m.start(), phrase))
    for m in _HYPHEN.finditer(text):
        if m.group(0).split("-")[0].lower() not in STOPWORDS:
            found.append((m.start(), m.group(0).upper()))
    for noun, title in profile.roles.items():
        for m in re.finditer(rf"\b{_DETERMINER}\s+{noun}\b", text):
            found.append((m.start(), title))
    return [p for _, p in sorted(set(found), key=lambda x: x[0])]  # a run can be a compound too


def _split_run(words: list[str], profile: CaseProfile) -> list[list[str]]:
    """Cut a capitalised run at contractions and repeated words; drop a final possessive.

    In ALL CAPS (a heading, a licence in capitals) capitals say nothing, so only words the
    profile knows as names (or acronyms) are kept; the others cut the run.
    """
    parts: list[list[str]] = [[]]
    for w in words:
        if _CONTRACTION.search(w) or (len(w) > 1 and w.isupper() and not _shouted_name(w, profile)):
            parts.append([])
            continue
        if parts[-1] and w.lower() == parts[-1][-1].lower():
            parts.append([])  # "called Scrooge Scrooge": two mentions, not a name
        parts[-1].append(w)
    out = []
    for p in parts:  # "St. Paul's Churchyard" stays one name; "Scrooge's" loses its 's
        if p:
            p[-1] = _POSSESSIVE.sub("", p[-1])
            out.append(p)
    return out


def _shouted_name(word: str, profile: CaseProfile) -> bool:
    """An ALL-CAPS word is a name if written as one elsewhere, or an acronym (never lower case)."""
    key = _POSSESSIVE.sub("", word).lower()
    return profile.is_name(word) or (profile.lower[key] == 0 and 2 <= len(key) <= 6
                                     and key not in STOPWORDS) or key in _CONNECTORS


def _clean(words: list[str]) -> str:
    while words and words[0].lower() in STOPWORDS:
        words = words[1:]
    while words and words[-1].lower() in STOPWORDS:
        words = words[:-1]
    if not words or any(len(w) > MAX_WORD_LENGTH for w in words):
        return ""
    phrase = " ".join(w.strip("'’-") for w in words)
    if len(phrase) < 3 or phrase.lower() in STOPWORDS or phrase.isdigit():
        return ""
    return phrase.upper()


def _sentence_start(text: str, pos: int) -> bool:
    """True unless the previous character (spaces aside) is a letter, digit or comma-like."""
    i = pos - 1
    while i >= 0 and text[i] in " \t\n\r":
        i -= 1
    if i >= 0 and text[i] == "." and _ABBREVIATION.search(text[max(0, i - 6):i + 1]):
        return False  # "Mrs. Dilber"
    return i < 0 or not (text[i].isalnum() or text[i] in ",;")


def candidate_names(text: str, limit: int = 40) -> list[str]:
    """Distinct phrases, most frequent first (used to judge if an LLM extraction looks complete)."""
    counts = Counter(noun_phrases(text))
    return [p for p, c in counts.most_common(limit) if c > 1 or " " in p]


def windows(text: str, min_words: int = WINDOW_WORDS) -> list[str]:
    """Whole sentences grouped to at least ``min_words`` words, never across a blank line."""
    out: list[str] = []
    for para in re.split(r"\n[ \t]*\n", text):
        cur: list[str] = []
        n = 0
        for sent in _SENTENCE_END.split(para):
            if not sent or not sent.strip():
                continue
            cur.append(sent)
            n += len(sent.split())
            if n >= min_words:
                out.append(" ".join(cur))
                cur, n = [], 0
        if cur:
            if out and n < min_words // 4 and not para.startswith(cur[0]):
                out[-1] += " " + " ".join(cur)
            else:
                out.append(" ".join(cur))
    return out


def auto_prune_settings(n_units: int, n_edges: int) -> dict[str, Any]:
    """Pruning defaults for a corpus of ``n_units`` text units and ``n_edges`` raw edges.

    GraphRAG's ``prune_graph`` defaults (min_node_freq 2, min_node_degree 1,
    min_edge_weight_pct 40, remove_ego_nodes true) were set for corpora of hundreds of chunks.
    On a 12 KB text (a dozen 300-token units) they leave five phrases: every name is in one or
    two units, and the ego node removed is the protagonist. So:

    * ``min_node_freq`` (text units) is 2 from 20 units up and 1 below: in a dozen units most
      names (``HAMLET``, ``PARLIAMENT``) are in one unit only.
    * ``min_edge_weight_pct`` is 40 from 500 raw edges up, then falls linearly to 0 at 50 edges:
      a percentile cut on a graph of thirty edges removes real relationships, not noise.
    * ``remove_ego_nodes`` is False: a single text's most connected phrase is its subject.
      Pass ``remove_ego_nodes=True`` for GraphRAG's behaviour (useful for a large collection
      whose hub is a boilerplate term).
    """
    pct = 40.0 if n_edges >= 500 else max(0.0, 40.0 * (n_edges - 50) / 450)
    return {"min_node_freq": 2 if n_units >= 20 else 1, "min_node_degree": 1,
            "min_edge_weight_pct": round(pct, 1), "remove_ego_nodes": False}


def build_cooccurrence_graph(text_units: pd.DataFrame, *, min_node_freq: int | None = None,
                             min_node_degree: int | None = None,
                             min_edge_weight_pct: float | None = None,
                             remove_ego_nodes: bool | None = None,
                             window_words: int = WINDOW_WORDS
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entities and relationships (GraphRAG columns minus ids/degrees) from phrase co-occurrence.

    Settings left as None take :func:`auto_prune_settings` for this corpus. Edges count the
    windows (see :func:`windows`) holding both phrases; a window repeated in the overlap of two
    units counts once. Node ``frequency`` is the number of text units, as in GraphRAG.
    """
    texts = list(text_units["text"])
    profile = CaseProfile.of(texts)
    units_of: dict[str, list[str]] = {}
    mentions: Counter[str] = Counter()
    win_freq: Counter[str] = Counter()
    pair_count: Counter[tuple[str, str]] = Counter()
    pair_units: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for uid, text in zip(text_units["id"], texts, strict=True):
        for p in dict.fromkeys(noun_phrases(text, profile)):
            units_of.setdefault(p, []).append(uid)
        for win in windows(text, window_words):
            key = " ".join(win.split())
            if key in seen:
                continue
            seen.add(key)
            phrases = noun_phrases(win, profile)
            mentions.update(phrases)
            ps = sorted(set(phrases))
            win_freq.update(ps)
            for pair in combinations(ps, 2):
                pair_count[pair] += 1
                us = pair_units.setdefault(pair, [])
                if uid not in us:
                    us.append(uid)
    auto = auto_prune_settings(len(text_units), len(pair_count))
    given = {"min_node_freq": min_node_freq, "min_node_degree": min_node_degree,
             "min_edge_weight_pct": min_edge_weight_pct, "remove_ego_nodes": remove_ego_nodes}
    opts = {k: auto[k] if v is None else v for k, v in given.items()}
    titles = [p for p in units_of if mentions[p]]
    nodes = pd.DataFrame({"title": titles, "frequency": [len(units_of[p]) for p in titles],
                          "windows": [win_freq[p] for p in titles]})
    edges = pd.DataFrame([{"source": a, "target": b, "weight": float(c),
                           "text_unit_ids": pair_units[(a, b)]}
                          for (a, b), c in pair_count.items()],
                         columns=["source", "target", "weight", "text_unit_ids"])
    keep = set(titles)
    edges = edges[edges["source"].isin(keep) & edges["target"].isin(keep)]
    if len(edges):
        edges = calculate_pmi_edge_weights(nodes, edges, freq="windows")
    nodes, edges = prune_graph(nodes.drop(columns="windows"), edges, **opts)
    nodes = nodes.assign(type=["PERSON" if profile.is_person(t) else "NOUN PHRASE"
                               for t in nodes["title"]],
                         text_unit_ids=[units_of[t] for t in nodes["title"]])
    return nodes.reset_index(drop=True), edges.reset_index(drop=True)


def calculate_pmi_edge_weights(nodes: pd.DataFrame, edges: pd.DataFrame,
                               freq: str = "frequency") -> pd.DataFrame:
    """GraphRAG's PMI normalisation: ``p(a,b)·log2(p(a,b) / (p(a)·p(b)))``.

    ``freq`` names the node column the marginals come from (GraphRAG: ``frequency``).
    """
    prop = nodes.set_index("title")[freq] / nodes[freq].sum()
    pw = edges["weight"] / edges["weight"].sum()
    sp = edges["source"].map(prop)
    tp = edges["target"].map(prop)
    edges = edges.copy()
    edges["weight"] = pw * np.log2(pw / (sp * tp))
    return edges


def prune_graph(nodes: pd.DataFrame, edges: pd.DataFrame, *, min_node_freq: int = 2,
                min_node_degree: int = 1, min_edge_weight_pct: float = 40.0,
                remove_ego_nodes: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GraphRAG's ``prune_graph`` (its defaults, in the same order).

    :func:`build_cooccurrence_graph` passes corpus-sized settings instead of these defaults
    (:func:`auto_prune_settings`).
    """
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
        pat = _mention_pattern(title)
        for uid in list(uids)[:3]:
            for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
                flat = " ".join(s.split())
                if pat.search(s) and flat not in sents:  # units overlap: skip a repeat
                    sents.append(flat)
                    break
        words = " ".join(sents).split()
        out.append(" ".join(words[:max_words]) + (" …" if len(words) > max_words else ""))
    return out


def _mention_pattern(title: str) -> re.Pattern[str]:
    """How ``title`` is written in the text (a speaking role also as ``the <noun>``)."""
    pat = r"\s+".join(re.escape(w).replace("'", "['’]") for w in title.split())
    m = re.fullmatch(r"[A-Z]+['’]S ([A-Z]+)", title)
    if m:
        pat += rf"|\b(?:the|his|her)\s+{m.group(1)}"
    return re.compile(rf"\b(?:{pat})\b", re.I)


def describe_relationship(source: str, target: str, units: list[str],
                          text_of: dict[str, Any]) -> str:
    """A sentence that mentions both ends, or a plain co-occurrence statement."""
    ps, pt = _mention_pattern(source), _mention_pattern(target)
    for uid in units[:3]:
        for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
            if ps.search(s) and pt.search(s):
                return " ".join(s.split()[:50])
    n = len(units)
    return f"{source} and {target} appear in the same passage ({n} text unit{'s' if n != 1 else ''})."


def pmi(a: float, b: float, ab: float) -> float:  # pragma: no cover - documentation helper
    """Pointwise mutual information of probabilities (for readers of the docstring above)."""
    return math.log2(ab / (a * b)) if a and b and ab else 0.0
