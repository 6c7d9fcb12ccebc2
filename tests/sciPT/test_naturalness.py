import numpy as np
import pytest
import torch

from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.export import masked_head_state
from sciPT.naturalness import (
    Fusion,
    NaturalnessScorer,
    fit_fusion,
    head_state,
)
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives.masked import LMHead
from sciPT.sequence_config import TokenizerConfig
from sciPT.stacking import MIN_LIKELIHOOD_RATIO, MIN_PER_CLASS


def _scorer(stride: int, k: int = 3) -> tuple[NaturalnessScorer, object]:
    torch.manual_seed(0)
    tokenizer = dna_tokenizer(TokenizerConfig(kind="kmer", k=k))
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64
    )
    head = LMHead(16, tokenizer.vocab_size)
    torch.nn.init.normal_(head.decoder.weight, std=1.0)  # spread the probabilities
    scorer = NaturalnessScorer(
        TransformerEncoder(cfg),
        head,
        tokenizer.mask_id,
        span=k,
        stride=stride,
        skip_ids=tokenizer.special_ids,
    )
    return scorer, tokenizer


def _codes(lengths, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4, n).astype(np.uint8) for n in lengths]


def test_one_centre_per_pass_is_the_pseudo_log_likelihood_by_hand():
    scorer, tokenizer = _scorer(stride=1000)
    (codes,) = _codes([20])
    ids = torch.as_tensor(tokenizer.encode_codes(codes))[None]
    mask = torch.ones_like(ids, dtype=torch.bool)
    logps = []
    for c in range(1, ids.shape[1] - 1):  # span 3: tokens c-1, c, c+1 masked
        x = ids.clone()
        x[0, c - 1 : c + 2] = tokenizer.mask_id
        h = scorer.backbone(x, mask)[0, c]
        logps.append(torch.log_softmax(scorer.head(h[None]), -1)[0, ids[0, c]].item())
    assert scorer(ids, mask).item() == pytest.approx(np.mean(logps), abs=1e-5)


@pytest.mark.parametrize("stride", [4, 16])
def test_a_sequence_scores_the_same_alone_and_beside_a_longer_one(stride):
    scorer, tokenizer = _scorer(stride=stride)
    short, long = _codes([17, 30])
    alone = tokenizer.batch([short])
    together = tokenizer.batch([short, long])
    a = scorer(alone["input_ids"], alone["attention_mask"])
    b = scorer(together["input_ids"], together["attention_mask"])
    assert b[0].item() == pytest.approx(a[0].item(), abs=1e-5)
    assert (b < 0).all()  # log-probabilities


def test_stride_must_exceed_span():
    with pytest.raises(ValueError, match=r"stride \(3\) must exceed span \(3\)"):
        _scorer(stride=3)


def test_the_scorer_stays_frozen_and_deterministic():
    scorer, tokenizer = _scorer(stride=4)
    scorer.train()
    assert not scorer.training and not any(p.requires_grad for p in scorer.parameters())


def test_fusion_by_hand():
    fusion = Fusion(w_logit=2.0, w_naturalness=-1.0, bias=0.5, mean=-1.0, sd=0.5)
    p = np.array([0.5, 0.75])
    nat = np.array([-1.0, -0.5])
    # z = 2 logit(p) - (nat + 1) / 0.5 + 0.5: [0 - 0 + 0.5, 2 log 3 - 1 + 0.5]
    expected = 1 / (1 + np.exp(-np.array([0.5, 2 * np.log(3) - 0.5])))
    np.testing.assert_allclose(fusion(p, nat), expected, rtol=1e-9)


def test_fit_fusion_learns_which_feature_carries_the_label():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    naturalness = -1.3 + 0.1 * labels + 0.02 * rng.standard_normal(200)  # separates the classes
    probabilities = rng.uniform(0.2, 0.8, 200)  # a classifier that knows nothing
    fusion = fit_fusion(probabilities, naturalness, labels)
    assert fusion.w_naturalness > 1.0 and abs(fusion.w_logit) < 0.5
    assert fusion.mean == pytest.approx(naturalness.mean()) and fusion.sd == pytest.approx(naturalness.std())
    assert (fusion(probabilities, naturalness)[labels == 1] > 0.5).mean() > 0.9


