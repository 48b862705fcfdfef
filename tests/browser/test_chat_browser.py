"""%%lms_chat and %lms_models in a real JupyterLab (headless Chromium) against the simulator.

One notebook, one Run All: a streamed answer with its stats footer, model output that tries to
run script (it must not), a model load whose bar reaches 100 % and ends as its final line, and
a long answer stopped midway with the Stop button — which works because the cell returns while
a worker thread streams, so the idle kernel processes the click — and is marked "■ stopped".
Then the notebook is saved and reopened untrusted in a fresh browser: the answers, the load's
line and the stopped mark are all there as static output, and the script still does not run.
"""

from __future__ import annotations

import pytest

from lmsnb.sim import Timing

from .conftest import LabPage
from .test_widgets_browser import _no_widget_reprs

pytestmark = pytest.mark.browser

EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> [x](javascript:window.__pwned=3)'


def test_chat_stream_stop_and_load(sim, jupyter_lab, lab_page: LabPage) -> None:
    sim.timing = Timing(tokens_per_second=40, load_seconds=1.0)
    sim.set_behaviour("lorem", model="llama-3.2-1b-instruct")
    jupyter_lab.write_notebook("chat.ipynb", [
        f"%load_ext lmsnb\n%lms_host {sim.host}",
        "%%lms_chat -o reply\nHello **browser**",
        f"%%lms_chat --session evil\n{EVIL}",
        "%lms_models load llama-3.2-1b-instruct --context 2048",
        "%%lms_chat -m llama-3.2-1b-instruct --session long\nTell me a very long story",
    ])
    lab_page.open("chat.ipynb")
    lab_page.run_all()
    page = lab_page.page

    # 1. streamed answer + stats footer
    done = lab_page.wait_for(".lmsnb-stream-view .lmsnb-footer.lmsnb-done")
    assert "stop: eosFound" in done.text_content() and "tok/s" in done.text_content()
    answer = page.locator(".lmsnb-stream-view .lmsnb-answer").first
    assert "You said: Hello" in answer.text_content()

    # 2. model output is shown as text, never run
    page.wait_for_function("document.querySelectorAll('.lmsnb-footer.lmsnb-done').length >= 2")
    evil = page.locator(".lmsnb-stream-view .lmsnb-answer").nth(1)
    assert "<script>" in evil.text_content() and "onerror" in evil.text_content()
    assert evil.locator("img, script, a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") is None

    # 3. the load bar moves, then ends as the load's line (a static output)
    page.wait_for_function(
        "() => { const b = document.querySelector('.lmsnb-progress .progress-bar');"
        " return (b && parseFloat(b.style.width) > 0)"
        " || document.querySelector('.lmsnb-progress.lmsnb-static'); }", timeout=30_000)
    loaded = "loaded llama-3.2-1b-instruct (context 2,048)"
    page.wait_for_function(
        "() => { const l = document.querySelector('.lmsnb-progress.lmsnb-static"
        f" .lmsnb-progress-label'); return l && l.textContent === '{loaded}'; }}",
        timeout=30_000)

    # 4. a long answer: once it is visibly streaming, a person aims at Stop; the button stays
    # put while the answer grows under it, and one plain click stops the answer
    long_answer = page.locator(".lmsnb-stream-view .lmsnb-answer").nth(2)
    stop = page.locator(".lmsnb-stream-view").nth(2).locator(".lmsnb-stop")
    grown = ("n => { const a = document.querySelectorAll('.lmsnb-stream-view .lmsnb-answer')[2];"
             " return a && a.textContent.split(' ').length > n; }")
    page.wait_for_function(grown, arg=20, timeout=30_000)
    aimed = stop.bounding_box()
    page.wait_for_function(grown, arg=len(long_answer.text_content().split()) + 30,
                           timeout=30_000)
    assert stop.bounding_box() == aimed  # 30 more words, and the button has not moved
    stop.click()
    footer = page.locator(".lmsnb-stream-view .lmsnb-footer").nth(2)
    page.wait_for_function(
        "() => { const f = document.querySelectorAll('.lmsnb-stream-view .lmsnb-footer')[2];"
        " return f && f.textContent.includes('userStopped'); }", timeout=15_000)
    words = len(long_answer.text_content().split())
    assert 20 < words < 1000, words  # 2000 words at 40 tok/s would take 50 s
    assert "userStopped" in footer.text_content()
    assert sim.counters["llm.predict"].generated_tokens < 1000  # the server really stopped
    page.wait_for_function(
        "() => { const v = document.querySelectorAll('.lmsnb-stream-view')[2];"
        " return v && v.querySelector('.lmsnb-stopped-mark'); }", timeout=15_000)
    assert "■ stopped" in page.locator(".lmsnb-stream-view").nth(2).text_content()
    assert page.locator(".lmsnb-stopped-mark").count() == 1  # only the stopped answer
    lab_page.wait_idle()
    # finished answers are static HTML outputs, so the saved notebook keeps them
    page.wait_for_function(
        "document.querySelectorAll('.lmsnb-stream-view.lmsnb-static').length === 3")
    assert not lab_page.output_errors(), lab_page.output_errors()
    assert not lab_page.errors, lab_page.errors

    # 5. saved, then reopened untrusted in a fresh browser: everything above, as static output
    lab_page.save()
    again = lab_page.reopen_untrusted()
    p2 = again.page
    p2.wait_for_selector(".lmsnb-stream-view.lmsnb-static")
    views = p2.locator(".lmsnb-stream-view.lmsnb-static")
    assert views.count() == 3
    assert "You said: Hello" in views.nth(0).text_content()
    assert "stop: eosFound" in views.nth(0).text_content()
    assert "■ stopped" in views.nth(2).text_content()
    assert views.nth(1).locator("img, script, a[href^='javascript']").count() == 0
    assert p2.evaluate("window.__pwned") is None
    label = p2.locator(".lmsnb-progress.lmsnb-static .lmsnb-progress-label")
    assert label.count() == 1 and label.text_content() == loaded
    _no_widget_reprs(p2)
    assert not again.errors, again.errors
