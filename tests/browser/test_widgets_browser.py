"""Widgets in a real JupyterLab (headless Chromium): used, saved, and reopened as a download.

Model manager: pick a downloaded model, set a TTL, Load → the bar reaches 100 % and the loaded
table updates; Unload → it leaves; a model loaded behind its back shows up by itself (polling).
Chat panel: Enter and Send both send; the answer lands in the history; another model is picked;
a long answer is stopped midway and marked stopped; the history survives the next turn; the
conversation scrolls inside the panel. Both widgets work while the kernel is idle (actions run
on worker threads), which is what lets the browser's clicks reach the kernel at all.

Saved notebooks: after the cells finish, the notebook is saved and reopened untrusted in a fresh
browser context with a fresh kernel (what a colleague or GitHub sees): every progress bar (a
model load, embeddings, each GraphRAG stage) shows its final line, the model manager and chat
panel show their last state — and never a widget repr such as ``HBox(children=(IntProgress(…``.
"""

from __future__ import annotations

import json
import shutil

import pytest

from lmsnb.sim import Timing

from .conftest import REPO, LabPage

pytestmark = pytest.mark.browser

LLAMA = "llama-3.2-1b-instruct"
QWEN = "qwen2.5-7b-instruct"
BGE = "text-embedding-bge-small-en-v1.5"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
REPRS = ("IntProgress(value=0", "FloatProgress(value=0", "HBox(children=", "VBox(children=",
         "Error displaying widget")


def _page_text(page) -> str:
    return page.evaluate("() => document.querySelector('.jp-Notebook').innerText")


def _no_widget_reprs(page) -> None:
    text = _page_text(page)
    assert not [r for r in REPRS if r in text], [r for r in REPRS if r in text]


def _option_index(page, select: str, startswith: str) -> int:
    labels = page.eval_on_selector(select, "s => [...s.options].map(o => o.textContent)")
    return next(i for i, label in enumerate(labels) if label.startswith(startswith))


