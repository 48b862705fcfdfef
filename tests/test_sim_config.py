"""Giving the simulator your own models: ``--catalogue FILE`` (JSON/TOML) and ``--model`` flags.

The CLI runs as a subprocess and the unmodified SDK checks what it serves; the example catalogue
in docs/simulator.md is the one tested here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmstudio as lms
import pytest

from lmsnb.sim.config import CatalogueError, apply_models, parse_model_flag, read_catalogue

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "simulator.md"


@contextmanager
def cli(*argv: str) -> Iterator[str]:
    """``python -m lmsnb.sim --port 0 ARGV`` running; yields its host."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "lmsnb.sim", "--port", "0", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    try:
        host = proc.stdout.readline().strip()
        assert host, proc.stderr.read()
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lmsnb.sim", *argv], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=30)


def docs_example(lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert blocks, f"no {lang} example in {DOCS}"
    return blocks[0]


def test_the_documented_toml_catalogue_is_what_the_sdk_sees(tmp_path):
    path = tmp_path / "my-models.toml"
    path.write_text(docs_example("toml"), encoding="utf-8")
    config = read_catalogue(path)
    with cli("--catalogue", str(path)) as host, lms.Client(host) as client:
        listed = {m.model_key: m for m in client.list_downloaded_models()}
        assert set(listed) == {m.key for m in config.models}
        loaded = {m.identifier: m for m in client.list_loaded_models()}
        for spec in config.models:
            assert listed[spec.key].path == spec.path
            assert listed[spec.key].type == spec.type
            if spec.type == "llm":
                assert listed[spec.key].info.vision == spec.vision
            if spec.loaded:
                assert loaded[spec.key].get_context_length() == spec.context_length
        llm = next(s for s in config.models if s.type == "llm" and s.loaded)
        # named by path prefix, as applications do
        prefix = llm.path.split("/")[0] + "/" + llm.path.split("/")[1][:8].lower()
        assert client.llm.model(prefix).identifier == llm.key


def test_json_catalogue_takes_lm_studio_listings_as_they_are(tmp_path):
    listing = [
        {"type": "llm", "modelKey": "google/gemma-3-4b", "format": "gguf",
         "displayName": "Gemma 3 4B", "path": "lmstudio-community/gemma-3-4b-it-GGUF/gemma-3-4b-it-Q4_K_M.gguf",
         "sizeBytes": 3_340_000_000, "paramsString": "4B", "architecture": "gemma3",
         "vision": True, "trainedForToolUse": False, "maxContextLength": 131072,
         "selectedVariant": "google/gemma-3-4b@q4_k_m", "variants": ["google/gemma-3-4b@q4_k_m"]},
        {"type": "embedding", "modelKey": "text-embedding-nomic-embed-text-v1.5", "format": "gguf",
         "displayName": "Nomic Embed", "path": "nomic-ai/nomic-embed-text-v1.5-GGUF/x.gguf",
         "sizeBytes": 84_000_000, "maxContextLength": 2048, "loaded": True},
    ]
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(listing), encoding="utf-8")
    with cli("--catalogue", str(path), "--model", "google/gemma-3-4b,loaded=true") as host:
        with lms.Client(host) as client:
            gemma = client.llm.model("google/gemma-3-4b")
            assert gemma.get_info().vision is True and gemma.get_info().display_name == "Gemma 3 4B"
            assert {m.identifier for m in client.list_loaded_models()} == {
                "google/gemma-3-4b", "text-embedding-nomic-embed-text-v1.5"}


def test_model_flags_change_and_add_models():
    with cli("--model", "qwen2.5-7b-instruct,context_length=32768,max_concurrent_predictions=2",
             "--model", "tiny-mlx,format=safetensors,loaded=true,context_length=2048",
             "--max-concurrent-predictions", "8") as host, lms.Client(host) as client:
        qwen = client.llm.model("qwen2.5-7b-instruct")
        assert qwen.get_context_length() == 32768
        assert client.llm.model("tiny-mlx").get_context_length() == 2048
        keys = [m.model_key for m in client.list_downloaded_models()]
        assert keys[-1] == "tiny-mlx" and "llama-3.2-1b-instruct" in keys  # defaults kept


def test_limits_from_flags_file_and_entries(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('max_concurrent_predictions = 3\njit_auto_evict = false\n'
                    '[[models]]\nkey = "a"\nloaded = true\n'
                    '[[models]]\nkey = "b"\nloaded = true\nmax_concurrent_predictions = 1\n'
                    '[[models]]\nkey = "c"\nloaded = true\nformat = "safetensors"\n'
                    '[presets.Short]\n"llm.prediction.maxPredictedTokens" = 1\n', encoding="utf-8")
    from lmsnb.sim.__main__ import build_parser, make_simulator

    sim = make_simulator(build_parser().parse_args(["--catalogue", str(path)]))
    limits = {i.identifier: i.max_concurrent_predictions for i in sim.catalogue.loaded()}
    assert limits == {"a": 3, "b": 1, "c": 3}  # the file's default wins over the MLX default
    assert sim.engine.jit_auto_evict is False and "Short" in sim.engine.presets
    sim = make_simulator(build_parser().parse_args(["--catalogue", str(path),
                                                    "--max-concurrent-predictions", "5"]))
    assert sim.catalogue.get("a").max_concurrent_predictions == 5


@pytest.mark.parametrize(("content", "message"), [
    ('[[models]]\nkey = "a"\ncontext_lenght = 10\n', "unknown field 'context_lenght' (did you mean 'context_length'?)"),
    ('[[models]]\nkey = "a"\nloaded = "yes"\n', "loaded must be true or false"),
    ('[[models]]\nkey = "a"\ntype = "vlm"\n', "type must be 'llm' or 'embedding'"),
    ('[[models]]\nkey = "a"\nformat = "exl2"\n', "format must be one of"),
    ('[[models]]\nkey = "a"\ncontext_length = 9000\nmax_context_length = 4096\n', "more than"),
    ('[[models]]\nkey = "a"\n[[models]]\nkey = "a"\n', "listed twice"),
    ('[[modles]]\nkey = "a"\n', "unknown setting 'modles' (did you mean 'models'?)"),
    ('[[models]]\nkey = "a"\nbehaviour = "smart"\n', "is not one of echo, graphrag, lorem"),
    ("[[models]\n", "not valid TOML"),
])
def test_catalogue_mistakes_get_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=re.escape(message)):
        read_catalogue(path)
    proc = run_cli("--catalogue", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"lmsnb.sim: {proc.stderr.strip()[11:]}"]
    assert message in proc.stderr


@pytest.mark.parametrize(("flag", "message"), [
    ("context_length=5", "start with the model key"),
    ("qwen2.5-7b-instruct,vision", "'vision' is not field=value"),
    ("qwen2.5-7b-instruct,max_concurrent_predictions=0", "must be a positive whole number"),
    ("qwen2.5-7b-instruct,visoin=true", "did you mean 'vision'?"),
])
def test_bad_model_flags(flag, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        apply_models([], [parse_model_flag(flag)])
    proc = run_cli("--model", flag)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_file_and_help():
    proc = run_cli("--catalogue", "/nonexistent/models.toml")
    assert proc.returncode == 2 and "cannot read catalogue" in proc.stderr
    help_text = run_cli("--help").stdout
    assert "--catalogue FILE" in help_text and "[[models]]" in help_text
    assert "--model KEY" in help_text and "--max-concurrent-predictions" in help_text
