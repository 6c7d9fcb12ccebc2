"""The reference-only validation loss a molecular pre-training must beat (:mod:`.baseline`), checked
against a hand computation, and the report's verdict on it (:mod:`sciPT.pretrain`)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read

from sciPT.domains.molecules.baseline import REPORT_KEY, ReferenceOnlyPotential, reference_only_val_loss
from sciPT.domains.molecules.data import MoleculeDataConfig
from sciPT.domains.molecules.dataset import FrameDataset, batches, collate
from sciPT.domains.molecules.objectives import ObjectiveConfig, build_objective
from sciPT.domains.molecules.presets import tiny
from sciPT.pretrain import LossBaseline, baseline_verdict, loss_baseline
from sciPT.registry import domains

SHIPPED = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules"
ETH_METH = SHIPPED / "ethanol" / "train_eth_meth.xyz"  # frames 0-299 methanol (6 atoms), then ethanol (9)
TRAIN = [0, 1, 2, 3, 4, 300, 301, 302, 303, 304]
VAL = [5, 300 + 5, 6, 300 + 6]  # alternating sizes: the batches below hold 21, 24 and 21 atoms


def frames_text(path: Path, indices: list[int]) -> str:
    """The extended XYZ text of frames ``indices`` of ``path``, copied verbatim."""
    lines, starts, at = path.read_text().splitlines(keepends=True), [], 0
    while at < len(lines):
        starts.append(at)
        at += int(lines[at]) + 2
    return "".join("".join(lines[starts[i] : starts[i] + int(lines[starts[i]]) + 2]) for i in indices)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference-only")
    train, val = folder / "train.xyz", folder / "val.xyz"
    train.write_text(frames_text(ETH_METH, TRAIN))
    val.write_text(frames_text(ETH_METH, VAL))
    return train, val


ISOLATED = SHIPPED / "ethanol" / "isolated_atoms.xyz"


def config(train: Path, val: Path, batch_size: int = 3, val_batches: int = 3, references: str = "lstsq"):
    cfg = tiny()
    cfg.data = MoleculeDataConfig(paths=[str(train)], val_paths=[str(val)], references=references)
    if references == "isolated":
        cfg.data.isolated_atoms = str(ISOLATED)
    cfg.objective = ObjectiveConfig(energy_weight=2.0, forces_weight=0.5)
    cfg.fisher = dataclasses.replace(cfg.fisher, frames=0)
    cfg.train = dataclasses.replace(cfg.train, batch_size=batch_size, val_batches=val_batches)
    return cfg


ELEMENTS = [1, 6, 8]  # H, C, O


def table(path: Path):
    """Element counts ``[frames, 3]``, energies and forces of the frames of ``path``, read by ASE."""
    frames = read(path, ":")
    counts = np.array([[np.sum(a.numbers == z) for z in ELEMENTS] for a in frames], dtype=float)
    energies = np.array([a.get_potential_energy() for a in frames])
    return counts, energies, [a.get_forces() for a in frames]


def hand_references(train: Path, references: str) -> np.ndarray:
    """Least squares on the training frames' energies, or the isolated atoms' energies."""
    if references == "isolated":
        atoms = {int(a.numbers[0]): a.get_potential_energy() for a in read(ISOLATED, ":")}
        return np.array([atoms[z] for z in ELEMENTS])
    a_train, e_train, _ = table(train)
    return np.linalg.lstsq(a_train, e_train, rcond=None)[0]


def by_hand(
    train: Path, val: Path, batch_size: int, val_batches: int, w_e: float, w_f: float, references: str
) -> float:
    """The references, the training frames' mean per-atom energy left after them as the shift, zero
    forces; the loss of each validation batch, averaged over batches weighted by their frames
    (validation samples 0, 1, 2, ... cycle through the validation frames in order)."""
    a_train, e_train, _ = table(train)
    refs = hand_references(train, references)
    n_train = a_train.sum(1)
    shift = np.mean((e_train - a_train @ refs) / n_train)
    a_val, e_val, f_val = table(val)
    n_val = a_val.sum(1)
    predicted = a_val @ refs + n_val * shift
    losses, sizes = [], []
    for b in range(val_batches):
        frames = [(b * batch_size + i) % len(e_val) for i in range(batch_size)]
        per_atom = (e_val[frames] - predicted[frames]) / n_val[frames]
        forces = np.concatenate([f_val[k] for k in frames])
        losses.append(w_e * np.mean(per_atom**2) + w_f * np.mean(forces**2))
        sizes.append(len(frames))
    return float(np.average(losses, weights=sizes))


@pytest.mark.parametrize("references", ["lstsq", "isolated"])
def test_reference_only_val_loss_is_the_hand_computed_loss(files, references):
    """Weights 2 and 0.5, batches of 21, 24 and 21 atoms (a mean over every force component of
    the three would be another number); with isolated atoms the shift is some -4.7 eV/atom, which a
    reference-only loss without it would miss by far."""
    train, val = files
    setup = domains.get("molecules").build_pretraining(config(train, val, references=references))
    expected = by_hand(train, val, batch_size=3, val_batches=3, w_e=2.0, w_f=0.5, references=references)
    assert setup.report[REPORT_KEY] == pytest.approx(expected, rel=1e-9)
    # the references the potential itself starts from
    model = setup.export_config["model"]
    assert setup.export_config["references"] == references
    assert model["reference_energies"] == pytest.approx(
        hand_references(train, references).tolist(), rel=1e-12
    )
    assert loss_baseline(setup.report) == LossBaseline(
        REPORT_KEY,
        "reference-only loss (per-element reference energies, zero forces)",
        "per-element reference energies",
        setup.report[REPORT_KEY],
        "reference energies only",
    )


def test_a_potential_whose_readout_is_zero_scores_the_reference_only_loss(files):
    """The stand-in is the potential without its learned part: the real model with a zero readout
    gives the same loss on the same batches."""
    train, val = files
    cfg = config(train, val, batch_size=2, val_batches=2)
    setup = domains.get("molecules").build_pretraining(cfg)
    model = setup.backbone.eval()
    last = model.readout[-1]
    with torch.no_grad():
        last.weight.zero_()
        if last.bias is not None:
            last.bias.zero_()
    objective = build_objective(cfg.objective)
    graphs = setup.datamodule.val_set.graphs
    for batch in batches(graphs, 2):
        real, _ = objective(model, batch)
        stand_in, _ = objective(ReferenceOnlyPotential(model.cfg), batch)
        assert float(stand_in) == pytest.approx(float(real), rel=1e-6)
    assert reference_only_val_loss(
        FrameDataset(graphs, shuffle=False), objective, model.cfg, cfg.train, collate
    ) == pytest.approx(setup.report[REPORT_KEY], rel=1e-12)


def test_no_validation_set_has_no_reference_only_loss(files):
    train, _ = files
    cfg = config(train, train)
    cfg.data = dataclasses.replace(cfg.data, val_paths=[], val_fraction=0.0)
    setup = domains.get("molecules").build_pretraining(cfg)
    assert REPORT_KEY not in setup.report and loss_baseline(setup.report) is None


def test_the_report_says_whether_the_validation_loss_is_below_the_baseline():
    baseline = LossBaseline("k", "reference-only loss (x)", "per-element reference energies", 1.6)
    above = baseline_verdict(baseline, 1.644)
    assert above.startswith("**Warning:** the final validation loss, 1.644, is NOT below 1.600")
    assert above.endswith("the model has not learnt beyond per-element reference energies.")
    assert "NOT below" in baseline_verdict(baseline, 1.6)  # equal is not below
    below = baseline_verdict(baseline, 0.4)
    assert below == (
        "The final validation loss, 0.4000, is below 1.600, the reference-only loss (x), by 1.20 "
        "(75.0 % lower): the model has learnt beyond per-element reference energies."
    )
    assert baseline_verdict(None, 0.4) is None
    assert loss_baseline({"loss_baseline": {"key": "k"}}) is None  # no value


def stand_in_config(references=(-13.6123, -1025.3123, -2035.6123), shift=0.1, scale=1.7):
    cfg = tiny().model
    return dataclasses.replace(
        cfg,
        elements=["H", "C", "O"],
        reference_energies=list(references),
        energy_shift=shift,
        energy_scale=scale,
    )


def test_the_stand_in_s_energy_is_the_float64_sum_of_references_and_shift_per_atom(ethanol_frames):
    """sum_i (E_ref[Z_i] + mu) over each frame's atoms, in float64: references and a shift rounded
    to float32 would move a -4000 eV total by 1e-4 eV and the baseline loss with it."""
    from sciPT.domains.molecules.graphs import frame_to_graph

    baseline = ReferenceOnlyPotential(stand_in_config())
    refs = {1: -13.6123, 6: -1025.3123, 8: -2035.6123}
    graphs = [frame_to_graph(f, 4.0) for f in ethanol_frames[:2]]
    out = baseline(collate(graphs), stress=True)
    expected = [sum(refs[int(z)] + 0.1 for z in g.z) for g in graphs]
    assert out["energy"].dtype == torch.float64
    assert out["energy"].tolist() == pytest.approx(expected, rel=1e-15)
    assert torch.equal(out["forces"], torch.zeros(18, 3, dtype=torch.float64))
    assert torch.equal(out["stress"], torch.zeros(2, 3, 3, dtype=torch.float64))
    # one frame, not batched (no ``batch`` vector): all its atoms are one structure
    single = baseline(graphs[0])
    assert single["energy"].tolist() == pytest.approx(expected[:1], rel=1e-15)


def test_the_stand_in_without_references_predicts_the_shift_per_atom(ethanol_frames):
    """A model config with no references (none fitted yet) still scores: mu per atom."""
    from sciPT.domains.molecules.graphs import frame_to_graph

    baseline = ReferenceOnlyPotential(stand_in_config(references=()))
    out = baseline(frame_to_graph(ethanol_frames[0], 4.0))
    assert out["energy"].tolist() == pytest.approx([9 * 0.1], rel=1e-15)


def test_the_stand_in_keeps_the_potential_s_statistics_under_the_potential_s_names():
    """Its saved state is the first head's reference energies, shift and scale (float64, as the
    denoising loss and the energy read them), and a potential's state dict supplies them."""
    from sciPT.domains.molecules.model import EquivariantPotential

    cfg = stand_in_config()
    baseline = ReferenceOnlyPotential(cfg)
    assert set(baseline.state_dict()) == {"reference_energies", "energy_shift", "energy_scale"}
    assert baseline.energy_scale.dtype == baseline.energy_shift.dtype == torch.float64
    assert (float(baseline.energy_shift), float(baseline.energy_scale)) == (0.1, 1.7)
    assert baseline.reference_energies.tolist() == [-13.6123, -1025.3123, -2035.6123]
    other = ReferenceOnlyPotential(stand_in_config(references=(0.0, 0.0, 0.0), shift=0.0, scale=1.0))
    potential = EquivariantPotential(cfg).state_dict()
    other.load_state_dict({k: potential[k] for k in other.state_dict()})
    assert other.reference_energies.tolist() == pytest.approx([-13.6123, -1025.3123, -2035.6123], rel=1e-15)


