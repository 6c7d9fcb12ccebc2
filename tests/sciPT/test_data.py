"""sciPT.data: the step-indexed data module, here without a validation split."""

import json
import re
import warnings

from sciPT.cli import main

SHORT = ["--max-steps", "3", "--batch-size", "4", "--log-every", "1", "--warmup-steps", "1"]
SHORT += ["--window", "32", "--model.max-len", "32", "--model.d-model", "32", "--model.d-ff", "64"]


def test_no_validation_split_runs_no_validation_loop_and_warns_nothing(tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["pretrain", "dna", "--data.val-fraction", "0", "--out", str(out), *SHORT]) == 0
    # Lightning warned "Total length of `list` across ranks is zero" for the empty validation loader
    about_validation = re.compile(r"validation|val_dataloader|Total length")
    assert [str(w.message) for w in caught if about_validation.search(str(w.message))] == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3 and not any(key.startswith("val_") for key in metrics)
    assert (out / "checkpoints/last.ckpt").is_file() and (out / "model/model.safetensors").is_file()
    logged = (out / "logs/metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/loss" in logged and not [name for name in logged if name.startswith("val/")]
