import torch

from sciPT.diagnostics.collapse import check_collapse, effective_rank, mean_cosine


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
