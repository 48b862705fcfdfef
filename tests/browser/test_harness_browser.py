"""The browser harness itself: open on a ready kernel, Run All, save, reopen untrusted.

Other browser tests build on these guarantees, so they are checked where they can fail: the
page is attached to the kernel the harness started (lmsnb already imported, nothing else
started), a saved notebook holds what the page showed, and the reopened copy is untrusted
(its script output does not run again), lives in a fresh browser context and a fresh kernel,
and ran nothing.
"""

from __future__ import annotations

import pytest

from .conftest import LabPage

pytestmark = pytest.mark.browser

HTML_CELL = ("from IPython.display import HTML\n"
             "HTML('<b class=\"t-html\">bold</b><script>window.__ran = 1</script>')")


def test_open_save_and_reopen_untrusted(jupyter_lab, lab_page: LabPage) -> None:
    jupyter_lab.write_notebook("harness.ipynb", [
        "import sys\nprint('lmsnb imported before any cell:', 'lmsnb' in sys.modules)",
        HTML_CELL,
        ("markdown", "# a heading"),
    ])
    lab_page.open("harness.ipynb")
    first_kernel = lab_page.kernel
    lab_page.run_all()
    lab_page.wait_idle()
    page = lab_page.page
    assert page.locator(".jp-OutputArea-output", has_text="lmsnb imported before any cell: True"
                        ).count() == 1
    page.wait_for_selector(".t-html")
    assert page.evaluate("window.__ran") == 1  # trusted while it runs in this session
    count = "get_ipython().execution_count"  # the next cell's number
    assert jupyter_lab.kernel_eval(first_kernel, count) == "3"

    saved = lab_page.save()
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [1, 2]
    assert "True" in "".join(code[0]["outputs"][0]["text"])

    again = lab_page.reopen_untrusted()
    assert page.is_closed() and again.page.context is not page.context
    assert again.kernel != first_kernel
    assert first_kernel not in {k["id"] for k in jupyter_lab.api("kernels")}
    p2 = again.page
    # the saved outputs are shown as saved, but the script in the untrusted HTML never runs
    assert p2.locator(".jp-OutputArea-output", has_text="imported before any cell: True").count()
    p2.wait_for_selector(".t-html")
    assert p2.evaluate("window.__ran") is None
    prompts = p2.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt",
                                      "ps => ps.map(p => p.textContent)")
    assert prompts == ["[1]:", "[2]:"], prompts
    assert jupyter_lab.kernel_eval(again.kernel, count) == "1"  # nothing ran in it
    assert jupyter_lab.kernel_eval(again.kernel, "__import__('sys').modules.get('lmsnb')") == "None"
    assert not lab_page.errors and not again.errors, (lab_page.errors, again.errors)
