"""Test-wide settings: one thread per process (2-core CI machines), a private sequence cache."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _sequence_cache(tmp_path_factory):
    # Tests must not depend on (or pollute) the user's ~/.cache/scipt.
    os.environ["SCIPT_CACHE"] = str(tmp_path_factory.mktemp("scipt-cache"))
    yield


@pytest.fixture
def repo() -> Path:
    return REPO
