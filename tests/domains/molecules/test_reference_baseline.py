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


def test_the_stand_in_refuses_an_element_outside_its_table_as_the_potential_does(ethanol_frames):
    """Ethanol's oxygen against a table of H and C: its index, -1, read the last reference energy
    (C's) without a word; the stand-in now refuses it in the potential's words."""
    from sciPT.domains.molecules.graphs import frame_to_graph
    from sciPT.domains.molecules.model import EquivariantPotential
    from sciPT.errors import DataError

    cfg = dataclasses.replace(stand_in_config(), elements=["H", "C"], reference_energies=[-13.6, -1025.3])
    graph = frame_to_graph(ethanol_frames[0], 4.0)
    expected = "element O is not in the model's element table (H, C): the model never saw it"
    with pytest.raises(DataError) as err:
        ReferenceOnlyPotential(cfg)(graph)
    assert str(err.value) == expected
    with pytest.raises(DataError) as err:
        EquivariantPotential(cfg).species(graph.z)
    assert str(err.value) == expected


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


def _xyz(energy: float, atoms: list[tuple], force: float) -> str:
    """One extended XYZ frame of ``atoms`` ``(symbol, x, y, z)``, every force component ``+-force``."""
    lines = [str(len(atoms)), f'Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="F F F"']
    for i, (symbol, x, y, z) in enumerate(atoms):
        f = force if i % 2 == 0 else -force
        lines.append(f"{symbol} {x} {y} {z} {f} {-f} {f}")
    return "\n".join(lines) + "\n"


H2 = [("H", 0, 0, 0), ("H", 0.74, 0, 0)]
WATER = [("O", 0, 0, 0), ("H", 0.96, 0, 0), ("H", -0.24, 0.93, 0)]
METHANE = [("C", 0, 0, 0), *[("H", 0.63 * a, 0.63 * b, 0.63 * a * b) for a in (1, -1) for b in (1, -1)]]
METHANOL = [
    ("C", 0, 0, 0), ("O", 1.43, 0, 0), ("H", -0.5, 0.9, 0), ("H", -0.5, -0.45, 0.8),
    ("H", -0.5, -0.45, -0.8), ("H", 1.8, 0.9, 0),
]  # fmt: skip


def test_the_references_and_the_baseline_of_three_molecules_worked_by_hand(tmp_path):
    """H2 at -31 eV, H2O at -2071 eV and CH4 at -1082 eV fix E_H = -31 / 2 = -15.5, E_O = -2071 + 31
    = -2040 and E_C = -1082 + 62 = -1020 exactly, so no energy is left per atom (shift 0). The
    validation frames, CH3OH 0.6 eV above -1020 - 2040 - 62 and H2O 0.3 eV below -2071, are off by
    +0.1 and -0.1 eV per atom, and every force component is +-0.2 eV/A: one batch of both scores
    2 x 0.01 + 0.5 x 0.04 = 0.04."""
    train, val = tmp_path / "train.xyz", tmp_path / "val.xyz"
    train.write_text(_xyz(-31.0, H2, 0.3) + _xyz(-2071.0, WATER, 0.2) + _xyz(-1082.0, METHANE, 0.1))
    val.write_text(_xyz(-3121.4, METHANOL, 0.2) + _xyz(-2071.3, WATER, 0.2))
    setup = domains.get("molecules").build_pretraining(config(train, val, batch_size=2, val_batches=1))
    model = setup.export_config["model"]
    assert model["elements"] == ["H", "C", "O"]
    assert model["reference_energies"] == pytest.approx([-15.5, -1020.0, -2040.0], rel=1e-12)
    assert model["energy_shift"] == pytest.approx(0.0, abs=1e-9)
    assert setup.report[REPORT_KEY] == pytest.approx(0.04, rel=1e-9)
    # the stand-in's energies: the sums of the references, per frame
    stand_in = ReferenceOnlyPotential(setup.backbone.cfg)
    graphs = setup.datamodule.val_set.graphs
    assert stand_in(collate(graphs))["energy"].tolist() == pytest.approx([-3122.0, -2071.0], rel=1e-12)


