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
