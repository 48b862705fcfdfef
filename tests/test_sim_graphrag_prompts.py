"""Microsoft GraphRAG 3.x pointed at the simulator's OpenAI-compatible endpoint.

The ``graphrag`` behaviour must answer GraphRAG's own prompts the way it answers lmsnb's:
description summaries (``Entities:`` / ``Description List:``), the gleaning follow-up ("... were
missed") and its Y/N question, and community reports about the report's real data. The prompts
here are stand-ins with the structure of GraphRAG 3.3's (its text is not copied into this
repository); the same checks also run on GraphRAG's real prompt files, from the installed package
or from its wheel fetched from the package registry (skipped, saying why, when neither can be had).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from lmsnb.sim import Simulator

QWEN = "qwen2.5-7b-instruct"

CHUNK = (
    "Ebenezer Scrooge sat in his counting-house on Christmas Eve. Bob Cratchit copied letters in "
    "the cold tank beyond. Scrooge's nephew Fred came in, and asked Scrooge to dine with him, but "
    "Scrooge refused. Two portly gentlemen from a charity called on Scrooge; Scrooge sent them "
    "away. That night Jacob Marley appeared, and warned Scrooge of three spirits. The Ghost of "
    "Christmas Past took Scrooge to Fezziwig's ball, where Belle and Dick Wilkins danced. The "
    "Ghost of Christmas Present showed him Tiny Tim and Mrs. Cratchit in Camden Town, then Fred "
    "and his wife laughing in London. Martha Cratchit and Peter Cratchit came home. Topper played "
    "blind man's buff. Old Joe bought stolen goods. Caroline and her husband were relieved."
)

STAND_INS = {
    # Same structure and the phrases a reader keys on; wording of our own.
    "extract": ('Find the entities in the text and the relationships between them.\n'
                'Format each as ("entity"<|>NAME<|>TYPE<|>DESCRIPTION), separated by ##, '
                'then output <|COMPLETE|>.\n######################\n-Real Data-\n'
                '######################\nEntity_types: {entity_types}\nText: {input_text}\n'
                '######################\nOutput:'),
    "continue": "MANY entities and relationships were missed in that pass. Add them below in "
                "the same format:\n",
    "loop": "Answer Y if there are still entities or relationships that need to be added, "
            "or N if there are none. One letter.\n",
    "summarize": ("\nWrite one summary of all the descriptions given below, in third person, at "
                  "most {max_length} words.\n\n#######\n-Data-\nEntities: {entity_name}\n"
                  "Description List: {description_list}\n#######\nOutput:\n"),
    "report": ("Write a report about a community.\n\n# Grounding Rules\n\nCite as "
               "[Data: <dataset name> (record ids)], for example \"X owns Y "
               "[Data: Reports (1), Entities (5, 7); Relationships (23)].\"\n\n# Example Input\n"
               "-----------\nText:\n\nEntities\n\nhuman_readable_id,title,description\n"
               "5,VERDANT OASIS PLAZA,A plaza\n\nOutput:\n{{\"title\": \"Verdant Oasis Plaza\"}}\n"
               "\n# Real Data\n\nUse the following text for your answer.\n\nText:\n{input_text}\n"
               "\nThe report should include the following sections: TITLE, SUMMARY, RATING, "
               "FINDINGS.\n\n# Grounding Rules\n\n\"A sentence [Data: Entities (5, 7); "
               "Relationships (23); Claims (7, 2, +more)].\"\n\nLimit the total report length to "
               "{max_report_length} words.\n\nOutput:"),
}

REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"}, "summary": {"type": "string"},
        "findings": {"type": "array", "items": {"type": "object", "properties": {
            "summary": {"type": "string"}, "explanation": {"type": "string"}}}},
        "rating": {"type": "number"}, "rating_explanation": {"type": "string"}},
    "required": ["title", "summary", "findings", "rating", "rating_explanation"],
}


GRAPHRAG = "graphrag==3.3.0"  # the peer benchmarks/bench_vs_graphrag.py runs
WHEELS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lmsnb-tests"
PROMPT_FILES = {"extract_graph.py": ("GRAPH_EXTRACTION_PROMPT", "CONTINUE_PROMPT", "LOOP_PROMPT"),
                "summarize_descriptions.py": ("SUMMARIZE_PROMPT",),
                "community_report.py": ("COMMUNITY_REPORT_PROMPT",)}


@functools.cache
def graphrag_prompts() -> tuple[dict[str, str] | None, str]:
    """GraphRAG's own prompt texts and where they came from: its installed files, else its
    wheel from the package registry (``pip download --no-deps``, ~300 KB, cached; nothing is
    installed). (None, why) when neither can be had."""
    texts: dict[str, str] = {}
    spec = importlib.util.find_spec("graphrag")
    if spec is not None and spec.submodule_search_locations:
        index = Path(next(iter(spec.submodule_search_locations))) / "prompts" / "index"
        for name in PROMPT_FILES:
            texts[name] = (index / name).read_text(encoding="utf-8")
        source = str(index)
    else:
        wheel = next(iter(sorted(WHEELS.glob("graphrag-3.3.0-*.whl"))), None)
        if wheel is None:
            got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                  "--disable-pip-version-check", "-d", str(WHEELS), GRAPHRAG],
                                 capture_output=True, text=True, timeout=300)
            wheel = next(iter(sorted(WHEELS.glob("graphrag-3.3.0-*.whl"))), None)
            if wheel is None:
                why = (got.stderr.strip().splitlines() or ["no wheel"])[-1]
                return None, f"{GRAPHRAG} is not installed and pip could not fetch it ({why})"
        with zipfile.ZipFile(wheel) as whl:
            for name in PROMPT_FILES:
                texts[name] = whl.read(f"graphrag/prompts/index/{name}").decode("utf-8")
        source = wheel.name
    found: dict[str, str] = {}
    for name, text in texts.items():
        module: dict[str, object] = {}
        exec(compile(text, f"{source}/{name}", "exec"), module)  # constants only: no imports
        found.update({k: str(module[k]) for k in PROMPT_FILES[name]})
    return {"extract": found["GRAPH_EXTRACTION_PROMPT"], "continue": found["CONTINUE_PROMPT"],
            "loop": found["LOOP_PROMPT"], "summarize": found["SUMMARIZE_PROMPT"],
            "report": found["COMMUNITY_REPORT_PROMPT"]}, source


@pytest.fixture(params=["stand-ins", "graphrag"])
def prompts(request) -> dict[str, str]:
    if request.param == "stand-ins":
        return STAND_INS
    real, why = graphrag_prompts()
    if real is None:
        pytest.skip(why)
    return real


@pytest.fixture(scope="module")
def sim():
    with Simulator(behaviour="graphrag") as s:
        yield s


def chat(sim: Simulator, messages: list[dict], **body) -> str:
    """One chat completion the way GraphRAG's OpenAI-compatible client sends it."""
    r = httpx.post(f"{sim.url}/v1/chat/completions", timeout=30,
                   json={"model": QWEN, "messages": messages, "temperature": 0, **body})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def entities_of(reply: str) -> list[str]:
    return re.findall(r'\("entity"<\|>([^<]+)<\|>', reply)


