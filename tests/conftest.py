"""Shared pytest fixtures: an in-process LM Studio simulator and SDK clients talking to it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Make the checkout importable under a bare `pytest` too (the package need not be installed).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from lmsnb.sim import Simulator, Timing  # noqa: E402

pytest_plugins = ["hypothesis_profiles"]  # the property suite's settings (CI: derandomised)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh simulator per test (default catalogue, echo behaviour, instant timing)."""
    with Simulator(port=0, timing=Timing()) as s:
        yield s


@pytest.fixture
def sim_host(sim: Simulator) -> str:
    """``"127.0.0.1:PORT"`` of the per-test simulator (what ``lmstudio.Client`` takes)."""
    return sim.host


@pytest.fixture
def lms_client(sim: Simulator) -> Iterator[object]:
    """A real ``lmstudio.Client`` connected to the per-test simulator."""
    import lmstudio

    with lmstudio.Client(sim.host) as client:
        yield client


@pytest.fixture
def sync_timeout() -> Iterator[None]:
    """Restore the SDK's global sync timeout after a test changes it."""
    import lmstudio

    before = lmstudio.get_sync_api_timeout()
    yield
    lmstudio.set_sync_api_timeout(before)
