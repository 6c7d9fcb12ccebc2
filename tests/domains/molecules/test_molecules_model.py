"""The equivariant potential: symmetry, forces and stress as energy derivatives, layers."""

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from sciPT.domains.molecules.data import Frame
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.interaction import Interaction
from sciPT.domains.molecules.radial import BesselBasis, PolynomialCutoff
from sciPT.domains.molecules.tensor_product import ChannelwiseTensorProduct, dim, to_e3nn
from sciPT.errors import DataError
from sciPT.testing import assert_equivariant, finite_difference_gradient


def periodic_frame(seed=0) -> Frame:
    """H, C and O in a skewed 3.6 Angstrom cell: with a 4 Angstrom cut-off, atoms see images."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.6, 0.0, 0.0], [0.4, 3.5, 0.0], [0.2, -0.3, 3.7]])
    positions = np.array([[0.1, 0.2, 0.3], [1.4, 1.0, 1.1], [2.3, 2.4, 2.0]])
    positions += rng.normal(scale=0.05, size=positions.shape)
    return Frame(
        numbers=np.array([1, 6, 8]), positions=positions, cell=cell, pbc=np.ones(3, dtype=bool), source="test"
    )


# layers -------------------------------------------------------------------------------------
def test_cutoff_envelope_by_hand_and_smooth_at_the_cutoff():
    u = PolynomialCutoff(cutoff=4.0, p=6)
    # x = 1/2: 1 - 28/64 + 48/128 - 21/256 = 0.85546875
    assert float(u(torch.tensor(2.0))) == pytest.approx(0.85546875, abs=1e-12)
    r = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    value = u(r - 1e-9)  # just inside, where the polynomial (not the step) is evaluated
    (d1,) = torch.autograd.grad(value, r, create_graph=True)
    (d2,) = torch.autograd.grad(d1, r)
    assert abs(value.item()) < 1e-12 and abs(d1.item()) < 1e-9 and abs(d2.item()) < 1e-6
    assert float(u(torch.tensor(4.5))) == 0.0


def test_bessel_basis_by_hand():
    basis = BesselBasis(cutoff=4.0, num_basis=2)
    # sqrt(2/4) * sin(n pi r / 4) / r at r = 1: n = 1 -> 0.5, n = 2 -> sqrt(1/2)
    np.testing.assert_allclose(
        basis(torch.tensor([1.0])).detach().numpy(), [[0.5, math.sqrt(0.5)]], rtol=1e-6
    )


@pytest.mark.parametrize("l_in,l_sh,l_out", [(0, 2, 2), (1, 1, 1), (2, 2, 2), (2, 2, 0)])
def test_fused_tensor_product_equals_e3nn(l_in, l_sh, l_out):
    g = torch.Generator().manual_seed(0)
    edges, channels = 7, 3
    torch.set_default_dtype(torch.float64)  # exact coefficients, as a float64 model builds them
    try:
        tp = ChannelwiseTensorProduct(l_in, l_sh, l_out)
        reference = tp.e3nn_equivalent(channels)
    finally:
        torch.set_default_dtype(torch.float32)
    x = torch.randn(edges, dim(l_in), channels, generator=g, dtype=torch.float64)
    sh = torch.randn(edges, dim(l_sh), generator=g, dtype=torch.float64)
    w = torch.randn(edges, tp.num_paths, channels, generator=g, dtype=torch.float64)
    expected = reference(to_e3nn(x, l_in), sh, w.reshape(edges, -1))
    torch.testing.assert_close(to_e3nn(tp(x, sh, w), l_out), expected, atol=1e-12, rtol=1e-12)


def test_edge_chunks_change_neither_outputs_nor_parameter_gradients(make_potential, monkeypatch):
    model = make_potential("float64", l_max=1)
    graph = frame_to_graph(periodic_frame(), model.cfg.cutoff)
    assert graph.edge_index.shape[1] > 40

    def run():
        model.zero_grad()
        out = model(graph, stress=True, create_graph=True)
        # forces and stress in the loss: the parameter gradient is a double backward
        (out["forces"].pow(2).sum() + out["stress"].pow(2).sum() + out["energy"].sum()).backward()
        return out, [p.grad.clone() for p in model.parameters()]

    whole, grads = run()
    # a few edges per chunk (8 rows x 8 channels per edge): many chunks per block
    monkeypatch.setattr(Interaction, "chunk_elements", 8 * 8 * 7)
    chunked, chunked_grads = run()
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(chunked[key], whole[key], atol=1e-12, rtol=1e-10)
    for a, b in zip(chunked_grads, grads):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_exports_holding_the_earlier_coupling_constant_still_load(make_potential):
    model = make_potential("float64", l_max=1)
    state = model.state_dict()
    assert not any(k.endswith("tp.coupling") for k in state)
    # exports written before the coupling became a non-persistent constant carry it
    state["blocks.0.tp.coupling"] = torch.zeros(4, 64)
    fresh = make_potential("float64", l_max=1, seed=1)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.blocks[0].tp.coupling, model.blocks[0].tp.coupling)


def test_layer_groups_partition_the_parameters_from_input_to_output(make_potential):
    model = make_potential()
    groups = model.layer_groups()
    assert len(groups) == 1 + model.cfg.layers + 1
    assert groups[0][0] is model.embedding and list(groups[-1]) == [model.readout]
    ids = [id(p) for g in groups for p in g.parameters()]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    model.add_head("second")  # every head's readout in the last group
    groups = model.layer_groups()
    assert list(groups[-1]) == [model.readout, model.extra_heads[0].readout]
    ids = [id(p) for g in groups for p in g.parameters()]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


# symmetry -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,atol", [("float32", 2e-4), ("float64", 1e-9)])
def test_energy_invariant_and_forces_equivariant(make_potential, model_fn, ethanol_frames, dtype, atol):
    model = make_potential(dtype)
    f = ethanol_frames[0]
    pos, z = torch.from_numpy(f.positions), torch.from_numpy(f.numbers)
    report = assert_equivariant(
        model_fn(model),
        pos,
        z,
        per_atom=("atomic_energies",),
        atol=atol,
        rtol=0.0,
        generator=torch.Generator().manual_seed(5),
    )
    assert len(report) == 5
    forces = model_fn(model)(pos, z, None)["forces"]
    assert forces.abs().max() > 0.05  # a model that predicts nothing would pass trivially


def test_periodic_energy_forces_and_stress_are_equivariant(make_potential, model_fn):
    model = make_potential("float64")
    f = periodic_frame()
    report = assert_equivariant(
        model_fn(model, pbc=True, stress=True),
        torch.from_numpy(f.positions),
        torch.from_numpy(f.numbers),
        torch.from_numpy(f.cell),
        tensors=("stress",),
        atol=1e-9,
        rtol=0,
    )
    assert set(report["combined"]) == {"energy", "forces", "stress"}


# derivatives --------------------------------------------------------------------------------
def test_forces_are_minus_the_finite_difference_gradient(make_potential, model_fn, ethanol_frames):
    # zero references: differences of -4000 eV totals would lose 1e-12 eV, 5e-8 eV/A at h = 1e-5
    model = make_potential("float64", references=(0.0, 0.0, 0.0))
    f = ethanol_frames[1]
    fn = model_fn(model)
    z = torch.from_numpy(f.numbers)
    forces = fn(torch.from_numpy(f.positions), z, None)["forces"]
    numeric = finite_difference_gradient(
        lambda x: fn(x, z, None)["energy"], torch.from_numpy(f.positions), h=1e-5
    )
    torch.testing.assert_close(forces, -numeric, atol=1e-7, rtol=0)


def test_stress_is_the_strain_derivative_over_the_volume(make_potential):
    model = make_potential("float64")
    f = periodic_frame(1)
    out = model(frame_to_graph(f, model.cfg.cutoff), stress=True)
    stress = out["stress"][0]
    assert torch.isfinite(stress).all() and stress.abs().max() > 1e-5
    torch.testing.assert_close(stress, stress.T)

    def energy(strain):
        deform = np.eye(3) + strain
        moved = Frame(
            numbers=f.numbers, positions=f.positions @ deform, cell=f.cell @ deform, pbc=f.pbc, source="test"
        )
        return float(model(frame_to_graph(moved, model.cfg.cutoff), forces=False)["energy"][0])

    h, volume = 1e-5, abs(np.linalg.det(f.cell))
    for i, j in [(0, 0), (1, 2), (2, 1), (0, 2)]:
        step = np.zeros((3, 3))
        step[i, j] = step[j, i] = h / 2 if i != j else h
        numeric = (energy(step) - energy(-step)) / (2 * h) / volume
        assert float(stress[i, j]) == pytest.approx(numeric, abs=1e-8)


def test_no_stress_without_a_cell_and_zeros_for_molecules_in_a_mixed_batch(make_potential, ethanol_frames):
    model = make_potential("float64")
    f = ethanol_frames[0]
    unlabelled = Frame(numbers=f.numbers, positions=f.positions, cell=f.cell, pbc=f.pbc, source=f.source)
    molecule = frame_to_graph(unlabelled, model.cfg.cutoff)
    assert "stress" not in model(molecule, stress=True)
    mixed = model(Batch.from_data_list([molecule, frame_to_graph(periodic_frame(), 4.0)]), stress=True)[
        "stress"
    ]
    assert torch.equal(mixed[0], torch.zeros(3, 3, dtype=mixed.dtype))
    assert torch.isfinite(mixed).all() and mixed[1].abs().max() > 0


# precision, modes and errors ----------------------------------------------------------------
def test_float32_by_default_float64_on_request(make_potential, ethanol_frames):
    single, double = make_potential("float32"), make_potential("float64")
    double.load_state_dict(single.state_dict())
    assert {p.dtype for p in single.parameters()} == {torch.float32}
    assert {p.dtype for p in double.parameters()} == {torch.float64}
    graph = frame_to_graph(ethanol_frames[0], 4.0)
    a, b = single(graph), double(graph)
    assert a["energy"].dtype == torch.float64 and a["forces"].dtype == torch.float32
    assert float((a["energy"] - b["energy"]).abs()) < 1e-4
    torch.testing.assert_close(a["forces"].double(), b["forces"], atol=1e-4, rtol=0)


def test_evaluation_under_inference_mode_matches_and_training_keeps_the_graph(make_potential, ethanol_frames):
    model = make_potential("float64")
    batch = Batch.from_data_list([frame_to_graph(f, 4.0) for f in ethanol_frames[:2]])
    plain = model(batch)
    with torch.inference_mode():
        inferred = model(Batch.from_data_list([frame_to_graph(f, 4.0) for f in ethanol_frames[:2]]))
    torch.testing.assert_close(inferred["forces"], plain["forces"])
    assert plain["forces"].grad_fn is None

    model.train()
    loss = model(batch)["forces"].pow(2).sum()
    loss.backward()  # through the forces: a double backward
    assert model.readout[0].weight.grad.abs().max() > 0


def test_an_element_outside_the_table_is_named(make_potential):
    model = make_potential()
    f = Frame(
        numbers=np.array([1, 9]),
        positions=np.array([[0, 0, 0], [0, 0, 0.92]], dtype=float),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, dtype=bool),
        source="test",
    )
    with pytest.raises(DataError) as err:
        model(frame_to_graph(f, 4.0))
    assert str(err.value) == (
        "element F is not in the model's element table (H, C, O): the model never saw it"
    )


def test_reference_energies_can_be_replaced(make_potential, ethanol_frames):
    model = make_potential("float64")
    graph = frame_to_graph(ethanol_frames[0], 4.0)
    before = float(model(graph, forces=False)["energy"][0])
    model.set_reference_energies({"H": -13.6, "C": -1026.3, "O": -2035.6})
    # two carbons, each 1 eV lower
    assert float(model(graph, forces=False)["energy"][0]) == pytest.approx(before - 2.0, abs=1e-9)
    assert model.cfg.reference_energies == [-13.6, -1026.3, -2035.6]
    with pytest.raises(DataError) as err:
        model.set_reference_energies({"H": -13.6})
    assert str(err.value) == "reference energies: none given for element C"


def test_a_molecule_wrapped_across_the_cell_boundary_keeps_its_energy_and_forces(
    make_potential, ethanol_frames
):
    """Ethanol in a large periodic box, split by the cell boundary (atoms wrapped to the other
    side), is the same molecule: its bonds are reached through image shifts, and a wrong sign of
    the shift term would give a periodic run (MD of a solvated molecule) energies of a torn-apart
    molecule."""
    model = make_potential("float64")
    f = ethanol_frames[0]
    free = model(frame_to_graph(f, model.cfg.cutoff))
    box = 12.0  # images 8 Angstrom beyond the molecule's extent: none within the 4 Angstrom cut-off
    cell = np.eye(3) * box
    # the centre of the molecule on the corner of the cell: every axis cuts through it
    wrapped = np.mod(f.positions - f.positions.mean(axis=0), box)
    assert (wrapped > box / 2).any() and (wrapped < box / 2).any()
    periodic = Frame(
        numbers=f.numbers, positions=wrapped, cell=cell, pbc=np.ones(3, dtype=bool), source="test"
    )
    graph = frame_to_graph(periodic, model.cfg.cutoff)
    assert graph.shifts.abs().sum() > 0  # some bonds do cross the boundary
    out = model(graph)
    assert float(out["energy"][0]) == pytest.approx(float(free["energy"][0]), abs=1e-9)
    torch.testing.assert_close(out["forces"], free["forces"], atol=1e-9, rtol=0)


def test_each_element_has_its_own_learned_energy(make_potential):
    """With zero references, an H-C pair and an H-O pair at the same geometry still differ: the
    learned part tells elements apart (a mix-up of the element table would make a carbon and an
    oxygen the same atom to the model)."""
    model = make_potential("float64", references=(0.0, 0.0, 0.0))

    def energy(numbers):
        f = Frame(
            numbers=np.array(numbers),
            positions=np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.1]]),
            cell=np.zeros((3, 3)),
            pbc=np.zeros(3, dtype=bool),
            source="test",
        )
        return model(frame_to_graph(f, 4.0), forces=False)["atomic_energies"]

    hc, ho = energy([1, 6]), energy([1, 8])
    assert abs(float(hc[1] - ho[1])) > 1e-3 and abs(float(hc[0] - ho[0])) > 1e-6


def test_a_config_without_neighbour_count_sums_messages_unnormalised(ethanol_frames):
    """A potential built by hand from a config that left ``avg_num_neighbors`` at ``None`` (training
    measures it; a script may not) divides the message sums by sqrt(1), as documented, and by
    sqrt(n) once n is given."""
    from sciPT.domains.molecules.model import EquivariantPotential
    from sciPT.domains.molecules.potential_config import PotentialConfig

    def energy(avg):
        torch.manual_seed(0)
        cfg = PotentialConfig(
            cutoff=4.0, l_max=1, channels=4, layers=2, radial_hidden=8, radial_layers=1, readout_hidden=4,
            dtype="float64", elements=["H", "C", "O"], reference_energies=[0.0, 0.0, 0.0],
            avg_num_neighbors=avg,
        )  # fmt: skip
        model = EquivariantPotential(cfg).eval()
        return float(model(frame_to_graph(ethanol_frames[0], 4.0), forces=False)["energy"][0])

    assert energy(None) == energy(1.0)
    assert abs(energy(None) - energy(6.0)) > 1e-6


# equivariant linear map, gate and product paths, against e3nn and by hand --------------------
def test_equivariant_linear_is_e3nns_linear_with_the_same_weights():
    """The docstring's claim: e3nn's ``o3.Linear`` between ``C_in x (0e + 1o + 2e)`` and
    ``C_out x (...)``, whose normalisation is 1/sqrt(C_in) (the fan-in of every output), with the
    bias on the scalars only. C_in != C_out, so a 1/sqrt(C_out) would show; a fresh layer's bias
    is zero, as e3nn's, so a fresh layer maps zero features to zero."""
    from e3nn import o3

    from sciPT.domains.molecules.linear import EquivariantLinear
    from sciPT.domains.molecules.tensor_product import irreps

    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        layer = EquivariantLinear(3, 5, l_max=2, bias=True)
        reference = o3.Linear(irreps(3, 2), irreps(5, 2), biases=True)
    finally:
        torch.set_default_dtype(torch.float32)
    assert torch.equal(layer.bias.detach(), torch.zeros(5, dtype=torch.float64))
    x = torch.randn(6, dim(2), 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(layer.weight.reshape(-1))
        torch.testing.assert_close(to_e3nn(layer(x), 2), reference(to_e3nn(x, 2)), atol=1e-12, rtol=1e-12)
        layer.bias.copy_(torch.arange(1.0, 6.0))
        reference.bias.copy_(torch.arange(1.0, 6.0))
        torch.testing.assert_close(to_e3nn(layer(x), 2), reference(to_e3nn(x, 2)), atol=1e-12, rtol=1e-12)


def test_equivariant_linear_has_no_bias_unless_asked():
    """W_1 and W_2 of the interaction are bias-free (only the self-connection has one): a bias there
    would be parameters an export does not hold."""
    from sciPT.domains.molecules.linear import EquivariantLinear

    assert EquivariantLinear(4, 4, l_max=1).bias is None
    assert [n for n, _ in EquivariantLinear(4, 4, l_max=1).named_parameters()] == ["weight"]


def test_gate_by_hand():
    """y_0 = SiLU(x_0); each component of degree l > 0 is multiplied by sigma(g^(l)) of its own
    channel and degree, g = V x_0 + b (here l_max = 2: components 1-3 take the l = 1 gate, 4-8
    the l = 2 gate)."""
    from sciPT.domains.molecules.linear import Gate

    channels, l_max = 2, 2
    gate = Gate(channels, l_max).double()
    x = torch.randn(3, dim(l_max), channels, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    v, b = gate.gates.weight.detach(), gate.gates.bias.detach()  # (channels * l_max, channels)
    expected = torch.empty_like(x)
    for n in range(3):
        g = v @ x[n, 0] + b  # ordered (degree 1: channels, degree 2: channels)
        for c in range(channels):
            expected[n, 0, c] = x[n, 0, c] / (1 + math.exp(-x[n, 0, c]))
            for k in range(1, dim(l_max)):
                degree = 1 if k < 4 else 2
                expected[n, k, c] = x[n, k, c] / (1 + math.exp(-g[(degree - 1) * channels + c]))
    torch.testing.assert_close(gate(x).detach(), expected, atol=1e-12, rtol=1e-12)
    # l_max = 0: SiLU only, no gate parameters
    scalars = Gate(channels, 0)
    assert list(scalars.parameters()) == []
    torch.testing.assert_close(scalars(x[:, :1]), x[:, :1] * torch.sigmoid(x[:, :1]))


def test_product_paths_by_hand():
    """Triangle rule and parity ``l1 + l2 + l3`` even, in the order the radial weights are read:
    (1, 1, 1) is odd, so ``1o x 1o`` gives no vector; ``l_out`` cuts paths above it."""
    from sciPT.domains.molecules.tensor_product import paths

    assert paths(1, 1, 1) == [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)]
    assert paths(1, 1, 2) == [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 2)]
    assert paths(2, 2, 2) == [
        (0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 1), (1, 1, 0), (1, 1, 2),
        (1, 2, 1), (2, 0, 2), (2, 1, 1), (2, 2, 0), (2, 2, 2),
    ]  # fmt: skip
    assert ChannelwiseTensorProduct(1, 1, 1).num_paths == 4


def test_a_degree_no_path_reaches_is_zero_as_in_e3nn():
    """Scalars times harmonics up to l = 1 reach l = 0 and 1 only: the l = 2 output of ``0e x (0e +
    1o) -> 0e + 1o + 2e`` is zero, as e3nn's product with no instruction into it gives."""
    torch.set_default_dtype(torch.float64)
    try:
        tp = ChannelwiseTensorProduct(0, 1, 2)
        reference = tp.e3nn_equivalent(3)
    finally:
        torch.set_default_dtype(torch.float32)
    assert tp.paths == [(0, 0, 0), (0, 1, 1)]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 1, 3, generator=g, dtype=torch.float64)
    sh = torch.randn(5, dim(1), generator=g, dtype=torch.float64)
    w = torch.randn(5, 2, 3, generator=g, dtype=torch.float64)
    out = tp(x, sh, w)
    assert out.shape == (5, dim(2), 3)
    assert out[:, 4:].abs().max() == 0.0 and out[:, :4].abs().max() > 0
    torch.testing.assert_close(
        to_e3nn(out, 2), reference(to_e3nn(x, 0), sh, w.reshape(5, -1)), atol=1e-12, rtol=0
    )
