"""Notebooks through a real kernel (nbclient) against the simulator: what a user sees."""

from __future__ import annotations

import nbformat
import pytest
from notebook_cells import run_cells

from lmsnb.sim import Timing

pytestmark = pytest.mark.notebook


def _run(cells: list[str], sim, monkeypatch, tmp_path) -> nbformat.NotebookNode:
    return run_cells(cells, sim, monkeypatch, tmp_path, timeout=60)


def _text(cell) -> tuple[str, str]:
    out, err = [], []
    for o in cell.outputs:
        if o.output_type == "stream":
            (err if o.name == "stderr" else out).append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get("text/plain", ""))
            out.append(o.data.get("text/html", ""))
        elif o.output_type == "error":
            err.append("\n".join(o.traceback))
    return "".join(out), "".join(err)


def test_chat_notebook(sim, monkeypatch, tmp_path) -> None:
    sim.timing = Timing(tokens_per_second=300)
    sim.set_behaviour("lorem", model="llama-3.2-1b-instruct")
    nb = _run([
        "%load_ext lmsnb",
        'topic = "owls"',
        "%%lms_chat -o reply\nTell me about {topic} and {{braces}}",  # background (Stop works)
        "import lmsnb\nprint(repr(reply))\nprint(lmsnb.chat.get_session().last.stats.summary())",
        "%%lms_chat --wait -t 0.1 -n 200 --format text\nSecond {topic}",
        "%%lms_chat --session other -s 'Be terse.' --wait\nhello other",
        "%%lms_chat\nabout {missing}",
        "%%lms_chat --bogus\nhi",
        "%%lms_chat -t hot\nhi",
        "%%lms_chat -m no-such-model --wait\nhi",
        "s = lmsnb.chat.sessions()\nprint({k: [m['role'] for m in v.history] for k, v in s.items()})",
        # a kernel interrupt (SIGINT, what Kernel → Interrupt sends) while a long answer streams
        "import os, signal, threading\n"
        "threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT)).start()",
        "%%lms_chat -m llama-3.2-1b-instruct --session long --wait\nA long story please",
        "last = lmsnb.chat.get_session('long').history[-1]\n"
        "print('stopped', last.get('stopped'), len(last['content'].split()))",
        "%lms_stats",
    ], sim, monkeypatch, tmp_path)
    texts = [_text(c) for c in nb.cells]
    out, err = texts[3]
    assert "'You said: Tell me about owls and {braces}'" in out and err == ""
    assert "stop: eosFound" in out and "tok/s" in out
    out, err = texts[4]  # static final output of a --wait cell: answer + stats footer
    assert "You said: Second owls" in out and "stop: eosFound" in out and err == ""
    assert "You said: hello other" in texts[5][0]
    assert "unknown variable {missing}" in texts[6][1]
    assert "unrecognized arguments: --bogus" in texts[7][1]
    assert "invalid float value: 'hot'" in texts[8][1]
    assert "not available" in texts[9][1] or "not downloaded" in texts[9][1]
    for i in (6, 7, 8, 9):
        assert "Traceback" not in texts[i][1] and texts[i][1].count("\n") == 1, texts[i][1]
    assert "'default': ['user', 'assistant', 'user', 'assistant']" in texts[10][0]
    assert "'other': ['system', 'user', 'assistant']" in texts[10][0]
    out, err = texts[12]
    assert "stop: userStopped" in out and "Traceback" not in err
    out, _ = texts[13]
    words = int(out.split()[-1])
    assert "stopped True" in out and 0 < words < 2000
    assert "lmsnb monitor" in texts[14][0]
    assert all(o.output_type != "error" for c in nb.cells for o in c.outputs)


def test_models_notebook(sim, monkeypatch, tmp_path) -> None:
    sim.timing = Timing(load_seconds=0.4)
    nb = _run([
        "%load_ext lmsnb",
        "%lms_models",
        "%lms_models load llama-3.2-1b-instruct --context 4096 --ttl 600",
        "%lms_models loaded",
        "%lms_models ttl llama-3.2-1b-instruct 60",
        "%lms_models unload llama-3.2-1b-instruct",
        "%lms_models load qwen-nope",
        "%lms_models manager",
        "%lms_host",
        "import numpy as np\ntexts = ['a', 'b', 'c']",
        "%lms_embed texts -o vecs",
    ], sim, monkeypatch, tmp_path)
    texts = [_text(c) for c in nb.cells]
    assert "qwen2.5-7b-instruct" in texts[1][0] and "llama-3.2-1b-instruct" in texts[1][0]
    bars = [m for m in nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
            ["state"].values() if m["model_name"] == "FloatProgressModel"]
    assert any(b["state"]["value"] == 1.0 and b["state"]["bar_style"] == "success" for b in bars)
    assert "4096" in texts[3][0]
    assert "TTL set to 60" in texts[4][0]
    assert "unloaded llama-3.2-1b-instruct" in texts[5][0]
    assert "did you mean" in texts[6][1] and "Traceback" not in texts[6][1]
    assert texts[7][1] == ""
    assert sim.host in texts[8][0]
    assert "vecs = ndarray of shape (3, 768)" in texts[10][0]