class _Draw(torch.nn.Module):
    """An objective whose loss is one draw of the generator it is handed, counted over every
    coordinate of the batch (as the denoising loss counts its own)."""

    def forward(self, model, batch, generator):
        model(batch)
        return torch.rand((), generator=generator, dtype=torch.float64), {}

    def metric_counts(self, batch):
        return {"loss": 3 * int(batch.num_nodes)}


def test_reference_only_val_loss_draws_validation_s_noise_and_weighs_batches_by_their_counts(files):
    """Batch b of rank r is scored with the generator validation hands the objective there
    (PretrainModule.validation_step: stream 1, position b, the rank), and batches combine by their
    metric counts: 2 ranks x 2 batches of one frame, methanol (6 atoms) and ethanol (9) in turn."""
    from types import SimpleNamespace

    from sciPT.module import PretrainModule

    train, val = files
    cfg = config(train, val, batch_size=1, val_batches=2)
    setup = domains.get("molecules").build_pretraining(cfg)
    graphs = setup.datamodule.val_set.graphs
    assert [g.num_nodes for g in graphs] == [6, 9, 6, 9]
    run = dataclasses.replace(cfg.train, devices=2)
    loss = reference_only_val_loss(
        FrameDataset(graphs, shuffle=False), _Draw(), setup.backbone.cfg, run, collate
    )
    sums = counts = 0.0
    for rank in (0, 1):
        for b in (0, 1):
            generator = PretrainModule._generator(SimpleNamespace(train_cfg=run, global_rank=rank), 1, b)
            draw = float(torch.rand((), generator=generator, dtype=torch.float64))
            atoms = graphs[2 * b + rank].num_nodes  # sample (b x 2 ranks + rank) x 1
            sums, counts = sums + 3 * atoms * draw, counts + 3 * atoms
    assert loss == pytest.approx(sums / counts, rel=1e-12)


def test_the_stand_in_answers_as_the_potential_does(ethanol_frames):
    """Forces and stress only when asked for (as EquivariantPotential answers), and each atom's
    energy E_ref[Z] + mu (ethanol's atoms are C C O H H H H H H), which sums to the frame's."""
    from sciPT.domains.molecules.graphs import frame_to_graph

    baseline = ReferenceOnlyPotential(stand_in_config())
    graph = frame_to_graph(ethanol_frames[0], 4.0)
    assert set(baseline(graph)) == {"energy", "atomic_energies", "forces"}
    assert set(baseline(graph, forces=False)) == {"energy", "atomic_energies"}
    atomic = baseline(graph)["atomic_energies"].tolist()
    by_hand = [-1025.3123 + 0.1] * 2 + [-2035.6123 + 0.1] + [-13.6123 + 0.1] * 6
    assert atomic == pytest.approx(by_hand, rel=1e-15)


def test_an_empty_validation_set_or_batches_of_no_frame_have_no_reference_only_loss(ethanol_frames):
    """Nothing to score: ``None`` (no baseline in the report), not a loss over no batch."""
    from types import SimpleNamespace

    from sciPT.domains.molecules.graphs import frame_to_graph

    objective = build_objective(ObjectiveConfig())
    model = stand_in_config()
    train = SimpleNamespace(val_batches=1, batch_size=2, devices=1, num_nodes=1, accelerator="cpu", seed=0)
    empty = FrameDataset([], shuffle=False)
    assert reference_only_val_loss(empty, objective, model, train, collate) is None
    one = FrameDataset([frame_to_graph(ethanol_frames[0], 4.0)], shuffle=False)
    assert reference_only_val_loss(one, objective, model, train, collate) is not None
    no_frames = SimpleNamespace(**{**vars(train), "batch_size": 0})
    assert reference_only_val_loss(one, objective, model, no_frames, collate) is None
