"""The interaction block on its own: E(3) equivariance of its features, no parameter without effect,
and the radial MLP written out by hand.

(The block's formula, its 1/sqrt(n_bar) normalisation, the residual and the self-connection are
checked in test_radial.py; edges taken in chunks in test_molecules_model.py.)"""

import math

import numpy as np
import torch
from e3nn import o3

from sciPT.domains.molecules.interaction import Interaction
from sciPT.domains.molecules.radial import RadialEmbedding
from sciPT.testing import assert_equivariant

CHANNELS, NUM_BASIS, CUTOFF = 4, 3, 4.0


def _block(l_in, l_out, seed=0):
    torch.manual_seed(seed)
    block = Interaction(
        CHANNELS, l_in, 1, l_out, num_basis=NUM_BASIS, radial_hidden=8, radial_layers=1, avg_num_neighbors=3.0
    )
    return block.double()


def _graph(pos):
    """Every ordered pair within the cut-off, as the model builds it: src the neighbour j, dst the
    centre i, the edge vector r_j - r_i."""
    n = pos.shape[0]
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = (i != j) & ((pos[j] - pos[i]).norm(dim=-1) < CUTOFF)
    dst, src = i[keep], j[keep]
    vec = pos[src] - pos[dst]
    sh = o3.SphericalHarmonics(o3.Irreps.spherical_harmonics(1), normalize=True, normalization="component")
    radial = RadialEmbedding(CUTOFF, NUM_BASIS).double()
    return src, dst, sh(vec), radial(vec.norm(dim=-1)).detach()


POSITIONS = torch.tensor(
    [[0.0, 0.0, 0.0], [1.1, 0.2, -0.3], [-0.4, 1.3, 0.5], [0.7, -0.9, 1.2], [2.0, 1.1, 0.9]],
    dtype=torch.float64,
)
NUMBERS = torch.tensor([6, 1, 8, 1, 6])


def test_three_blocks_are_equivariant_under_the_library_s_own_check():
    """Scalars in (0 -> 1), vectors through (1 -> 1), scalars out (1 -> 0), as in the model: the
    scalars (total and per atom) are invariant and the l = 1 features (components x, y, z, as the
    edge spherical harmonics) rotate with the atoms, under rotations, reflections, translations and
    permutations."""
    blocks = [_block(0, 1, seed=0), _block(1, 1, seed=1), _block(1, 0, seed=2)]
    table = torch.randn(9, 1, CHANNELS, generator=torch.Generator().manual_seed(5), dtype=torch.float64)

    @torch.no_grad()
    def fn(pos, numbers, cell):
        graph = _graph(pos)
        vectors = blocks[1](blocks[0](table[numbers], *graph), *graph)
        out = blocks[2](vectors, *graph)
        assert out.shape == (len(numbers), 1, CHANNELS)
        return {
            "energy": out.sum(),
            "atomic": out[:, 0].sum(-1),
            "forces": vectors[:, 1:, 0],
        }

    reference = fn(POSITIONS, NUMBERS, None)
    assert reference["forces"].abs().max() > 1e-2  # the vectors are not trivially zero
    assert_equivariant(fn, POSITIONS, NUMBERS, per_atom=("atomic",), atol=1e-10, rtol=1e-9)


def test_every_parameter_of_a_block_changes_its_output():
    """A parameter no output depends on is dead weight in the export, in the optimiser and in the
    Fisher's counts: e.g. an l = 1 self-connection where input or output has scalars only."""
    src, dst, sh, radial = _graph(POSITIONS)
    g = torch.Generator().manual_seed(4)
    for l_in, l_out in [(0, 1), (1, 1), (1, 0)]:
        block = _block(l_in, l_out)
        h = torch.randn(5, (l_in + 1) ** 2, CHANNELS, generator=g, dtype=torch.float64)
        out = block(h, src, dst, sh, radial)
        (out * torch.randn(out.shape, generator=g, dtype=torch.float64)).sum().backward()
        for name, p in block.named_parameters():
            assert p.grad is not None, (l_in, l_out, name)
            # each slice along the first axis (a degree of the linear maps) must matter
            for k, part in enumerate(p.grad.reshape(p.shape[0], -1)):
                assert part.abs().max() > 0, (l_in, l_out, name, k)


def test_the_radial_mlp_is_a_normalised_silu_network():
    """The per-edge path weights: w = c SiLU(e W0 / sqrt(3)) W1 / sqrt(8) (e3nn's FullyConnectedNet),
    c = E[SiLU(z)^2]^(-1/2) for z ~ N(0, 1), here by Gauss-Hermite quadrature (e3nn estimates it
    from 10^6 samples, hence the 5e-3 tolerance)."""
    block = _block(1, 1)
    x, w = np.polynomial.hermite.hermgauss(80)
    z = math.sqrt(2.0) * x
    silu = z / (1.0 + np.exp(-z))
    c = float(np.sum(w * silu**2) / math.sqrt(math.pi)) ** -0.5
    e = torch.randn(6, NUM_BASIS, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w0, w1 = block.radial.layer0.weight, block.radial.layer1.weight
    expected = c * torch.nn.functional.silu(e @ w0 / math.sqrt(NUM_BASIS)) @ w1 / math.sqrt(8)
    torch.testing.assert_close(block.radial(e), expected, rtol=5e-3, atol=1e-6)