def test_description_summary_is_a_summary(sim, prompts):
    descriptions = ["Scrooge is a miserly old man who runs a counting-house",
                    "Scrooge refuses to dine with his nephew Fred",
                    "Scrooge is visited by three spirits on Christmas Eve"]
    prompt = prompts["summarize"].format(entity_name=json.dumps("EBENEZER SCROOGE"),
                                         description_list=json.dumps(descriptions),
                                         max_length=500)
    reply = chat(sim, [{"role": "user", "content": prompt}])
    assert not reply.startswith("You said")  # not the echo of the whole prompt
    assert reply.startswith("EBENEZER SCROOGE is described in 3 passages.")
    assert "miserly old man" in reply and "three spirits" in reply
    assert len(reply) < len(prompt) and "Output:" not in reply and "#######" not in reply
    pair = prompts["summarize"].format(entity_name=json.dumps(["JACOB MARLEY", "SCROOGE"]),
                                       description_list=json.dumps(["Marley was Scrooge's partner",
                                                                    "Marley warns Scrooge"]),
                                       max_length=500)
    assert chat(sim, [{"role": "user", "content": pair}]).startswith("JACOB MARLEY and SCROOGE")


def test_gleaning_adds_the_names_the_first_pass_missed(sim, prompts):
    extract = prompts["extract"].format(entity_types="PERSON,GEO,ORGANIZATION", input_text=CHUNK)
    messages = [{"role": "user", "content": extract}]
    first = chat(sim, messages)
    assert first.endswith("<|COMPLETE|>") and len(entities_of(first)) == 12
    messages += [{"role": "assistant", "content": first},
                 {"role": "user", "content": prompts["continue"]}]
    more = chat(sim, messages)
    added = entities_of(more)
    assert added and not set(added) & set(entities_of(first))  # only names it had missed
    assert all(name.title() in CHUNK or name in CHUNK.upper() for name in added)
    assert "Based on the data" not in more  # not a query answer
    messages += [{"role": "assistant", "content": more},
                 {"role": "user", "content": prompts["loop"]}]
    assert chat(sim, messages) in ("Y", "N")
    done = set(entities_of(first)) | set(added)
    while chat(sim, messages) == "Y":  # keep gleaning until the model says nothing is left
        messages[-2:] = [{"role": "user", "content": prompts["continue"]}]
        more = chat(sim, messages)
        assert not set(entities_of(more)) & done
        done |= set(entities_of(more))
        messages += [{"role": "assistant", "content": more},
                     {"role": "user", "content": prompts["loop"]}]
    assert chat(sim, messages) == "N"


def test_community_report_is_about_the_real_data(sim, prompts):
    data = ("-----Entities-----\nhuman_readable_id,title,description,degree\n"
            "1,EBENEZER SCROOGE,A miserly old man,12\n2,BOB CRATCHIT,Scrooge's clerk,6\n"
            "3,TINY TIM,Bob Cratchit's son,4\n\n-----Relationships-----\n"
            "human_readable_id,source,target,description,combined_degree\n"
            "7,EBENEZER SCROOGE,BOB CRATCHIT,Scrooge employs Bob Cratchit,18\n")
    prompt = prompts["report"].format(input_text=data, max_report_length=1500)
    reply = chat(sim, [{"role": "user", "content": prompt}], response_format={
        "type": "json_schema", "json_schema": {"name": "CommunityReportResponse",
                                               "schema": REPORT_SCHEMA, "strict": True}})
    report = json.loads(reply)
    assert set(report) >= {"title", "summary", "rating", "rating_explanation", "findings"}
    assert "Ebenezer Scrooge" in report["title"] and "Bob Cratchit" in report["title"]
    assert "Verdant" not in reply and "Claims" not in report["title"]
    assert len(report["findings"]) == 3 and isinstance(report["rating"], float)
