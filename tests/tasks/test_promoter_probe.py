import dataclasses
import json

import numpy as np
import pytest
import torch

from sciPT.domains.dna.data import read_labelled
from sciPT.tasks.promoter_evaluation import cv_folds, held_out_keys
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
    assert (
        metrics["probe_positional_pre_trained_auroc_mean"]
        == metrics["probe_positional_random_init_auroc_mean"]
    )
    assert (metrics["probe_positional_auroc_diff_mean"], metrics["probe_positional_verdict"]) == (0.0, 0)
    assert lines[1] == "### Linear probe of the frozen encoder"
    for row, name in zip(lines[-2:], ("mean-pooled", "position-aware"), strict=True):
        assert row.startswith(f"| {name} | ") and row.endswith(" | +0.000 ± 0.000 | tied with |")
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
    for name, prefix in (("mean-pooled", "probe"), ("position-aware", "probe_positional")):
        pre, rnd = metrics[f"{prefix}_pre_trained_auroc_mean"], metrics[f"{prefix}_random_init_auroc_mean"]
        assert f"| {name} | {pre:.3f} ± " in report and f" | {rnd:.3f} ± " in report
        # the planted TATAAT shifts 4 of 28 3-mers: a random encoder's embeddings show it
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


@pytest.mark.parametrize("pre_ahead", [True, False])
def test_the_probe_section_and_metrics_hold_both_probes_and_their_paired_difference(
    planted, fast_cfg, monkeypatch, pre_ahead
):
    """Stand-in embeddings and probes with chosen per-fold AUROCs: the pre-trained encoder's
    0.9, 0.7, 0.8 (mean 0.8, SE 0.1/sqrt 3 = 0.0577) and the random one's 0.6, 0.55, 0.5 (mean
    0.55, SE 0.05/sqrt 3 = 0.0289). The differences 0.3, 0.15, 0.3 have mean 0.25 and SE
    sqrt(0.0075/3) = 0.05: 5 SE, so ahead (and, the roles swapped, behind, difference -0.25).
    Both encoders are embedded at the run's read length and seeded with train.seed, and each probe
    reads data's labels on the given folds with that seed and the run's groups."""
    import sciPT.tasks.promoter_probe as promoter_probe
    from sciPT.diagnostics.probes import ProbeReport

    path, _ = planted
    cfg = fast_cfg(folds=3)
    cfg.train.seed = 4
    data = read_labelled(str(path))
    folds = cv_folds(cfg, data)
    start = _pretrained(cfg, 3)
    good, weak = [0.9, 0.7, 0.8], [0.6, 0.55, 0.5]
    embedded, probed = [], []

    # the position-aware read-out: 0.95, 0.9, 0.85 (mean 0.9, SE 0.0289) against 0.65, 0.7, 0.6
    # (mean 0.65, SE 0.0289); differences 0.3, 0.2, 0.25: mean 0.25, SE 0.05/sqrt 3 = 0.0289
    good_positional, weak_positional = [0.95, 0.9, 0.85], [0.65, 0.7, 0.6]

    def embed(start_, weights, codes, length, seed, bins=None):
        embedded.append((start_, weights, codes, length, seed, bins))
        return np.full((len(codes), 1), (1.0 if weights else 0.0) + (10.0 if bins else 0.0))

    def probe(embeddings, labels, folds_, seed=0, groups=None):
        probed.append((labels, folds_, seed, groups))
        pre, positional = embeddings[0, 0] % 10 == 1, embeddings[0, 0] >= 10
        if positional:
            return ProbeReport(auroc=good_positional if pre == pre_ahead else weak_positional)
        return ProbeReport(auroc=good if pre == pre_ahead else weak)

    monkeypatch.setattr(promoter_probe, "frozen_embeddings", embed)
    monkeypatch.setattr(promoter_probe, "linear_probe", probe)
    metrics: dict = {}
    lines = probe_lines(start, cfg, data, 27, folds, metrics)
    assert [(w, n, b) for _, w, _, n, _, b in embedded] == [
        (True, 27, None),
        (False, 27, None),
        (True, 27, 8),
        (False, 27, 8),
    ]
    assert all(s is start and c is data.codes and seed == 4 for s, _, c, _, seed, _ in embedded)
    assert all(y is data.labels and f is folds and seed == 4 for y, f, seed, _ in probed)
    # the inner choice of C keeps the run's groups of copies and near copies whole, as its folds do
    for *_, groups in probed:
        np.testing.assert_array_equal(groups, held_out_keys(cfg, data))
    sign = 1 if pre_ahead else -1
    pre, rnd = (0.8, 0.0577) if pre_ahead else (0.55, 0.0289), (0.55, 0.0289) if pre_ahead else (0.8, 0.0577)
    assert metrics["probe_pre_trained_auroc_mean"] == pytest.approx(pre[0])
    assert metrics["probe_pre_trained_auroc_se"] == pytest.approx(pre[1], abs=1e-4)
    assert metrics["probe_random_init_auroc_mean"] == pytest.approx(rnd[0])
    assert metrics["probe_random_init_auroc_se"] == pytest.approx(rnd[1], abs=1e-4)
    assert metrics["probe_auroc_diff_mean"] == pytest.approx(sign * 0.25)
    assert metrics["probe_auroc_diff_se"] == pytest.approx(0.05)
    assert metrics["probe_verdict"] == float(sign)
    pre_p, rnd_p = ((0.9, 0.0289), (0.65, 0.0289)) if pre_ahead else ((0.65, 0.0289), (0.9, 0.0289))
    assert metrics["probe_positional_pre_trained_auroc_mean"] == pytest.approx(pre_p[0])
    assert metrics["probe_positional_random_init_auroc_mean"] == pytest.approx(rnd_p[0])
    assert metrics["probe_positional_random_init_auroc_se"] == pytest.approx(rnd_p[1], abs=1e-4)
    assert metrics["probe_positional_auroc_diff_mean"] == pytest.approx(sign * 0.25)
    assert metrics["probe_positional_auroc_diff_se"] == pytest.approx(0.0289, abs=1e-4)
    assert metrics["probe_positional_verdict"] == float(sign)
    words = "ahead of" if pre_ahead else "behind"
    assert lines[-2:] == [
        f"| mean-pooled | {pre[0]:.3f} ± {pre[1]:.3f} | {rnd[0]:.3f} ± {rnd[1]:.3f} | {sign * 0.25:+.3f} ± 0.050 | {words} |",
        f"| position-aware | {pre_p[0]:.3f} ± 0.029 | {rnd_p[0]:.3f} ± 0.029 | {sign * 0.25:+.3f} ± 0.029 | {words} |",
    ]


