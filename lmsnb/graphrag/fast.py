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
* **Any script, any Latin language**: a capital is any letter ``str.isupper()`` says is one
  (``Émile``, ``Łódź``, ``Ørsted``, ``İstanbul``); particles between capitals stay in the name
  (``Vincent van Gogh``, ``Juan de la Cruz``, ``Jeanne d'Arc``) and before one only where the
  text never writes the name without it (``van Gogh``, ``d'Artagnan``; not ``de Madrid``,
  ``l'Angleterre``: see :meth:`CaseProfile.keeps_particle`); ``O'Brien`` and ``Jean-Luc`` are
  one word, ``C'est``/``L'homme`` none; «», „“, ¿¡ and dashes open a sentence like quotes do.
  Where the grammar capitalises every noun (German), a word must also be marked as a name by
  the text (a title, a speech verb, ``nach München``): see :meth:`CaseProfile.is_name`.
* **Titles** are not part of a name: ``Agent Alex Mercer``, ``Agents Alex Mercer``, ``Dr.
  Becker``, ``Captain Nemo`` give ``ALEX MERCER``, ``BECKER``, ``NEMO`` (only before a name,
  so ``General Motors`` stays). ``X: Y`` written twice, once mid-sentence (``into Operation:
  Dulce``), is one thing, ``OPERATION: DULCE``; a ``Label: value`` line is not.
* **Hyphenated compounds** (``COUNTING-HOUSE``), as GraphRAG's ``regex_english`` keeps them,
  but only those the text uses as nouns (``in his counting-house.``, ``as a door-nail.``):
  ``a razor-sharp mind``, ``tech-savvy``, ``counter-productive`` are adjectives, not things.
* **One person, one entity**: within a document, a first name or surname used alone (``ALEX``,
  ``MERCER``, from ``Agent Mercer`` too) folds into the one full name that starts or ends with
  it (``ALEX MERCER``), when the text shows that name as a person; a part two full names share
  (``CRATCHIT``) stays as it is (:func:`name_folds`). The forms folded into each entity are
  kept (``idx.meta["aliases"]``) and count as mentions in its description.
* **Speaking roles**: a lower-case noun that is the subject of speech attribution at least
  twice (``said the nephew``, ``returned the nephew``) is a character whose name the text may
  never give; its definite mentions (``the/his nephew``, ``Scrooge's nephew``) become one entity,
  titled by its usual possessor when there is one (``SCROOGE'S NEPHEW``).

Entity ``type`` is ``PERSON`` where the text itself says the thing speaks (it is the subject of
a speech verb: ``said Scrooge``, ``cried Tiny Tim``) or it carries a personal title (``Mr.``,
``Mrs.``, ``Miss``); everything else stays GraphRAG's ``NOUN PHRASE``.

The graph follows GraphRAG: nodes = phrases with the number of text units they occur in, edges =
co-occurrence, weights normalised by PMI (GraphRAG's ``p(a,b)·PMI(a,b)``; pairs that meet no more
often than chance have no positive weight and are dropped: :func:`calculate_pmi_edge_weights`),
then :func:`prune_graph`. Two choices differ, both
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
from collections.abc import Callable
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
""".split()) | frozenset("""
herr herrn frau fräulein monsieur messieurs madame mademoiselle mme mlle señor señora señorita sr sra srta
senhor senhora signor signora signorina pan pani
montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz juni juli oktober
dezember lundi mardi mercredi jeudi vendredi samedi dimanche janvier février mars avril mai juin
juillet août septembre octobre novembre décembre lunes martes miércoles jueves viernes sábado
domingo enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
kapitel chapitre capítulo
""".split())  # the second set: other languages' titles, days, months (stripped like Mr, Monday)
TITLES = frozenset("""mr mrs ms miss dr master mister madam madame sir lady lord captain
herr herrn frau fräulein doktor prof professor onkel tante graf gräfin monsieur mademoiselle mme
mlle m señor señora señorita sr sra srta don doña senhor senhora dom dona signor signora pan pani
agent agents capt detective det inspector sergeant sgt officer lieutenant lt colonel col
commander cmdr admiral doctor doctors drs messrs captains detectives officers professors
president senator governor judge reverend rev
""".split())
# Titles a name is folded out of ("AGENT ALEX MERCER", "AGENTS ALEX MERCER", "DR BECKER" are
# ALEX MERCER and BECKER) when the rest is a name; words that also start organisations' names
# ("General Motors", "Major League") are not in the list.
HONORIFICS = TITLES - {"m", "don", "dom", "pan"}
# A surname after one of these is often a wife's or a daughter's (Mrs. Cratchit is not Bob
# Cratchit): such a surname is not folded into a full name the text never titles so.
FEMALE_TITLES = frozenset("""mrs ms miss madam madame mme mlle lady dame frau fräulein señora
señorita sra srta doña dona senhora signora signorina pani mademoiselle""".split())
# what precedes a common noun and never a name: a hyphenated compound is a noun (COUNTING-HOUSE,
# DOOR-NAIL) only where the text uses it as one: "in his counting-house.", "as a door-nail."
_NOUN_DET = frozenset("a an the his her their my our your its this that these those every each "
                      "no any some".split())
SPEECH_VERBS = ("said|says|cried|returned|replied|asked|answered|pleaded|repeated|exclaimed|"
                "observed|rejoined|retorted|added|continued|whispered|muttered|inquired|enquired|"
                "demanded|interposed|resumed|urged|shouted|growled|sobbed|remarked|rejoined")
_SPEECH_ANY = (SPEECH_VERBS + "|sagte|fragte|antwortete|rief|meinte|erwiderte|flüsterte|murmelte|"
               "erklärte|entgegnete|dit|demanda|répondit|cria|murmura|s['’]écria|ajouta|reprit|"
               "dijo|preguntó|respondió|contestó|gritó|exclamó|murmuró|añadió|disse|perguntou|"
               "respondeu|powiedział|powiedziała|řekl|řekla|sa|sade|sagde|dedi")


def _letter_class(pred: Callable[[str], bool]) -> str:
    """A regex character class of the Basic Multilingual Plane's letters that satisfy ``pred``."""
    spans: list[tuple[int, int]] = []
    for cp in range(0x10000):
        c = chr(cp)
        if c.isalpha() and pred(c):
            if spans and spans[-1][1] == cp - 1:
                spans[-1] = (spans[-1][0], cp)
            else:
                spans.append((cp, cp))
    return "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                         for a, b in spans) + "]"


# Python's re has no \p{Lu}: capital letters of every script (É, Ł, Ø, İ, Ω, Ж, title-case ǅ)
_UP = _letter_class(lambda c: c.isupper() or c.istitle())
_LOW = _letter_class(str.islower)
_L = r"[^\W\d_]"  # any letter
_APOS = "'’"
_OPEN = "'‘\"“„‚«»‹›¿¡(\\[—–"  # marks that may open a sentence or a quotation
_CLOSE = "'’\"”“»«›‹)\\]"  # ... and that may close one (German „…“ closes with “, «» both ways)
_TOKEN = rf"{_UP}(?:{_L}|[0-9]|[{_APOS}](?={_L})|-(?={_L}))*"
# particles inside names (van Gogh, de la Cruz, Mies van der Rohe, Jeanne d'Arc); a second,
# article-like particle (der, la) only after a first one, so "Anna der Frau" never joins
_PARTICLE = "van|von|vom|de|da|di|du|del|della|delle|dei|degli|dos|das|des|ter|ten|zu|zur|af|av"
_LEAD_PARTICLE = "van|von|de|da|di|du|del|della|ter|ten|zu"  # "van Gogh" (not "das Haus")
_PARTICLE2 = "der|den|dem|la|las|los|le|les|lo"
_ELISION = r"[dDlL]|[dD]ell|[dD]all|[nN]ell|[sS]ull|[aA]ll"  # d'Artagnan, l'Angleterre
_JOIN = (rf"(?:(?:of|the|for|{_PARTICLE})\s+(?:(?:{_PARTICLE2})\s+)?(?:(?:{_ELISION})[{_APOS}])?"
         rf"|(?:{_ELISION})[{_APOS}])")
_LEAD = rf"(?:(?:{_LEAD_PARTICLE})\s+(?:(?:{_PARTICLE2})\s+)?|(?:{_ELISION})[{_APOS}](?={_UP}))"
_GAP = r"(?:[ \t]+|[ \t]*\n[ \t]*)"
_CAP_RUN = re.compile(rf"(?<![\w\-])(?<!\w[{_APOS}])((?:{_LEAD})?{_TOKEN}"
                      rf"(?:{_GAP}(?:{_JOIN})?{_TOKEN})*)")
_LEAD_SPLIT = re.compile(rf"^((?:(?:{_LEAD_PARTICLE})\s+(?:(?:{_PARTICLE2})\s+)?)?"
                         rf"(?:(?:{_ELISION})[{_APOS}])?)(?={_UP})")
_CONNECTOR_WORD = re.compile(rf"^(?:of|the|for|{_PARTICLE}|{_PARTICLE2})$")
_WORD = re.compile(rf"{_L}(?:{_L}|[{_APOS}\-])*")
_HYPHEN = re.compile(rf"(?<![\w-]){_L}{{3,}}-{_L}{{3,}}(?:-{_L}{{3,}})*(?![\w-])")
_COMPOUND_USE = re.compile(rf"(?:\b({_L}+)|['’]s)\s+({_L}{{3,}}(?:-{_L}{{3,}})+)(?![\w-])"
                          rf"\s*(\W|{_L}+)?")
_COLON_TITLE = re.compile(rf"(?<![\w\-])({_TOKEN}(?:[ \t]+{_TOKEN}){{0,3}}):[ \t]+"
                          rf"({_TOKEN}(?:[ \t]+{_TOKEN}){{0,3}})(?![\w\-])")
_CONTRACTION = re.compile(r"['’](ve|ll|re|m|d|t)$|n['’]t$", re.I)
# French/Italian elision at a word's start: C'est, L'homme, Qu'il (a function word when a small
# letter follows), L'Angleterre (the name after it)
_ELIDED = re.compile(rf"^(?:[lLdDjJnNsScCmMtT]|[qQ]u|[jJ]usqu|[lL]orsqu|[pP]uisqu|[dD]ell|[dD]all"
                     rf"|[nN]ell|[sS]ull|[aA]ll)[{_APOS}](?={_L})")
_POSSESSIVE = re.compile(r"['’]s$", re.I)
_SENTENCE_END = re.compile(rf"(?<=[.!?…])[{_CLOSE}]*\s+(?=[{_OPEN}]*\s?{_UP})|\n[ \t]*\n")
_DETERMINER = rf"(?:the|his|her|their|my|our|your|this|that|{_UP}{_LOW}+['’]s)"
_SPEAKER_NOUN = re.compile(
    rf"\b(?:{SPEECH_VERBS})\s+{_DETERMINER}\s+([a-z]{{3,}})\b(?=\s*[,.;:!?'’\"”\-])"
    rf"|\b{_DETERMINER}\s+([a-z]{{3,}})\s+(?:{SPEECH_VERBS})\b")
_SPEAKER_NAME = re.compile(
    rf"\b(?:{_SPEECH_ANY})\s+(?:(?:the|don|doña|dom|dona)\s+)?"
    rf"({_TOKEN}(?:[ \t]+{_TOKEN})*)(?![{_APOS}\w])"
    rf"|(?<![\w'’])({_TOKEN}(?:[ \t]+{_TOKEN})*)\s+(?:{_SPEECH_ANY})\b")
_INTRO = re.compile(  # "  Belle, a comely matron" (a cast list) or "'Belle,' said the husband"
    rf"(?:^|\n)[ \t]*({_TOKEN}),[ \t]+(?:a|an|the|{_UP}{_LOW}+['’]s)\b"
    rf"|['‘\"“«„]({_TOKEN}),['’\"”»“]\s+(?:{_SPEECH_ANY})\b")
_TITLED = re.compile(rf"\b({_UP}{_LOW}*)\.?\s+(?=({_UP}{_LOW}+))")
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Messrs|Mme|Mlle|M|Hr|Fr|Prof|Sr|Sra|Srta|Dra)\.$")
_PARTICLES = frozenset(_PARTICLE.split("|"))
_PARTICLES2 = frozenset(_PARTICLE2.split("|"))
_CONNECTORS = frozenset({"of", "the", "for"}) | _PARTICLES | _PARTICLES2
# German-style noun capitals: what precedes a common noun (an article, a possessive, a
# preposition fused with an article) and never precedes a name
_GERMAN_DET = frozenset("""der die das den dem des ein eine einen einem einer eines kein keine
keinen keinem keiner keines mein meine meinen meinem meiner meines dein deine deinen deinem deiner
sein seine seinen seinem seiner seines ihr ihre ihren ihrem ihrer ihres unser unsere unseren
unserem unserer euer eure euren eurem dieser diese dieses diesen diesem jener jene jenes jeder jede
jedes jeden jedem welche welcher welches welchen alle allen aller viele vielen einige einigen
manche im am zum zur vom beim ins ans aufs ums durchs fürs""".split())
_PLACE_PREP = frozenset("in nach aus bei von bis".split())
_BARE_NOUNS = frozenset("""hause ruhe angst ordnung zukunft hand tisch bett zeit ende anfang
richtung gefahr eile versehen holz stein glas westen osten norden süden sicht kraft frage lage
wahrheit liebe arbeit schule kirche stadt land see meer wasser luft feuer""".split())
# German-style noun capitals: over 15% of the mid-sentence words are capitalised (English prose
# ~6%, French/Spanish ~3%, but a list of names can be 40%) and over 25% of those follow an article
# or possessive (German ~60%, English 0.3%: "the Ghost", "der Hund", "die Zeit")
NOUN_CAPS_SHARE = 0.15
NOUN_DET_SHARE = 0.25
MAX_WORD_LENGTH = 15  # GraphRAG's max_word_length
WINDOW_WORDS = 40  # a co-occurrence window is whole sentences adding up to at least this many


@dataclass
class CaseProfile:
    """Corpus statistics that tell names from words capitalised by position (or by grammar).

    ``cap_mid``: times a word is capitalised where the grammar does not require it (after a
    word or a comma). ``lower``: times it is written in lower case. ``roles``: lower-case nouns
    that speak (see module docstring), mapped to their entity title. ``speakers``: upper-cased
    names seen as the subject of a speech verb or after a personal title.

    Particles: ``after_particle`` counts a capitalised word right after ``van``/``de``/``d'``…;
    ``joined`` holds the words seen as ``Vincent van Gogh`` (particle between capitals).

    German-style noun capitals (``noun_caps``, see :meth:`is_name`): ``after_det`` counts a
    capitalised word after an article or possessive (``das Haus``, ``im alten Haus``),
    ``place`` after ``in``/``nach``/``aus``/``bei``/``von``/``bis`` with no article, and
    ``evidence`` holds the words the text itself marks as names.
    """

    cap_mid: Counter[str] = field(default_factory=Counter)
    cap_start: Counter[str] = field(default_factory=Counter)
    lower: Counter[str] = field(default_factory=Counter)
    introduced: set[str] = field(default_factory=set)
    roles: dict[str, str] = field(default_factory=dict)
    speakers: set[str] = field(default_factory=set)
    after_particle: Counter[str] = field(default_factory=Counter)
    joined: set[str] = field(default_factory=set)
    after_det: Counter[str] = field(default_factory=Counter)
    place: Counter[str] = field(default_factory=Counter)
    evidence: set[str] = field(default_factory=set)
    noun_caps: bool = False
    compounds: set[str] = field(default_factory=set)
    colon_titles: set[str] = field(default_factory=set)
    female_titled: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, texts: Any) -> CaseProfile:
        prof = cls()
        role_hits: Counter[str] = Counter()
        owners: dict[str, Counter[str]] = {}
        all_text: list[str] = []
        titled: set[str] = set()
        runs: Counter[tuple[str, ...]] = Counter()
        colons: Counter[str] = Counter()
        colon_mid: set[str] = set()
        for text in ([texts] if isinstance(texts, str) else texts):
            prof._count_words(text)
            prof.compounds |= _noun_compounds(text)
            for m in _COLON_TITLE.finditer(text):
                key = _colon_key(m)
                colons[key] += 1
                before = text[max(0, m.start() - 2):m.start()]
                if before[-1:] == " " and before[:1].isalpha() and before[:1].islower():
                    colon_mid.add(key)  # "into Operation: Dulce", not a "Label: value" line
            for m in _SPEAKER_NOUN.finditer(text):
                noun = m.group(1) or m.group(2)
                if noun not in STOPWORDS and len(noun) <= MAX_WORD_LENGTH:
                    role_hits[noun] += 1
            for m in _SPEAKER_NAME.finditer(text):
                prof.speakers.add(" ".join((m.group(1) or m.group(2)).split()).upper())
            for m in _TITLED.finditer(text):
                if m.group(1).lower() in TITLES:
                    prof.speakers.add(m.group(2).upper())
                    titled.add(m.group(2).lower())
                    if m.group(1).lower() in FEMALE_TITLES:
                        prof.female_titled.add(m.group(2).lower())
            for m in re.finditer(rf"\b({_UP}{_LOW}+)['’]s\s+([a-z]{{3,}})\b", text):
                owners.setdefault(m.group(2), Counter())[m.group(1)] += 1
            for m in _INTRO.finditer(text):
                prof.introduced.add((m.group(1) or m.group(2)).lower())
            for m in _CAP_RUN.finditer(text):
                words = m.group(1).split()
                head = next((i for i, w in enumerate(words) if not w[0].islower()), len(words))
                for a, b in zip(words[head:], words[head + 1:], strict=False):  # not a lead
                    if a.lower() in _CONNECTORS and a[0].islower() and b[0].isupper():
                        prof.joined.add(_bare(b)[1].lower())
                plain = tuple(w.lower() for w in words if not w[0].islower())
                if len(plain) == len(words) >= 2 and not _sentence_start(text, m.start()):
                    runs[plain] += 1
            all_text.append(text)
        for noun, hits in role_hits.items():
            if hits < 2:
                continue
            owner, n = (owners.get(noun) or Counter({"": 0})).most_common(1)[0]
            definite = sum(len(re.findall(rf"\b{_DETERMINER}\s+{noun}\b", t)) for t in all_text)
            is_titled = n >= 2 and 3 * n >= definite and prof.is_name(owner)
            prof.roles[noun] = f"{owner.upper()}'S {noun.upper()}" if is_titled else noun.upper()
        mid, low = sum(prof.cap_mid.values()), sum(prof.lower.values())
        det = sum(prof.after_det.values())
        prof.noun_caps = mid > NOUN_CAPS_SHARE * (mid + low) and det > NOUN_DET_SHARE * mid >= 5
        ev = titled | {w.lower() for s in prof.speakers for w in s.split()} | prof.introduced
        ev |= {k for k, c in prof.place.items() if c >= 2 and k not in _BARE_NOUNS}
        ev |= {w for run, c in runs.items() if c >= 2 for w in run}
        ev |= {w for run in runs if ev & set(run) for w in run}  # Anna (speaks) -> Anna Weber
        prof.evidence = {w for w in ev if prof.cap_mid[w] and not prof._common_noun(w)}
        prof.colon_titles = {k for k in colon_mid if colons[k] >= 2
                             and k.split(":")[0] not in prof.speakers
                             and k.split(": ")[1].split()[0].lower() not in STOPWORDS}
        return prof

    def _count_words(self, text: str) -> None:
        prev = ["", ""]  # the two words before, lower-cased ("" across punctuation)
        low_prev = False  # whether the word before was written in lower case
        end = 0
        for m in _WORD.finditer(text):
            w, start = m.group(0), m.start()
            if not text[end:start].isspace():
                prev, low_prev = ["", ""], False
            end = m.end()
            prefix, w = _bare(w)
            key = _POSSESSIVE.sub("", w).lower()
            if w[0].islower():
                self.lower[key] += 1
            elif len(w) > 1 and w.isupper():
                prev, low_prev = [prev[1], key], False
                continue  # SHOUTED or a heading: capitals say nothing about the word
            elif not prefix and _sentence_start(text, start):
                self.cap_start[key] += 1
            else:
                self.cap_mid[key] += 1
            if w[0].isupper():
                p1, p0 = prev[1], prev[0]
                if p1 in _GERMAN_DET or (p0 in _GERMAN_DET and low_prev):
                    self.after_det[key] += 1
                if p1 in _PLACE_PREP:
                    self.place[key] += 1
                if prefix[:1] in ("d", "D") or (low_prev and p1 in _PARTICLES) or (
                        low_prev and p1 in _PARTICLES2 and p0 in _PARTICLES):
                    self.after_particle[key] += 1
            prev, low_prev = [prev[1], key], w[0].islower() and not prefix

    def _common_noun(self, key: str) -> bool:
        """Written in lower case too, or mostly after an article (German ``das Haus``)."""
        total = self.cap_mid[key] + self.cap_start[key]
        return 10 * self.lower[key] > total or 4 * self.after_det[key] > total

    def is_name(self, word: str) -> bool:
        """True if ``word`` is capitalised for itself, not for its place in the sentence.

        In most languages a word is a name when it is capitalised mid-sentence at least as
        often as it is written in lower case. Where the grammar capitalises every noun
        (German: over ``NOUN_CAPS_SHARE`` of the mid-sentence words start with a capital, vs
        about 6% in English prose, and over ``NOUN_DET_SHARE`` of those follow an article or
        possessive, ``der Hund``, vs 0.3% in English), capitals say nothing on their own, so a name must be never
        (or hardly ever) lower-case, mostly without an article or possessive (``das Haus``,
        ``seine Zeit``, ``im alten Jahr`` mark common nouns), *and* marked as a name by the
        text: after a title (``Herr Müller``, ``Dr. Becker``), the subject of a speech verb
        (``sagte Anna``), twice after ``in``/``nach``/``aus``… with no article (``nach
        München``), or part of a repeated run of capitals (``Anna Weber``).
        """
        key = _POSSESSIVE.sub("", _bare(word)[1]).lower()
        if key in STOPWORDS or not key:
            return False
        if self.noun_caps:
            return key in self.evidence
        mid, low = self.cap_mid[key], self.lower[key]
        if mid:
            return mid >= low
        return low == 0 and key in self.introduced  # only ever at sentence starts

    def keeps_particle(self, lead: str, word: str) -> bool:
        """Whether a particle before a name belongs to it (``van Gogh``, ``d'Artagnan``).

        Only if the name is never written without a particle, and: for ``d'``, at least twice;
        for ``van``/``de``/…, also seen between capitals (``Vincent van Gogh``) — so ``de
        Madrid``, ``von Berlin``, ``l'Angleterre`` give ``MADRID``, ``BERLIN``, ``ANGLETERRE``.
        """
        key = _POSSESSIVE.sub("", word).lower()
        seen, particled = self.cap_mid[key] + self.cap_start[key], self.after_particle[key]
        if particled < seen or not lead:
            return False
        if lead[-1] in _APOS:
            return lead[0] in "dD" and len(lead) == 2 and particled >= 2
        return key in self.joined

    def leads_name(self, words: list[str]) -> bool:
        """A sentence's first word followed by a particle (``Vincent van Gogh``, ``Leonardo da
        Vinci``) is part of the name if it is never written in lower case and the word after
        the particle never appears without one (not ``Venía de Salamanca``)."""
        if len(words) < 2 or words[1] not in _PARTICLES or self.lower[words[0].lower()]:
            return False
        rest = _take_lead(words[1:])[1]
        return bool(rest) and self.keeps_particle("van", rest[0])

    def is_person(self, phrase: str) -> bool:
        if phrase in self.speakers or phrase in self.roles.values():
            return True
        words = phrase.split()
        return len(words) <= 3 and any(w in self.speakers for w in (words[0], words[-1]))


def _take_lead(words: list[str]) -> tuple[str, list[str]]:
    """Split leading particles off: [van, Gogh] -> (``van``, [Gogh]); [d'Arc] -> (``d'``, [Arc])."""
    n = 0
    while n < len(words) and words[n][0].islower() and words[n] in _CONNECTORS:
        n += 1
    lead, words = " ".join(words[:n]), words[n:]
    if not lead and words and words[0][0].islower():
        prefix, rest = _bare(words[0])
        if prefix:
            lead, words = prefix, [rest, *words[1:]]
    return lead, words


def _bare(word: str) -> tuple[str, str]:
    """Split a French/Italian elision off a word: ``d'Artagnan`` -> (``d'``, ``Artagnan``)."""
    m = _ELIDED.match(word)
    return (word[:m.end()], word[m.end():]) if m else ("", word)


def noun_phrases(text: str, profile: CaseProfile | None = None) -> list[str]:
    """Candidate entity phrases in ``text`` (upper-cased like GraphRAG), in order of appearance.

    ``profile`` carries the corpus's capitalisation statistics (built from ``text`` alone when
    not given); see the module docstring for the rules.
    """
    profile = profile or CaseProfile.of(text)
    found: list[tuple[int, str]] = []
    for m in _CAP_RUN.finditer(text):
        run = m.group(1)
        lead = _LEAD_SPLIT.match(run)
        lead_text = lead.group(1) if lead else ""
        at_start = not lead_text and _sentence_start(text, m.start())
        first = run[len(lead_text):].split()[0]
        for k, words in enumerate(_split_run(run[len(lead_text):].split(), profile)):
            lead = lead_text.strip() if k == 0 and words and words[0] == first else ""
            while (k == 0 and at_start and words and words[0][0].isupper()
                   and not profile.is_name(words[0]) and not profile.leads_name(words)):
                words = words[1:]  # "Long Past?", "Nay Scrooge": capitalised by position
                lead, words = _take_lead(words)  # "Later van Gogh": the particle now leads
            if lead and words and profile.keeps_particle(lead, words[0]):
                words = ([lead + words[0], *words[1:]] if lead[-1] in _APOS
                         else [*lead.split(), *words])
            while len(words) > 1 and words[0].lower().rstrip(".") in HONORIFICS \
                    and profile.is_name(words[1]):
                words = words[1:]  # "Agent Alex Mercer", "Agents Alex Mercer": ALEX MERCER
            phrase = _clean(words)
            if phrase:
                found.append((m.start(), phrase))
    for m in _HYPHEN.finditer(text):
        parts = m.group(0).split("-")
        if parts[0].lower() not in STOPWORDS and not all(p[0].isupper() for p in parts) \
                and m.group(0).lower() in profile.compounds:
            found.append((m.start(), m.group(0).upper()))  # (Jean-Luc is a name, above)
    for m in _COLON_TITLE.finditer(text):
        key = _colon_key(m)
        if key in profile.colon_titles:  # "Operation: Dulce" is one thing, not two
            found = [(p, t) for p, t in found if p not in (m.start(1), m.start(2))]
            found.append((m.start(), key))
    for noun, title in profile.roles.items():
        for m in re.finditer(rf"\b{_DETERMINER}\s+{noun}\b", text):
            found.append((m.start(), title))
    return [p for _, p in sorted(set(found), key=lambda x: x[0])]  # a run can be a compound too


def _split_run(words: list[str], profile: CaseProfile) -> list[list[str]]:
    """Cut a capitalised run at contractions and repeated words; drop a final possessive.

    In ALL CAPS (a heading, a licence in capitals) capitals say nothing, so only words the
    profile knows as names (or acronyms) are kept; the others cut the run. Where every noun is
    capitalised (German), every word must be a name (``Annas`` counts as ``Anna``). A French
    elision (``C'est``, ``L'homme``) cuts; ``L'Angleterre`` keeps ``Angleterre``, and
    ``D'Artagnan`` keeps its ``D'`` if :meth:`CaseProfile.keeps_particle` says so.
    """
    parts: list[list[str]] = [[]]
    for w in words:
        prefix, rest = _bare(w)
        if prefix and prefix[0].isupper():  # elided, capitalised by position
            if rest[0].islower():
                parts.append([])
                continue
            w = w if profile.keeps_particle(prefix, rest) else rest
        if _CONTRACTION.search(w) or (len(w) > 1 and w.isupper() and not _shouted_name(w, profile)):
            parts.append([])
            continue
        if profile.noun_caps and not w[0].islower():
            if w[-1] == "s" and not profile.is_name(w) and profile.is_name(w[:-1]):
                w = w[:-1]  # German genitive: "Annas Mutter"
            if not profile.is_name(w):
                parts.append([])
                continue
        if parts[-1] and w.lower() == parts[-1][-1].lower():
            parts.append([])  # "called Scrooge Scrooge": two mentions, not a name
        parts[-1].append(w)
    out = []
    for p in parts:  # "St. Paul's Churchyard" stays one name; "Scrooge's" loses its 's
        while p and p[-1][0].islower() and p[-1].lower() in _CONNECTORS:
            p.pop()  # a particle left at the end of a cut run
        while p and p[0][0].islower() and p[0].lower() in _CONNECTORS:
            p.pop(0)
        if p:
            p[-1] = _POSSESSIVE.sub("", p[-1])
            out.append(p)
    return out


def _noun_compounds(text: str) -> set[str]:
    """Lower-case hyphenated compounds the text uses as nouns: after an article or possessive
    and before punctuation or a function word ("as a door-nail.", "his counting-house was"),
    not before a noun ("a razor-sharp mind", "the wind-blown deserts": adjectives)."""
    out = set()
    for m in _COMPOUND_USE.finditer(text):
        det, word, after = m.group(1), m.group(2), m.group(3)
        if word[0].isupper() or (det is not None and det.lower() not in _NOUN_DET):
            continue
        if after is None or not after[0].isalpha() or after.lower() in STOPWORDS:
            out.add(word.lower())
    return out


def _colon_key(m: re.Match[str]) -> str:
    """``OPERATION: DULCE`` for a match of ``Operation:  Dulce``."""
    return f"{' '.join(m.group(1).split()).upper()}: {' '.join(m.group(2).split()).upper()}"


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
    docs = list(text_units["document_id"]) if "document_id" in text_units else [0] * len(texts)
    found = [noun_phrases(text, profile) for text in texts]
    folds: dict[Any, dict[str, str]] = {}
    aliases: dict[str, list[str]] = {}
    for doc in dict.fromkeys(docs):
        folds[doc] = name_folds({p for ps, d in zip(found, docs, strict=True) if d == doc
                                 for p in ps}, profile)
        for part, full in folds[doc].items():
            aliases.setdefault(full, [])
            if part not in aliases[full]:
                aliases[full].append(part)
    units_of: dict[str, list[str]] = {}
    mentions: Counter[str] = Counter()
    win_freq: Counter[str] = Counter()
    pair_count: Counter[tuple[str, str]] = Counter()
    pair_units: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for uid, doc, text, phrases in zip(text_units["id"], docs, texts, found, strict=True):
        fold = folds[doc]
        for p in dict.fromkeys(fold.get(p, p) for p in phrases):
            units_of.setdefault(p, []).append(uid)
        for win in windows(text, window_words):
            key = " ".join(win.split())
            if key in seen:
                continue
            seen.add(key)
            phrases = [fold.get(p, p) for p in noun_phrases(win, profile)]
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
                         text_unit_ids=[units_of[t] for t in nodes["title"]],
                         aliases=[aliases.get(t, []) for t in nodes["title"]])
    return nodes.reset_index(drop=True), edges.reset_index(drop=True)


