"""Hypothesis settings for the property suite (a pytest plugin: ``tests/conftest.py`` loads it).

Profiles, chosen by ``LMSNB_HYPOTHESIS`` (else ``ci``: a plain ``pytest``, as ``run.sh test``
and CI run it, is never flaky):

- ``ci``: derandomised (the same examples every run), a fixed number of examples, no example
  database;
- ``dev``: what a person changing lmsnb runs to look for new bugs: random examples (new ones each run find new bugs), the same number, and a
  database of failing examples, so a failure replays first next time;
- ``deep``: what a bug hunt uses, 400 examples a test (minutes a test; it found most of
  what ``test_properties_regressions.py`` keeps).

Hypothesis keeps its files (that database, caches) in ``$XDG_CACHE_HOME/lmsnb-hypothesis``
(else the temp folder), never in the checkout.

No deadline: the machine is shared and a slow example is not a failure. Data generation is
allowed to be slow (DataFrames cost milliseconds each).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

EXAMPLES = 30  # the whole property suite in about a minute of CPU (shared 2-core machine)
_COMMON = {"deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture]}
_HOME = Path(os.environ.get("XDG_CACHE_HOME") or tempfile.gettempdir()) / "lmsnb-hypothesis"
set_hypothesis_home_dir(_HOME)
_DB = _HOME / "examples"

settings.register_profile("ci", max_examples=EXAMPLES, derandomize=True, database=None,
                          **_COMMON)
settings.register_profile("dev", max_examples=EXAMPLES,
                          database=DirectoryBasedExampleDatabase(str(_DB)), **_COMMON)
settings.register_profile("deep", max_examples=400,
                          database=DirectoryBasedExampleDatabase(str(_DB)), **_COMMON)
settings.load_profile(os.environ.get("LMSNB_HYPOTHESIS") or "ci")
