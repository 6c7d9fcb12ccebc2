import pytest

from sciPT.nn import TransformerConfig
from sciPT.tasks.promoter import PromoterConfig


def _fast_cfg(**kw) -> PromoterConfig:
    # the CNN stack fits a CNN per ensemble member: off unless a test is about it
    kw.setdefault("cnn_stack", False)
    cfg = PromoterConfig(**kw)
    cfg.model = TransformerConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64)
    cfg.max_epochs, cfg.patience = 20, 20
    cfg.min_steps_per_epoch = 0  # toy sets: epochs of their own size keep the tests fast
    cfg.train.batch_size = 16
    cfg.train.lr = 3e-3
    return cfg


@pytest.fixture
def fast_cfg():
    """A promoter configuration small enough for toy sets: ``fast_cfg(**PromoterConfig fields)``."""
    return _fast_cfg
