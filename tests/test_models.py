"""Model tables and actions against the simulator."""

from __future__ import annotations

import pytest

import lmsnb
from lmsnb import models


@pytest.fixture
def conn(sim):
    c = lmsnb.connect(sim.host)
    yield c
    c.close()


def test_tables(conn) -> None:
    down = models.downloaded()
    assert {"qwen2.5-7b-instruct", "llama-3.2-1b-instruct",
            "text-embedding-nomic-embed-text-v1.5"} <= set(down["key"])
    assert down.set_index("key").loc["qwen2.5-7b-instruct", "loaded"] == 1
    assert down.set_index("key").loc["llama-3.2-1b-instruct", "loaded"] == 0
    assert (down["size_gb"] > 0).all()
    loaded = models.loaded()
    assert "qwen2.5-7b-instruct" in set(loaded["key"]) and (loaded["context_length"] > 0).all()
    assert list(models.loaded("embedding")["type"].unique()) == ["embedding"]
    table = models.table()
    assert table.iloc[0]["loaded"] >= 1 and "loaded_as" in table.columns


def test_load_with_progress_new_instance_ttl_unload(conn) -> None:
    seen: list[float] = []
    info = models.load("llama-3.2-1b-instruct", context_length=2048, gpu=0.5, ttl=600,
                       progress=False, on_progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert info["identifier"] and info["context_length"] == 2048
    assert models.context_length(info["identifier"]) == 2048
    second = models.load("llama-3.2-1b-instruct", new_instance=True, progress=False)
    assert second["identifier"] != info["identifier"]
    models.set_ttl(info["identifier"], 120)
    models.unload(second["identifier"])
    models.unload(info["identifier"])
    assert "llama-3.2-1b-instruct" not in set(models.loaded()["key"])


def test_tokens(conn) -> None:
    n = models.count_tokens("hello world, this is a test")
    assert n > 0 and len(models.tokenize("hello world, this is a test")) == n


def test_unknown_model_did_you_mean(conn) -> None:
    with pytest.raises(lmsnb.ModelNotFound, match="did you mean"):
        models.load("qwen2.5-7b-instruc", progress=False)


def test_ttl_of_a_model_that_is_not_loaded_is_refused(conn) -> None:
    from lmsnb.errors import ConfigError, ModelNotFound

    with pytest.raises(ModelNotFound, match="is not loaded"):
        models.set_ttl("llama-3.2-1b-instruct", 60)
    assert "llama-3.2-1b-instruct" not in set(models.loaded()["key"])  # not loaded as a side effect
    with pytest.raises(ConfigError, match="not a duration"):
        models.set_ttl("qwen2.5-7b-instruct", "soon")
    with pytest.raises(ConfigError, match="finite"):
        models.load("llama-3.2-1b-instruct", gpu=float("nan"))


def test_models_magic_ttl_and_unload_messages(conn, capsys) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from lmsnb import magics

    shell = InteractiveShell.instance()
    magics.register(shell)
    try:
        shell.run_line_magic("lms_models", "ttl qwen2.5-7b-instruct 10m")
        assert "TTL set to 600 s" in capsys.readouterr().out
        shell.run_line_magic("lms_models", "unload qwen2.5-7b-instruct --all")
        err = capsys.readouterr().err
        assert "not both" in err and err.count("\n") == 1
        assert "qwen2.5-7b-instruct" in set(models.loaded()["key"])  # nothing was unloaded
    finally:
        shell.events.unregister("pre_run_cell", magics._before_cell)
