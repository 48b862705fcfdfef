"""``%%graphrag_query``: one-line errors in process, and real rendering in a kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from shared_data import CAROL

import lmsnb.client
from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag import magic as gmagic
from lmsnb.graphrag.query import QueryResult
from lmsnb.sim import Simulator, Timing

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def sim():
    with Simulator(port=0, timing=Timing(), behaviour="graphrag") as s:
        # Query contexts (~8k tokens) need more than LM Studio's default 4,096-token load.
        s.unload("qwen2.5-7b-instruct")
        s.load("qwen2.5-7b-instruct", context_length=32768)
        lmsnb.client.connect(s.host)
        yield s


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    m = gmagic.register(shell)
    shell.user_ns["idx"] = GraphIndex.from_parquet(CAROL)
    shell.user_ns["not_an_index"] = [1, 2, 3]
    yield shell
    m.last = None


@pytest.mark.parametrize("line, cell, expected", [
    ("idx --method globl", "q", "did you mean 'global'"),
    ("idx --top-k many", "q", "invalid int value"),
    ("idx --bogus", "q", "unrecognized arguments"),
    ("", "q", "the following arguments are required"),
    ("nope", "q", "no variable named 'nope'"),
    ("not_an_index", "q", "is a list, not a GraphIndex"),
    ("idx", "   ", "the question is empty"),
    ("idx --history not_an_index", "q", "is not a query result"),
    ("idx --level -1 --method global", "q", "no community reports at level <= -1"),
    ("idx --max-tokens 5", "q", "max_context_tokens must be at least 100"),
])
def test_bad_input_is_one_line(ip, capsys, line, cell, expected):
    ip.run_cell_magic("graphrag_query", line, cell)
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_magic_no_stream_stores_result(ip, sim, capsys):
    ip.run_cell_magic("graphrag_query", "idx --method basic --top-k 2 --no-stream -o res "
                      "--response-type 'Single Paragraph'", "Who is {who}?".replace(
                          "{who}", "Scrooge"))
    res = ip.user_ns["res"]
    assert isinstance(res, QueryResult) and res.method == "basic"
    assert res.config.k == 2 and res.config.response_type == "Single Paragraph"
    assert len(res.context["sources"]) <= 2
    ip.user_ns["who"] = "Marley"
    ip.run_cell_magic("graphrag_query", "idx --history res --no-stream -o res2", "And {who}?")
    assert ip.user_ns["res2"].question == "And Marley?"
    assert len(ip.user_ns["res2"].history) == 4
    assert "lmsnb:" not in capsys.readouterr().err  # progress lines only, no error


@pytest.mark.notebook
def test_magic_renders_in_a_real_kernel(sim):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        f"import lmsnb\nlmsnb.connect({sim.host!r})\n"
        f"from lmsnb.graphrag import GraphIndex\nidx = GraphIndex.from_parquet({str(CAROL)!r})",
        "%load_ext lmsnb",
        "%%graphrag_query idx --method local -o res\nWho is Scrooge?",
        "print(type(res).__name__, 'SCROOGE' in set(res.context['entities']['title']), "
        "len(res.citations))",
        "%%graphrag_query idx --method nope\nq",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})  # cwd: lmsnb importable
    client.execute()
    outs = [c.outputs for c in nb.cells]
    query_html = "".join(o.get("data", {}).get("text/html", "") for o in outs[2])
    assert "<details>" in query_html and "citations" in query_html
    assert "GraphRAG local search" in query_html or any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs[2])
    assert not any(o.get("output_type") == "error" for out in outs for o in out)
    printed = "".join(o.get("text", "") for o in outs[3])
    assert printed.startswith("QueryResult True")
    err = "".join(o.get("text", "") for o in outs[4] if o.get("name") == "stderr")
    assert "Unknown query method 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("line, expected", [
    ("idx -o 1bad", "-o '1bad' is not a valid variable name"),
    ("idx -o idx", "-o idx would replace the GraphIndex in 'idx'"),
    ("idx --max-tokens 150 --method global", "max_context_tokens=150 is too small"),
    ("idx --response-type ''", "response_type must be a non-empty string"),
])
def test_out_name_and_budget_mistakes_are_one_line_and_keep_the_index(ip, capsys, line,
                                                                      expected):
    before = ip.user_ns["idx"]
    ip.run_cell_magic("graphrag_query", line, "Who is Scrooge?")
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert ip.user_ns["idx"] is before and "1bad" not in ip.user_ns


def test_a_level_the_index_lacks_is_refused_with_the_levels_it_has(ip, capsys):
    idx = ip.user_ns["idx"]
    one = idx.copy()
    one.communities = one.communities[one.communities["level"] == 0].assign(parent=-1)
    one.community_reports = one.community_reports[one.community_reports["level"] == 0]
    ip.user_ns["one"] = one
    for line, expected in (("one --level 5 --method global",
                            "This index has no community level 5: it has level 0 only"),
                           ("idx --level 4", "no community level 4: it has levels 0–3"),
                           ("one --level 1 --method drift", "use --level 0")):
        ip.run_cell_magic("graphrag_query", line, "What happens?")
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
