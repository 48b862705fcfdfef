"""Reusable harness: a real JupyterLab driven by headless Chromium (Playwright).

One JupyterLab server and one browser for all browser tests (they are the slow part: ~5 s),
a fresh page per test. Everything is skipped, not failed, when ``/usr/bin/chromium`` or
Playwright is missing. Marked ``browser`` (``pytest -m "not browser"`` skips them).

How a notebook is opened (why the "Select Kernel" dialog cannot appear)
------------------------------------------------------------------------
The old harness waited for the toolbar's kernel indicator to read ``idle``; JupyterLab draws
it ``idle`` before the notebook's session even exists (seen: idle at 10.9 s, the session's
POST at 11.7 s). Run All clicked in that gap runs cells with no kernel, so JupyterLab starts
a *second* session for them; the first is shut down when it arrives (a kernel killed while
importing), and when a start fails JupyterLab asks "Select Kernel" — answering it started yet
another kernel, and later cells ran where ``%load_ext lmsnb`` never had. So the page never
starts a kernel here: :meth:`LabPage.open` creates the notebook's session through the REST API
(kernel ``python3``, the kernelspec ``write_notebook`` records), runs ``import lmsnb`` in that
kernel silently (no cell, no execution count) and waits for the reply, and only then loads the
page, which finds the session by its path and attaches to it. ``open`` returns once the page's
notebook is connected to *that* kernel and both are idle. Any JupyterLab dialog fails the test
with its text (it is never clicked away), and a test that leaves kernels the harness did not
start is an error. The server's data dir (kernelspecs, notebook signatures) is its own,
so nothing from ``~/.local/share/jupyter`` leaks in.

Fixtures
--------
``jupyter_lab`` (package)  -> :class:`JupyterLab`: ``.root`` (the server's root_dir, a tmp dir),
                              ``.url(path)``, ``.api(path)``, ``.write_notebook(name, cells)``,
                              ``.start_session(name)``, ``.kernel_eval(kernel, expr)`` (a
                              value from a kernel, no cell run), ``.shutdown_kernels()``,
                              ``.stray_kernels()``, ``.stop()``.
``browser_context`` (package) -> the Playwright browser context the pages share.
``lab_page`` (function)    -> :class:`LabPage` on a new tab; kernels are shut down afterwards.

:class:`LabPage`
    ``open(name)``           open a notebook with its kernel started, idle, lmsnb imported.
    ``run_all()``            Run > Run All Cells; returns once every code cell is queued.
    ``wait_idle()``          no cell queued or running, kernel idle.
    ``wait_for(selector)``   an element in the page; ``output_errors()`` tracebacks shown.
    ``save()``               File > Save Notebook; waits until JupyterLab says saved and the
                             file on disk changed; returns the saved notebook (a dict).
    ``reopen_untrusted()``   what a person sees opening the saved file elsewhere: closes this
                             tab, shuts the notebook's kernel down (no widget state left in
                             any kernel), makes the file untrusted (a metadata key changes,
                             so the server's signature no longer matches — as for a
                             downloaded notebook) and opens it in a FRESH browser context
                             (no shared page state) with a fresh kernel, running no cell.
                             Returns the new :class:`LabPage`; it checks every code cell
                             is untrusted. ``lab_page`` closes it at teardown.
    ``errors`` / ``console`` uncaught page errors / console lines.

Typical test::

    @pytest.mark.browser
    def test_chat(jupyter_lab, lab_page):
        jupyter_lab.write_notebook("chat.ipynb", ["import lmsnb", "lmsnb.demo()"])
        lab_page.open("chat.ipynb")           # kernel started, idle, lmsnb imported
        lab_page.run_all()
        lab_page.wait_for(".my-widget .done")   # any CSS selector inside output areas
        lab_page.wait_idle()
        saved = lab_page.save()               # dict: the notebook as written to disk
        again = lab_page.reopen_untrusted()   # LabPage, fresh context, nothing run
        again.wait_for(".lmsnb-static")       # what the saved outputs show by themselves
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
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
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
VIEWPORT = {"width": 1400, "height": 1000}
KERNEL = "python3"  # the kernelspec write_notebook records (the server's own Python)
PREPARE = "import lmsnb"  # what open() runs silently in the kernel before the page loads


class HarnessError(AssertionError):
    """The browser harness saw JupyterLab do something a test must not paper over."""


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
    kernels: set[str] = field(default_factory=set)  # the kernels the harness started

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @classmethod
    def start(cls, workdir: Path, timeout: float = 90.0) -> JupyterLab:
        workdir = Path(workdir)
        for sub in ("root", "config", "data", "runtime", "workspaces", "settings"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        # user settings: no "get notified about news?" toast over the notebook
        news = workdir / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        port, token = _free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(workdir / "config"),
               "JUPYTER_DATA_DIR": str(workdir / "data"),  # own kernelspecs and signatures
               "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")])),
               "JUPYTER_PLATFORM_DIRS": "1",
               # a kernel that crashes leaves its Python stack in the server log
               "PYTHONFAULTHANDLER": "1"}
        log = workdir / "jupyterlab.log"
        cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
               "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={workdir / 'root'}",
               f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: readiness checks
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
                if KERNEL in lab.api("kernelspecs")["kernelspecs"]:
                    return lab
                lab.stop()
                raise RuntimeError(f"JupyterLab has no {KERNEL!r} kernelspec")
            time.sleep(0.3)
        lab.stop()
        raise TimeoutError(f"JupyterLab did not start in {timeout} s: {log.read_text()[-2000:]}")

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(f"api/{path}"), method=method, data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = r.read()
        return json.loads(reply) if reply else None

    def write_notebook(self, name: str, cells: Sequence[str | tuple[str, str]]) -> Path:
        """Write a notebook into the server root. A cell is code, or ("markdown", text)."""
        import nbformat
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (ipykernel)",
                                     "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        for c in cells:
            kind, src = c if isinstance(c, tuple) else ("code", c)
            nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "markdown"
                            else nbformat.v4.new_code_cell(src))
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path

    def start_session(self, name: str, prepare: str = PREPARE, timeout: float = 120) -> str:
        """Start the notebook's session (its kernel) the way JupyterLab would, run ``prepare``
        in it silently, and return the kernel id once the kernel has replied and is idle."""
        model = self.api("sessions", "POST", {"path": name, "name": Path(name).name,
                                              "type": "notebook", "kernel": {"name": KERNEL}},
                         timeout=timeout)
        kernel_id = model["kernel"]["id"]
        self.kernels.add(kernel_id)
        self._run_silently(kernel_id, prepare or "pass", timeout)
        # The server learns the kernel's state from its status messages, on a subscription that
        # may not be connected yet when a fast `prepare` ends (seen under load in CI: "starting"
        # for good, and a page then waits for it). A silent no-op makes the kernel say it again
        # (as JupyterLab's own "nudge" does); it changes nothing in the kernel.
        deadline = time.monotonic() + timeout
        polls = 0
        while self.api(f"kernels/{kernel_id}")["execution_state"] != "idle":
            if time.monotonic() > deadline:
                raise HarnessError(f"kernel {kernel_id} did not become idle in {timeout} s")
            polls += 1
            if polls % 20 == 0:
                self._run_silently(kernel_id, "pass", max(1.0, deadline - time.monotonic()))
            time.sleep(0.1)
        return kernel_id

    def kernel_eval(self, kernel_id: str, expression: str, timeout: float = 60) -> str:
        """``repr`` of ``expression`` evaluated in a kernel, without running a cell (silent:
        no output, no history, no execution count), e.g. to check what a notebook did."""
        return self._run_silently(kernel_id, "", timeout, expression)

    def _run_silently(self, kernel_id: str, code: str, timeout: float,
                      expression: str | None = None) -> str:
        """Execute ``code`` over the kernel's own ZMQ channels (not a cell) and raise with the
        kernel's error if it fails; returns ``repr(expression)`` when one is given."""
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient(
            connection_file=str(self.workdir / "runtime" / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        # No heartbeat: it calls a kernel that is slow to answer under CPU load dead. The
        # request waits in ZMQ's queue until the kernel takes it, which is what we want.
        client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            msg_id = client.execute(code, silent=True, store_history=False,
                                    user_expressions={"x": expression} if expression else {})
            deadline = time.monotonic() + timeout
            while True:
                reply = client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        finally:
            client.stop_channels()
        content = reply["content"]
        value = content.get("user_expressions", {}).get("x", {"status": "ok"})
        for failed in (content, value):
            if failed["status"] != "ok":
                raise HarnessError(f"the kernel could not run {code or expression!r}: "
                                   f"{failed.get('ename')}: {failed.get('evalue')}")
        return value.get("data", {}).get("text/plain", "")

    def shutdown_kernels(self, path: str | None = None) -> None:
        """End sessions (and their kernels): all of them, or those of notebook ``path``."""
        with contextlib.suppress(OSError):
            for s in self.api("sessions"):
                if path is None or s["path"] == path:
                    self.api(f"sessions/{s['id']}", method="DELETE")
            if path is None:
                for k in self.api("kernels"):
                    self.api(f"kernels/{k['id']}", method="DELETE")

    def stray_kernels(self) -> list[str]:
        """Kernels the server started that the harness did not (JupyterLab started them)."""
        started = re.findall(r"Kernel started: ([0-9a-f-]+)", self.log.read_text(errors="replace"))
        return [k for k in started if k not in self.kernels]

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
def open_browser(workdir: Path | None = None, **context_kw: Any) -> Iterator[Any]:
    """A Playwright browser context in Debian's /usr/bin/chromium. ``ctx.browser`` makes
    more, fully separate contexts (``reopen_untrusted`` uses one)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport=VIEWPORT, **context_kw)
        finally:
            browser.close()


# Reads the state of the notebook at `path` in the page: "ok" once it is attached to kernel
# `kernel` and both are idle, a reason when that can never happen, else false (keep waiting).
_NOTEBOOK_STATE = """([path, kernel]) => {
  const dialog = document.querySelector('.jp-Dialog');
  if (dialog) return 'dialog: ' + dialog.innerText.replace(/\\s+/g, ' ');
  const app = window.jupyterapp;
  if (!app) return false;
  const panel = [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
  if (!panel || !panel.context.isReady || !panel.sessionContext.isReady) return false;
  const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!k) return false;
  if (kernel && k.id !== kernel) return 'the page started its own kernel ' + k.id;
  return k.connectionStatus === 'connected' && k.status === 'idle'
      && panel.content.widgets.length === panel.content.model.cells.length ? 'ok' : false;
}"""

_PROMPTS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"


@dataclass
class LabPage:
    """A Playwright page on a JupyterLab notebook, collecting console and page errors."""

    page: Any
    lab: JupyterLab
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notebook: str | None = None
    kernel: str | None = None
    owns_context: bool = False  # close the page's browser context with the page
    reopened: list[LabPage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, notebook: str, timeout: float = 120_000, prepare: str = PREPARE) -> None:
        """Open ``notebook`` (relative to the server root) on a started, idle kernel in which
        ``prepare`` ran; returns once the page is attached to that kernel and it is idle."""
        self.notebook = notebook
        self.kernel = self.lab.start_session(notebook, prepare, timeout / 1000)
        self.page.goto(self.lab.url(f"lab/tree/{urllib.parse.quote(notebook)}?reset"),
                       timeout=timeout)
        state = self.page.wait_for_function(_NOTEBOOK_STATE, arg=[notebook, self.kernel],
                                            timeout=timeout).json_value()
        if state != "ok":
            self.console.append(state)
            raise HarnessError(f"opening {notebook}: {state}")

    def check_no_dialog(self) -> None:
        """Fail with the text of any open JupyterLab dialog (never click one away: answering
        "Select Kernel" starts another kernel and the notebook's state is gone)."""
        dialogs = self.page.locator(".jp-Dialog")
        if dialogs.count():
            text = "dialog: " + " ".join(dialogs.first.inner_text().split())
            self.console.append(text)
            raise HarnessError(f"JupyterLab showed a {text}")

    def run_all(self, timeout: float = 30_000) -> None:
        """Run > Run All Cells through the menu (the same path a person uses); returns once
        every code cell is queued or done (``[*]`` or a number)."""
        self.check_no_dialog()
        self.page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        self.page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        try:
            self.page.wait_for_function(
                f"() => document.querySelector('.jp-Dialog') || {_PROMPTS}"
                ".every(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))", timeout=timeout)
        except Exception as exc:
            prompts = self.page.evaluate(f"() => {_PROMPTS}.map(p => p.textContent)")
            raise HarnessError(f"Run All did not queue every cell: {prompts}") from exc
        self.check_no_dialog()

    def wait_idle(self, timeout: float = 120_000) -> None:
        """Wait until no cell is queued or running (``[*]``) and the notebook's kernel is
        idle (fails at once on a dialog or a kernel the page started by itself)."""
        self.page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-InputArea-prompt')]"
            ".some(p => p.textContent.includes('*'))", timeout=timeout)
        state = self.page.wait_for_function(_NOTEBOOK_STATE, arg=[self.notebook, self.kernel],
                                            timeout=timeout).json_value()
        if state != "ok":
            self.console.append(state)
            raise HarnessError(f"waiting for {self.notebook} to be idle: {state}")

    def wait_for(self, selector: str, timeout: float = 60_000) -> Any:
        """Wait for a CSS selector (in any output) and return its element handle."""
        return self.page.wait_for_selector(selector, timeout=timeout)

    def output_errors(self) -> list[str]:
        """Text of error outputs (tracebacks) in the notebook."""
        return self.page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
            " .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']",
            "els => els.map(e => e.textContent)")

    def save(self, timeout: float = 30_000) -> dict[str, Any]:
        """File > Save Notebook. Returns the notebook as written, once JupyterLab reports it
        saved (not dirty, a new last-modified time) and the file on disk has changed."""
        assert self.notebook, "open() a notebook first"
        path = self.lab.root / self.notebook
        before = path.stat().st_mtime_ns
        last = self.page.evaluate(
            "p => [...jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path"
            " === p).context.contentsModel.last_modified", self.notebook)
        self.check_no_dialog()
        self.page.click(".lm-MenuBar-itemLabel:text-is('File')")
        self.page.click("li.lm-Menu-item[data-command='docmanager:save']")
        self.page.wait_for_function(
            "([p, last]) => { if (document.querySelector('.jp-Dialog')) return true;"
            " const w = [...jupyterapp.shell.widgets('main')].find(w => w.context &&"
            " w.context.path === p); return !w.context.model.dirty &&"
            " w.context.contentsModel.last_modified !== last; }",
            arg=[self.notebook, last], timeout=timeout)
        self.check_no_dialog()
        if path.stat().st_mtime_ns == before:
            raise HarnessError(f"JupyterLab said {self.notebook} was saved, but the file on "
                               "disk did not change")
        return json.loads(path.read_text())

    def reopen_untrusted(self, notebook: str | None = None,
                         timeout: float = 120_000) -> LabPage:
        """Open the saved ``notebook`` (default: this page's) as someone who downloaded it
        would: this tab closed, its kernel gone, the file untrusted (its signature no longer
        matches), in a fresh browser context, with a fresh kernel, running no cell."""
        name = notebook or self.notebook
        assert name, "open() a notebook first, or name one"
        self.page.close()
        self.lab.shutdown_kernels(name)
        path = self.lab.root / name
        nb = json.loads(path.read_text())
        nb["metadata"]["lmsnb_test"] = {"reopened_untrusted": True}
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        cells = self.lab.api(f"contents/{urllib.parse.quote(name)}")["content"]["cells"]
        trusted = [i for i, c in enumerate(cells) if c["metadata"].get("trusted")]
        if trusted:
            raise HarnessError(f"{name} is still trusted by the server (cells {trusted})")
        ctx = self.page.context.browser.new_context(viewport=VIEWPORT)
        again = LabPage(ctx.new_page(), self.lab, owns_context=True)
        self.reopened.append(again)
        again.open(name, timeout=timeout, prepare="")
        trusted = again.page.evaluate(
            "p => [...[...jupyterapp.shell.widgets('main')].find(w => w.context &&"
            " w.context.path === p).content.model.cells].map(c => c.type === 'code' &&"
            " c.trusted)", name)
        if any(trusted):
            raise HarnessError(f"JupyterLab shows {name} as trusted: {trusted}")
        return again

    def close(self) -> None:
        """Close the page (and the browser context it owns), then any reopened pages."""
        for child in self.reopened:
            child.close()
        with contextlib.suppress(Exception):
            if self.owns_context:
                self.page.context.close()
            elif not self.page.is_closed():
                self.page.close()


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
    text next to the server log (the paths are printed in the test's captured output).
    Afterwards every kernel is shut down, and kernels JupyterLab started by itself (a
    kernel dialog answered, a session raced) make the test an error."""
    page = LabPage(browser_context.new_page(), jupyter_lab)
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            stem = jupyter_lab.workdir / request.node.name
            for k, p in enumerate([page, *page.reopened]):
                with contextlib.suppress(Exception):
                    shot = f"{stem}-{k}" if k else str(stem)
                    if not p.page.is_closed():
                        p.page.screenshot(path=f"{shot}.png", full_page=True)
                    Path(f"{shot}.console.txt").write_text(
                        "\n".join(p.console + ["--- page errors"] + p.errors))
            print(f"browser artefacts: {stem}*.png, {stem}*.console.txt, log {jupyter_lab.log}")
        page.close()
        jupyter_lab.shutdown_kernels()
    stray = jupyter_lab.stray_kernels()
    if stray:
        jupyter_lab.kernels.update(stray)  # report them once
        raise HarnessError(f"JupyterLab started kernels the harness did not: {stray} "
                           f"(see {jupyter_lab.log})")
