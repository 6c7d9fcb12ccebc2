"""The symmetry helpers of sciPT.testing: they pass what is symmetric and catch what is not."""

import pytest
import torch

from sciPT.testing import (
    assert_equivariant,
    draw_transform,
    finite_difference_gradient,
    random_permutation,
    random_reflection,
    random_rotation,
)


def _structure(n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) * 2, torch.arange(1, n + 1)


def pair_model(pos, numbers, cell):
    """A Morse-like pair energy weighted by the two atomic numbers: E(3) and permutation symmetric."""
    pos = pos.clone().requires_grad_(True)
    i, j = torch.triu_indices(len(pos), len(pos), 1)
    r = (pos[i] - pos[j]).norm(dim=1)
    pair = numbers[i] * numbers[j] * (1 - torch.exp(-(r - 1.5))) ** 2
    atomic = torch.zeros(len(pos), dtype=pos.dtype).index_add(0, i, pair / 2).index_add(0, j, pair / 2)
    energy = atomic.sum()
    (grad,) = torch.autograd.grad(energy, pos)
    return {"energy": energy.detach(), "forces": -grad, "atomic_energies": atomic.detach()}


def test_random_matrices_are_orthogonal_with_the_right_determinant():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        rot, ref = random_rotation(g), random_reflection(g)
        for m, det in ((rot, 1.0), (ref, -1.0)):
            torch.testing.assert_close(m @ m.T, torch.eye(3, dtype=torch.float64))
            assert float(torch.linalg.det(m)) == pytest.approx(det)


def test_draws_are_reproducible_and_permutations_move_atoms():
    a = draw_transform("combined", 6, torch.Generator().manual_seed(7))
    b = draw_transform("combined", 6, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(random_permutation(6, torch.Generator().manual_seed(0)), torch.arange(6))


def test_a_symmetric_model_passes_every_transformation():
    pos, z = _structure()
    report = assert_equivariant(pair_model, pos, z, per_atom=("atomic_energies",), atol=1e-10, rtol=1e-10)
    assert set(report) == {"rotation", "reflection", "translation", "permutation", "combined"}
    assert max(d for r in report.values() for d in r.values()) < 1e-10


def test_a_model_of_absolute_positions_fails_translation():
    pos, z = _structure()

    def origin_spring(p, n, cell):
        return {"energy": (p**2).sum(), "forces": -2 * p}

    with pytest.raises(
        AssertionError,
        match=r"^energy is not invariant under translation: "
        r"max \|difference\| ",
    ):
        assert_equivariant(origin_spring, pos, z)


def test_a_chiral_model_fails_reflection_only():
    pos, z = _structure()

    def triple_product(p, n, cell):
        e = torch.dot(p[1] - p[0], torch.linalg.cross(p[2] - p[0], p[3] - p[0]))
        return {"energy": e}

    assert_equivariant(triple_product, pos, z, vectors=(), transforms=("rotation", "translation"))
    with pytest.raises(AssertionError, match="^energy is not invariant under reflection"):
        assert_equivariant(triple_product, pos, z, vectors=(), transforms=("reflection",))


def test_order_dependent_model_fails_permutation():
    pos, z = _structure()

    def ordered(p, n, cell):
        return {"energy": ((p - p[0]).norm(dim=1) * torch.arange(len(p))).sum()}

    with pytest.raises(AssertionError, match="^energy is not invariant under permutation"):
        assert_equivariant(ordered, pos, z, vectors=(), transforms=("permutation",))


def test_forces_that_do_not_rotate_are_caught():
    pos, z = _structure()

    def fixed_forces(p, n, cell):
        return {"energy": torch.tensor(0.0), "forces": torch.ones_like(p)}

    with pytest.raises(AssertionError, match="^forces is not equivariant under rotation"):
        assert_equivariant(fixed_forces, pos, z, transforms=("rotation",))


def test_stress_transforms_as_a_rank_two_tensor():
    pos, z = _structure()
    cell = torch.diag(torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64))

    def cell_tensor(p, n, c):
        return {"energy": torch.tensor(0.0), "stress": c.T @ c}

    assert_equivariant(cell_tensor, pos, z, cell, vectors=(), tensors=("stress",), atol=1e-12)

    def wrong(p, n, c):
        return {"energy": torch.tensor(0.0), "stress": c @ c.T}

    with pytest.raises(AssertionError, match="^stress is not equivariant under rotation"):
        assert_equivariant(wrong, pos, z, cell, vectors=(), tensors=("stress",), transforms=("rotation",))


def test_finite_difference_gradient_of_a_cubic():
    x = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    grad = finite_difference_gradient(lambda y: (y**3).sum() + y[0, 0] * y[0, 1], x, h=1e-4)
    exact = torch.tensor([[3 * 0.09 - 1.2, 3 * 1.44 + 0.3, 12.0]], dtype=torch.float64)
    torch.testing.assert_close(grad, exact, atol=1e-7, rtol=0)


def test_modules_loaded_by_reports_what_an_import_pulls_in():
    from sciPT.testing import modules_loaded_by

    # the fit loop is Lightning's; the trainer's config module is not
    assert modules_loaded_by("sciPT.classification", ("lightning", "no.such.module")) == ["lightning"]
    assert modules_loaded_by("sciPT.errors", ("lightning", "torch")) == []
