"""A ``%%lms_chat --image {fig}`` cell in a real JupyterLab (headless Chromium), against the
simulator: the thumbnail shows above the answer and in ``%lms_history``, the saved notebook holds
a small copy (not the image), and reopened untrusted in a fresh browser the thumbnails still
show — JupyterLab's sanitizer keeps ``<img>`` data URIs. The chat panel's Image button sends a
file picked in the browser, shown in the conversation and in its saved record.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image as PILImage

from lmsnb.sim import Timing

from .conftest import LabPage
from .test_widgets_browser import _option_index

pytestmark = pytest.mark.browser

LOADED_THUMB = ("(sel) => { const i = document.querySelector(sel);"
                " return i && i.complete && i.naturalWidth > 0; }")


def test_image_thumbnail_survives_save_and_untrusted_reopen(sim, jupyter_lab, lab_page: LabPage,
                                                            tmp_path) -> None:
    sim.timing = Timing(tokens_per_second=200)
    jupyter_lab.write_notebook("images.ipynb", [
        f"%load_ext lmsnb\n%lms_host {sim.host}",
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(8, 6), dpi=150)  # 1200×900: bigger than a thumbnail\n"
        "ax.plot([1, 3, 2, 5, 4])\nplt.close(fig)",
        "%%lms_chat -m qwen2-vl-2b-instruct --image {fig}\nWhat does this plot show?",
        "%lms_history",
        "%lms_chat_panel pics",
    ])
    lab_page.open("images.ipynb")
    lab_page.run_all()
    page = lab_page.page

    view_thumb = ".lmsnb-stream-view img.lmsnb-thumb"
    lab_page.wait_for(".lmsnb-stream-view .lmsnb-footer.lmsnb-done")
    page.wait_for_function(LOADED_THUMB, arg=view_thumb, timeout=30_000)
    answer = page.locator(".lmsnb-stream-view .lmsnb-answer").first.text_content()
    assert "You said: What does this plot show? [image: figure.png, " in answer
    lab_page.wait_idle()
    page.wait_for_function("document.querySelectorAll('.lmsnb-stream-view.lmsnb-static')"
                           ".length === 1")
    page.wait_for_function(LOADED_THUMB, arg=".dataframe img.lmsnb-thumb")
    thumb = page.locator(view_thumb)
    assert thumb.count() == 1 and "figure.png" in thumb.get_attribute("title")
    assert page.evaluate(f"document.querySelector('{view_thumb}').naturalWidth") <= 256

    # the chat panel: pick the vision model, attach a file through the browser, press Enter
    panel = ".lmsnb-chat-panel:not(.lmsnb-static)"
    dot = tmp_path / "dot.png"
    buf = io.BytesIO()
    PILImage.new("RGB", (64, 48), "orange").save(buf, format="PNG")
    dot.write_bytes(buf.getvalue())
    model = f"{panel} .lmsnb-panel-model select"
    page.select_option(model, index=_option_index(page, model, "qwen2-vl-2b-instruct"))
    with page.expect_file_chooser() as chooser:  # what a person sees: the file dialog
        page.click(f"{panel} .lmsnb-panel-attach")
    chooser.value.set_files(str(dot))
    page.wait_for_function(  # the file reached the widget's model (it counts it)
        f"() => document.querySelector('{panel} .lmsnb-panel-attach').textContent"
        ".includes('(1)')")
    box = f"{panel} .lmsnb-panel-input input"
    page.fill(box, "What colour is the dot?")
    page.press(box, "Enter")
    history = f"{panel} .lmsnb-panel-history"
    page.wait_for_function(
        f"() => document.querySelector('{history}').textContent.includes("
        "'You said: What colour is the dot? [image: dot.png, 64×48 PNG]')", timeout=15_000)
    page.wait_for_function(LOADED_THUMB, arg=f"{history} img.lmsnb-thumb")
    page.wait_for_selector(f"{panel} button.lmsnb-panel-send:not([disabled])")
    assert not lab_page.output_errors(), lab_page.output_errors()

    saved = lab_page.save()
    answer_cell = saved["cells"][2]
    assert len(json.dumps(answer_cell["outputs"])) < 80_000  # a thumbnail, not the 1200×900 PNG
    html = "".join("".join(o["data"]["text/html"]) for o in answer_cell["outputs"] if "data" in o)
    assert 'src="data:image/' in html

    again = lab_page.reopen_untrusted()
    p2 = again.page
    p2.wait_for_selector(".lmsnb-stream-view.lmsnb-static")
    p2.wait_for_function(LOADED_THUMB, arg=".lmsnb-stream-view.lmsnb-static img.lmsnb-thumb")
    p2.wait_for_function(LOADED_THUMB, arg=".dataframe img.lmsnb-thumb")
    p2.wait_for_function(LOADED_THUMB, arg=".lmsnb-chat-panel.lmsnb-static img.lmsnb-thumb")
    assert p2.locator("img.lmsnb-thumb").count() == 3
    static = p2.locator(".lmsnb-stream-view.lmsnb-static").first.text_content()
    assert "[image: figure.png, " in static and "stop: eosFound" in static
    assert not again.errors, again.errors