def _text(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => e.textContent")


def test_model_manager_and_chat_panel(sim, jupyter_lab, lab_page: LabPage) -> None:
    sim.timing = Timing(tokens_per_second=40, load_seconds=1.5)
    sim.set_behaviour("lorem", model=LLAMA)
    jupyter_lab.write_notebook("widgets.ipynb", [
        f"%load_ext lmsnb\n%lms_host {sim.host}\nimport lmsnb",
        "%lms_models manager",
        "%lms_chat_panel",
    ])
    lab_page.open("widgets.ipynb")
    lab_page.run_all()
    lab_page.wait_idle()
    page = lab_page.page
    mm = ".lmsnb-model-manager:not(.lmsnb-static)"  # the live widget, not its record
    table = f"{mm} .lmsnb-loaded"
    lab_page.wait_for(table)
    assert LLAMA not in _text(page, table) and QWEN in _text(page, table)

    # --- model manager: pick, TTL, Load -> 100 % and the table lists it -------------------
    picker = f"{mm} .lmsnb-mm-picker select"
    page.select_option(picker, index=_option_index(page, picker, LLAMA))
    page.fill(f"{mm} .lmsnb-mm-ttl input", "600")
    page.click(f"{mm} .lmsnb-mm-load button, {mm} button.lmsnb-mm-load")
    # the bar moves through intermediate values while the simulator loads (1.5 s)
    page.wait_for_function(
        f"() => {{ const b = document.querySelector('{mm} .lmsnb-progress .progress-bar');"
        " const v = b && parseFloat(b.style.width); return v > 0 && v < 100; }",
        timeout=15_000)
    page.wait_for_function(
        f"() => {{ const b = document.querySelector('{mm} .lmsnb-progress .progress-bar');"
        " return b && b.style.width === '100%'; }", timeout=15_000)
    page.wait_for_function(
        f"() => document.querySelector('{table}').textContent.includes('{LLAMA}')",
        timeout=10_000)
    line = f"loaded {LLAMA} (context 4,096, TTL 10 min)"
    page.wait_for_function(  # the bar's label ends as the load's line, like the status
        f"() => document.querySelector('{mm} .lmsnb-progress-label').textContent"
        f".includes('{line}')", timeout=10_000)
    assert line in _text(page, f"{mm} .lmsnb-mm-status")
    assert "10 min" in _text(page, table)  # the TTL is visible
    inst = sim.catalogue.get(LLAMA)
    assert inst is not None and inst.ttl_seconds == 600

    # --- Unload: the selected instance (the one just loaded) leaves the table ------------
    page.wait_for_function(  # the instance just loaded is the one selected
        f"() => {{ const s = document.querySelector('{mm} .lmsnb-mm-instances select');"
        f" return s.options[s.selectedIndex].textContent === '{LLAMA}'; }}", timeout=10_000)
    page.click(f"{mm} button.lmsnb-mm-unload")
    page.wait_for_function(
        f"() => !document.querySelector('{table}').textContent.includes('{LLAMA}')",
        timeout=10_000)
    assert sim.catalogue.get(LLAMA) is None
    assert "unloaded" in _text(page, f"{mm} .lmsnb-mm-status")

    # --- live state: a model loaded elsewhere appears without clicking refresh -----------
    sim.load(BGE)
    page.wait_for_function(
        f"() => document.querySelector('{table}').textContent.includes('{BGE}')",
        timeout=10_000)

    # --- chat panel: Enter sends, Send sends, answers land in the history ----------------
    panel = ".lmsnb-chat-panel:not(.lmsnb-static)"
    history = f"{panel} .lmsnb-panel-history"
    box = f"{panel} .lmsnb-panel-input input"
    page.fill(box, "hello from Enter")
    page.press(box, "Enter")
    page.wait_for_function(
        f"() => document.querySelector('{history}').textContent.includes('You said: hello from"
        " Enter')", timeout=15_000)
    page.wait_for_selector(f"{panel} button.lmsnb-panel-send:not([disabled])")
    assert page.input_value(box) == ""
    page.fill(box, "hello from Send")
    page.click(f"{panel} button.lmsnb-panel-send")
    page.wait_for_function(
        f"() => document.querySelector('{history}').textContent.includes('You said: hello from"
        " Send')", timeout=15_000)
    page.wait_for_selector(f"{panel} button.lmsnb-panel-send:not([disabled])")

    # --- another model, a long answer, Stop midway -----------------------------------------
    model = f"{panel} .lmsnb-panel-model select"
    page.select_option(model, index=_option_index(page, model, LLAMA))
    page.fill(box, "Tell me a very long story")
    page.click(f"{panel} button.lmsnb-panel-send")
    page.wait_for_function(  # long enough to need the scroll area
        f"() => {{ const a = document.querySelector('{panel} .lmsnb-answer');"
        " return a && a.textContent.split(' ').length > 200; }", timeout=60_000)
    page.click(f"{panel} button.lmsnb-panel-stop")
    stopped = lab_page.wait_for(f"{history} .lmsnb-msg.lmsnb-stopped", timeout=15_000)
    words = len(stopped.text_content().split())
    assert 200 < words < 1000, words  # the whole lorem answer would take ~50 s at 40 tok/s
    assert "■ stopped" in stopped.text_content()
    assert sim.counters["llm.predict"].generated_tokens < 1000
    assert page.locator(f"{panel} .lmsnb-answer").count() == 0  # the live view is gone

    # --- the history survives a second turn (back on the first model) --------------------
    page.wait_for_selector(f"{panel} button.lmsnb-panel-send:not([disabled])")
    page.select_option(model, index=_option_index(page, model, QWEN))
    page.fill(box, "and one more")
    page.press(box, "Enter")
    page.wait_for_function(
        f"() => document.querySelector('{history}').textContent.includes('You said: and one"
        " more')", timeout=15_000)
    msgs = page.eval_on_selector_all(f"{history} .lmsnb-msg", "ms => ms.map(m => m.className)")
    assert len(msgs) == 8, msgs  # 4 turns: user + assistant each
    assert sum("lmsnb-stopped" in m for m in msgs) == 1

    # --- the panel scrolls instead of growing, and shows the newest message ---------------
    page.wait_for_selector(f"{panel} button.lmsnb-panel-send:not([disabled])")
    box = page.evaluate(
        f"() => {{ const s = document.querySelector('{panel} .lmsnb-panel-scroll');"
        f" const ms = s.querySelectorAll('.lmsnb-msg'); const last = ms[ms.length - 1];"
        " const r = s.getBoundingClientRect(), m = last.getBoundingClientRect();"
        " return {client: s.clientHeight, scroll: s.scrollHeight,"
        " lastVisible: m.bottom <= r.bottom + 2 && m.top >= r.top - 2}; }")
    assert box["client"] <= 482 and box["scroll"] > box["client"], box
    assert box["lastVisible"], box
    page.screenshot(path=str(jupyter_lab.workdir / "widgets.png"), full_page=True)
    assert not lab_page.output_errors(), lab_page.output_errors()
    assert not lab_page.errors, lab_page.errors

    # the static records of both widgets are in the notebook, hidden while the widgets show
    for record in (".lmsnb-model-manager.lmsnb-static", ".lmsnb-chat-panel.lmsnb-static"):
        assert page.locator(record).count() == 1 and page.locator(record).is_hidden(), record
    hidden_areas = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-child')]"
        ".filter(c => c.querySelector('.lmsnb-static') && c.offsetHeight === 0).length")
    assert hidden_areas == 2  # no empty gap where a record sits

    # --- saved and reopened as a download: the last state of both widgets, as static HTML --
    saved = lab_page.save()
    outputs = json.dumps([c.get("outputs") for c in saved["cells"]])
    assert "IntProgress(" not in outputs and "VBox(children" not in outputs
    again = lab_page.reopen_untrusted()
    p2 = again.page
    static_mm = p2.wait_for_selector(".lmsnb-model-manager.lmsnb-static")
    text = static_mm.text_content()
    assert f"unloaded {LLAMA}" in text and BGE in text and QWEN in text, text
    static_panel = p2.wait_for_selector(".lmsnb-chat-panel.lmsnb-static")
    text = static_panel.text_content()
    for said in ("hello from Enter", "hello from Send", "Tell me a very long story",
                 "and one more", "■ stopped"):
        assert said in text, said
    height = p2.evaluate("() => document.querySelector('.lmsnb-chat-panel.lmsnb-static')"
                         ".getBoundingClientRect().height")
    assert height < 560, height  # the saved conversation scrolls too
    _no_widget_reprs(p2)
    p2.screenshot(path=str(jupyter_lab.workdir / "widgets-reopened.png"), full_page=True)
    assert not again.errors, again.errors


