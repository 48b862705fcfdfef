"""The model manager and the chat panel, clicked in a real JupyterLab (headless Chromium).

Model manager: pick a downloaded model, set a TTL, Load → the bar reaches 100 % and the loaded
table updates; Unload → it leaves; a model loaded behind its back shows up by itself (polling).
Chat panel: Enter and Send both send; the answer lands in the history; another model is picked;
a long answer is stopped midway and marked stopped; the history survives the next turn.
Both widgets work while the kernel is idle (actions run on worker threads), which is what lets
the browser's clicks reach the kernel at all.
"""

from __future__ import annotations

import pytest

from lmsnb.sim import Timing

from .conftest import LabPage

pytestmark = pytest.mark.browser

LLAMA = "llama-3.2-1b-instruct"
QWEN = "qwen2.5-7b-instruct"
BGE = "text-embedding-bge-small-en-v1.5"


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
    mm = ".lmsnb-model-manager"
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
    assert "100%" in _text(page, f"{mm} .lmsnb-progress-label")
    assert f"loaded {LLAMA}" in _text(page, f"{mm} .lmsnb-mm-status")
    inst = sim.catalogue.get(LLAMA)
    assert inst is not None and inst.ttl_seconds == 600

    # --- Unload: the selected instance (the one just loaded) leaves the table ------------
    selected = page.eval_on_selector(f"{mm} .lmsnb-mm-instances select",
                                     "s => s.options[s.selectedIndex].textContent")
    assert selected == LLAMA
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
    panel = ".lmsnb-chat-panel"
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
    page.wait_for_function(
        f"() => {{ const a = document.querySelector('{panel} .lmsnb-answer');"
        " return a && a.textContent.split(' ').length > 20; }", timeout=30_000)
    page.click(f"{panel} button.lmsnb-panel-stop")
    stopped = lab_page.wait_for(f"{history} .lmsnb-msg.lmsnb-stopped", timeout=15_000)
    words = len(stopped.text_content().split())
    assert 20 < words < 1000, words  # the whole lorem answer would take ~50 s at 40 tok/s
    assert "stopped" in stopped.text_content()
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
    page.screenshot(path=str(jupyter_lab.workdir / "widgets.png"), full_page=True)
    assert not lab_page.output_errors(), lab_page.output_errors()
    assert not lab_page.errors, lab_page.errors