def _penalised_log_likelihood(x: np.ndarray, labels: np.ndarray) -> float:
    """The log-likelihood at the optimum of L2 logistic regression (C = 1, intercept free), by scipy."""
    from scipy.optimize import minimize

    def loss(theta):
        z = x @ theta[:-1] + theta[-1]
        return np.logaddexp(0, np.where(labels == 1, -z, z)).sum() + 0.5 * theta[:-1] @ theta[:-1]

    theta = minimize(loss, np.zeros(x.shape[1] + 1), method="BFGS", options={"gtol": 1e-10}).x
    return loss(theta) - 0.5 * theta[:-1] @ theta[:-1]  # the penalty back out: -log L


def test_the_likelihood_ratio_is_twice_the_log_likelihood_gained_by_the_score():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 60)
    probabilities = np.clip(0.5 + 0.2 * (labels - 0.5) + 0.2 * rng.standard_normal(120), 0.05, 0.95)
    informative = -1.3 + 0.05 * labels + 0.05 * rng.standard_normal(120)
    noise = -1.3 + 0.05 * rng.standard_normal(120)
    for naturalness in (informative, noise):
        fusion = fit_fusion(probabilities, naturalness, labels)
        x = np.c_[
            np.log(probabilities / (1 - probabilities)),
            (naturalness - naturalness.mean()) / naturalness.std(),
        ]
        expected = 2 * (_penalised_log_likelihood(x[:, :1], labels) - _penalised_log_likelihood(x, labels))
        # sklearn's lbfgs stops at a gradient of 1e-4: agreement to a few thousandths
        assert fusion.likelihood_ratio == pytest.approx(max(expected, 0.0), abs=3e-3)
    # the score that carries the label is kept (p < 0.05), the one that does not is left out
    assert fit_fusion(probabilities, informative, labels).likelihood_ratio > MIN_LIKELIHOOD_RATIO
    assert fit_fusion(probabilities, noise, labels).likelihood_ratio < MIN_LIKELIHOOD_RATIO
    assert MIN_LIKELIHOOD_RATIO == pytest.approx(__import__("scipy").stats.chi2.ppf(0.95, 1), abs=1e-3)


def test_fit_fusion_needs_enough_of_each_class():
    labels = np.array([1] * (MIN_PER_CLASS - 1) + [0] * 100)
    assert fit_fusion(np.full(len(labels), 0.5), np.zeros(len(labels)), labels) is None


def test_a_masked_head_is_exported_and_a_causal_one_is_not():
    head = LMHead(4, 7)
    masked = {"state_dict": {f"objective.head.{k}": v for k, v in head.state_dict().items()}}
    exported = masked_head_state(masked)
    assert sorted(exported) == sorted(f"mlm_head.{k}" for k in head.state_dict())
    assert head_state(exported).keys() == head.state_dict().keys()
    causal = {
        "state_dict": {"objective.head.weight": torch.zeros(7, 4), "objective.head.bias": torch.zeros(7)}
    }
    assert masked_head_state(causal) == {}


def test_nothing_to_score_is_nan_and_shifts_nothing():
    scorer, tokenizer = _scorer(stride=4)
    short, n_only = np.array([0, 1, 2], dtype=np.uint8), np.full(12, 4, dtype=np.uint8)  # 1 token; all UNK
    batch = tokenizer.batch([short, n_only, *_codes([20])])
    scores = scorer(batch["input_ids"], batch["attention_mask"])
    assert torch.isnan(scores[:2]).all() and torch.isfinite(scores[2])
    fusion = Fusion(w_logit=1.0, w_naturalness=5.0, bias=0.0, mean=-1.0, sd=0.1)
    np.testing.assert_allclose(fusion(np.array([0.7]), np.array([np.nan])), [0.7], rtol=1e-9)


