import math

import torch

from sciPT.diagnostics.collapse import (
    CollapseReport,
    check_collapse,
    effective_rank,
    mean_cosine,
    relative_spread,
)


def test_effective_rank_by_hand():
    # centred points along two orthogonal axes with equal spread: singular values equal -> rank 2
    x = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
    assert abs(effective_rank(x) - 2.0) < 1e-9
    # one axis only -> rank 1
    assert abs(effective_rank(x[:2]) - 1.0) < 1e-9


def test_isotropic_versus_collapsed():
    g = torch.Generator().manual_seed(0)
    healthy = torch.randn(500, 16, generator=g)
    collapsed = torch.ones(500, 16) + 1e-3 * torch.randn(500, 16, generator=g)
    assert not check_collapse(healthy).collapsed and effective_rank(healthy) > 14
    report = check_collapse(collapsed)
    assert report.collapsed and report.mean_cosine > 0.99
    assert "**collapsed**" in report.sentence()


def test_mean_cosine_by_hand():
    x = torch.tensor([[1.0, 0], [0, 1], [1, 1]])
    # pairs: (1,2) 0, (1,3) 1/sqrt2, (2,3) 1/sqrt2 -> mean sqrt2/3
    assert abs(mean_cosine(x) - 2**0.5 / 3) < 1e-12


def test_relative_spread_by_hand():
    # mean (2, 0); squared deviations 1 and 1 -> 1; squared norms 1 and 9 -> 5; spread 1/5
    assert abs(relative_spread(torch.tensor([[1.0, 0], [3, 0]])) - 0.2) < 1e-12
    # the same cloud 1000 times smaller spreads as much: the measure has no scale
    assert abs(relative_spread(torch.tensor([[1e-3, 0], [3e-3, 0]], dtype=torch.float64)) - 0.2) < 1e-12
    assert relative_spread(torch.zeros(4, 3)) == 0.0


def test_embeddings_that_carry_composition_alone_are_not_collapsed():
    # mean-pooled embeddings of residue tokens: a large common vector and about three directions of
    # composition, at initialisation and after healthy training alike (effective rank near 3); the
    # rule before (rank under 5 % of the width: 3.2 of 64) called a healthy DNA model collapsed
    g = torch.Generator().manual_seed(0)
    common = 4.0 * torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0)
    directions = torch.linalg.qr(torch.randn(64, 3, generator=g)).Q.T  # 3 orthonormal rows
    x = common + torch.randn(500, 3, generator=g) @ directions
    report = check_collapse(x)
    assert 2.5 < report.effective_rank < 3.2 and report.mean_cosine > 0.8
    assert not report.collapsed and report.relative_spread > 0.1
    assert report.sentence() == (
        f"Embeddings of 64 dimensions have relative spread {report.relative_spread:.3g} (the share "
        f"of their energy that varies between inputs), effective rank {report.effective_rank:.1f} and "
        f"mean pairwise cosine {report.mean_cosine:.3f}: no collapse (collapsed: spread under 0.001 "
        "or effective rank under 1.5)."
    )


def test_a_diverged_encoder_and_a_line_are_collapsed():
    g = torch.Generator().manual_seed(1)
    # every input near one large vector (a run whose loss diverged): spread about 1e-7
    diverged = 229.0 * torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0)
    diverged = diverged + 0.0125 * torch.randn(300, 64, generator=g)
    report = check_collapse(diverged)
    assert report.collapsed and report.relative_spread < 1e-6
    # inputs that differ along one direction only: spread fine, rank 1
    line = torch.randn(300, 1, generator=g) * torch.nn.functional.normalize(torch.randn(1, 64, generator=g))
    report = check_collapse(line)
    assert report.collapsed and report.relative_spread > 0.9 and report.effective_rank < 1.01


def test_no_verdict_on_fewer_than_three_embeddings():
    # two points always lie on one line: effective rank 1, "collapsed" whatever the model
    from types import SimpleNamespace

    from sciPT.pretrain import _collapse_check

    def setup(n):
        batches = [torch.randn(1, 8, generator=torch.Generator().manual_seed(i)) for i in range(n)]
        return SimpleNamespace(embed=lambda b: b, datamodule=SimpleNamespace(val_dataloader=lambda: batches))

    backbone = torch.nn.Linear(1, 1)
    assert _collapse_check(setup(2), backbone) is None
    assert not _collapse_check(setup(5), backbone).collapsed