def name_folds(phrases: set[str], profile: CaseProfile) -> dict[str, str]:
    """First names and surnames used alone -> the one full name (in these phrases) they belong to.

    A full name is two to four words that are all names (:meth:`CaseProfile.is_name`; particles
    between them allowed: ``ALEX MERCER``, ``MARÍA JOSÉ DE LA CRUZ``, not ``EVIL SPIRIT`` or
    ``MARLEY'S GHOST``) and that the text shows as a person (it speaks, or carries a title:
    :meth:`CaseProfile.is_person`), so ``CHRISTMAS`` never folds into ``CHRISTMAS EVE``.
    ``ALEX`` and ``MERCER`` fold into ``ALEX MERCER`` only when no other such name starts or
    ends with that word (``CRATCHIT`` stays: ``BOB CRATCHIT``, ``MARTHA CRATCHIT``…), and a
    surname the text writes after ``Mrs.``/``Miss``/… stays apart from a full name it never
    titles so (``Mrs. Cratchit`` is not ``BOB CRATCHIT``). Call it with one document's phrases:
    another document's ``ALEX`` may be someone else.
    """
    def named(p: str, strict: bool) -> bool:
        words = p.split()
        if not 2 <= len(words) <= 4 or any(c in p for c in ":'’") or any(
                w.lower() in _CONNECTORS for w in (words[0], words[-1])):
            return False
        return all(w.lower() in _PARTICLES | _PARTICLES2 or profile.is_name(w)
                   or (not strict and not profile.lower[w.lower()]) for w in words)

    owners: dict[str, set[str]] = {}
    for p in phrases:
        if named(p, strict=False):  # any name that could own the part makes it ambiguous
            for w in {p.split()[0], p.split()[-1]}:
                owners.setdefault(w, set()).add(p)
    out = {}
    for part, full in owners.items():
        if part in phrases and len(full) == 1:
            (name,) = full
            first = name.split()[0]
            if part != first and part.lower() in profile.female_titled \
                    and first.lower() not in profile.female_titled:
                continue
            if named(name, strict=True) and profile.is_person(name):
                out[part] = name
    return out