def test_an_even_span_masks_one_token_before_the_centre_and_the_rest_after():
    """4-mers: the centre's span is tokens c-1 .. c+2 (one before, span - 1 - 1 after), the layout
    an exported fusion's mean and sd were fitted on; another layout shifts every score."""
    scorer, tokenizer = _scorer(stride=1000, k=4)
    (codes,) = _codes([20], seed=2)
    ids = torch.as_tensor(tokenizer.encode_codes(codes))[None]
    mask = torch.ones_like(ids, dtype=torch.bool)
    logps = []
    for c in range(1, ids.shape[1] - 2):
        x = ids.clone()
        x[0, c - 1 : c + 3] = tokenizer.mask_id
        h = scorer.backbone(x, mask)[0, c]
        logps.append(torch.log_softmax(scorer.head(h[None]), -1)[0, ids[0, c]].item())
    assert scorer(ids, mask).item() == pytest.approx(np.mean(logps), abs=1e-5)


def test_stride_passes_score_every_centre_once_by_hand():
    """With stride 4, pass r masks every centre at r, r + 4, ... together; all 4 passes together
    score each centre once (a pass left out drops a quarter of the sequence from its score)."""
    scorer, tokenizer = _scorer(stride=4)
    (codes,) = _codes([23], seed=3)
    ids = torch.as_tensor(tokenizer.encode_codes(codes))[None]
    mask = torch.ones_like(ids, dtype=torch.bool)
    length, logps = ids.shape[1], {}
    for first in range(4):
        centres = [c for c in range(first, length, 4) if 1 <= c <= length - 2]  # span 3 fits
        x = ids.clone()
        for c in centres:
            x[0, c - 1 : c + 2] = tokenizer.mask_id
        logp = torch.log_softmax(scorer.head(scorer.backbone(x, mask)[0]), -1)
        for c in centres:
            logps[c] = logp[c, ids[0, c]].item()
    assert sorted(logps) == list(range(1, length - 1))
    assert scorer(ids, mask).item() == pytest.approx(np.mean(list(logps.values())), abs=1e-5)


def test_a_scorer_rebuilt_from_its_state_and_settings_scores_the_same():
    """An exported model rebuilds its scorer from the state and the JSON settings: a stride or a
    LayerNorm eps lost on the way changes every naturalness score the fusion reads."""
    import json

    torch.manual_seed(0)
    tokenizer = dna_tokenizer(TokenizerConfig(kind="kmer", k=3))
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64
    )
    head = LMHead(16, tokenizer.vocab_size, eps=1e-3)
    torch.nn.init.normal_(head.decoder.weight, std=1.0)
    scorer = NaturalnessScorer(
        TransformerEncoder(cfg), head, tokenizer.mask_id, span=3, stride=5, skip_ids=tokenizer.special_ids
    )
    settings = json.loads(json.dumps(scorer.settings()))
    rebuilt = NaturalnessScorer.from_scorer_state(TransformerEncoder(cfg), scorer.state_dict(), settings)
    assert (rebuilt.stride, rebuilt.span, rebuilt.head.norm.eps) == (5, 3, 1e-3)
    batch = tokenizer.batch(_codes([17, 30]))
    np.testing.assert_allclose(
        rebuilt(batch["input_ids"], batch["attention_mask"]).numpy(),
        scorer(batch["input_ids"], batch["attention_mask"]).numpy(),
        rtol=0,
        atol=1e-6,
    )


def test_the_default_stride_is_sixteen_passes_each_hiding_about_a_sixth_of_the_tokens():
    """The documented default: ``stride = 16`` passes per sequence, each masking the spans of every
    16th centre (3 of every 16 tokens with 3-mers, about the share the encoder was pre-trained
    with); an exported fusion's mean and sd were fitted on scores made that way."""
    scorer, tokenizer = _scorer(stride=4)
    calls = []

    class Recording(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask):
            calls.append((ids == tokenizer.mask_id).sum().item())
            return self.inner(ids, mask)

    default = NaturalnessScorer(
        Recording(scorer.backbone), scorer.head, tokenizer.mask_id, span=3, skip_ids=tokenizer.special_ids
    )
    (codes,) = _codes([66], seed=4)  # 64 tokens: centres 1 .. 62 scorable
    ids = torch.as_tensor(tokenizer.encode_codes(codes))[None]
    assert torch.isfinite(default(ids, torch.ones_like(ids, dtype=torch.bool))).all()
    assert default.stride == 16 and len(calls) == 16
    # every centre 1 .. 62 masked once with its two neighbours: 62 centres, 3 tokens each
    assert sum(calls) == 3 * 62 and max(calls) == 3 * 4  # 62 / 16: at most 4 centres a pass


