"""Learning without forgetting (lwf.py): the teacher is the old head's own prediction, the term is
zero there and the objective's weighted mean squares away from it, and only the shared blocks get
its gradient when the old head is frozen."""

import dataclasses

import pytest
import torch

from sciPT.domains.molecules.dataset import collate
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.lwf import OldHeadLoss, attach_teacher
from sciPT.domains.molecules.objectives import ObjectiveConfig


@pytest.fixture
def setup(make_potential, ethanol_frames):
    model = make_potential(l_max=1)
    model.add_head("acac")
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames]
    return model, graphs


def test_the_teacher_is_what_the_old_head_predicted_frame_by_frame(setup):
    model, graphs = setup
    attach_teacher(model, graphs, "default", batch_size=3)  # batches of 3 and 1
    for graph in graphs:
        alone = model(collate([graph]), head="default")
        torch.testing.assert_close(graph.old_energy, alone["energy"], rtol=0, atol=1e-10)
        torch.testing.assert_close(graph.old_forces, alone["forces"], rtol=0, atol=1e-10)
    assert not model.training


def test_the_term_is_zero_at_the_teacher_and_the_weighted_mean_square_away_from_it(setup):
    model, graphs = setup
    attach_teacher(model, graphs, "default")
    cfg = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    keep = OldHeadLoss(cfg, "default", strength=3.0)
    batch = collate(graphs)
    assert float(keep(model, batch)[0]) == pytest.approx(0.0, abs=1e-18)
    with torch.no_grad():  # move a shared block: the old head's predictions move with it
        model.blocks[0].linear_out.weight.mul_(1.3)
    loss, metrics = keep(model, batch)
    pred = model(batch, head="default")
    n = batch.natoms.reshape(-1)
    by_hand = (
        2.0 * ((pred["energy"] - batch.old_energy) / n).pow(2).mean()
        + 0.5 * (pred["forces"] - batch.old_forces).pow(2).mean()
    )
    assert float(by_hand) > 1e-6
    assert float(loss) == pytest.approx(3.0 * float(by_hand), rel=1e-9)
    assert float(metrics["loss_old_head"]) == pytest.approx(float(by_hand), rel=1e-9)


def test_frames_without_a_teacher_add_nothing_and_a_frozen_old_head_gets_no_gradient(setup):
    model, graphs = setup
    keep = OldHeadLoss(ObjectiveConfig(), "default", strength=1.0)
    assert keep(model, collate(graphs))[0].item() == 0.0 and keep(model, collate(graphs))[1] == {}
    attach_teacher(model, graphs, "default")
    with torch.no_grad():
        model.blocks[0].linear_out.weight.mul_(1.3)
    for name in model.head_parameter_names("default"):
        dict(model.named_parameters())[name].requires_grad_(False)
    model.train()
    keep(model, collate(graphs))[0].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is None for n in model.head_parameter_names("default"))
    assert all(grads[n] is None for n in model.head_parameter_names("acac"))  # the new head is not read
    assert grads["blocks.0.linear_out.weight"].abs().max() > 0


def test_the_teacher_comes_from_the_head_it_names(setup):
    """Distilling the old level of theory through another head would keep the wrong predictions;
    the heads differ here (the new one moved), and each is asked for by name."""
    model, graphs = setup
    with torch.no_grad():
        for p in model.extra_heads[0].parameters():
            p.add_(0.1)
    for head in ("default", "acac"):
        attach_teacher(model, graphs[:2], head)
        for graph in graphs[:2]:
            named = model(collate([graph]), head=head)
            other = model(collate([graph]), head="acac" if head == "default" else "default")
            assert float((named["energy"] - other["energy"]).abs().min()) > 1e-6
            torch.testing.assert_close(graph.old_energy, named["energy"], rtol=0, atol=1e-10)
            torch.testing.assert_close(graph.old_forces, named["forces"], rtol=0, atol=1e-10)


def test_the_teacher_of_a_batch_of_molecules_of_different_sizes_is_each_one_s_own(setup, ethanol_frames):
    """A batch mixing a 9-atom and a 5-atom molecule: each graph keeps its own atoms' forces, not a
    slice of its neighbour's."""
    model, _ = setup
    whole = ethanol_frames[0]
    part = dataclasses.replace(
        whole, numbers=whole.numbers[:5], positions=whole.positions[:5], forces=whole.forces[:5]
    )
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in (part, whole, part)]
    attach_teacher(model, graphs, "default", batch_size=3)
    assert [tuple(g.old_forces.shape) for g in graphs] == [(5, 3), (9, 3), (5, 3)]
    for graph in graphs:
        alone = model(collate([graph]), head="default")
        torch.testing.assert_close(graph.old_forces, alone["forces"], rtol=0, atol=1e-10)


class _Shifted(torch.nn.Module):
    """A stand-in backbone: the teacher moved by hand, energy by ``de`` per frame and every force
    component by ``df``; it records the head and whether forces were asked for."""

    def __init__(self, de, df):
        super().__init__()
        self.de, self.df, self.calls = torch.tensor(de, dtype=torch.float64), df, []

    def forward(self, batch, *, head, forces):
        self.calls.append((head, forces))
        out = {"energy": batch.old_energy.reshape(-1) + self.de}
        if forces:
            out["forces"] = batch.old_forces + self.df
        return out


def _taught(ethanol_frames):
    """Two 9-atom ethanol frames with a made-up teacher (the term only compares against it)."""
    graphs = [frame_to_graph(f, 4.0) for f in ethanol_frames[:2]]
    for k, graph in enumerate(graphs):
        graph.old_energy = torch.tensor([-100.0 * (k + 1)], dtype=torch.float64)
        graph.old_forces = torch.full((9, 3), 0.1 * k, dtype=torch.float64)
    return collate(graphs)


@pytest.mark.parametrize(
    "w_e, w_f, bracket",
    [
        # energies off by 0.9 and -1.8 eV on 9 atoms: 0.1 and -0.2 eV/atom, mean square 0.025;
        # every force component off by 0.5: mean square 0.25
        (2.0, 0.5, 2.0 * 0.025 + 0.5 * 0.25),
        (1.0, 0.0, 0.025),  # energies only: the backbone is not asked for forces
        (0.0, 2.0, 2.0 * 0.25),  # forces only
    ],
)
def test_the_term_is_the_formula_of_the_module_docstring_by_hand(ethanol_frames, w_e, w_f, bracket):
    """mu [w_E <((E - E0) / N)^2> + w_F <(F - F0)^2>] with mu = 3, against numbers worked by hand;
    the metric is the bracket without mu, and the head asked for is the old one."""
    batch = _taught(ethanol_frames)
    backbone = _Shifted([0.9, -1.8], 0.5)
    keep = OldHeadLoss(ObjectiveConfig(energy_weight=w_e, forces_weight=w_f), "old", strength=3.0)
    loss, metrics = keep(backbone, batch)
    assert float(loss) == pytest.approx(3.0 * bracket, rel=1e-12)
    assert float(metrics["loss_old_head"]) == pytest.approx(bracket, rel=1e-12)
    assert backbone.calls == [("old", w_f > 0)]


def test_the_teacher_leaves_a_training_model_in_training_mode(setup):
    """The teacher is computed in evaluation mode, and a model that was training is put back."""
    model, graphs = setup
    model.train()
    attach_teacher(model, graphs[:2], "default")
    assert model.training
    alone = model(collate([graphs[0]]), head="default", create_graph=False)
    torch.testing.assert_close(graphs[0].old_energy, alone["energy"], rtol=0, atol=1e-10)
