"""Reusable harness: a real JupyterLab driven by headless Chromium (Playwright).

One JupyterLab server and one browser for all browser tests (they are the slow part: ~5 s),
a fresh page per test. Everything is skipped, not failed, when ``/usr/bin/chromium`` or
Playwright is missing. Marked ``browser`` (``pytest -m "not browser"`` skips them).

Fixtures
--------
``jupyter_lab`` (package)  -> :class:`JupyterLab`: ``.root`` (the server's root_dir, a tmp dir),
                              ``.url(path)``, ``.write_notebook(name, cells)``,
                              ``.shutdown_kernels()``, ``.stop()``.
``lab_page`` (function)    -> :class:`LabPage` on a new tab; kernels are shut down afterwards.

Typical test::

    @pytest.mark.browser
    def test_chat(jupyter_lab, lab_page):
        jupyter_lab.write_notebook("chat.ipynb", ["import lmsnb", "lmsnb.demo()"])
        lab_page.open("chat.ipynb")           # waits for the kernel to be idle
        lab_page.run_all()
        lab_page.wait_for(".my-widget .done")   # any CSS selector inside output areas
        assert not lab_page.errors            # uncaught page errors

The kernel runs the server's Python with this repository on ``PYTHONPATH``, so notebooks can
``import lmsnb`` without installing it. Helpers never use ``time.sleep`` (with the sync API
that starves Playwright's event loop); use ``page.wait_for_timeout`` or ``wait_for``.

The same classes work outside pytest (``benchmarks/bench_graphview.py`` uses them)::

    with JupyterLab.start(tmpdir) as lab, open_browser(tmpdir) as ctx:
        page = LabPage(ctx.new_page(), lab)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterLab:
    """A JupyterLab server on a free loopback port, isolated in ``workdir`` (runs as root)."""

    workdir: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @classmethod
    def start(cls, workdir: Path, timeout: float = 90.0) -> JupyterLab:
        workdir = Path(workdir)
        for sub in ("root", "config", "runtime", "workspaces", "settings"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        # user settings: no "get notified about news?" toast over the notebook
        news = workdir / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        port, token = _free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(workdir / "config"),
               "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")])),
               "JUPYTER_PLATFORM_DIRS": "1"}
        log = workdir / "jupyterlab.log"
        cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
               "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={workdir / 'root'}",
               f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=workdir / "root", start_new_session=True)
        lab = cls(workdir, port, token, proc, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                lab.api("status")
                return lab
            time.sleep(0.3)
        lab.stop()
        raise TimeoutError(f"JupyterLab did not start in {timeout} s: {log.read_text()[-2000:]}")

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def write_notebook(self, name: str, cells: Sequence[str | tuple[str, str]]) -> Path:
        """Write a notebook into the server root. A cell is code, or ("markdown", text)."""
        import nbformat
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        for c in cells:
            kind, src = c if isinstance(c, tuple) else ("code", c)
            nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "markdown"
                            else nbformat.v4.new_code_cell(src))
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path

    def shutdown_kernels(self) -> None:
        """Stop every kernel (the CPU is shared; idle kernels still cost memory)."""
        with contextlib.suppress(OSError):
            for k in self.api("kernels"):
                self.api(f"kernels/{k['id']}", method="DELETE")

    def stop(self) -> None:
        """SIGTERM the server (it shuts its kernels down), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def open_browser(workdir: Path, **context_kw: Any) -> Iterator[Any]:
    """A Playwright persistent Chromium context using Debian's /usr/bin/chromium."""
    from playwright.sync_api import sync_playwright
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir))
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, **context_kw)
        try:
            yield ctx
        finally:
            ctx.close()


