"""The extraction parser against what small local models really emit (exact recovery counts)."""

from __future__ import annotations

import pytest

from lmsnb.graphrag.extract import needs_gleaning, parse_records
from lmsnb.graphrag.reports import parse_report

E1 = '("entity"<|>ALEX MERCER<|>PERSON<|>Alex Mercer is an agent of the Paranormal Military Squad)'
E2 = '("entity"<|>DULCE BASE<|>GEO<|>Dulce Base is an underground facility)'
R1 = '("relationship"<|>ALEX MERCER<|>DULCE BASE<|>Alex Mercer leads the mission to Dulce Base<|>8)'

# (name, model output, entities, relationships, unparsed, repaired)
CASES = [
    ("clean tuples", f"{E1}\n##\n{E2}\n##\n{R1}\n<|COMPLETE|>", 2, 1, 0, 0),
    ("markdown fence", f"```\n{E1}\n##\n{E2}\n##\n{R1}\n<|COMPLETE|>\n```", 2, 1, 0, 0),
    ("think block first",
     f"<think>The user wants entities. Alex is a person (\"entity\"...) hmm.</think>\n{E1}##{R1}<|COMPLETE|>",
     1, 1, 0, 0),
    ("unclosed think (opening tag eaten by template)",
     f"Okay, let me find the entities.\n</think>\n\n{E1}\n##\n{E2}<|COMPLETE|>", 2, 0, 0, 0),
    ("chatter around records",
     f"Sure! Here are the entities and relationships:\n\n{E1}\n##\n{R1}\n<|COMPLETE|>\n\nLet me know if you need more.",
     1, 1, 0, 0),
    ("newlines instead of ## delimiters", f"{E1}\n{E2}\n{R1}\n<|COMPLETE|>", 2, 1, 0, 0),
    ("numbered list of records", f"1. {E1}\n2. {E2}\n3. {R1}", 2, 1, 0, 0),
    ("truncated last record (max_tokens hit)",
     f'{E1}\n##\n{E2}\n##\n("relationship"<|>ALEX MERCER<|>DULCE BASE<|>Alex Mercer le', 2, 1, 0, 1),
    ("truncated mid-name: only two fields", f'{E1}\n##\n("entity"<|>JORD', 1, 0, 1, 0),
    ("missing strength and missing description",
     '("entity"<|>SAM RIVERA<|>PERSON)\n##\n("relationship"<|>SAM RIVERA<|>ALEX MERCER<|>colleagues)',
     1, 1, 0, 2),
    ("non-numeric strength", '("relationship"<|>A TEAM<|>B TEAM<|>rivals<|>high)', 0, 1, 0, 1),
    ("pipe delimiter instead of <|>",
     '("entity"|TAYLOR CRUZ|PERSON|Taylor Cruz commands the unit)\n##\n("relationship"|TAYLOR CRUZ|ALEX MERCER|commands|7)',
     1, 1, 0, 2),
    ("JSON object instead of tuples",
     '```json\n{"entities": [{"name": "Alex Mercer", "type": "PERSON", "description": "An agent"},'
     ' {"name": "Dulce", "type": "GEO", "description": "A base"}],'
     ' "relationships": [{"source": "Alex Mercer", "target": "Dulce", "description": "goes to", "strength": 7}]}\n```',
     2, 1, 0, 0),
    ("JSON list with a malformed item and a truncated tail",
     '[{"type": "entity", "name": "ALEX", "entity_type": "PERSON", "description": "agent"},'
     ' {"type": "entity", "entity_type": "GEO", "description": "no name"},'
     ' {"source": "ALEX", "target": "JORDAN", "description": "partners", "strength": 6},'
     ' {"type": "entity", "name": "JORD',
     1, 1, 2, 0),
    ("garbage record and unknown record kind",
     f'{E1}\n##\n("entity")\n##\n("claim"<|>ALEX<|>lies<|>TRUE)\n##\n{R1}', 1, 1, 2, 0),
    ("html entities and quotes in names",
     '("entity"<|>"AT&amp;T"<|>ORGANIZATION<|>A company)\n##\n("entity"<|>\'O\'NEIL\'<|>person<|>x)',
     2, 0, 0, 0),
]


@pytest.mark.parametrize("name,text,n_ent,n_rel,n_unparsed,n_repaired", CASES,
                         ids=[c[0] for c in CASES])
def test_recovery_counts(name, text, n_ent, n_rel, n_unparsed, n_repaired):
    res = parse_records(text)
    assert (len(res.entities), len(res.relationships), len(res.unparsed), res.repaired) == \
        (n_ent, n_rel, n_unparsed, n_repaired), (res.entities, res.relationships, res.unparsed)


def test_corpus_totals():
    """Across the corpus: how much a strict GraphRAG parser would keep vs. this one."""
    kept = sum(parse_records(c[1]).n_records for c in CASES)
    unparsed = sum(len(parse_records(c[1]).unparsed) for c in CASES)
    assert kept == sum(c[2] + c[3] for c in CASES) == 36
    assert unparsed == 5  # counted and reported, never silently dropped


def test_names_are_cleaned_and_weights_parsed():
    res = parse_records(CASES[-1][1] + "\n##\n" + R1)
    assert [e["title"] for e in res.entities] == ["AT&T", "O'NEIL"]
    assert res.entities[1]["type"] == "PERSON"
    assert res.relationships[0]["weight"] == 8.0


def test_completion_marker_and_gleaning_decision():
    full = parse_records(CASES[0][1])
    assert full.complete
    assert not needs_gleaning(full, ["ALEX MERCER", "DULCE BASE"])
    assert needs_gleaning(full, ["ALEX MERCER", "JORDAN HAYES", "SAM RIVERA", "TAYLOR CRUZ"])
    truncated = parse_records(CASES[7][1])
    assert not truncated.complete and needs_gleaning(truncated, [])
    # prose with no record at all: asking for "more records" does not help such a model
    assert not needs_gleaning(parse_records("I could not find any entities."), ["ALEX MERCER"])
    # ... even when it was cut off (a small model that retells the text until its limit)
    assert not needs_gleaning(parse_records("Alex Mercer walked on and on"), ["ALEX MERCER"],
                              "length")
    # record-like lines but no entity: glean
    assert needs_gleaning(parse_records('("entity" ALEX MERCER PERSON)'), [])


@pytest.mark.parametrize("text,ok", [
    ('{"title": "T", "summary": "S", "rating": 7.5, "rating_explanation": "R", '
     '"findings": [{"summary": "a", "explanation": "b"}]}', True),
    ('<think>hmm</think>```json\n{"title": "T", "summary": "S", "rating": "8/10", '
     '"rating_explanation": "R", "findings": ["plain string finding"]}\n```', True),
    ('{"title": "T", "summary": "S", "rating": 3, "findings": [{"summary": "a", "explan', True),
    ("I cannot write this report.", False),
])
def test_report_parsing(text, ok):
    rep = parse_report(text)
    assert (rep is not None) == ok
    if rep:
        assert rep["title"] == "T" and isinstance(rep["rating"], float)
