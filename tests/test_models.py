"""Model tables and actions against the simulator."""

from __future__ import annotations

import pandas as pd
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
    by_key = down.set_index("key")
    assert down["loaded"].dtype == bool  # a yes/no, not 1/0
    assert by_key.loc["qwen2.5-7b-instruct", "loaded"]
    assert not by_key.loc["llama-3.2-1b-instruct", "loaded"]
    assert by_key.loc["qwen2.5-7b-instruct", "instances"] == 1
    assert (down["size_gb"] > 0).all()
    loaded = models.loaded()
    assert "qwen2.5-7b-instruct" in set(loaded["key"]) and (loaded["context_length"] > 0).all()
    assert list(models.loaded("embedding")["type"].unique()) == ["embedding"]


def test_models_table_fits_the_page_and_reads_like_words(conn) -> None:
    models.load("llama-3.2-1b-instruct", context_length=2048, ttl="10m", progress=False)
    models.load("llama-3.2-1b-instruct", identifier="llama-b", context_length=8192,
                progress=False)
    table = models.table()
    assert table.index.name == "model" and list(table.columns) == models.TABLE_COLUMNS
    # the browser test measures it on the page; here: a row reads in well under 120 characters
    assert max(len(" ".join(map(str, row))) for row in table.reset_index().values) < 110
    qwen = table.loc["qwen2.5-7b-instruct"]
    assert qwen["loaded"] == "✓" and qwen["context"] == "4,096" and qwen["size"] == "4.7 GB"
    assert qwen["instances"] == ""  # named after its model: the key is not repeated
    llama = table.loc["llama-3.2-1b-instruct"]
    assert llama["loaded"] == "✓ ×2" and llama["context"] == "2,048, 8,192"
    assert llama["instances"] == "llama-3.2-1b-instruct, llama-b"
    assert llama["ttl"] == "10 min, –"
    assert table.loc["text-embedding-bge-small-en-v1.5", "size"] == "25 MB"  # not "0.0 GB"
    assert table.loc["text-embedding-bge-small-en-v1.5", "loaded"] == ""
    assert list(table["loaded"]).index("") > 2  # loaded models first


def test_ttl_is_visible_in_loaded_and_info(conn, capsys) -> None:
    models.load("llama-3.2-1b-instruct", ttl="10m", progress=False)
    row = models.loaded().set_index("identifier").loc["llama-3.2-1b-instruct"]
    assert row["ttl"] == 600
    assert models.info("llama-3.2-1b-instruct")["ttl"] == 600
    assert models.set_ttl("llama-3.2-1b-instruct", "1h")["ttl"] == 3600
    assert models.info("llama-3.2-1b-instruct")["ttl"] == 3600
    assert pd.isna(models.loaded().set_index("identifier").loc["qwen2.5-7b-instruct", "ttl"])
    models.unload("llama-3.2-1b-instruct")
    models.load("llama-3.2-1b-instruct", progress=False)  # a fresh instance has no TTL
    assert models.info("llama-3.2-1b-instruct")["ttl"] is None


def test_load_says_what_was_loaded(conn, capsys) -> None:
    info = models.load("llama-3.2-1b-instruct", context_length=2048, ttl=600)
    err = capsys.readouterr().err  # outside a kernel the bar is a few lines on stderr
    assert err.strip().splitlines()[-1] == \
        "loaded llama-3.2-1b-instruct (context 2,048, TTL 10 min)"
    assert models.loaded_line("qwen", {"identifier": "qwen:2", "context_length": 8192}) == \
        "loaded qwen as qwen:2 (context 8,192)"
    models.load("llama-3.2-1b-instruct")  # nothing to load: said, not silent
    assert "already loaded: llama-3.2-1b-instruct (context 2,048" in capsys.readouterr().out
    assert info["identifier"] == "llama-3.2-1b-instruct"


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


def test_a_model_someone_loads_is_not_evicted_by_a_just_in_time_load(conn, sim) -> None:
    # LM Studio's auto-evict (on by default) unloads the previous just-in-time model when a
    # request loads another: a model loaded with models.load (or %lms_models load) must stay.
    models.load("llama-3.2-1b-instruct", progress=False)
    lmsnb.embed(["hello"], model="text-embedding-bge-small-en-v1.5")  # loaded just in time
    loaded = set(models.loaded()["key"])
    assert {"llama-3.2-1b-instruct", "text-embedding-bge-small-en-v1.5"} <= loaded
    assert not next(i for i in sim.catalogue.loaded()
                    if i.identifier == "llama-3.2-1b-instruct").jit
