"""Stream view, markdown sanitising and progress bar — no server, no kernel needed."""

from __future__ import annotations

import time

import pytest
from chat_fakes import FakePrediction

from lmsnb.events import Done, Fragment, PredictionStats
from lmsnb.widgets import markdown, stream
from lmsnb.widgets.markdown import render_markdown


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil></iframe>",
    '<svg onload="alert(1)">',
])
def test_markdown_never_passes_raw_html(evil: str) -> None:
    out = render_markdown(f"hello {evil} **world**\n\n| a |\n|---|\n| {evil} |\n\n> {evil}")
    assert "<script" not in out and "<img" not in out and "<iframe" not in out
    assert "<svg" not in out and "<a href=\"javascript" not in out
    assert "<strong>world</strong>" in out


def test_markdown_links_only_safe_schemes() -> None:
    assert 'href="https://example.org"' in render_markdown("[ok](https://example.org)")
    for url in ("javascript:alert(1)", "JaVaScRiPt:x", "data:text/html,x", "vbscript:x"):
        assert "href" not in render_markdown(f"[bad]({url})")
    # quotes cannot break out of the attribute
    out = render_markdown('[x](https://a.org/"onmouseover="alert(1))')
    assert 'onmouseover="' not in out


def test_markdown_blocks_and_partial_fence() -> None:
    out = render_markdown("# T\n\n- a\n- b\n\n1. x\n\n```py\nprint('<hi>')")
    assert "<h1>T</h1>" in out and "<ul><li>a</li><li>b</li></ul>" in out
    assert "<ol><li>x</li></ol>" in out
    assert "print(&#x27;&lt;hi&gt;&#x27;)" in out or "print('&lt;hi&gt;')" in out
    assert markdown.render_code("```python\nx = 1\n```").startswith("<pre><code>x = 1")
    assert "&lt;b&gt;" in markdown.render_text("<b>")


def test_render_stream_outside_kernel_prints_and_returns_done(capsys) -> None:
    done = stream.render_stream(FakePrediction(["Hello", " world"], 0.0, "m"))
    assert done.text == "Hello world"
    assert "Hello world" in capsys.readouterr().out


class _Kernelish:
    """Pretend to be inside a kernel so the widget path runs (widgets work without a frontend)."""

    kernel = object()


@pytest.fixture
def widget_mode(monkeypatch):
    monkeypatch.setattr(stream, "in_kernel", lambda: True)
    monkeypatch.setattr(stream.StreamView, "_show", lambda self: None)


def test_stream_view_throttles_and_finishes(widget_mode) -> None:
    words = [f"w{i} " for i in range(400)]
    view = stream.StreamView(interval=0.04)
    done = view.run(FakePrediction(words, 0.0005, "m"))  # ~0.3 s of streaming
    assert done.text == "".join(words)
    assert view.flushes < 40, view.flushes  # ~0.3 s / 40 ms, not one per token
    assert "w399" in view.body.value
    assert "eosFound" in view.footer.value and "lmsnb-done" in view.footer.value
    assert view.stop_button.disabled


def test_stop_button_cancels_and_keeps_partial(widget_mode) -> None:
    view = stream.StreamView()
    view.start(FakePrediction([f"w{i} " for i in range(1000)], 0.002, "m"))
    assert stream.pending() == [view]
    time.sleep(0.1)
    view.stop_button.click()  # what the browser's click does on the kernel side
    done = view.wait(timeout=5)
    assert done.stopped and 0 < len(done.text) < len("".join(f"w{i} " for i in range(1000)))
    assert view.stop_button.description == "Stopped"
    assert "userStopped" in view.footer.value
    assert stream.pending() == []


def test_wait_pending_is_the_barrier(widget_mode) -> None:
    view = stream.StreamView()
    view.start(FakePrediction(["a", "b", "c"], 0.05, "m"))
    stream.wait_pending()
    assert view.finished and view.done is not None and view.done.text == "abc"


def test_errors_show_in_view_and_raise_from_wait(widget_mode) -> None:
    def broken():
        yield Fragment("part")
        from lmsnb.errors import PredictionError

        raise PredictionError("server broke", hint="retry")

    view = stream.StreamView()
    with pytest.raises(Exception, match="server broke"):
        view.run(broken())
    assert "server broke" in view.body.value and "part" in view.body.value


def test_model_html_is_sanitised_in_the_widget(widget_mode) -> None:
    stats = PredictionStats(model="m")
    events = [Fragment("<script>alert(1)</script><img src=x onerror=alert(1)>"), Done("x", stats)]
    view = stream.StreamView()
    view.run(iter(events))
    assert "<script>alert" not in view.body.value and "<img" not in view.body.value


def test_progress_bar_reaches_100(monkeypatch) -> None:
    from lmsnb.widgets import progress

    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    bar = progress.ProgressBar("loading x", display_now=False)
    for v in (0.0, 0.1, 0.2, 0.5, 0.99):
        bar(v)
    bar(1.0)
    assert bar.bar.value == 1.0
    bar.finish("loaded")
    assert bar.bar.bar_style == "success" and "100%" in bar.text.value
