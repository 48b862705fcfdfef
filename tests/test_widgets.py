"""What the widgets show and what a saved notebook keeps — no server, no kernel needed.

Markdown rendering (markdown-it-py: what models write, safely, while streaming), the stream
view (throttling, Stop, the "■ stopped" mark), progress bars, and the one mechanism that turns
every finished widget into static output (``LiveOutput``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from chat_fakes import FakePrediction

from lmsnb import human
from lmsnb.events import Done, Fragment, PredictionStats
from lmsnb.widgets import markdown, output, progress, stream
from lmsnb.widgets.markdown import render_markdown

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def squash(html: str) -> str:
    return html.replace("\n", "")


# -- markdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil></iframe>",
    '<svg onload="alert(1)">',
    "<style>body{display:none}</style>",
])
def test_markdown_never_passes_raw_html(evil: str) -> None:
    out = render_markdown(f"hello {evil} **world**\n\n| a |\n|---|\n| {evil} |\n\n> {evil}\n\n"
                          f"- {evil}\n\n[^1]: {evil}")
    for tag in ("<script", "<img", "<iframe", "<svg", "<style", '<a href="javascript'):
        assert tag not in out
    assert "<strong>world</strong>" in out
    assert "&lt;script&gt;" in out or "&lt;" in out  # shown as text, not dropped


def test_markdown_links_only_safe_schemes_and_images_are_links() -> None:
    ok = render_markdown("[ok](https://example.org)")
    assert 'href="https://example.org"' in ok and 'rel="noopener noreferrer nofollow"' in ok
    for url in ("javascript:alert(1)", "JaVaScRiPt:x", "data:text/html,x", "vbscript:x",
                "file:///etc/passwd"):
        assert "href" not in render_markdown(f"[bad]({url})")
    out = render_markdown('[x](https://a.org/"onmouseover="alert(1))')
    assert 'onmouseover="' not in out
    # an answer never makes the notebook fetch anything: images become links
    img = render_markdown("![a chart](https://example.org/c.png)")
    assert "<img" not in img and 'href="https://example.org/c.png"' in img and "a chart" in img


def test_markdown_blocks_models_write() -> None:
    out = squash(render_markdown(
        "# T\n\n1. first\n   - nested *a*\n     - deeper\n2. second\n\n"
        "| name | n |\n|:-----|--:|\n| x | 1 |\n\n> quoted **bold**\n\n~~gone~~ `a*b*c`"))
    assert "<h1>T</h1>" in out
    assert ("<ol><li>first<ul><li>nested <em>a</em><ul><li>deeper</li></ul></li></ul></li>"
            "<li>second</li></ol>") in out
    assert '<th style="text-align:left">name</th>' in out
    assert '<td style="text-align:right">1</td>' in out
    assert "<blockquote><p>quoted <strong>bold</strong></p></blockquote>" in out
    assert "<s>gone</s>" in out and "<code>a*b*c</code>" in out


def test_markdown_line_breaks_kept_like_a_chat_app() -> None:
    assert "<br" in render_markdown("an old pond\na frog jumps in\nsplash")


def test_markdown_footnotes_have_per_answer_anchors() -> None:
    one = render_markdown("Claim[^1].\n\n[^1]: The source.", doc_id="a1")
    two = render_markdown("Claim[^1].\n\n[^1]: The source.", doc_id="b2")
    assert 'class="footnote-ref"' in one and "The source." in one
    assert 'id="fn-a1-1"' in one and 'id="fn-b2-1"' in two  # two answers on one page


@pytest.mark.parametrize("src, kept", [
    ("Inline $a_1 + b_1 = c_*$ here", "$a_1 + b_1 = c_*$"),
    ("Inline \\(x_1^2 < y\\) here", "\\(x_1^2 &lt; y\\)"),
    ("$$\n\\sum_i x_i\n$$", "$$\n\\sum_i x_i\n$$"),
    ("\\[ y_i = 2 \\]", "\\[ y_i = 2 \\]"),
])
def test_markdown_leaves_math_intact(src: str, kept: str) -> None:
    out = render_markdown(src)
    assert kept in out and "<em>" not in out


def test_markdown_dollars_as_money_are_text() -> None:
    out = render_markdown("It costs $5 and $10 with *tax*.")
    assert "$5 and $10" in out and "<em>tax</em>" in out and "lmsnb-math" not in out


def test_markdown_streaming_half_finished_fence() -> None:
    answer = ("Here is code:\n\n```python\n# not a heading\nprint('<hi>')\n```\n\n"
              "Done **now**.")
    for n in range(len(answer) + 1):  # every flush the stream view can see
        render_markdown(answer[:n])
    half = render_markdown(answer[:answer.index("print") + 5])
    assert '<pre><code class="language-python"># not a heading\nprint' in half
    assert "<h1>" not in half
    whole = squash(render_markdown(answer))
    assert "print(&#x27;&lt;hi&gt;&#x27;)" in whole or "print('&lt;hi&gt;')" in whole
    assert "<p>Done <strong>now</strong>.</p>" in whole


def test_text_and_code_formats() -> None:
    assert markdown.render_code("```python\nx = 1\n```").startswith("<pre><code>x = 1")
    assert "&lt;b&gt;" in markdown.render_text("<b>")


# -- human numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes, text", [(24_808_576, "25 MB"), (84_106_624, "84 MB"),
                                          (807_690_656, "808 MB"), (4_683_073_952, "4.7 GB"),
                                          (None, ""), (0, "")])
def test_sizes_read_like_lm_studio(nbytes, text) -> None:
    assert human.size(nbytes) == text


@pytest.mark.parametrize("seconds, text", [(45, "45 s"), (600, "10 min"), (3600, "1 h"),
                                           (5400, "1 h 30 min"), (None, "")])
def test_durations(seconds, text) -> None:
    assert human.duration(seconds) == text


def test_plural() -> None:
    assert human.plural(1, "community level") == "1 community level"
    assert human.plural(3, "community level") == "3 community levels"


# -- LiveOutput: one mechanism for what a finished widget leaves ---------------------------------


class _Handle:
    """What ``display(..., display_id=True)`` returns: records every update."""

    def __init__(self, data: dict) -> None:
        self.history = [data]

    def update(self, data: dict, raw: bool = False) -> None:
        assert raw
        self.history.append(data)

    @property
    def data(self) -> dict:
        return self.history[-1]


@pytest.fixture
def shown(monkeypatch):
    """Pretend to be in a kernel; every displayed output is recorded as a ``_Handle``."""
    handles: list[_Handle] = []

    def fake_display(obj, raw=False, display_id=None, **_kw):
        assert raw and display_id
        handles.append(_Handle(obj))
        return handles[-1]

    monkeypatch.setattr(output, "display", fake_display)
    monkeypatch.setattr(stream, "in_kernel", lambda: True)
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    return handles


def test_live_output_shows_a_readable_fallback_then_static(shown) -> None:
    import ipywidgets as w

    out = output.LiveOutput(w.IntProgress(), output.Static("loading x 0%")).show()
    live = shown[-1].data
    assert WIDGET_VIEW in live and live["text/plain"] == "loading x 0%"
    assert "IntProgress" not in live["text/plain"] + live["text/html"]
    out.finish(output.Static("loaded x"))
    assert shown[-1].data == {"text/plain": "loaded x",
                              "text/html": '<pre style="white-space:pre-wrap">loaded x</pre>'}
    out.keep(output.Static("too late"))  # a finished output stays as it is
    assert shown[-1].data["text/plain"] == "loaded x"


def test_interactive_widget_keeps_a_record_its_live_view_hides(shown) -> None:
    import ipywidgets as w

    out = output.LiveOutput(w.Button(), output.Static("manager: nothing loaded"),
                            interactive=True).show()
    widget_out, record = shown
    assert WIDGET_VIEW in widget_out.data and widget_out.data["text/plain"] == ""
    assert record.data["text/plain"] == "manager: nothing loaded"
    css_class = re.search(r'class="(lmsnb-record-\w+)"', record.data["text/html"]).group(1)
    style = out.widget.children[0].value  # the live widget hides the record, and its container
    assert f".{css_class}{{display:none}}" in style and f":has(.{css_class})" in style
    out.keep(output.Static("manager: loaded qwen"))
    assert len(widget_out.history) == 1  # the live view is never re-sent
    assert record.data["text/plain"] == "manager: loaded qwen"
    assert css_class in record.data["text/html"]


def test_progress_bar_leaves_its_final_line(shown) -> None:
    bar = progress.ProgressBar("loading x")
    assert shown[-1].data["text/plain"] == "loading x 0%"
    for v in (0.0, 0.1, 0.5, 0.99, 1.0):
        bar(v)
    assert bar.bar.value == 1.0
    bar.finish("loaded x (context 8,192)")
    final = shown[-1].data
    assert WIDGET_VIEW not in final
    assert final["text/plain"] == "loaded x (context 8,192)"
    assert "loaded x (context 8,192)" in final["text/html"]
    assert "width:100%" in final["text/html"] and "<style" not in final["text/html"]


def test_failed_progress_says_so(shown) -> None:
    with pytest.raises(RuntimeError):
        with progress.LazyProgress("embedding 300 texts") as bar:
            bar(10, 300)
            raise RuntimeError("server went away")
    final = shown[-1].data
    assert final["text/plain"] == "embedding 300 texts 10/300 — failed"
    assert "#f44336" in final["text/html"]  # red


def test_lazy_progress_shows_nothing_until_work_starts(shown) -> None:
    with pytest.raises(RuntimeError), progress.LazyProgress("loading x"):
        raise RuntimeError("unknown model")
    assert shown == []


def test_graphrag_stages_each_leave_a_line(shown) -> None:
    from lmsnb.graphrag.progress import Progress

    prog = Progress(True)
    prog.widgets = True  # what a kernel gives
    for name, total in (("extract_graph", 3), ("community_reports", 2)):
        stage = prog.stage(name, total)
        for _ in range(total):
            stage.advance()
        stage.finish()
    lines = [h.data["text/plain"] for h in shown]
    assert re.fullmatch(r"extract_graph 3/3 — \d+\.\d s", lines[0]), lines
    assert re.fullmatch(r"community_reports 2/2 — \d+\.\d s", lines[1]), lines
    assert all(WIDGET_VIEW not in h.data for h in shown)


def test_stage_of_unknown_size_counts_up(shown) -> None:
    bar = progress.ProgressBar("summarize_descriptions")
    bar(3, 0)
    assert bar.line() == "summarize_descriptions 3"
    bar(3, 3)
    assert bar.line() == "summarize_descriptions 3/3"


# -- stream view --------------------------------------------------------------------------------


def test_render_stream_outside_kernel_prints_and_returns_done(capsys) -> None:
    done = stream.render_stream(FakePrediction(["Hello", " world"], 0.0, "m"))
    assert done.text == "Hello world"
    assert "Hello world" in capsys.readouterr().out


def test_stream_view_throttles_and_finishes(shown) -> None:
    words = [f"w{i} " for i in range(400)]
    view = stream.StreamView(interval=0.04)
    done = view.run(FakePrediction(words, 0.0005, "m"))  # ~0.3 s of streaming
    assert done.text == "".join(words)
    assert view.flushes < 40, view.flushes  # ~0.3 s / 40 ms, not one per token
    assert "w399" in view.body.value
    assert "eosFound" in view.footer.value and "lmsnb-done" in view.footer.value
    assert view.stop_button.disabled


def test_slow_markdown_is_rendered_less_often(shown, monkeypatch) -> None:
    """A long answer costs more to re-render: flushes back off so rendering stays a fraction
    of the time (the kernel must keep answering the Stop button)."""
    real = stream.render_body

    def slow(text, fmt, **kw):
        time.sleep(0.05)
        return real(text, fmt, **kw)

    monkeypatch.setattr(stream, "render_body", slow)
    view = stream.StreamView(interval=0.01)
    view.run(FakePrediction([f"w{i} " for i in range(100)], 0.01, "m"))  # ≥ 1 s of tokens
    # without the back-off: one flush every 10 ms + 50 ms render, ~17 flushes
    assert view.flushes <= 8, view.flushes


def test_finished_answer_becomes_static_html(shown) -> None:
    view = stream.StreamView(title="poems")
    view.start(FakePrediction(["Hello ", "**world**"], 0.0, "m"))
    view.wait(timeout=5)
    deadline = time.monotonic() + 5
    while WIDGET_VIEW in shown[-1].data and time.monotonic() < deadline:
        time.sleep(0.01)  # the worker thread replaces the widget right after the last event
    final = shown[-1].data
    assert WIDGET_VIEW not in final
    assert "lmsnb-static" in final["text/html"] and "<strong>world</strong>" in final["text/html"]
    assert final["text/plain"].startswith("Hello **world**") and "eosFound" in final["text/plain"]
    assert "streaming" in shown[-1].history[0]["text/plain"]  # the fallback while it streamed


def test_stop_button_cancels_keeps_partial_and_marks_it(shown) -> None:
    view = stream.StreamView()
    view.start(FakePrediction([f"w{i} " for i in range(1000)], 0.002, "m"))
    assert stream.pending() == [view]
    time.sleep(0.1)
    view.stop_button.click()  # what the browser's click does on the kernel side
    done = view.wait(timeout=5)
    assert done.stopped and 0 < len(done.text) < len("".join(f"w{i} " for i in range(1000)))
    assert view.stop_button.description == "Stopped"
    assert "userStopped" in view.footer.value
    assert stream.STOPPED in view.body.value
    static = view.static()
    assert stream.STOPPED in static.html and f"[{stream.STOPPED} ·" in static.text
    assert stream.pending() == []


def test_answer_that_was_not_stopped_has_no_mark(shown) -> None:
    view = stream.StreamView()
    view.run(FakePrediction(["fine"], 0.0, "m"))
    assert stream.STOPPED not in view.body.value and stream.STOPPED not in view.static().text


def test_stopped_answer_is_marked_outside_a_kernel(capsys) -> None:
    pred = FakePrediction([f"w{i} " for i in range(100)], 0.0, "m")
    pred.cancel()
    stream.render_stream(pred)
    assert f"[{stream.STOPPED} ·" in capsys.readouterr().out


def test_wait_pending_is_the_barrier(shown) -> None:
    view = stream.StreamView()
    view.start(FakePrediction(["a", "b", "c"], 0.05, "m"))
    stream.wait_pending()
    assert view.finished and view.done is not None and view.done.text == "abc"


def test_errors_show_in_view_and_raise_from_wait(shown) -> None:
    def broken():
        yield Fragment("part")
        from lmsnb.errors import PredictionError

        raise PredictionError("server broke", hint="retry")

    view = stream.StreamView()
    with pytest.raises(Exception, match="server broke"):
        view.run(broken())
    assert "server broke" in view.body.value and "part" in view.body.value


def test_model_html_is_sanitised_in_the_widget(shown) -> None:
    stats = PredictionStats(model="m")
    events = [Fragment("<script>alert(1)</script><img src=x onerror=alert(1)>"), Done("x", stats)]
    view = stream.StreamView()
    view.run(iter(events))
    assert "<script>alert" not in view.body.value and "<img" not in view.body.value


# -- what tables and results show ------------------------------------------------------------


def test_citations_are_left_aligned_and_levels_counted_right() -> None:
    import pandas as pd

    from lmsnb.graphrag.index import GraphIndex
    from lmsnb.graphrag.query.result import QueryResult

    res = SimpleNamespace(  # the fields citations_html reads
        context={"entities": pd.DataFrame({"id": [1]})},
        citations=pd.DataFrame({"dataset": ["Entities"], "short_id": [1], "text": ["x"],
                                "in_context": [True], "found": [True]}),
        stats={"llm_calls": 1, "prompt_tokens": 1, "completion_tokens": 1, "seconds": 0.1})
    cells = re.findall(r"<t[dh][ >][^>]*>", QueryResult.citations_html(res))
    assert cells and all("text-align:left" in c for c in cells)
    idx = GraphIndex()
    idx.communities = pd.DataFrame({"level": [0, 0]})
    assert "1 community level<" in idx._repr_html_()


def test_tutorials_keep_the_kernel_name_jupyterlab_writes() -> None:
    """JupyterLab rewrites a kernelspec that differs from the kernel's own, which marks an
    untouched tutorial as modified."""
    spec = json.loads(Path(sys.prefix, "share/jupyter/kernels/python3/kernel.json").read_text())
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        ks = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
        assert ks == {"display_name": spec["display_name"], "language": spec["language"],
                      "name": "python3"}, path.name


# -- model manager and chat panel (against the simulator) ----------------------------------------


@pytest.fixture
def conn(sim, shown, monkeypatch):
    import lmsnb
    from lmsnb import chat

    monkeypatch.setattr(chat, "_sessions", {})
    c = lmsnb.connect(sim.host)
    yield c
    c.close()


def _act(manager, fn) -> None:
    """Click-equivalent: run the action on the manager's worker thread and wait for it."""
    manager._spawn(fn)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if manager._busy.acquire(timeout=0.05):
            manager._busy.release()
            return
    raise AssertionError("the action did not finish")


