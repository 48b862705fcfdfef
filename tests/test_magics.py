"""Magic parsing, {var} interpolation and one-line errors (in-process IPython, fake server)."""

from __future__ import annotations

import pytest
from chat_fakes import FakeConnection
from IPython.core.interactiveshell import InteractiveShell

from lmsnb import chat, magics
from lmsnb.errors import ConfigError


@pytest.fixture
def ip(monkeypatch):
    shell = InteractiveShell.instance()
    fake = FakeConnection()
    monkeypatch.setattr(chat, "get_connection", lambda: fake)
    monkeypatch.setattr(chat, "_sessions", {})
    m = magics.register(shell)
    shell.fake = fake
    yield shell
    shell.events.unregister("pre_run_cell", magics._before_cell)
    m.defaults.clear()


def test_interpolate() -> None:
    ns = {"topic": "owls", "n": 3.14159, "xs": [1, 2]}
    assert magics.interpolate("about {topic} {n:.2f} {xs[1]} {{literal}}", ns) == \
        "about owls 3.14 2 {literal}"
    with pytest.raises(ConfigError, match=r"unknown variable \{nope\}.*\{\{nope\}\}"):
        magics.interpolate("say {nope}", ns)
    with pytest.raises(ConfigError, match="empty"):
        magics.interpolate("x {} y", ns)


def test_chat_magic_streams_and_keeps_history(ip, capsys) -> None:
    ip.user_ns["topic"] = "owls"
    ip.run_cell_magic("lms_chat", "-t 0.2 -n 50 -o reply", "Tell me about {topic}")
    out = capsys.readouterr()
    assert "echo: Tell me about owls" in out.out and out.err == ""
    assert ip.user_ns["reply"] == "echo: Tell me about owls"
    call = ip.fake.calls[-1]
    assert call["config"] == {"temperature": 0.2, "maxTokens": 50}
    ip.run_cell_magic("lms_chat", "", "again")
    hist = chat.get_session().history
    assert [m["role"] for m in hist] == ["user", "assistant", "user", "assistant"]
    assert len(ip.fake.calls[-1]["history"]) == 3  # previous turn sent as context


def test_sessions_system_new_once(ip, capsys) -> None:
    ip.run_cell_magic("lms_chat", '--session poems -s "You write poems."', "a poem")
    ip.run_cell_magic("lms_chat", "--session other", "hi")
    assert chat.get_session("poems").system == "You write poems."
    assert len(chat.get_session("poems").history) == 3
    assert len(chat.get_session("other").history) == 2
    ip.run_cell_magic("lms_chat", "--session poems --once", "one shot")
    assert len(chat.get_session("poems").history) == 3  # not kept
    assert ip.fake.calls[-1]["history"] == [{"role": "user", "content": "one shot"}]
    ip.run_cell_magic("lms_chat", "--session poems --new", "fresh")
    assert [m["role"] for m in chat.get_session("poems").history] == ["user", "assistant"]


