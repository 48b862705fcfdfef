"""Images in chat end to end: lmsnb → the unmodified ``lmstudio`` SDK → the simulator.

What is checked is what the server receives: the image bytes uploaded through
``files.uploadFileBase64`` and named in the user message of the prediction request, once per
connection; refused for non-vision models before anything is uploaded.
"""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import matplotlib
import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image as PILImage
from test_widgets import shown  # noqa: F401 - the fixture

import lmsnb
from lmsnb import chat, magics
from lmsnb.client import Connection
from lmsnb.errors import ModelNotFound
from lmsnb.images import to_image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

VLM = "qwen2-vl-2b-instruct"  # the simulator's vision model (downloaded, not loaded)


def png(w: int = 64, h: int = 48, color: str = "red") -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def conn(sim, monkeypatch):
    monkeypatch.setattr(chat, "_sessions", {})
    c = lmsnb.connect(sim.host)
    yield c
    c.close()


@pytest.fixture
def seen(sim):
    """Every prediction request the simulator's models receive (their messages and images)."""
    requests = []

    def behaviour(req):
        requests.append(req)
        return "I see " + ", ".join(f"{i.name} {i.image_size}" for i in req.images)

    sim.set_behaviour(behaviour)
    return requests


def test_images_reach_the_vision_model(conn, sim, seen, tmp_path) -> None:
    fig, ax = plt.subplots()
    ax.plot([1, 3, 2])
    path = tmp_path / "photo.png"
    path.write_bytes(png())
    sent = [to_image(fig), to_image(path)]
    done = chat.ask("What are these?", images=[fig, path], model=VLM)
    plt.close(fig)
    assert done.text == f"I see figure.png ({sent[0].width}, {sent[0].height}), photo.png (64, 48)"
    req = seen[-1]
    assert [i.data for i in req.images] == [i.data for i in sent]  # the bytes, unchanged
    assert req.model == VLM and req.messages[-1]["content"] == "What are these?"
    assert len(req.messages[-1]["files"]) == 2  # attached to the user message
    assert len(sim.engine.files) == 2


def test_a_session_uploads_each_image_once(conn, sim, seen) -> None:
    session = chat.Session(model=VLM)
    session.send("Describe it.", images=png())
    session.send("And the colour?")
    session.send("Now this one.", images=[png(color="blue")])
    assert [len(r.images) for r in seen] == [1, 1, 2]  # the history carries the images
    assert seen[1].images[0].data == png()
    assert len(sim.engine.files) == 2  # the first image was not uploaded again
    conn.close()  # a new client (a dropped websocket, a restart): its uploads start afresh
    session.send("Still there?")
    assert [i.data for i in seen[-1].images] == [png(), png(color="blue")]


def test_non_vision_models_are_refused_before_uploading(conn, sim, seen) -> None:
    session = chat.Session()
    session.send("hello")
    before = [dict(m) for m in session.history]
    with pytest.raises(ModelNotFound) as info:  # the default model: qwen2.5-7b-instruct
        session.send("What is this?", images=png())
    assert str(info.value) == (
        "'qwen2.5-7b-instruct' is not a vision model; vision models loaded: none; "
        f"downloaded: {VLM} — pick one with --model / model=, e.g. {VLM}")
    with pytest.raises(ModelNotFound, match="'hugging-quants/llama-3.2-1b' is not a vision"):
        chat.ask("x", images=png(), model="hugging-quants/llama-3.2-1b")  # a path prefix
    assert len(sim.engine.files) == 0 and len(seen) == 1  # nothing uploaded, nothing asked
    assert session.history == before
    lmsnb.models.load(VLM)
    with pytest.raises(ModelNotFound, match=f"vision models loaded: {VLM}; downloaded: none"):
        chat.ask("x", images=png(), model="llama-3.2-1b-instruct")


def test_lm_studios_own_refusal_reads_the_same(conn, sim, monkeypatch) -> None:
    """Should the listings and the server disagree, LM Studio's refusal gets the same line."""
    monkeypatch.setattr(Connection, "require_vision", lambda self, model: None)
    with pytest.raises(ModelNotFound, match="'llama-3.2-1b-instruct' is not a vision model; "
                                            f"vision models loaded: none; downloaded: {VLM}"):
        chat.ask("x", images=png(), model="llama-3.2-1b-instruct")
    assert len(sim.engine.files) == 1  # this time LM Studio got the upload, and said no


def test_saved_session_reloads_with_its_images(conn, sim, seen, tmp_path) -> None:
    session = chat.Session(model=VLM)
    session.send("Describe it.", images=png(color="green"))
    path = session.save(tmp_path / "chat.json")
    again = chat.Session.load(path)
    again.send("What colour was it?")
    assert seen[-1].images[0].data == png(color="green")
    assert seen[-1].messages[0]["content"] == "Describe it." and "files" in seen[-1].messages[0]


def test_act_sends_images_too(conn, seen) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    done = chat.act("Sum the numbers in the picture", [add], images=png(), model=VLM).result()
    assert done.text == "I see image.png (64, 48)" and seen[-1].images[0].data == png()


def test_magic_sends_a_figure_variable(conn, sim, seen, capsys) -> None:
    shell = InteractiveShell.instance()
    m = magics.register(shell)
    try:
        fig, ax = plt.subplots()
        ax.bar(["a", "b"], [2, 5])
        shell.user_ns["fig"] = fig
        shell.run_cell_magic("lms_chat", f"-m {VLM} --image {{fig}}", "Which bar is taller?")
        plt.close(fig)
        out = capsys.readouterr()
        assert out.err == "" and out.out.startswith("[image: figure.png, ")
        assert "I see figure.png" in out.out and seen[-1].images[0].data == to_image(fig).data
        shell.run_cell_magic("lms_chat", "--image {fig}", "again, default model")
        err = capsys.readouterr().err
        assert err.startswith("lmsnb: 'qwen2.5-7b-instruct' is not a vision model")
        assert err.count("\n") == 1 and len(seen) == 1
    finally:
        shell.events.unregister("pre_run_cell", magics._before_cell)
        m.defaults.clear()


def upload(name: str, data: bytes) -> dict:
    """A file as the browser's upload button hands it to the kernel."""
    return {"name": name, "type": "", "size": len(data), "content": memoryview(data),
            "last_modified": datetime.now(timezone.utc)}


def test_chat_panel_attaches_images(conn, sim, seen, shown) -> None:  # noqa: F811
    from lmsnb.widgets.chat_panel import ChatPanel

    panel = ChatPanel("pics")
    panel._ipython_display_()
    panel.model.value = VLM
    panel.attach.value = (upload("notes.txt", b"text"),)
    panel.input.value = "What is it?"
    panel.send()
    assert "&#x27;notes.txt&#x27; is not an image" in panel.history.value
    assert panel.input.value == "What is it?" and panel.view is None  # kept, to fix and resend
    panel.attach.value = (upload("dot.png", png()),)
    panel.send()
    panel.view.wait(timeout=20)
    deadline = time.monotonic() + 10
    while panel.send_button.disabled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen[-1].images[0].data == png() and panel.attach.value == ()
    assert panel.history.value.count('<img class="lmsnb-thumb"') == 1
    saved = panel.output._record.data
    assert "user: What is it? [image: dot.png, 64×48 PNG]" in saved["text/plain"]
    assert saved["text/html"].count('<img class="lmsnb-thumb"') == 1