def test_model_manager_context_size_ttl_and_saved_view(conn, sim) -> None:
    from lmsnb import models
    from lmsnb.widgets.model_manager import ModelManager

    mm = ModelManager(poll=None)
    mm._ipython_display_()
    assert mm.context.value == "" and mm.context.placeholder == "default"  # not "0"
    labels = dict((v, k) for k, v in mm.picker.options)
    assert "25 MB" in labels["text-embedding-bge-small-en-v1.5"]  # not "0.0 GB"
    assert "4.7 GB" in labels["qwen2.5-7b-instruct"]

    # a typo in the context is refused before anything loads
    mm.picker.value = "llama-3.2-1b-instruct"
    mm.context.value = "lots"
    _act(mm, mm._load)
    assert "not a number of tokens" in mm.status.value
    assert "llama-3.2-1b-instruct" not in set(models.loaded()["key"])

    mm.context.value = "2,048"
    mm.ttl.value = "10m"
    _act(mm, mm._load)
    line = "loaded llama-3.2-1b-instruct (context 2,048, TTL 10 min)"
    assert line in mm.status.value and line in mm.progress.text.value
    assert sim.catalogue.get("llama-3.2-1b-instruct").ttl_seconds == 600
    assert ">10 min<" in mm.table.value and ">2,048<" in mm.table.value

    # the saved notebook's view: the status and the table, in the record below the widget
    assert WIDGET_VIEW in mm.output._handle.data
    shown_data = mm.output._record.data
    assert WIDGET_VIEW not in shown_data
    assert line in shown_data["text/plain"] and "TTL 10 min" in shown_data["text/plain"]
    assert line in shown_data["text/html"] and "<style" not in shown_data["text/html"]
    assert "VBox(" not in shown_data["text/plain"]

    # a blank context loads the model's default
    mm.picker.value = "text-embedding-bge-small-en-v1.5"
    mm.context.value, mm.ttl.value = "", ""
    _act(mm, mm._load)
    assert "loaded text-embedding-bge-small-en-v1.5 (context" in mm.status.value