@pytest.mark.parametrize("line, cell, expected", [
    ("--bogus", "hi", "unrecognized arguments: --bogus"),
    ("-t hot", "hi", "invalid float value"),
    ("-f html", "hi", "invalid choice"),
    ("", "about {nope}", "unknown variable {nope}"),
    ("", "   ", "the prompt is empty"),
    ("-m nope", "hi", "did you mean"),
    ("-o 1x", "hi", "not a Python name"),
    ("--tools missing_fn", "hi", "not a function"),
])
def test_bad_input_is_one_line(ip, capsys, line, cell, expected) -> None:
    ip.run_cell_magic("lms_chat", line, cell)
    err = capsys.readouterr().err
    assert expected in err
    assert err.startswith("lmsnb: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_config_defaults(ip, capsys) -> None:
    ip.run_line_magic("lms_config", "temperature=0.5 format=text")
    assert "temperature" in capsys.readouterr().out
    ip.run_cell_magic("lms_chat", "", "q")
    assert ip.fake.calls[-1]["config"]["temperature"] == 0.5
    ip.run_line_magic("lms_config", "format=html")
    assert "format='html' is not one of" in capsys.readouterr().err
    ip.run_line_magic("lms_config", "novalue")
    assert "is not key=value" in capsys.readouterr().err


def test_history_magic_save_load(ip, tmp_path, capsys) -> None:
    ip.run_cell_magic("lms_chat", "", "remember me")
    path = tmp_path / "s.json"
    ip.run_line_magic("lms_history", f"--save {path}")
    ip.run_line_magic("lms_history", "--reset")
    assert chat.get_session().history == []
    ip.run_line_magic("lms_history", f"--load {path}")
    assert chat.get_session().history[0]["content"] == "remember me"
    df = ip.run_line_magic("lms_history", "")
    assert list(df["role"]) == ["user", "assistant"]
    ip.run_line_magic("lms_history", "--load /nonexistent.json")
    assert "Cannot read" in capsys.readouterr().err


def test_models_bad_subcommand(ip, capsys) -> None:
    ip.run_line_magic("lms_models", "lod qwen")
    err = capsys.readouterr().err
    assert "unknown sub-command 'lod'" in err and "did you mean 'load'" in err
    ip.run_line_magic("lms_models", "load")
    assert "required" in capsys.readouterr().err


def test_chat_magic_tools_against_the_simulator(sim, capsys) -> None:
    """``--tools`` hands notebook functions to the model; each call and its result is shown."""
    import lmsnb

    shell = InteractiveShell.instance()
    m = magics.register(shell)
    lmsnb.connect(sim.host)
    try:
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        shell.user_ns["add"] = add
        shell.run_cell_magic("lms_chat", "--tools add --once", "What is 2 + 3?")
        out = capsys.readouterr()
        assert "add(a=2, b=3) → 5" in out.out, out
        assert "The result is 5" in out.out
        shell.run_cell_magic("lms_chat", "--tools nothere --once", "hi")
        assert "nothere" in capsys.readouterr().err
    finally:
        shell.events.unregister("pre_run_cell", magics._before_cell)
        m.defaults.clear()


# -- bug hunt: refused input is one line and changes nothing -------------------------------


@pytest.mark.parametrize("line, cell, expected", [
    ("-t nan", "hi", "finite number"),
    ("-t 1e400", "hi", "finite number"),
    ("-o class", "hi", "not a Python name"),
    ("-m a -m b", "hi", "--model is given twice"),
    ("--tools ,", "hi", "--tools needs the names"),
    ("", "look {items[5]}", "{items[5]} in the prompt: index out of range"),
    ("", "look {cfg[b]}", "{cfg[b]} in the prompt: no key 'b'"),
    ("", "explain:\n```c\nint main() {\n  return 0;\n}\n```", "is not a {variable}"),
    ("", "value {pi:zz}", "cannot format a float with ':zz'"),
])
def test_more_bad_input_is_one_line(ip, capsys, line, cell, expected) -> None:
    ip.user_ns.update(items=[1, 2], cfg={"a": 1}, pi=3.14)
    ip.run_cell_magic("lms_chat", "", "first")
    before = [dict(m) for m in chat.get_session().history]
    ip.run_cell_magic("lms_chat", line, cell)
    out = capsys.readouterr()
    assert expected in out.err, out.err
    assert out.err.startswith("lmsnb: ") and out.err.count("\n") == 1, out.err
    assert chat.get_session().history == before  # a refused cell leaves the session as it was


def test_help_flag_prints_the_usage(ip, capsys) -> None:
    ip.run_cell_magic("lms_chat", "--help", "hi")
    out = capsys.readouterr()
    assert "--temperature" in out.out and out.err == ""
    assert ip.fake.calls == []


def test_config_values_are_checked_and_reset_restores_the_timeout(ip, capsys) -> None:
    from lmsnb import client

    before = client.get_timeout()
    try:
        for line, expected in (("wait=maybe", "not true or false"),
                               ("stopStrings=5", "string or a list of strings"),
                               ("timeout=abc", "positive number of seconds")):
            ip.run_line_magic("lms_config", line)
            err = capsys.readouterr().err
            assert expected in err and err.count("\n") == 1, err
        ip.run_line_magic("lms_config", "timeout=7 temprature=0.2")  # refused as a whole
        assert "did you mean 'temperature'" in capsys.readouterr().err
        assert client.get_timeout() == before
        ip.run_line_magic("lms_config", "model=7 system=42 top_p=0.5 topP=0.6 timeout=7")
        shell_defaults = ip.magics_manager.registry["LmsMagics"].defaults
        assert shell_defaults["model"] == "7" and shell_defaults["system"] == "42"
        assert shell_defaults["config"] == {"topPSampling": 0.6}
        assert client.get_timeout() == 7
        ip.run_line_magic("lms_config", "--reset")
        assert client.get_timeout() == before and shell_defaults == {}
    finally:
        client.set_timeout(before)


def test_history_refuses_unknown_sessions_bad_paths_and_bad_files(ip, tmp_path, capsys) -> None:
    ip.run_cell_magic("lms_chat", "-S notes", "keep me")
    kept = [dict(m) for m in chat.get_session("notes").history]
    capsys.readouterr()
    (tmp_path / "str.json").write_text('"hello"')
    (tmp_path / "cfg.json").write_text('{"history": [], "config": {"temprature": 1}}')
    (tmp_path / "role.json").write_text('{"history": [{"role": "robot", "content": "x"}]}')
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    for line, expected in (
            ("-S note", "no chat session called 'note' — did you mean 'notes'?"),
            (f"-S notes --save {tmp_path}/missing/dir/x.json", "Cannot write"),
            ("-S notes --save ''", "--save needs a file name"),
            (f"-S notes --load {tmp_path}/str.json", "Not a saved session"),
            (f"-S notes --load {tmp_path}/cfg.json", "did you mean 'temperature'"),
            (f"-S notes --load {tmp_path}/role.json", "unknown role 'robot'"),
            (f"-S notes --load {tmp_path}/bin.json", "not a UTF-8 text file"),
            ("-S notes --undo --reset", "give one at a time")):
        ip.run_line_magic("lms_history", line)
        err = capsys.readouterr().err
        assert expected in err and err.startswith("lmsnb: ") and err.count("\n") == 1, err
    assert chat.get_session("notes").history == kept  # nothing lost
    assert "note" not in chat.sessions()


def test_embed_magic_refuses_what_is_not_text(ip, capsys) -> None:
    import pandas as pd

    ip.user_ns.update(n=5, frame=pd.DataFrame({"text": ["a"]}), texts=["a", "b"])
    for line, expected in (("n", "got int"), ("frame", "pass one column"),
                           ("texts -o class", "not a Python name")):
        ip.run_line_magic("lms_embed", line)
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    assert "class" not in ip.user_ns


# -- what people read: help and tables ---------------------------------------------------------


def _all_magics(shell) -> list[str]:
    from lmsnb.graphrag import magic as graphrag_magic

    graphrag_magic.register(shell)
    found = []
    for cls in (magics.LmsMagics, graphrag_magic.GraphRAGMagics):
        for kind, prefix in (("line", "%"), ("cell", "%%")):
            found += [prefix + name for name in cls.magics[kind]]
    return found


def test_magic_help_is_plain_text(ip) -> None:
    import re

    names = _all_magics(ip)
    assert "%lms_models" in names and "%%lms_chat" in names and "%%graphrag_query" in names
    for name in names:
        text = re.sub(r"\x1b\[[0-9;]*m", "", ip.object_inspect_text(name))
        doc = text.split("Docstring:", 1)[1]
        assert "``" not in doc, (name, doc)  # raw reStructuredText markup
        assert "::" not in doc, (name, doc)
    models_help = ip.object_inspect_text("%lms_models")
    assert "%lms_models load KEY" in models_help and "--ttl 10m" in models_help
    assert re.sub(r"\x1b\[[0-9;]*m", "", ip.object_inspect_text("%%lms_chat")).split(
        "Docstring:", 1)[1].strip().startswith("%%lms_chat [-m MODEL]")


def test_help_flag_is_the_same_plain_help(ip, capsys) -> None:
    ip.run_line_magic("lms_history", "-h")
    out = capsys.readouterr().out
    assert out.startswith("%lms_history [-S SESSION]") and "::" not in out


def test_monitor_reads_like_a_report() -> None:
    import time as _time

    from lmsnb.events import PredictionStats
    from lmsnb.monitor import clear, monitor, record

    clear()
    try:
        record(PredictionStats(model="qwen", prompt_tokens=10, predicted_tokens=50,
                               tokens_per_second=41.234567, time_to_first_token=0.123456,
                               total_seconds=1.2345678, started_at=_time.time() + 0.123))
        mon = monitor()
        row = mon.df.iloc[0]
        assert row["started_at"].microsecond == 0 and row["started_at"].nanosecond == 0
        import pandas as pd

        assert abs((row["started_at"] - pd.Timestamp.now()).total_seconds()) < 120  # local time
        assert row["tokens_per_second"] == 41.2 and row["time_to_first_token"] == 0.12
        assert row["total_seconds"] == 1.23
        page = mon._repr_html_()
        assert "41.234567" not in page and "0.123456" not in page and "41.2" in page
        assert ".123" not in str(row["started_at"])
        assert mon.summary().loc["qwen", "mean_tokens_per_second"] == 41.2
    finally:
        clear()