def calculate_pmi_edge_weights(nodes: pd.DataFrame, edges: pd.DataFrame,
                               freq: str = "frequency") -> pd.DataFrame:
    """GraphRAG's PMI weight ``p(a,b)·log2(p(a,b) / (p(a)·p(b)))``, kept only where positive.

    The weight is the pair's pointwise mutual information times its probability: positive when
    two phrases meet more often than chance, the more so the more often they meet. GraphRAG
    keeps pairs that meet no more often than chance with a weight of zero or below, which means
    nothing to what reads a weight as a strength (Leiden, ranking, the graph view); here they
    are dropped, so every weight is positive and the others are GraphRAG's own values. ``freq``
    names the node column the marginals come from (GraphRAG: ``frequency``).
    """
    prop = nodes.set_index("title")[freq] / nodes[freq].sum()
    pw = edges["weight"] / edges["weight"].sum()
    sp = edges["source"].map(prop)
    tp = edges["target"].map(prop)
    edges = edges.copy()
    edges["weight"] = pw * np.log2(pw / (sp * tp))
    return edges[np.isfinite(edges["weight"]) & (edges["weight"] > 0)]


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
                      max_words: int = 60, aliases: dict[str, list[str]] | None = None
                      ) -> list[str]:
    """Extractive descriptions: the first sentences mentioning each phrase.

    GraphRAG leaves fast-method descriptions empty; a quoted sentence makes the
    ``entity_description`` embedding (and local search) useful at no LLM cost. ``aliases``
    (title -> other names: ``ALEX MERCER`` -> ``ALEX``, ``AGENT MERCER``) count as mentions.
    """
    text_of = dict(zip(text_units["id"], text_units["text"], strict=True))
    aliases = aliases or {}
    out = []
    for title, uids in zip(entities["title"], entities["text_unit_ids"], strict=True):
        sents: list[str] = []
        pat = _mention_pattern(title, aliases.get(title, ()))
        for uid in list(uids)[:3]:
            for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
                flat = " ".join(s.split())
                if pat.search(s) and flat not in sents:  # units overlap: skip a repeat
                    sents.append(flat)
                    break
        words = " ".join(sents).split()
        out.append(" ".join(words[:max_words]) + (" …" if len(words) > max_words else ""))
    return out


