"""People's notebooks that call ``nest_asyncio.apply()``, in a real kernel (nbclient), on the simulator.

lmsnb must keep working there: a streamed answer, an answer stopped by a kernel interrupt, a model
load whose bar ends at 100 %, embeddings (concurrent, asyncio in a worker thread), a GraphRAG
build with its progress bars full, and queries. What cannot work (widget clicks during a cell's
own asyncio code, nest_asyncio 1.x in ipykernel 7) is said once, in one line, with the fix;
nest_asyncio2 and plain notebooks get no such line. The clicks themselves are checked in
JupyterLab: tests/browser/test_nest_asyncio_browser.py.
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_cells import run_cells

from lmsnb.nesting import MESSAGE
from lmsnb.sim import Timing

pytest.importorskip("nest_asyncio")
pytestmark = pytest.mark.notebook
LLAMA = "llama-3.2-1b-instruct"
TEXT = ("Agent Alex Mercer met Taylor Cruz at Dulce base. "
        "Jordan Hayes studied the signal with Sam Rivera. ") * 30


def _run(cells: list[str], sim, monkeypatch, tmp_path) -> nbformat.NotebookNode:
    return run_cells(cells, sim, monkeypatch, tmp_path, timeout=120)


def _out(cell) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for o in cell.outputs if o.output_type != "error")


def _err(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")


def _finished_bars(cell) -> list[tuple[str, tuple[int, int], bool]]:
    """(stage, (done, total), drawn full) for each finished progress bar a cell shows."""
    bars = []
    for o in cell.outputs:
        html = o.get("data", {}).get("text/html", "")
        if "lmsnb-progress lmsnb-static" in html:
            name, count = o.data["text/plain"].split()[:2]
            done, total = map(int, count.split("/"))
            bars.append((name, (done, total), "width:100%" in html))
    return bars


def test_lmsnb_works_after_nest_asyncio_apply(sim, monkeypatch, tmp_path) -> None:
    sim.timing = Timing(tokens_per_second=100, load_seconds=0.5)
    sim.set_behaviour("graphrag")
    sim.set_behaviour("lorem", model=LLAMA)
    nb = _run([
        "import nest_asyncio\nnest_asyncio.apply()\nimport asyncio\n"
        "print('nested', asyncio.run(asyncio.sleep(0, 'ok')))",
        "%load_ext lmsnb\nimport lmsnb",
        "%%lms_chat -o reply\nHello nested",  # streams in the background
        "print(repr(reply))",
        "%%lms_chat --wait\nAnd once more",
        # a kernel interrupt (Kernel → Interrupt) while a long answer streams
        "import os, signal, threading\n"
        "threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()",
        f"%%lms_chat -m {LLAMA} --session long --wait\nA long story please",
        "last = lmsnb.chat.get_session('long').history[-1]\n"
        "print('stopped', last.get('stopped'), len(last['content'].split()))",
        f"%lms_models load {LLAMA} --context 2048 --identifier small",
        "v = lmsnb.embed(['a', 'b', 'c'] * 20, model='text-embedding-nomic-embed-text-v1.5')\n"
        "print('vectors', v.shape)",
        f"idx = lmsnb.graphrag.build_index({TEXT!r}, llm='qwen2.5-7b-instruct',"
        " embedding_model='text-embedding-nomic-embed-text-v1.5', cache_dir='cache')\n"
        "print('ENTITIES=' + str(len(idx.entities)))",
        "res = idx.query('Who studied the signal?', method='local', model='qwen2.5-7b-instruct')\n"
        "print('cited', bool(res.context))",
        "%%graphrag_query idx --method global --model qwen2.5-7b-instruct\nWhat are the themes?",
        "print(asyncio.run(asyncio.sleep(0, 'still nested')))",
    ], sim, monkeypatch, tmp_path)
    c = nb.cells
    assert "nested ok" in _out(c[0])
    assert _err(c[1]).strip() == MESSAGE  # said once, where lmsnb was loaded
    assert sum(MESSAGE in _err(cell) for cell in c) == 1
    assert "'You said: Hello nested'" in _out(c[3])
    assert "You said: And once more" in _out(c[4]) and "stop: eosFound" in _out(c[4])
    out = _out(c[6])
    assert "stop: userStopped" in out
    stopped, words = _out(c[7]).split()[1:]
    assert stopped == "True" and 0 < int(words) < 500  # the whole story is far longer
    final = c[8].outputs[-1].data  # the finished bar, as the saved notebook keeps it
    assert final["text/plain"] == f"loaded {LLAMA} as small (context 2,048)"
    assert "lmsnb-progress" in final["text/html"] and "width:100%" in final["text/html"]
    assert "vectors (60, 768)" in _out(c[9])
    assert int(_out(c[10]).split("ENTITIES=")[1]) > 0
    stages = _finished_bars(c[10])  # one bar per stage, each left as "name n/n — s"
    assert len(stages) >= 4 and {"extract_graph", "embeddings"} <= {n for n, _, _ in stages}
    assert all(done == total and full for _, (done, total), full in stages), stages
    assert "cited True" in _out(c[11])
    assert "stop: eosFound" in _out(c[12])
    assert "still nested" in _out(c[13])
    for cell in c:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        assert "Traceback" not in _err(cell), (cell.source, _err(cell))


@pytest.mark.parametrize("first", ["import nest_asyncio2\nnest_asyncio2.apply()", "pass"])
def test_no_line_without_nest_asyncio_1(first, sim, monkeypatch, tmp_path) -> None:
    nb = _run([first, "%load_ext lmsnb", "%%lms_chat --wait\nhi"], sim, monkeypatch, tmp_path)
    assert not any("nest_asyncio" in _err(cell) for cell in nb.cells)
    assert "You said: hi" in _out(nb.cells[2])


def test_line_under_the_cell_that_applies_it(sim, monkeypatch, tmp_path) -> None:
    nb = _run(["%load_ext lmsnb", "import nest_asyncio\nnest_asyncio.apply()",
               "%%lms_chat --wait\nhi", "print('done')"], sim, monkeypatch, tmp_path)
    assert _err(nb.cells[0]) == "" and _err(nb.cells[1]).strip() == MESSAGE
    assert "You said: hi" in _out(nb.cells[2]) and _err(nb.cells[3]) == ""
