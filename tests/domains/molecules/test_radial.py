"""Radial basis, cut-off envelope and the interaction block, checked against the formulas they document."""

import math

import pytest
import torch

from sciPT.domains.molecules.interaction import Interaction
from sciPT.domains.molecules.potential_config import PotentialConfig
from sciPT.domains.molecules.radial import BesselBasis, PolynomialCutoff, RadialEmbedding


# radial basis and envelope ------------------------------------------------------------------
def test_radial_embedding_is_bessel_times_the_envelope_of_the_requested_order():
    """cutoff_p from the config must reach the envelope, or the edge features are not the documented ones."""
    emb = RadialEmbedding(cutoff=4.0, num_basis=2, p=3)
    # r = 1 (x = 1/4, p = 3): u = 1 - 10/64 + 15/256 - 6/1024 = 918/1024; Bessel 0.5, sqrt(1/2)
    # r = 2 (x = 1/2): u = 1 - 10/8 + 15/16 - 6/32 = 1/2; Bessel sqrt(1/2) sin(pi/2) / 2, sin(pi) / 2 = 0
    u = 918 / 1024
    expected = [[0.5 * u, math.sqrt(0.5) * u], [math.sqrt(0.5) / 2 * 0.5, 0.0]]
    torch.testing.assert_close(
        emb(torch.tensor([1.0, 2.0], dtype=torch.float64)).detach(),
        torch.tensor(expected, dtype=torch.float64),
        check_dtype=False,
        atol=1e-6,
        rtol=1e-6,
    )


def test_radial_embedding_and_its_slope_vanish_at_the_cutoff():
    """Without the envelope the Bessel functions have a nonzero slope at r_c: forces jump when an atom leaves."""
    emb = RadialEmbedding(cutoff=4.0, num_basis=4, p=6).double()
    r = torch.tensor([4.0 - 1e-7], dtype=torch.float64, requires_grad=True)
    value = emb(r)
    (slope,) = torch.autograd.grad(value.sum(), r)
    assert value.abs().max().item() < 1e-12 and abs(slope.item()) < 1e-9
    assert emb(torch.tensor([4.0, 5.5], dtype=torch.float64)).abs().max().item() == 0.0


def test_envelope_is_one_at_the_origin_and_needs_order_two():
    """u(0) = 1 keeps short edges at full weight; orders below 2 are not C^2 at r_c and are refused."""
    assert float(PolynomialCutoff(cutoff=4.0, p=6)(torch.tensor(0.0))) == 1.0
    # p = 2 (the smallest allowed): u(1/2) = 1 - 6/4 + 8/8 - 3/16
    assert float(PolynomialCutoff(cutoff=4.0, p=2)(torch.tensor(2.0))) == pytest.approx(0.3125, abs=1e-7)
    with pytest.raises(ValueError) as err:
        PolynomialCutoff(cutoff=4.0, p=1)
    assert str(err.value) == "cut-off polynomial order must be >= 2, got 1"


def test_envelope_default_order_is_the_configs():
    """A PolynomialCutoff built without p must match the model's default (PotentialConfig.cutoff_p = 6)."""
    r = torch.tensor([1.0, 2.0, 3.5])
    assert PotentialConfig.cutoff_p == 6
    torch.testing.assert_close(PolynomialCutoff(4.0)(r), PolynomialCutoff(4.0, p=6)(r))


def test_bessel_frequencies_are_trainable_unless_frozen():
    """NequIP learns the frequencies: frozen ones would silently drop parameters from training and exports."""
    emb = RadialEmbedding(cutoff=4.0, num_basis=3)
    assert [n for n, _ in emb.named_parameters()] == ["bessel.freqs"]
    torch.testing.assert_close(emb.bessel.freqs.detach(), torch.tensor([1.0, 2.0, 3.0]) * math.pi / 4.0)
    frozen = BesselBasis(cutoff=4.0, num_basis=3, trainable=False)
    assert list(frozen.parameters()) == [] and "freqs" in frozen.state_dict()


# interaction block ---------------------------------------------------------------------------
def _block(l_in=1, l_out=1, avg=4.0, seed=0):
    torch.manual_seed(seed)
    block = Interaction(
        4, l_in, 1, l_out, num_basis=3, radial_hidden=8, radial_layers=1, avg_num_neighbors=avg
    )
    return block.double()


def _edges(seed=1, n_atoms=3, src=(0, 2, 0), dst=(1, 1, 2)):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n_atoms, 4, 4, generator=g, dtype=torch.float64)
    src, dst = torch.tensor(src), torch.tensor(dst)
    sh = torch.randn(len(src), 4, generator=g, dtype=torch.float64)
    radial = torch.randn(len(src), 3, generator=g, dtype=torch.float64)
    return h, src, dst, sh, radial


def _aggregated(block, *inputs):
    """The input of ``linear_out``: the normalised sum of messages m_i."""
    seen = []
    handle = block.linear_out.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    try:
        out = block(*inputs)
    finally:
        handle.remove()
    return seen[0], out