def test_head_state_keeps_only_the_masked_head_s_tensors():
    """An export holds other tensors beside the head (a classifier, a CNN): only the ``mlm_head.``
    ones, their prefix removed, load into the scorer's head; none gives ``{}``."""
    a, b, c = torch.zeros(2), torch.ones(3), torch.full((1,), 2.0)
    state = head_state({"mlm_head.norm.weight": a, "classifier.weight": b, "cnn.mlm_head.bias": c})
    assert list(state) == ["norm.weight"] and state["norm.weight"] is a
    assert head_state({"classifier.weight": b}) == {}


def test_a_fresh_scorer_is_in_eval_mode_so_dropout_never_reaches_a_score():
    """Built from an encoder with dropout, the scorer must score without it from the start (not only
    after ``.train()``), or the same sequence would score differently call to call."""
    torch.manual_seed(0)
    tokenizer = dna_tokenizer(TokenizerConfig(kind="kmer", k=3))
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64, dropout=0.5
    )
    scorer = NaturalnessScorer(
        TransformerEncoder(cfg), LMHead(16, tokenizer.vocab_size), tokenizer.mask_id, span=3, stride=4
    )
    assert not any(module.training for module in scorer.modules())
    batch = tokenizer.batch(_codes([20, 30]))
    first = scorer(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(scorer(batch["input_ids"], batch["attention_mask"]), first, rtol=0, atol=0)


def test_a_rebuilt_scorer_still_skips_the_unknown_token():
    """The skip ids travel in the settings: a rebuilt scorer that forgot them would score the
    unknown token of a k-mer with N, giving an all-N sequence a score where it has none (NaN)."""
    import json

    scorer, tokenizer = _scorer(stride=4)
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64
    )
    settings = json.loads(json.dumps(scorer.settings()))
    rebuilt = NaturalnessScorer.from_scorer_state(TransformerEncoder(cfg), scorer.state_dict(), settings)
    assert rebuilt.skip_ids == sorted(tokenizer.special_ids)
    (codes,) = _codes([20], seed=5)
    codes[8:11] = 4  # N: three unknown tokens in the middle
    batch = tokenizer.batch([codes, np.full(12, 4, dtype=np.uint8)])
    scores = rebuilt(batch["input_ids"], batch["attention_mask"])
    assert torch.isnan(scores[1]) and torch.isfinite(scores[0])
    torch.testing.assert_close(scores, scorer(batch["input_ids"], batch["attention_mask"]), equal_nan=True)


def test_a_skipped_token_is_never_a_scored_centre_by_hand():
    """``skip_ids``: centres holding one of them are neither masked nor counted; the score is the
    mean log-probability over the other centres (here one ordinary 3-mer is skipped)."""
    base, tokenizer = _scorer(stride=1000)
    (codes,) = _codes([20], seed=6)
    ids = torch.as_tensor(tokenizer.encode_codes(codes))[None]
    skipped = int(ids[0, 5])
    scorer = NaturalnessScorer(
        base.backbone, base.head, tokenizer.mask_id, span=3, stride=1000, skip_ids=[skipped]
    )
    mask = torch.ones_like(ids, dtype=torch.bool)
    logps = []
    for c in range(1, ids.shape[1] - 1):
        if ids[0, c] == skipped:
            continue
        x = ids.clone()
        x[0, c - 1 : c + 2] = tokenizer.mask_id
        h = scorer.backbone(x, mask)[0, c]
        logps.append(torch.log_softmax(scorer.head(h[None]), -1)[0, ids[0, c]].item())
    assert len(logps) < ids.shape[1] - 2  # the skipped token is among the centres
    assert scorer(ids, mask).item() == pytest.approx(np.mean(logps), abs=1e-5)


def test_a_fusion_from_an_export_that_predates_the_likelihood_ratio_has_none():
    """Exports written before the likelihood ratio existed rebuild their fusion without it: its
    ratio is unknown (NaN), not a measured 0 (a score that added nothing)."""
    old = {"w_logit": 1.0, "w_naturalness": 0.5, "bias": 0.0, "mean": -1.2, "sd": 0.1}
    fusion = Fusion(**old)
    assert np.isnan(fusion.likelihood_ratio) and np.isnan(fusion.stack().likelihood_ratio)
