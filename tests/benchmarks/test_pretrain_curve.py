"""benchmarks/pretrain_curve.py's RESULTS block."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_a_final_loss_above_the_order0_entropy_is_said_above_by_a_positive_amount(load_benchmark):
    curve = load_benchmark("pretrain_curve")
    record = json.loads((RESULTS / "pretrain_curve.json").read_text())
    record["metrics"].update(val_loss=1.7166, order0_entropy_nats=1.3862)
    text = curve.render({"pretrain_curve": record})
    assert "1.7166 nats, 0.3304 nats above** the order-0 entropy" in text
    assert "target (below the order-0 entropy) **missed**" in text
