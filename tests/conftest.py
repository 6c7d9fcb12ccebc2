"""Test-wide settings: one thread per process (2-core CI machines), a private sequence cache."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# argparse wraps help at the terminal's width, and breaks words longer than its column: help-text
# tests read one width whatever the terminal (80, what a process without one gets)
os.environ["COLUMNS"] = "80"

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
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


@pytest.fixture
def recording_bar():
    """A stand-in for tqdm (patch it in with monkeypatch) that keeps each bar it makes, with its
    ``total`` and the ``n`` its updates added up to, in ``.made``."""

    class RecordingBar:
        made: list = []

        def __init__(self, total, **kwargs):
            self.total, self.n = total, 0
            RecordingBar.made.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    return RecordingBar


@pytest.fixture
def planted(tmp_path):
    """60 random 30-bp sequences; the 30 positives carry TATAAT at position 12 (an easy signal)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        s = list(rng.choice(list("ACGT"), 30))
        label = i % 2
        if label:
            s[12:18] = list("TATAAT")
        rows.append((f"s{i}", "".join(s), label))
    path = tmp_path / "planted.csv"
    path.write_text("name,sequence,label\n" + "".join(f"{n},{s},{y}\n" for n, s, y in rows))
    return path, rows
