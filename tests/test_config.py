"""Config normalisation: the SDK drops unknown keys silently; lmsnb must not."""

import typing

import lmstudio
import pytest

from lmsnb.config import (
    EMBEDDING_LOAD_KEYS,
    LLM_LOAD_KEYS,
    PREDICTION_KEYS,
    normalize_load_config,
    normalize_prediction_config,
    parse_ttl,
)
from lmsnb.errors import ConfigError


def test_key_lists_match_the_sdk():
    assert set(PREDICTION_KEYS) == set(typing.get_type_hints(lmstudio.LlmPredictionConfigDict))
    assert set(LLM_LOAD_KEYS) == set(typing.get_type_hints(lmstudio.LlmLoadModelConfigDict))
    assert set(EMBEDDING_LOAD_KEYS) == set(
        typing.get_type_hints(lmstudio.EmbeddingLoadModelConfigDict))


def test_seed_guide_spellings_map_to_real_keys():
    out = normalize_prediction_config({"topP": 0.9, "max_tokens": 50, "temperature": 0.2})
    assert out == {"topPSampling": 0.9, "maxTokens": 50, "temperature": 0.2}
    assert normalize_load_config({"gpuOffload": 0.5}) == {"gpu": {"ratio": 0.5}}
    assert normalize_load_config({"gpuOffload": "max", "context_length": 8192}) == {
        "gpu": {"ratio": "max"}, "contextLength": 8192}


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        normalize_prediction_config({"temprature": 0.5})
    with pytest.raises(ConfigError, match="did you mean 'contextLength'"):
        normalize_load_config({"contextLenght": 4096})


def test_llm_only_load_keys_are_refused_for_embedding_models():
    with pytest.raises(ConfigError, match="embedding load config key 'flashAttention'"):
        normalize_load_config({"flashAttention": True}, kind="embedding")


@pytest.mark.parametrize("value", [0, -2, 1.5, "abc", True])
def test_max_tokens_must_be_positive_int(value):
    with pytest.raises(ConfigError, match="maxTokens"):
        normalize_prediction_config({"maxTokens": value})


@pytest.mark.parametrize("value", [-1, None, "unlimited", False])
def test_max_tokens_unlimited_is_explicit_and_not_sent(value):
    assert normalize_prediction_config({"maxTokens": value}) == {}


def test_values_are_range_checked():
    with pytest.raises(ConfigError, match="temperature must be at least 0"):
        normalize_prediction_config({"temperature": -1})
    with pytest.raises(ConfigError, match="between 0.0 and 1.0"):
        normalize_load_config({"gpu": {"ratio": 1.5}})
    with pytest.raises(ConfigError, match="contextOverflowPolicy"):
        normalize_prediction_config({"contextOverflowPolicy": "nope"})


def test_ttl_accepts_durations_and_rejects_zero():
    assert parse_ttl("10m") == 600
    assert parse_ttl(90) == 90
    assert parse_ttl(None) is None
    with pytest.raises(ConfigError, match="ttl must be at least 1"):
        parse_ttl(0)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_ttl("soon")
