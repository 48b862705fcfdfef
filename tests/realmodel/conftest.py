"""The ``realmodel`` tier: a real small model served through ``lmsnb.sim`` (see smollm.py).

Every test here is marked ``realmodel`` and skipped, with the reason, when the tier's packages
are not installed (``tests/realmodel/install.sh``). ``pytest -m "not realmodel"`` leaves it out.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):  # smollm.py, and tests/shared_data.py
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from smollm import missing, serve  # noqa: E402

WHY = missing()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.realmodel)
            if WHY:
                item.add_marker(pytest.mark.skip(reason=WHY))


@pytest.fixture(scope="session")
def real_sim() -> Iterator[object]:
    """The simulator serving SmolLM2-135M (one prediction at a time, 8K) and e5-small."""
    sim = serve()
    yield sim
    sim.stop()


@pytest.fixture
def real(real_sim: object) -> object:
    """``real_sim``, with lmsnb connected to it (other tests point lmsnb elsewhere)."""
    import lmsnb.client

    lmsnb.client.connect(real_sim.host)  # type: ignore[attr-defined]
    return real_sim