def test_progress_bars_leave_their_final_line_in_the_saved_notebook(
        sim, jupyter_lab, lab_page: LabPage) -> None:
    """A model load, 240 embeddings and a small GraphRAG build, each with its bars; then the
    model table. Saved and reopened untrusted, the final lines are all there."""
    sim.timing = Timing(load_seconds=1.0)
    sim.set_behaviour("graphrag")
    text = (REPO / "notebooks" / "data" / "christmas_carol_part1.txt").read_text()[:2500]
    jupyter_lab.write_notebook("progress.ipynb", [
        f"%load_ext lmsnb\n%lms_host {sim.host}\nimport lmsnb",
        f"%lms_models load {LLAMA} --context 8192 --ttl 10m",
        f"vectors = lmsnb.embed(['text number %d' % i for i in range(240)], {NOMIC!r})",
        f"idx = lmsnb.graphrag.build_index([{text!r}], llm={QWEN!r}, embedding_model={NOMIC!r},"
        " chunk_size=300, chunk_overlap=30)",
        "%lms_models",
    ])
    lab_page.open("progress.ipynb")
    lab_page.run_all()
    lab_page.wait_idle(timeout=180_000)
    page = lab_page.page
    assert not lab_page.output_errors(), lab_page.output_errors()

    def final_lines(p) -> list[str]:
        return p.eval_on_selector_all(".lmsnb-progress.lmsnb-static .lmsnb-progress-label",
                                      "ls => ls.map(l => l.textContent)")

    # every bar has turned into its static line once the cells are done
    page.wait_for_function(
        "() => document.querySelectorAll('.lmsnb-progress.lmsnb-static').length >= 5")
    lines = final_lines(page)
    assert page.locator(".widget-progress").count() == 0, lines  # no live bar left behind
    expected = [f"loaded {LLAMA} (context 8,192, TTL 10 min)", "embedded 240 texts with "]
    for stage in ("extract_graph", "community_reports", "embeddings"):
        expected.append(f"{stage} ")
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)
    reports = next(line for line in lines if line.startswith("community_reports"))
    done, total = reports.split()[1].split("/")
    assert done == total and reports.endswith(" s"), reports  # "community_reports 2/2 — 4.9 s"

    # %lms_models fits the page: no sideways scrolling of the output
    fits = page.evaluate(
        "() => { const t = [...document.querySelectorAll('.jp-OutputArea-output table')]"
        ".find(t => t.textContent.includes('max_context'));"
        " const area = t.closest('.jp-OutputArea-output');"
        " return [t.getBoundingClientRect().width, area.clientWidth]; }")
    assert fits[0] <= fits[1], fits
    cells = page.eval_on_selector_all(
        ".jp-OutputArea-output table tbody tr",
        "rs => rs.map(r => [...r.children].map(c => c.textContent.trim()))")
    llama = next(r for r in cells if r[0] == LLAMA)
    assert "✓" in llama and "8,192" in llama and "10 min" in llama and "1.3 GB" in llama
    assert LLAMA not in llama[1:]  # the key is not repeated in the row

    saved = lab_page.save()
    outputs = json.dumps([c.get("outputs") for c in saved["cells"]])
    assert "IntProgress(" not in outputs and "HBox(children" not in outputs
    again = lab_page.reopen_untrusted()
    p2 = again.page
    p2.wait_for_selector(".lmsnb-progress.lmsnb-static")
    assert final_lines(p2) == lines
    _no_widget_reprs(p2)
    p2.screenshot(path=str(jupyter_lab.workdir / "progress-reopened.png"), full_page=True)
    assert not again.errors, again.errors


def test_an_untouched_tutorial_opens_unmodified(jupyter_lab, lab_page: LabPage) -> None:
    """JupyterLab rewrites a kernelspec that is not the kernel's own, which marks a notebook
    the reader has not touched as modified (and asks to save it on close)."""
    shutil.copy(REPO / "notebooks" / "01_getting_started.ipynb", jupyter_lab.root / "t01.ipynb")
    lab_page.open("t01.ipynb", prepare="")
    state = lab_page.page.evaluate(
        """async () => {
          const w = [...jupyterapp.shell.widgets('main')].find(w => w.context
              && w.context.path === 't01.ipynb');
          await w.sessionContext.session.kernel.info;  // JupyterLab has seen the kernel
          await w.sessionContext.ready;
          return {dirty: w.context.model.dirty,
                  kernelspec: w.context.model.getMetadata('kernelspec')};
        }""")
    assert state["kernelspec"]["display_name"] == "Python 3 (ipykernel)", state
    assert not state["dirty"], state
    assert not lab_page.page.locator(".jp-mod-dirty").count()