@dataclass
class LabPage:
    """A Playwright page on a JupyterLab notebook, collecting console and page errors."""

    page: Any
    lab: JupyterLab
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, notebook: str, timeout: float = 120_000) -> None:
        """Open ``notebook`` (relative to the server root) and wait for an idle kernel."""
        self.page.goto(self.lab.url(f"lab/tree/{notebook}?reset"))
        self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                    timeout=timeout)

    def run_all(self, attempts: int = 3) -> None:
        """Run > Run All Cells through the menu (the same path a person uses).

        A click that lands while the kernel is still connecting can be lost, and so can the
        cells queued behind the first one when the kernel's websocket reconnects right then
        (seen on a cold JupyterLab). So this checks that every code cell got queued (``[*]``
        or a number); if some were dropped, it runs them again from the first one left out
        (Run > Run Selected Cell and All Below), never re-running a cell that ran.
        """
        prompts = "[...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
        all_queued = f"() => {prompts}.every(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
        for attempt in range(attempts):
            self.dismiss_dialogs()
            left_out = self.page.evaluate(
                f"() => {prompts}.findIndex(p => !/\\[(\\*|\\d+)\\]/.test(p.textContent))")
            self.page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            if left_out <= 0:
                self.page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
            else:
                self.page.keyboard.press("Escape")
                self.page.locator(".jp-CodeCell .jp-InputArea-prompt").nth(left_out).click()
                self.page.click(".lm-MenuBar-itemLabel:text-is('Run')")
                self.page.click("li.lm-Menu-item[data-command='notebook:run-all-below']")
            try:
                self.page.wait_for_function(all_queued, timeout=10_000)
                return
            except Exception:
                if attempt == attempts - 1:
                    raise
                self.wait_idle()

    def dismiss_dialogs(self) -> list[str]:
        """Accept any open JupyterLab dialog (e.g. a kernel chooser that pops up while the
        kernel connects), keeping its text in ``console`` as ``dialog: ...`` for the record."""
        texts = []
        for _ in range(3):
            dialogs = self.page.locator(".jp-Dialog")
            if not dialogs.count():
                break
            text = dialogs.first.inner_text()
            texts.append(text)
            self.console.append("dialog: " + " ".join(text.split()))
            accept = dialogs.first.locator(".jp-Dialog-button.jp-mod-accept")
            if accept.count():
                accept.first.click()
            else:
                self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(300)
        return texts

    def wait_idle(self, timeout: float = 120_000) -> None:
        """Wait until no cell is queued or running (``[*]``) and the kernel is idle."""
        self.page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-InputArea-prompt')]"
            ".some(p => p.textContent.includes('*'))", timeout=timeout)
        self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                    timeout=timeout)

    def wait_for(self, selector: str, timeout: float = 60_000) -> Any:
        """Wait for a CSS selector (in any output) and return its element handle."""
        return self.page.wait_for_selector(selector, timeout=timeout)

    def output_errors(self) -> list[str]:
        """Text of error outputs (tracebacks) in the notebook."""
        return self.page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
            " .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']",
            "els => els.map(e => e.textContent)")


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    return None


# Package scope: torn down after the last browser test. Playwright's sync API keeps an event
# loop running in the main thread while it is open, which breaks asyncio.run() in later tests.
@pytest.fixture(scope="package")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with JupyterLab.start(tmp_path_factory.mktemp("jupyterlab")) as lab:
        yield lab


@pytest.fixture(scope="package")
def browser_context(jupyter_lab: JupyterLab) -> Iterator[Any]:
    with open_browser(jupyter_lab.workdir) as ctx:
        yield ctx


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets lab_page know the test failed
    return report


@pytest.fixture
def lab_page(request: pytest.FixtureRequest, jupyter_lab: JupyterLab,
             browser_context: Any) -> Iterator[LabPage]:
    """A fresh tab. On failure it saves a screenshot, the console and any open dialog's
    text next to the server log (the paths are printed in the test's captured output)."""
    page = LabPage(browser_context.new_page(), jupyter_lab)
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            stem = jupyter_lab.workdir / request.node.name
            with contextlib.suppress(Exception):
                page.page.screenshot(path=f"{stem}.png", full_page=True)
                dialogs = page.page.eval_on_selector_all(".jp-Dialog", "d => d.map(x => x.innerText)")
                Path(f"{stem}.console.txt").write_text(
                    "\n".join(page.console + ["--- page errors"] + page.errors
                              + ["--- dialogs"] + dialogs))
                print(f"browser artefacts: {stem}.png, {stem}.console.txt, log {jupyter_lab.log}")
        page.page.close()
        jupyter_lab.shutdown_kernels()