def _mention_pattern(title: str, forms: Any = ()) -> re.Pattern[str]:
    """How ``title`` (or one of its other ``forms``) is written in the text (a speaking role
    also as ``the <noun>``)."""
    pats = []
    for name in dict.fromkeys([title, *forms]):
        pat = r"[\s:]+".join(re.escape(w.strip(":")).replace("'", "['’]")
                             for w in str(name).split())
        m = re.fullmatch(r"[A-Z]+['’]S ([A-Z]+)", name)
        if m:
            pat += rf"|\b(?:the|his|her)\s+{m.group(1)}"
        pats.append(pat)
    return re.compile(rf"\b(?:{'|'.join(pats)})\b", re.I)


def describe_relationship(source: str, target: str, units: list[str],
                          text_of: dict[str, Any],
                          aliases: dict[str, list[str]] | None = None) -> str:
    """A sentence that mentions both ends, or a plain co-occurrence statement."""
    aliases = aliases or {}
    ps = _mention_pattern(source, aliases.get(source, ()))
    pt = _mention_pattern(target, aliases.get(target, ()))
    for uid in units[:3]:
        for s in re.split(r"(?<=[.!?])\s+", text_of.get(uid, "")):
            if ps.search(s) and pt.search(s):
                return " ".join(s.split()[:50])
    n = len(units)
    return f"{source} and {target} appear in the same passage ({n} text unit{'s' if n != 1 else ''})."


def pmi(a: float, b: float, ab: float) -> float:  # pragma: no cover - documentation helper
    """Pointwise mutual information of probabilities (for readers of the docstring above)."""
    return math.log2(ab / (a * b)) if a and b and ab else 0.0