def test_interaction_follows_the_documented_formula():
    """m_i = sum over edges into i of (W1 h_j) x_R Y / sqrt(n_bar); h_i' = h_i + Gate(W2 m_i + W_sc h_i)."""
    block = _block(avg=4.0)
    h, src, dst, sh, radial = _edges()
    weight = block.radial(radial).view(-1, block.tp.num_paths, 4)
    messages = block.tp(block.linear_in(h)[src], sh, weight)
    m = torch.zeros(3, 4, 4, dtype=torch.float64)
    for e in range(len(src)):
        m[dst[e]] += messages[e]
    m = m / 2.0  # sqrt(4)
    expected = h + block.gate(block.linear_out(m) + block.self_connection(h))
    agg, out = _aggregated(block, h, src, dst, sh, radial)
    torch.testing.assert_close(agg, m, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-10)


def test_messages_scale_as_one_over_sqrt_of_the_average_neighbour_count():
    """The sum is normalised by sqrt(n_bar): a wrong power changes the scale every later layer sees."""
    inputs = _edges()
    one, four = _block(avg=1.0), _block(avg=4.0)
    four.load_state_dict(one.state_dict())
    agg_one, _ = _aggregated(one, *inputs)
    agg_four, _ = _aggregated(four, *inputs)
    assert agg_one.abs().max() > 1e-3
    torch.testing.assert_close(agg_four, agg_one / 2.0, atol=1e-12, rtol=1e-10)


def test_a_message_lands_on_the_centre_atom_and_depends_on_the_neighbour_only():
    """edge_src is the neighbour j, edge_dst the centre i: swapping them sends forces to the wrong atoms."""
    block = _block()
    h, src, dst, sh, radial = _edges(src=(0,), dst=(1,))
    agg, _ = _aggregated(block, h, src, dst, sh, radial)
    assert agg[1].abs().max() > 1e-3
    assert agg[0].abs().max() == 0.0 and agg[2].abs().max() == 0.0
    changed = h.clone()
    changed[1] += 1.0  # the centre's own features do not enter its message
    torch.testing.assert_close(_aggregated(block, changed, src, dst, sh, radial)[0], agg)
    changed = h.clone()
    changed[0] += 1.0
    assert (_aggregated(block, changed, src, dst, sh, radial)[0][1] - agg[1]).abs().max() > 1e-3


def test_an_isolated_atom_keeps_its_residual_and_its_self_connection():
    """With no neighbours h' = h + Gate(W_sc h + b): the residual and the biased self-connection remain."""
    block = _block()
    with torch.no_grad():
        block.self_connection.bias.fill_(0.7)
    h, *_ = _edges(n_atoms=2)
    none = torch.zeros(0, dtype=torch.long)
    out = block(h, none, none, torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64))
    w, s = block.self_connection.weight, block.self_connection.scale
    sc = torch.cat([h[:, :1] @ (w[0] * s) + 0.7, h[:, 1:] @ (w[1] * s)], dim=1)
    torch.testing.assert_close(out, h + block.gate(sc), atol=1e-12, rtol=1e-10)


def test_scalar_input_self_connection_reaches_only_the_scalars():
    """First block (l_in = 0, l_out = 1): no residual, W_sc h enters the scalars, vectors come from messages only."""
    block = _block(l_in=0, l_out=1)
    h = torch.randn(2, 1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    none = torch.zeros(0, dtype=torch.long)
    out = block(h, none, none, torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64))
    assert out.shape == (2, 4, 4)
    torch.testing.assert_close(out[:, :1], torch.nn.functional.silu(block.self_connection(h)))
    assert out[:, 1:].abs().max() == 0.0


def test_radial_mlp_has_the_requested_depth():
    """radial_layers hidden layers of radial_hidden units: another depth would not load saved potentials."""
    block = _block()
    shapes = [tuple(p.shape) for p in block.radial.parameters()]
    assert shapes == [(3, 8), (8, 4 * block.tp.num_paths)]


def test_radial_defaults_are_the_configs_eight_functions_and_order_six():
    """Built without num_basis and p, the basis and the embedding are those of the default config
    (PotentialConfig.num_basis = 8, cutoff_p = 6). At r = 2 = r_c / 2: sqrt(2/4) sin(n pi / 2) / 2
    is sqrt(1/2)/2 times 1, 0, -1, 0, 1, 0, -1, 0, and u(1/2) = 1 - 28/64 + 48/128 - 21/256."""
    assert (PotentialConfig.num_basis, PotentialConfig.cutoff_p) == (8, 6)
    r = torch.tensor([2.0], dtype=torch.float64)
    bessel = (
        math.sqrt(0.5) / 2 * torch.tensor([[1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0, 0.0]], dtype=torch.float64)
    )
    torch.testing.assert_close(BesselBasis(4.0)(r).detach(), bessel, check_dtype=False, atol=1e-6, rtol=1e-6)
    emb = RadialEmbedding(4.0)
    assert emb.num_basis == 8
    torch.testing.assert_close(emb(r).detach(), bessel * 0.85546875, check_dtype=False, atol=1e-6, rtol=1e-6)
