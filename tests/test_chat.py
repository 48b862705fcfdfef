"""Chat API against the simulator through the real SDK: one-shot, sessions, events, stop, tools."""

from __future__ import annotations

import threading

import pytest

import lmsnb
from lmsnb import chat
from lmsnb.events import Done, FirstToken, Fragment, PromptProgress, ToolCall
from lmsnb.monitor import clear, monitor


@pytest.fixture
def conn(sim):
    clear()
    c = lmsnb.connect(sim.host)
    yield c
    c.close()


def test_ask_one_shot_with_stats(conn) -> None:
    done = chat.ask("Hello there", config={"temperature": 0.1, "maxTokens": 100})
    assert done.text == "You said: Hello there"
    s = done.stats
    assert s.model and s.predicted_tokens > 0 and s.total_seconds > 0
    assert s.stop_reason == "eosFound" and s.time_to_first_token is not None
    assert s.tokens_per_second is not None


def test_stream_events_in_order(conn) -> None:
    events = list(chat.stream("abc"))
    kinds = [type(e) for e in events]
    assert kinds[-1] is Done and Fragment in kinds and FirstToken in kinds
    assert kinds.index(FirstToken) < kinds.index(Fragment)
    if PromptProgress in kinds:
        assert kinds.index(PromptProgress) < kinds.index(Fragment)
    assert "".join(e.text for e in events if isinstance(e, Fragment)) == events[-1].text


def test_session_history_edit_save_load(conn, tmp_path) -> None:
    s = chat.Session("Be brief.", name="t")
    assert s.send("one").text == "You said: one"
    s.send("two")
    assert [m["role"] for m in s.history] == ["system", "user", "assistant", "user", "assistant"]
    s.history[2]["content"] = "edited"  # history is plain, editable data
    path = s.save(tmp_path / "s.json")
    again = chat.Session.load(path)
    assert again.history == s.history and again.system == "Be brief."
    assert again.undo()[0]["content"] == "two" and len(again.history) == 3
    again.reset()
    assert again.history == [{"role": "system", "content": "Be brief."}]
    assert list(s.messages()["role"])[:2] == ["system", "user"]


def test_config_per_session_and_per_call(conn) -> None:
    s = chat.Session(config={"temperature": 0.3, "topP": 0.9})
    s.send("x", config={"maxTokens": 20})
    with pytest.raises(lmsnb.ConfigError, match="did you mean"):
        s.send("x", config={"temprature": 0.3})
    assert [m["content"] for m in s.history if m["role"] == "user"] == ["x"]


def test_unknown_model_is_one_readable_error(conn) -> None:
    with pytest.raises(lmsnb.LmsnbError) as info:
        chat.ask("x", model="no-such-model")
    assert "\n" not in str(info.value)


def test_a_prompt_longer_than_the_loaded_context_says_how_to_fix_it(conn, sim) -> None:
    sim.load("llama-3.2-1b-instruct", "small", context_length=256)
    s = chat.Session(name="long", model="small")
    with pytest.raises(lmsnb.PredictionError) as info:
        s.send("word " * 400)
    assert str(info.value).startswith("The prompt does not fit the context 'small' is loaded "
                                      "with (256 tokens)")
    assert "%lms_models load small --context" in info.value.hint
    assert s.history == []  # kept, the refused prompt would make every later turn fail too


def test_cancel_keeps_partial_answer_marked_stopped(conn, sim) -> None:
    from lmsnb.sim import Timing

    sim.set_behaviour("lorem")
    sim.timing = Timing(tokens_per_second=400)
    s = chat.Session(name="stop")
    st = s.stream("long please")
    seen = []
    for event in st:
        if isinstance(event, Fragment):
            seen.append(event.text)
            if len(seen) == 20:
                threading.Thread(target=st.cancel).start()  # from another thread, like Stop
    done = st.done
    assert done is not None and done.stopped and done.stats.stop_reason == "userStopped"
    assert 20 <= done.stats.predicted_tokens < 2000
    assert s.history[-1]["stopped"] is True and s.history[-1]["content"] == done.text


def test_monitor_records_every_prediction(conn) -> None:
    chat.ask("a")
    chat.Session(name="m").send("b")
    mon = monitor()
    assert len(mon) == 2
    assert set(mon.df.columns) >= {"model", "prompt_tokens", "predicted_tokens",
                                   "tokens_per_second", "time_to_first_token", "total_seconds",
                                   "stop_reason"}
    assert mon.summary()["predictions"].sum() == 2
    assert lmsnb.monitor().df.shape[0] == 2  # the package-level callable
    assert "lmsnb monitor" in mon._repr_html_()
    assert mon.plot() is not None  # a figure, or a Styler without matplotlib


def test_act_shows_tool_calls(conn) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    events = list(chat.act("What is 2 + 3?", [add]))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls and calls[0].name == "add" and calls[0].result == 5
    assert "5" in events[-1].text


def test_chat_panel_and_model_manager(conn, monkeypatch) -> None:
    from lmsnb.widgets import progress, stream
    from lmsnb.widgets.chat_panel import ChatPanel
    from lmsnb.widgets.model_manager import ModelManager

    monkeypatch.setattr(stream, "in_kernel", lambda: True)
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    panel = ChatPanel(session="panel")
    assert "qwen2.5-7b-instruct" in panel.model.options
    panel.send("hi panel")
    panel.view.wait(timeout=10)
    stream.wait_pending()
    assert "You said: hi panel" in chat.get_session("panel").history[-1]["content"]
    mm = ModelManager()
    mm.picker.value = "llama-3.2-1b-instruct"
    mm._load()
    assert mm.progress.bar.value == 1.0 and mm.progress.bar.bar_style == "success"
    mm.refresh()
    assert "llama-3.2-1b-instruct" in mm.table.value


def test_a_dropped_connection_keeps_the_question_and_the_partial_answer(sim):
    """The server dies mid-answer: what the user saw stays in the session; the next turn works."""
    import lmsnb
    from lmsnb.errors import ConnectionFailed

    sim.set_behaviour("lorem")
    lmsnb.connect(sim.host)
    session = chat.Session("be brief")
    sim.inject("drop", "predict", after=5)
    with pytest.raises(ConnectionFailed, match="partial answer is kept"):
        session.send("tell me a story")
    roles = [m["role"] for m in session.history]
    assert roles == ["system", "user", "assistant"]
    assert session.history[-1]["stopped"] and session.history[-1]["content"].startswith("Lorem")
    sim.clear_faults()
    assert session.send("go on").text  # reconnects by itself
    assert len(session.history) == 5