def test_chat_panel_scrolls_and_keeps_the_conversation(conn, sim) -> None:
    from lmsnb.sim import Timing
    from lmsnb.widgets.chat_panel import HEIGHT, ChatPanel

    panel = ChatPanel("panel-test")
    panel._ipython_display_()
    assert panel.scroll.layout.max_height == HEIGHT and panel.scroll.layout.overflow == "auto"
    assert panel.scroll.layout.flex_flow == "column-reverse"  # stays at the newest message

    def turn(text: str) -> None:
        panel.send(text)
        assert panel.view is not None
        panel.view.wait(timeout=20)
        deadline = time.monotonic() + 10
        while panel.send_button.disabled and time.monotonic() < deadline:
            time.sleep(0.02)

    turn("hello panel")
    saved = panel.output._record.data
    assert "user: hello panel" in saved["text/plain"]
    assert "assistant: You said: hello panel" in saved["text/plain"]
    assert "hello panel" in saved["text/html"] and "<style" not in saved["text/html"]

    sim.timing = Timing(tokens_per_second=200)
    sim.set_behaviour("lorem", model="qwen2.5-7b-instruct")
    panel.send("a long story")
    deadline = time.monotonic() + 10
    while len(panel.view.text.split()) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    panel.stop()
    panel.view.wait(timeout=10)
    deadline = time.monotonic() + 10
    while panel.send_button.disabled and time.monotonic() < deadline:
        time.sleep(0.02)
    saved = panel.output._record.data
    assert f"assistant [{stream.STOPPED}]:" in saved["text/plain"]
    assert stream.STOPPED in saved["text/html"] and stream.STOPPED in panel.history.value


def test_what_the_tutorials_and_docs_promise() -> None:
    """idx.stats' model_seconds is explained where people look it up, and tutorial 06 does
    not call a rebuild that still takes seconds "instant"."""
    from lmsnb.graphrag.progress import Accounting

    root = Path(__file__).parents[1]
    guide = (root / "docs" / "graphrag.md").read_text(encoding="utf-8")
    assert re.search(r"`model_seconds` \| .*parallel", guide)
    assert "model_seconds" in (Accounting.__doc__ or "")
    source = (root / "lmsnb" / "graphrag" / "index.py").read_text(encoding="utf-8")
    assert "``model_seconds`` adds up" in source  # the comment on GraphIndex.stats
    nb = json.loads((root / "notebooks" / "06_graphrag_query.ipynb").read_text(encoding="utf-8"))
    prose = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "instant" not in prose.lower()
