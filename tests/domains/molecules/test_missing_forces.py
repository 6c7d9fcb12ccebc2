"""Frames without forces beside frames with them: read without forces, fitted on their energies,
left out of the force terms of the loss, the force metrics, the EWC Fisher; a set in which no frame
has forces is refused as a mistyped key. Every number against a hand computation from the model's
own outputs."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from ase.io import read, write

from sciPT.domains.molecules.data import MoleculeDataConfig
from sciPT.domains.molecules.dataset import collate, prepare
from sciPT.domains.molecules.evaluate import evaluate_potential
from sciPT.domains.molecules.ewc import FisherConfig, energy_force_gauss_newton, fisher_hook, whitened_outputs
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.lwf import OldHeadLoss, attach_teacher
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.potential_config import PotentialConfig
from sciPT.domains.molecules.streaming import prepare_streaming, training_sets
from sciPT.errors import DataError

NOTE = "{n} of {m} frames have no forces under key 'forces': their energies are fitted, not their forces"


def without_forces(frame):
    return dataclasses.replace(frame, forces=None, missing_forces=f"{frame.source}: no forces")


@pytest.fixture(scope="module")
def model(make_potential):
    return make_potential(l_max=1)


@pytest.fixture(scope="module")
def mixed(model, ethanol_frames):
    """Graphs of three ethanol frames, the second without forces."""
    frames = [ethanol_frames[0], without_forces(ethanol_frames[1]), ethanol_frames[2]]
    return frames, [frame_to_graph(f, model.cfg.cutoff) for f in frames]


def predictions(model, graphs):
    """Energies and forces of each graph, predicted alone."""
    out = [model(collate([g]), forces=True, create_graph=False) for g in graphs]
    return [float(o["energy"][0]) for o in out], [o["forces"].double() for o in out]


def test_a_frame_without_forces_is_a_graph_with_zero_forces_flagged_absent(mixed):
    frames, graphs = mixed
    assert [bool(g.has_forces) for g in graphs] == [True, False, True]
    assert torch.equal(graphs[1].forces, torch.zeros(9, 3, dtype=torch.float64))
    assert torch.equal(graphs[0].forces, torch.from_numpy(frames[0].forces))
    batch = collate(graphs)
    assert batch.has_forces.tolist() == [True, False, True] and batch.forces.shape == (27, 3)


def test_loss_is_both_energy_terms_and_the_force_term_of_the_frame_with_forces(model, mixed):
    frames, graphs = mixed
    pair = graphs[:2]  # frame 0 has forces, frame 1 has none
    energies, forces = predictions(model, pair)
    w_e, w_f = 2.0, 10.0
    per_atom = [(energies[k] - frames[k].energy) / 9 for k in range(2)]
    energy_term = w_e * (per_atom[0] ** 2 + per_atom[1] ** 2) / 2
    force_error = forces[0].numpy() - frames[0].forces
    force_term = w_f * float(np.mean(force_error**2))  # 27 components of frame 0 alone
    loss, metrics = EnergyForceLoss(ObjectiveConfig(energy_weight=w_e, forces_weight=w_f))(
        model, collate(pair)
    )
    assert float(loss) == pytest.approx(energy_term + force_term, rel=1e-9)
    assert float(metrics["loss_energy"]) == pytest.approx(energy_term, rel=1e-9)
    assert float(metrics["loss_forces"]) == pytest.approx(force_term, rel=1e-9)
    assert float(metrics["forces_mae_meV_per_A"]) == pytest.approx(
        1000 * np.abs(force_error).mean(), rel=1e-9
    )
    assert float(metrics["forces_rmse_meV_per_A"]) == pytest.approx(
        1000 * math.sqrt(np.mean(force_error**2)), rel=1e-9
    )
    assert float(metrics["energy_mae_meV"]) == pytest.approx(
        1000 * (abs(energies[0] - frames[0].energy) + abs(energies[1] - frames[1].energy)) / 2, rel=1e-9
    )


def test_a_batch_without_forces_has_no_force_term_and_computes_none(model, mixed):
    frames, graphs = mixed
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, batch, **kwargs):
            calls.append(kwargs)
            return model(batch, **kwargs)

    (energy,), _ = predictions(model, graphs[1:2])
    loss, metrics = EnergyForceLoss(ObjectiveConfig())(Spy(), collate(graphs[1:2]))
    assert calls[0]["forces"] is False
    assert float(loss) == pytest.approx(((energy - frames[1].energy) / 9) ** 2, rel=1e-9)
    assert "loss_forces" not in metrics and "forces_mae_meV_per_A" not in metrics
    # energies weighing nothing: a zero loss the optimizer can still step on
    model.train()
    try:
        loss, _ = EnergyForceLoss(ObjectiveConfig(energy_weight=0.0))(model, collate(graphs[1:2]))
        loss.backward()
    finally:
        model.zero_grad()
        model.eval()
    assert float(loss.detach()) == 0.0


def test_evaluation_scores_forces_over_the_frames_that_have_them(model, mixed):
    frames, graphs = mixed
    energies, forces = predictions(model, graphs)
    ev = evaluate_potential(model, graphs, batch_size=2)  # batches [0, 1] and [2]
    errors = np.concatenate([(forces[k].numpy() - frames[k].forces).reshape(-1) for k in (0, 2)]) * 1000
    m = ev.metrics
    assert m["forces_mae_meV_per_A"] == pytest.approx(np.abs(errors).mean(), rel=1e-9)
    assert m["forces_rmse_meV_per_A"] == pytest.approx(math.sqrt(np.mean(errors**2)), rel=1e-9)
    oxygen = np.concatenate(
        [(forces[k].numpy() - frames[k].forces)[frames[k].numbers == 8].reshape(-1) for k in (0, 2)]
    )
    assert m["forces_mae_meV_per_A_O"] == pytest.approx(1000 * np.abs(oxygen).mean(), rel=1e-9)
    energy_errors = [1000 * (energies[k] - frames[k].energy) for k in range(3)]
    assert m["energy_mae_meV"] == pytest.approx(np.abs(energy_errors).mean(), rel=1e-9)
    assert m["forces_frames"] == 2
    assert ev.forces[0].shape == (54,)  # the parity plot's components: frames 0 and 2
    assert "forces_frames" not in evaluate_potential(model, [graphs[0], graphs[2]]).metrics


def test_ewc_whitened_outputs_leave_out_the_forces_of_frames_without_them(model, mixed):
    frames, graphs = mixed
    objective = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    outputs, labels = whitened_outputs(model, objective, collate(graphs[:2]))
    assert outputs.shape == (2 + 27,)
    # each frame's squared whitened distance is its own loss, and the Fisher's mean loss their mean
    losses = []
    for g in graphs:
        o, t = whitened_outputs(model, objective, collate([g]))
        loss, _ = EnergyForceLoss(objective)(model, collate([g]))
        assert float((o.detach() - t).square().sum()) == pytest.approx(float(loss), rel=1e-9)
        losses.append(float(loss))
    assert whitened_outputs(model, objective, collate([graphs[1]]))[0].shape == (1,)
    energies, _ = predictions(model, graphs[1:2])
    assert losses[1] == pytest.approx(2.0 * ((energies[0] - frames[1].energy) / 9) ** 2, rel=1e-9)
    fisher, mean_loss = energy_force_gauss_newton(
        model, objective, [collate([g]) for g in graphs], progress=False
    )
    assert mean_loss == pytest.approx(np.mean(losses), rel=1e-9)
    assert all(torch.isfinite(v).all() for v in fisher.values())
    # energies weighing nothing: the frame without forces tells the Fisher nothing and is left out
    forces_only = ObjectiveConfig(energy_weight=0.0)
    extras = fisher_hook(graphs, FisherConfig(frames=8, blocks="none"), forces_only, 0)(model)
    assert all(torch.isfinite(v).all() for v in extras.values())
    kept = [float(EnergyForceLoss(forces_only)(model, collate([graphs[k]]))[0]) for k in (0, 2)]
    assert float(extras["ewc.pretraining_loss"]) == pytest.approx(np.mean(kept), rel=1e-9)


def test_old_head_distillation_keeps_every_frame_s_teacher_forces(make_potential, mixed):
    """The teacher is the old head's own prediction, forces included, whether or not a frame has
    force labels: the term is zero at the start and moves when the shared blocks do."""
    model = make_potential(l_max=1)
    model.add_head("new")
    graphs = [g.clone() for g in mixed[1]]
    attach_teacher(model, graphs, "default")
    assert graphs[1].old_forces.shape == (9, 3) and float(graphs[1].old_forces.abs().max()) > 0
    keep = OldHeadLoss(ObjectiveConfig(), "default", strength=1.0)
    assert float(keep(model, collate(graphs))[0]) == pytest.approx(0.0, abs=1e-18)


# --- sets --------------------------------------------------------------------------------------
def mixed_file(path, shipped, keep_forces, frames=8):
    """The first ``frames`` shipped ethanol frames, forces deleted where ``keep_forces(i)`` is false."""
    images = read(shipped / "ethanol" / "train.xyz", index=f":{frames}")
    for i, atoms in enumerate(images):
        if not keep_forces(i):
            atoms.calc.results.pop("forces")
    write(path, images)
    return path


def test_prepare_fits_a_mixed_set_and_says_how_many_frames_lack_forces(tmp_path, shipped, capsys):
    path = mixed_file(tmp_path / "mixed.xyz", shipped, lambda i: i % 3 != 1)  # frames 1, 4, 7
    cfg = MoleculeDataConfig(paths=[str(path)], val_fraction=0.25, references="lstsq")
    prepared = prepare(cfg, PotentialConfig(cutoff=4.0), labelled=True)
    # (then the line that one molecule's frames fix one combination of the references)
    assert capsys.readouterr().err.strip().splitlines()[0] == NOTE.format(n=3, m=8)
    flags = [bool(g.has_forces) for g in prepared.train + prepared.val]
    assert sorted(flags) == [False] * 3 + [True] * 5
    # the force scale is the RMS of the force components of the frames that have them
    labelled = read(shipped / "ethanol" / "train.xyz", index=":8")
    rms = math.sqrt(
        np.mean(np.concatenate([a.get_forces() for i, a in enumerate(labelled) if i % 3 != 1]) ** 2)
    )
    train_forces = [g.forces.numpy() for g in prepared.train if bool(g.has_forces)]
    expected = math.sqrt(np.mean(np.concatenate(train_forces) ** 2))
    assert prepared.model.energy_scale == pytest.approx(expected, rel=1e-12)
    assert abs(expected - rms) < 0.2 * rms


def test_a_set_without_any_forces_is_refused_with_the_first_frame_s_message(tmp_path, shipped, capsys):
    path = mixed_file(tmp_path / "none.xyz", shipped, lambda i: False, frames=4)
    cfg = MoleculeDataConfig(paths=[str(path)], val_fraction=0.25)
    with pytest.raises(DataError) as err:
        prepare(cfg, PotentialConfig(cutoff=4.0), labelled=True)
    assert str(err.value) == (
        f"{path}: frame 0: no forces key 'forces' (the frame has: OH_dist, config_type, energy)"
    )
    # the same file beside one with forces: read, fitted on its energies
    other = mixed_file(tmp_path / "all.xyz", shipped, lambda i: True, frames=4)
    capsys.readouterr()
    prepared = prepare(
        dataclasses.replace(cfg, paths=[str(other), str(path)], val_fraction=0.0),
        PotentialConfig(cutoff=4.0),
        labelled=True,
    )
    assert capsys.readouterr().err.strip().splitlines()[0] == NOTE.format(n=4, m=8)
    assert [bool(g.has_forces) for g in prepared.train] == [True] * 4 + [False] * 4
    # forces_key null: energies alone, no line about forces
    prepare(dataclasses.replace(cfg, forces_key=None), PotentialConfig(cutoff=4.0), labelled=True)
    assert "no forces" not in capsys.readouterr().err


def test_streamed_shards_mix_frames_with_and_without_forces(tmp_path, shipped, capsys):
    shards = tmp_path / "shards"
    shards.mkdir()
    mixed_file(shards / "a.xyz", shipped, lambda i: i != 0, frames=6)
    mixed_file(shards / "b.xyz", shipped, lambda i: False, frames=6)  # energies alone
    cfg = MoleculeDataConfig(paths=[str(shards)], val_fraction=0.0, stats_frames=12, references="lstsq")
    prepared = prepare_streaming(cfg, PotentialConfig(cutoff=4.0), labelled=True)
    assert capsys.readouterr().err.strip().splitlines()[0] == (
        "7 of the first 12 frames have no forces under key 'forces': their energies are fitted, not their forces"
    )
    train, _ = training_sets(prepared, 0)
    frames = train.for_rank(0, 1)
    graphs = [frames[i] for i in range(len(frames))]
    assert sorted(bool(g.has_forces) for g in graphs) == [False] * 7 + [True] * 5
    batch = collate(graphs)
    assert int(batch.has_forces.sum()) == 5 and batch.forces.shape == (108, 3)
    # a sample without forces: a mistyped key
    with pytest.raises(DataError) as err:
        prepare_streaming(
            dataclasses.replace(cfg, paths=[str(shards / "b.xyz")], streaming=True),
            PotentialConfig(cutoff=4.0),
            labelled=True,
        )
    assert str(err.value) == (
        f"{shards / 'b.xyz'}: frame 0: no forces key 'forces' (the frame has: OH_dist, config_type, energy)"
    )
