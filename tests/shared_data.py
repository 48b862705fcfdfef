"""Where the shared test data lives: ``../shared/fixtures`` beside the checkout (CI lays it there).

- ``CAROL``: a real Microsoft GraphRAG 3.x index of *A Christmas Carol* (parquet, no embeddings);
- ``DULCE``: GraphRAG's own integration-test novella, a realistic corpus to index.
"""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
CAROL = FIXTURES / "graphrag-christmas-carol"
DULCE = FIXTURES / "dulce" / "dulce.txt"

#: ``pytestmark = needs_fixtures`` skips a module when the shared data is not beside the repo.
needs_fixtures = pytest.mark.skipif(not (CAROL.exists() and DULCE.exists()),
                                    reason="../shared/fixtures is not beside the repo")