def test_effective_rank_is_of_the_centred_cloud():
    """Embeddings that vary along one line away from the origin are collapsed: measured about the
    origin, their common offset would count as a second direction and hide the collapse."""
    # centred, (1, 1) and (1, -1) are (0, 1) and (0, -1): one line, rank 1 (uncentred: rank 2)
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    assert abs(effective_rank(x) - 1.0) < 1e-9
    # 100 points (3, t, 0), t evenly from -1 to 1: centred, all along the second axis: rank 1; the
    # spread (mean t^2 = 0.34 of 9.34) is well above 1e-3, so only the rank can call it collapsed
    t = torch.linspace(-1, 1, 100)[:, None]
    line = torch.tensor([3.0, 0, 0]) + t * torch.tensor([0.0, 1.0, 0])
    report = check_collapse(line)
    assert report.effective_rank < 1.01 and report.relative_spread > 0.01 and report.collapsed


def test_effective_rank_weights_singular_values_by_their_sum():
    """Roy & Vetterli normalise the singular values themselves: squaring them, or dividing by the
    largest, would move every rank the report prints."""
    # centred points on two axes, spreads 2 and 1: singular values sqrt(8), sqrt(2) -> p = (2/3, 1/3)
    # exp(H) = (3/2)^(2/3) * 3^(1/3) = 3 / 2^(2/3) = 1.890 (squares: p = (0.8, 0.2), 1.649)
    x = torch.tensor([[2.0, 0], [-2, 0], [0, 1], [0, -1]])
    assert abs(effective_rank(x) - 3 / 2 ** (2 / 3)) < 1e-9


def test_identical_embeddings_have_rank_one_and_are_collapsed():
    """Every input mapped to one point: the rank is at its floor of 1, never below it."""
    x = torch.full((5, 3), 7.0)
    assert effective_rank(x) == 1.0 and relative_spread(x) == 0.0
    assert check_collapse(x).collapsed


def test_collapse_thresholds_are_strict():
    """ "Spread under" and "rank under" mean strictly under, as the sentence says."""
    # centred (-1, 0) and (1, 0): singular values (sqrt 2, 0) -> rank exactly 1; spread exactly 0.2
    x = torch.tensor([[1.0, 0], [3, 0]])
    assert not check_collapse(x, min_spread=0.2, min_rank=1.0).collapsed
    assert check_collapse(x, min_spread=0.2 + 1e-9, min_rank=1.0).collapsed
    assert check_collapse(x, min_spread=0.2, min_rank=1.0 + 1e-9).collapsed


def test_the_sentence_gives_the_thresholds_the_verdict_used():
    """A check run with other thresholds must not report the defaults as the rule it applied."""
    x = torch.tensor([[2.0, 0], [-2, 0], [0, 1], [0, -1]])
    report = check_collapse(x, min_spread=0.5, min_rank=2.0)
    assert report.collapsed and report.sentence().endswith(
        "**collapsed** (collapsed: spread under 0.5 or effective rank under 2)."
    )


def test_a_faint_second_direction_still_counts_in_the_effective_rank():
    """Every non-zero singular value enters the entropy, however small its share."""
    # centred points on two axes, spreads 1 and e: singular values sqrt(2) and sqrt(2) e
    e = 5e-4
    x = torch.tensor([[1.0, 0], [-1, 0], [0, e], [0, -e]], dtype=torch.float64)
    p = (1 / (1 + e), e / (1 + e))
    assert abs(effective_rank(x) - math.exp(-sum(q * math.log(q) for q in p))) < 1e-9


def test_a_tiny_spread_is_printed_in_significant_digits_with_the_default_thresholds():
    """A diverged encoder's spread (1e-7) must read as such, not as 0.000; a report built without
    thresholds names the defaults of :func:`check_collapse` (1e-3 and 1.5), the rule it stands for."""
    report = CollapseReport(
        effective_rank=1.04, dimension=64, mean_cosine=0.99999, relative_spread=1.234e-7, collapsed=True
    )
    assert report.sentence() == (
        "Embeddings of 64 dimensions have relative spread 1.23e-07 (the share of their energy that "
        "varies between inputs), effective rank 1.0 and mean pairwise cosine 1.000: **collapsed** "
        "(collapsed: spread under 0.001 or effective rank under 1.5)."
    )


def test_all_zero_embeddings_are_collapsed():
    """An encoder that outputs zeros for every input is collapsed: spread 0 (no energy at all, no
    division by zero), rank at its floor of 1; the cosine of zero vectors reads 0 and is only reported."""
    report = check_collapse(torch.zeros(6, 4))
    assert report.collapsed and report.relative_spread == 0.0 and report.effective_rank == 1.0
    assert report.mean_cosine == 0.0 and "**collapsed**" in report.sentence()
