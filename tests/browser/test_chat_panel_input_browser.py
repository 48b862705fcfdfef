"""The chat panel sends exactly what was typed, however fast (headless Chromium, JupyterLab).

ipywidgets' ``Text`` syncs its value through a throttle that its Enter message (and a click on
another button) does not wait for; typed quickly, a prompt reached the kernel cut short and the
rest stayed in the box. Five prompts typed key by key without pause, sent by Enter or by Send,
must each arrive whole, and the box must empty after each.
"""

from __future__ import annotations

import pytest

from lmsnb.sim import Timing

from .conftest import LabPage

pytestmark = pytest.mark.browser

PANEL = ".lmsnb-chat-panel:not(.lmsnb-static)"


def test_fast_typing_arrives_whole(sim, jupyter_lab, lab_page: LabPage) -> None:
    sim.timing = Timing(tokens_per_second=500)
    jupyter_lab.write_notebook("typing.ipynb", [
        f"%load_ext lmsnb\n%lms_host {sim.host}", "%lms_chat_panel"])
    lab_page.open("typing.ipynb")
    lab_page.run_all()
    lab_page.wait_idle()
    page = lab_page.page
    box = f"{PANEL} .lmsnb-panel-input input"
    for i in range(5):
        prompt = f"prompt {i}: the quick brown fox jumps over the lazy dog, twice over"
        page.wait_for_selector(f"{PANEL} button.lmsnb-panel-send:not([disabled])")
        page.click(box)
        page.keyboard.type(prompt)  # one key at a time, no delay
        if i % 2:
            page.click(f"{PANEL} button.lmsnb-panel-send")
        else:
            page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('{box}').value === ''")
        page.wait_for_function(
            "n => document.querySelectorAll('.lmsnb-panel-history .lmsnb-assistant').length"
            " === n", arg=i + 1, timeout=30_000)
    said = page.eval_on_selector_all(f"{PANEL} .lmsnb-panel-history .lmsnb-assistant",
                                     "ms => ms.map(m => m.textContent)")
    for i, text in enumerate(said):
        assert f"You said: prompt {i}: the quick brown fox jumps over the lazy dog, twice over" \
            in text, said
    assert not lab_page.errors, lab_page.errors
