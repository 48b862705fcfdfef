"""lmsnb's widgets in a notebook that applied ``nest_asyncio`` first (many people's notebooks do).

nest_asyncio 1.6 patches the kernel's own event loop class (and asyncio's Task class and
``asyncio.run``) from the cell that calls ``apply()`` on. Widget messages from the browser go
through that loop, so this checks what a person would click or watch in such a notebook: a
model load whose bar reaches 100 %, a long answer stopped midway with Stop (the server really
stops), and a GraphRAG build whose stage bars end full. lmsnb's one line about what cannot work
shows once, and nothing else fails.
"""

from __future__ import annotations

import pytest

from lmsnb.nesting import MESSAGE
from lmsnb.sim import Timing

from .conftest import LabPage

pytestmark = pytest.mark.browser

LLAMA = "llama-3.2-1b-instruct"
TEXT = ("Agent Alex Mercer met Taylor Cruz at Dulce base. "
        "Jordan Hayes studied the signal with Sam Rivera. ") * 30


def test_widgets_after_nest_asyncio_apply(sim, jupyter_lab, lab_page: LabPage, tmp_path) -> None:
    sim.timing = Timing(tokens_per_second=40, load_seconds=1.0)
    sim.set_behaviour("graphrag")
    sim.set_behaviour("lorem", model=LLAMA)
    jupyter_lab.write_notebook("nested.ipynb", [
        # no asyncio code of its own here: with nest_asyncio 1.x that makes ipykernel 7 lose
        # the cells Run All queued behind it (lmsnb's one line says so)
        "import nest_asyncio\nnest_asyncio.apply()\nprint('applied')",
        f"%load_ext lmsnb\n%lms_host {sim.host}\nimport lmsnb",
        f"%lms_models load {LLAMA} --context 2048",
        # blocks the kernel for a few seconds, so it comes before the answer that gets stopped
        f"idx = lmsnb.graphrag.build_index({TEXT!r}, llm='qwen2.5-7b-instruct',"
        f" embedding_model='text-embedding-nomic-embed-text-v1.5',"
        f" cache_dir={str(tmp_path / 'cache')!r})\nprint('entities:', len(idx.entities))",
        f"%%lms_chat -m {LLAMA} --session long\nTell me a very long story",
    ])
    lab_page.open("nested.ipynb")
    lab_page.run_all()
    page = lab_page.page
    page.locator(".jp-OutputArea-output", has_text="applied").wait_for()

    # the load bar ends full, as the load's line (a static output the saved notebook keeps)
    loaded = page.locator(".jp-CodeCell", has_text="%lms_models load").locator(".lmsnb-progress")
    loaded.locator(".lmsnb-progress-label",
                   has_text=f"loaded {LLAMA} (context 2,048)").wait_for(timeout=30_000)
    assert loaded.evaluate("b => b.querySelector(':scope > div > div').style.width") == "100%"

    # the GraphRAG build: one bar per stage, each left full with its "done/total" line
    page.locator(".jp-OutputArea-output", has_text="entities:").wait_for(timeout=120_000)
    stages = page.locator(".jp-CodeCell", has_text="entities:").locator(".lmsnb-progress")
    bars = stages.evaluate_all("""bs => bs.map(b => [
        b.querySelector(':scope > div > div').style.width,
        b.querySelector('.lmsnb-progress-label').textContent])""")
    assert len(bars) >= 4, bars
    for width, label in bars:
        done, total = label.split()[1].split("/")
        assert width == "100%" and done == total, bars

    # a long answer streams; Stop cancels it
    page.wait_for_function(
        "() => { const a = document.querySelector('.lmsnb-stream-view .lmsnb-answer');"
        " return a && a.textContent.split(' ').length > 20; }", timeout=30_000)
    page.locator(".lmsnb-stream-view .lmsnb-stop").click()  # it stays above the answer
    page.wait_for_function(
        "() => { const f = document.querySelector('.lmsnb-stream-view .lmsnb-footer');"
        " return f && f.textContent.includes('userStopped'); }", timeout=15_000)
    words = len(page.locator(".lmsnb-stream-view .lmsnb-answer").text_content().split())
    assert 20 < words < 1000, words  # the whole answer would take ~50 s at 40 tok/s
    assert sim.counters["llm.predict"].generated_tokens < 1000  # the server really stopped
    lab_page.wait_idle()
    # the one line about what cannot work (clicks during a cell's own asyncio code), once
    assert [e.strip() for e in lab_page.output_errors()] == [MESSAGE], lab_page.output_errors()
    assert not lab_page.errors, lab_page.errors