def test_the_processes_that_validate_are_devices_per_node_times_nodes(monkeypatch):
    """The baseline must score the batches every process validates: 2 devices on 3 nodes are 6."""
    from types import SimpleNamespace

    from sciPT.domains.molecules import baseline

    def train(devices, accelerator="cpu", nodes=1):
        return SimpleNamespace(devices=devices, accelerator=accelerator, num_nodes=nodes)

    assert baseline.validation_processes(train(2, nodes=3)) == 6
    assert baseline.validation_processes(train("auto", nodes=2)) == 2
    monkeypatch.setattr(baseline.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(baseline.torch.cuda, "device_count", lambda: 4)
    assert baseline.validation_processes(train("auto", accelerator="gpu", nodes=2)) == 8
    assert baseline.validation_processes(train(-1, accelerator="auto")) == 4
    assert baseline.validation_processes(train("auto", accelerator="cpu", nodes=2)) == 2


@pytest.mark.parametrize("devices, val_batches", [(1, 1), (2, 2)])
def test_reference_only_val_loss_scores_every_process_s_batches(files, devices, val_batches):
    """One validation batch is a loss too; with 2 processes the validation is each one's
    ``val_batches`` batches, the frames of 2 x ``val_batches`` batches in turn."""
    train, val = files
    cfg = config(train, val, batch_size=2, val_batches=val_batches)
    setup = domains.get("molecules").build_pretraining(cfg)
    objective = build_objective(cfg.objective)
    graphs = setup.datamodule.val_set.graphs
    run = dataclasses.replace(cfg.train, devices=devices)
    loss = reference_only_val_loss(
        FrameDataset(graphs, shuffle=False), objective, setup.backbone.cfg, run, collate
    )
    expected = by_hand(
        train, val, batch_size=2, val_batches=devices * val_batches, w_e=2.0, w_f=0.5, references="lstsq"
    )
    assert loss == pytest.approx(expected, rel=1e-9)


def test_a_validation_set_held_out_of_streamed_shards_has_no_reference_only_loss(files):
    """Each rank's own shard frames are known only once the ranks are: scoring this process's frames
    alone would report a baseline other than the one validation sees."""
    from sciPT.streaming import RankSharded

    train, val = files
    cfg = config(train, val, batch_size=2, val_batches=2)
    setup = domains.get("molecules").build_pretraining(cfg)
    graphs = setup.datamodule.val_set.graphs
    objective = build_objective(cfg.objective)
    plain = FrameDataset(graphs, shuffle=False)
    assert reference_only_val_loss(plain, objective, setup.backbone.cfg, cfg.train, collate) is not None
    sharded = type("Sharded", (FrameDataset, RankSharded), {})(graphs, shuffle=False)
    assert reference_only_val_loss(sharded, objective, setup.backbone.cfg, cfg.train, collate) is None