def test_frozen_embeddings_in_batches_are_those_of_each_sequence_alone_in_order(fast_cfg, monkeypatch):
    """Sequences are embedded BATCH at a time: with BATCH 2, five sequences of different lengths
    (three batches, the last of one) give the rows each gives embedded on its own, in order."""
    import sciPT.tasks.promoter_probe as promoter_probe

    cfg = fast_cfg()
    start = _pretrained(cfg, 5)
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, n).astype(np.uint8) for n in (30, 22, 36, 30, 18)]
    alone = [frozen_embeddings(start, True, [c], 30, seed=0)[0] for c in codes]
    monkeypatch.setattr(promoter_probe, "BATCH", 2)
    out = frozen_embeddings(start, True, codes, 30, seed=0)
    assert out.shape == (5, cfg.model.d_model)
    for row, expected in zip(out, alone):
        assert row == pytest.approx(expected, abs=1e-5)


def test_frozen_embeddings_are_read_with_dropout_off(fast_cfg):
    """An encoder configured with dropout embeds in evaluation mode: the same embeddings call after
    call, those of the encoder in eval mode."""
    cfg = fast_cfg()
    start = _pretrained(cfg, 5)
    start = dataclasses.replace(start, model_cfg=dataclasses.replace(start.model_cfg, dropout=0.5))
    codes = [np.random.default_rng(2).integers(0, 4, 30).astype(np.uint8)]
    first = frozen_embeddings(start, True, codes, 30, seed=0)
    assert frozen_embeddings(start, True, codes, 30, seed=0) == pytest.approx(first, abs=0)
    model = build_backbone(start.model_cfg)
    model.load_state_dict(start.backbone_state)
    batch = start.tokenizer.batch(codes)
    with torch.no_grad():
        expected = model.eval().embed(batch["input_ids"], batch["attention_mask"]).numpy()
    assert first == pytest.approx(expected, abs=1e-5)


def test_binned_means_average_each_stretch_of_real_tokens_by_hand():
    """Row 1: 4 real tokens of 5, 2 stretches: positions 0-1 (floor(t * 2 / 4) = 0) and 2-3; the
    padding at 4 counts nowhere. Row 2: 1 real token, 3 stretches: it is stretch 0, the other two
    hold no token and read zeros. Stretches follow each other along the row."""
    from sciPT.tasks.promoter_probe import binned_means

    hidden = torch.tensor(
        [
            [[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [9.0, 90.0], [100.0, 100.0]],
            [[7.0, 70.0], [100.0, 100.0], [100.0, 100.0], [100.0, 100.0], [100.0, 100.0]],
        ]
    )
    real = torch.tensor([[True, True, True, True, False], [True, False, False, False, False]])
    assert binned_means(hidden[:1], real[:1], 2).tolist() == [[2.0, 20.0, 7.0, 70.0]]
    assert binned_means(hidden[1:], real[1:], 3).tolist() == [[7.0, 70.0, 0.0, 0.0, 0.0, 0.0]]
    # 4 real tokens, 3 stretches: t * 3 // 4 = 0, 0, 1, 2
    assert binned_means(hidden[:1], real[:1], 3).tolist() == [[2.0, 20.0, 5.0, 50.0, 9.0, 90.0]]


def test_one_bin_is_the_mean_pooled_embedding_and_more_bins_average_back_to_it(fast_cfg):
    """With one stretch the binned embedding is the encoder's mean-pooled one; with 4 stretches of
    equal length (30 bases are 28 overlapping 3-mers: 7 a stretch), their mean is it again."""
    cfg = fast_cfg()
    start = _pretrained(cfg, 5)
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(3)]
    pooled = frozen_embeddings(start, True, codes, 30, seed=0)
    assert frozen_embeddings(start, True, codes, 30, seed=0, bins=1) == pytest.approx(pooled, abs=1e-5)
    assert int(start.tokenizer.batch(codes[:1])["attention_mask"].sum()) == 28
    binned = frozen_embeddings(start, True, codes, 30, seed=0, bins=4)
    d = cfg.model.d_model
    assert binned.shape == (3, 4 * d)
    assert binned.reshape(3, 4, d).mean(1) == pytest.approx(pooled, abs=1e-5)
    assert not binned[:, :d] == pytest.approx(binned[:, d : 2 * d], abs=1e-3)  # stretches differ
    assert frozen_embeddings(start, True, [], 30, seed=0, bins=4).shape == (0, 4 * d)
