import dataclasses
import json

import numpy as np
import pytest
import torch

from sciPT.domains.dna.data import read_labelled
from sciPT.tasks.promoter_evaluation import cv_folds
from sciPT.tasks.promoter_probe import frozen_embeddings, probe_lines
from sciPT.tasks.promoter_start import build_backbone, load_start


def _pretrained(cfg, seed: int):
    """A start with weights: an encoder of the run's shape initialised with ``seed``."""
    start = load_start("none", cfg)
    torch.manual_seed(seed)
    state = build_backbone(start.model_cfg).state_dict()
    return dataclasses.replace(start, name="pre-trained", backbone_state=state, pretrained_on=[])


def test_a_start_without_weights_gets_no_probe(planted, fast_cfg):
    """Scratch's probe would be the random encoder's own: no section, no metric."""
    path, _ = planted
    cfg = fast_cfg(folds=3)
    data = read_labelled(str(path))
    metrics: dict = {}
    assert probe_lines(load_start("none", cfg), cfg, data, 30, cv_folds(cfg, data), metrics) == []
    assert metrics == {}


def test_an_encoder_identical_to_the_random_one_differs_by_exactly_nothing(planted, fast_cfg):
    """Weights initialised with the run's seed are the random encoder's weights: both probes read
    the same embeddings on the same folds, so every per-fold difference is 0 and the verdict is
    tied. An encoder from another seed differs (its AUROCs are not all equal to the random one's)."""
    path, _ = planted
    cfg = fast_cfg(folds=3)
    data = read_labelled(str(path))
    folds = cv_folds(cfg, data)
    metrics: dict = {}
    lines = probe_lines(_pretrained(cfg, cfg.train.seed), cfg, data, 30, folds, metrics)
    assert metrics["probe_pre_trained_auroc_mean"] == metrics["probe_random_init_auroc_mean"]
    assert (metrics["probe_auroc_diff_mean"], metrics["probe_auroc_diff_se"]) == (0.0, 0.0)
    assert metrics["probe_verdict"] == 0
    assert lines[1] == "### Linear probe of the frozen encoder"
    assert (
        "per-fold difference +0.000 ± 0.000: the pre-trained encoder is **tied with** the random one"
        in lines[3]
    )
    other: dict = {}
    probe_lines(_pretrained(cfg, cfg.train.seed + 7), cfg, data, 30, folds, other)
    assert other["probe_random_init_auroc_mean"] == metrics["probe_random_init_auroc_mean"]
    assert other["probe_pre_trained_auroc_mean"] != metrics["probe_pre_trained_auroc_mean"]


def test_frozen_embeddings_crop_as_the_classifiers_read_and_use_the_start_s_weights(fast_cfg):
    """A 40-bp sequence read at 30 bp is embedded as its central 30 bases (5-34), as the
    classifiers crop it; the start's weights give
    its encoder's mean-pooled embedding, and weights=False the seed's fresh encoder's."""
    cfg = fast_cfg()
    start = _pretrained(cfg, 5)
    rng = np.random.default_rng(0)
    long, short = rng.integers(0, 4, 40).astype(np.uint8), rng.integers(0, 4, 25).astype(np.uint8)
    out = frozen_embeddings(start, True, [long, short], 30, seed=11)
    model = build_backbone(start.model_cfg)
    model.load_state_dict(start.backbone_state)
    model.eval()
    for row, codes in zip(out, (long[5:35], short)):
        batch = start.tokenizer.batch([codes])
        with torch.no_grad():
            expected = model.embed(batch["input_ids"], batch["attention_mask"])[0].numpy()
        assert row == pytest.approx(expected, abs=1e-5)
    torch.manual_seed(11)
    fresh = build_backbone(start.model_cfg).eval()
    batch = start.tokenizer.batch([short])
    with torch.no_grad():
        expected = fresh.embed(batch["input_ids"], batch["attention_mask"])[0].numpy()
    assert frozen_embeddings(start, False, [short], 30, seed=11)[0] == pytest.approx(expected, abs=1e-5)
    assert frozen_embeddings(start, True, [], 30, seed=11).shape == (0, cfg.model.d_model)


def test_the_run_reports_the_probe_for_a_pretrained_start(planted, tmp_path, monkeypatch, fast_cfg):
    """With --folds and a start that has weights, the report holds the probe's section after the
    comparisons and metrics.json its numbers; the fine-tunes are stand-ins (the probe does not use
    them)."""
    import sciPT.tasks.promoter_evaluation as evaluation
    import sciPT.tasks.promoter_train as promoter

    path, _ = planted

    class Constant:
        fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None
        validation = (np.array([1, 0]), np.array([0.9, 0.1]))

        def predict(self, codes):
            return np.full(len(codes), 0.5)

    monkeypatch.setattr(promoter, "load_start", lambda init, cfg: _pretrained(cfg, 3))
    monkeypatch.setattr(promoter, "train_classifier", lambda *a, **k: Constant())
    monkeypatch.setattr(evaluation, "train_classifier", lambda *a, **k: Constant())
    monkeypatch.setattr(promoter, "export_classifier", lambda *a: None)
    cfg = fast_cfg(folds=3, baselines=False)
    cfg.inputs.train = str(path)
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "### Linear probe of the frozen encoder" in report
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    pre, rnd = metrics["probe_pre_trained_auroc_mean"], metrics["probe_random_init_auroc_mean"]
    assert f"pre-trained AUROC {pre:.3f} ± " in report and f"random initialisation {rnd:.3f} ± " in report
    # the planted TATAAT shifts 4 of 28 3-mers: a random encoder's mean-pooled embedding shows it
    assert rnd > 0.6


def test_an_hf_start_is_probed_with_its_own_encoder_and_tokenizer(planted, tmp_path, fast_cfg):
    """``--init hf:DIR``: the probe embeds with the folder's ESM encoder and its tokenizer, as the
    fine-tunes read them: the embeddings are the encoder's own mean-pooled states."""
    pytest.importorskip("transformers")
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.hf_load import load_hf
    from sciPT.testing import tiny_esm_folder

    path, _ = planted
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    cfg = fast_cfg(folds=3)
    start = load_start(f"hf:{folder}", cfg)
    data = read_labelled(str(path))
    x = frozen_embeddings(start, True, data.codes[:3], 30, seed=0)
    hf = load_hf(folder, DNA_SPEC)
    batch = start.tokenizer.batch(data.codes[:3], start.tokenizer.n_tokens(30))
    with torch.no_grad():
        expected = hf.model.eval().embed(batch["input_ids"], batch["attention_mask"]).numpy()
    assert x == pytest.approx(expected, abs=1e-5)
    metrics: dict = {}
    lines = probe_lines(start, cfg, data, 30, cv_folds(cfg, data), metrics)
    assert lines[1] == "### Linear probe of the frozen encoder" and "probe_verdict" in metrics
