"""How the force-field task trains (:mod:`sciPT.tasks.forcefield_train`), from a small untrained
potential and hand-made starts: the loss each head is fitted with, the batches, what a run writes
once trained (its metrics, its printed summary; training itself left out), the strategy's bounds,
what the export records of how each head reads its frames, and the refusal of ``scipt evaluate``
on another run (:mod:`sciPT.tasks.forcefield_eval`). Without pre-training a model."""

import dataclasses
import json
import types

import pytest
import torch
from ase.io import read, write
from torch_geometric.data import Data

from sciPT.checkpoint import START_KEY
from sciPT.domains.molecules.data import ACETYLACETONE_TRAIN, ETHANOL_TRAIN, MoleculeDataConfig
from sciPT.domains.molecules.dataset import collate
from sciPT.domains.molecules.evaluate import reading
from sciPT.domains.molecules.graphs import atoms_to_graph
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import ConfigError, UserError
from sciPT.files import resolve_data_path
from sciPT.finetune import Freeze
from sciPT.finetune.fisher import fisher_extras
from sciPT.pretrain import ExportRecord
from sciPT.tasks import forcefield_train
from sciPT.tasks.forcefield_config import ForcefieldConfig
from sciPT.tasks.forcefield_data import Start
from sciPT.tasks.forcefield_eval import load_run_model
from sciPT.tasks.forcefield_train import (
    ForceFieldLoss,
    FrameData,
    StartRecord,
    check_strategy,
    export_config,
    run_finetune,
)
from sciPT.trainer import TrainConfig

ACAC = resolve_data_path(ACETYLACETONE_TRAIN).resolve()
ETHANOL = resolve_data_path(ETHANOL_TRAIN).resolve()


def potential() -> EquivariantPotential:
    """The tiny architecture, untrained, for H, C and O."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        molecules_tiny().model, elements=["H", "C", "O"], reference_energies=[-13.6, -1025.3, -2035.6]
    )
    return EquivariantPotential(cfg)


def acac_batch(frames: int = 2):
    """The first acetylacetone frames with their energies and forces, as one batch."""
    graphs = []
    for atoms in read(ACAC, index=f":{frames}"):
        graph = atoms_to_graph(atoms, 4.0)
        graph.energy = torch.tensor([atoms.get_potential_energy()], dtype=torch.float64)
        graph.forces = torch.from_numpy(atoms.get_forces())
        graphs.append(graph)
    return collate(graphs)


def start_of(backbone, export=None, data=None, recorded=True) -> Start:
    return Start("pre-trained", backbone, export or {}, {}, data or MoleculeDataConfig(), 0, None, recorded)


# --- the loss -------------------------------------------------------------------------------------
def test_the_loss_of_a_named_head_is_that_heads_whatever_head_is_active():
    """Replayed frames are at the old level of theory: fitted through the old head, not the one
    being trained (which stays active afterwards)."""
    model = potential()
    model.add_head("acac")
    with torch.no_grad():
        model.head_module("acac").reference_energies.add_(1.0)  # 1 eV/atom above the old head
    batch = acac_batch()
    objective = ObjectiveConfig()
    model.select_head("default")
    old = float(EnergyForceLoss(objective)(model, batch)[0].detach())
    model.select_head("acac")
    new = float(EnergyForceLoss(objective)(model, batch)[0].detach())
    assert abs(new - old) > 0.1
    loss, _ = ForceFieldLoss(objective, level="default")(model, None, batch)
    assert float(loss.detach()) == pytest.approx(old, rel=1e-9)
    assert model.head == "acac"
    assert float(ForceFieldLoss(objective)(model, None, batch)[0].detach()) == pytest.approx(new, rel=1e-9)


def test_learning_without_forgetting_adds_the_old_heads_term_to_the_loss():
    """The old head's term (old_head_distillation) is added to the energy and force loss, and
    logged beside its terms: dropped, the old head's predictions would not be kept at all."""
    model = potential().eval()
    batch = acac_batch()
    objective = ObjectiveConfig()
    plain, metrics = EnergyForceLoss(objective)(model, batch)

    def keep(backbone, batch):
        return torch.tensor(0.25, dtype=plain.dtype), {"loss_old_head": torch.tensor(0.25)}

    loss, logged = ForceFieldLoss(objective, keep=keep)(model, None, batch)
    assert float(loss.detach()) == pytest.approx(float(plain.detach()) + 0.25, rel=1e-9)
    assert set(logged) == {*metrics, "loss_old_head"}


class Built(Exception):
    """Raised in place of training, once the fine-tuning module was built."""


def built_module(cfg: ForcefieldConfig, start: Start, out, monkeypatch) -> dict:
    """The arguments :func:`run_finetune` builds its :class:`FinetuneModule` with, from ``start``
    (no model read from disk, no training)."""
    built = {}

    def record(backbone, head, loss_fn, strategy, train, **kwargs):
        built.update(kwargs, backbone=backbone, loss_fn=loss_fn, strategy=strategy, seed=torch.initial_seed())
        raise Built

    monkeypatch.setattr(forcefield_train, "load_start", lambda cfg: start)
    monkeypatch.setattr(forcefield_train, "export_digest", lambda init: None)
    monkeypatch.setattr(forcefield_train, "FinetuneModule", record)
    with pytest.raises(Built):
        run_finetune(cfg, out)
    return built


def test_replayed_frames_are_fitted_through_the_old_head_when_a_new_head_is_trained(tmp_path, monkeypatch):
    """Replayed pre-training frames are at the old level of theory: with a new head they are
    fitted through the old head (fitted through the new one, they would pull it to the old level);
    on the pre-trained head itself, their energies are moved to its new references and fitted
    through it. The task's frames go through the head trained (the active one)."""
    acac, pre = read(ACAC, index=":7"), tmp_path / "pre.xyz"
    write(tmp_path / "train.xyz", acac[:5])
    write(tmp_path / "val.xyz", acac[5:])
    write(pre, read(ETHANOL, index=":4"))
    start = start_of(potential(), data=MoleculeDataConfig(paths=[str(pre)], val_paths=["v.xyz"]))
    cfg = ForcefieldConfig(init="RUN", replay_frames=4)
    cfg.data = dataclasses.replace(
        cfg.data, paths=[str(tmp_path / "train.xyz")], val_paths=[str(tmp_path / "val.xyz")], head="acac"
    )
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="replay")
    cfg.train = dataclasses.replace(cfg.train, batch_size=4)
    built = built_module(cfg, start, tmp_path / "new", monkeypatch)
    assert built["loss_fn"].level is None
    assert built["replay_loss_fn"].level == "default"
    cfg.data.head = "default"
    start = start_of(potential(), data=start.pretrain_data)
    assert built_module(cfg, start, tmp_path / "same", monkeypatch)["replay_loss_fn"] is None


def test_ewc_beside_a_new_head_anchors_the_shared_blocks_with_the_exported_fisher_blocks(
    acac_run, tmp_path, monkeypatch
):
    """The export's Fisher blocks (the default Gauss-Newton Fisher's) hold the shared weights
    beside a new head as they do on one head: here a diagonal of zeros and identity blocks for one
    shared weight, so that a move of 0.1 costs lambda/2 x 0.1^2, which the diagonal alone puts at 0."""
    cfg, _ = acac_run
    model = potential()
    name = next(n for n, p in model.named_parameters() if n.startswith("blocks.0.") and p.dim() == 2)
    weight = dict(model.named_parameters())[name]
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    blocks = {name: torch.eye(weight.shape[1]).expand(weight.shape[0], -1, -1).clone()}
    start = Start(
        "pre-trained", model, {}, fisher_extras(fisher, blocks, {name: 1}), MoleculeDataConfig(), 0, None
    )
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc", ewc_lambda=2.0)
    built = built_module(cfg, start, tmp_path / "run", monkeypatch)
    backbone, strategy = built["backbone"], built["strategy"]
    assert name in backbone.shared_parameter_names() and backbone.head_names == ["default", "acac"]
    assert float(strategy.penalty(backbone).detach()) == 0.0
    with torch.no_grad():
        weight.view(-1)[0] += 0.1
    assert float(strategy.penalty(backbone).detach()) == pytest.approx(0.5 * 2.0 * 0.1**2, rel=1e-5)


def test_the_running_fisher_estimate_is_that_of_the_old_head_on_the_new_frames(
    acac_run, tmp_path, monkeypatch
):
    """ewc_online_every re-estimates what the old level of theory depends on: the Fisher of the old
    head's outputs, on ewc_online_frames of the training frames (of the new head's, it would anchor
    the shared blocks to what the new level needs)."""
    cfg, _ = acac_run
    model = potential()
    fisher = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    start = Start("pre-trained", model, {}, fisher_extras(fisher), MoleculeDataConfig(), 0, None)
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc", ewc_online_every=2, ewc_online_frames=3)
    cfg.train.seed = 7  # the frames it draws are the run's: drawn with its seed
    asked, estimator = [], forcefield_train.old_head_estimator

    def old_head_estimator(graphs, objective, head, frames, seed):
        asked.append((len(graphs), head, frames, seed))
        return estimator(graphs, objective, head, frames, seed)

    monkeypatch.setattr(forcefield_train, "old_head_estimator", old_head_estimator)
    built_module(cfg, start, tmp_path / "run", monkeypatch)
    assert asked == [(5, "default", 3, 7)]


# --- the batches ----------------------------------------------------------------------------------
def numbered(n: int, first: int = 0) -> list:
    """``n`` one-node graphs whose feature is their number."""
    return [Data(x=torch.tensor([[float(first + i)]]), num_nodes=1) for i in range(n)]


def test_replay_batches_resumed_at_a_step_go_on_where_the_run_stopped_under_accumulation():
    """Two batches a step (accumulate 2), stopped after step 3: the resumed run's first batch is
    the seventh of the uninterrupted stream, not the fourth (which would train twice on some frames
    and never on others), and the stream still ends at 5 steps x 2 batches."""
    cfg = TrainConfig(batch_size=4, accumulate=2, max_steps=5, seed=3)
    task, replay = numbered(12), numbered(4, first=100)

    def stream(step: int | None) -> list:
        data = FrameData(task, [], cfg, replay, replay_fraction=0.25)
        if step is not None:
            data.trainer = types.SimpleNamespace(global_rank=0, world_size=1, global_step=step)
        return [(b.task.x.flatten().tolist(), b.replay.x.flatten().tolist()) for b in data.train_dataloader()]

    straight = stream(None)
    assert len(straight) == 10 and all(len(t) == 3 and len(r) == 1 for t, r in straight)
    assert stream(3) == straight[6:]


def test_validation_frames_are_read_in_their_order_at_every_pass():
    """Validation covers the first val_batches x batch_size frames, the same ones every time and in
    the file's order (training frames are shuffled)."""
    train, val = numbered(8), numbered(5)
    data = FrameData(train, val, TrainConfig(batch_size=2, seed=1))
    assert [data.val_set[g] for g in range(10)] == val + val
    drawn = [data.train_set[g] for g in range(8)]
    assert drawn != train and sorted(map(id, drawn)) == sorted(map(id, train))


def finished(
    cfg: ForcefieldConfig,
    start: Start,
    out,
    monkeypatch,
    metrics=None,
    evaluated=None,
    resume=False,
    calls=None,
) -> dict:
    """:func:`run_finetune` from ``start`` with the training (6 steps), its evaluations, figures,
    report and export left out: the metrics.json it writes, ``metrics`` where given (else its own
    count of steps and frames), the labels of the evaluations it asked for appended to
    ``evaluated``, the keyword arguments of ``build_trainer`` and ``fit`` put in ``calls``."""
    calls = {} if calls is None else calls
    trainer = types.SimpleNamespace(
        fit=lambda *args, **kwargs: calls.update(fit=kwargs), global_rank=0, global_step=6, callbacks=[]
    )

    def evaluate_sets(backbone, sets, batch_size, label):
        (evaluated if evaluated is not None else []).append(label)
        return {}

    fakes = {
        "load_start": lambda cfg: start,
        "export_digest": lambda init: None,
        "build_trainer": lambda *args, **kwargs: calls.update(build_trainer=kwargs) or trainer,
        "evaluate_sets": evaluate_sets,
        "export_model": lambda *args, **kwargs: None,
        "write_figures": lambda *args: [],
        "report": lambda *args: "",
    }
    if metrics is not None:
        fakes["collect_metrics"] = lambda *args: dict(metrics)
    for name, value in fakes.items():
        monkeypatch.setattr(forcefield_train, name, value)
    return run_finetune(cfg, out, resume=resume).read_metrics()


@pytest.fixture
def acac_run(tmp_path):
    """A fine-tune of a new head on five acetylacetone frames (two validate), and its start."""
    acac = read(ACAC, index=":7")
    write(tmp_path / "train.xyz", acac[:5])
    write(tmp_path / "val.xyz", acac[5:])
    cfg = ForcefieldConfig(init="RUN")
    cfg.data = dataclasses.replace(
        cfg.data, paths=[str(tmp_path / "train.xyz")], val_paths=[str(tmp_path / "val.xyz")], head="acac"
    )
    cfg.train = dataclasses.replace(cfg.train, max_steps=6, batch_size=4)
    return cfg, start_of(potential())


def test_the_printed_summary_gives_every_metric_but_per_element_forces_to_four_figures(
    acac_run, tmp_path, monkeypatch, capsys
):
    """The summary printed at the end: four significant figures (a stress error of 4e-4 eV/A^3
    printed as 0.0 at three decimals said nothing), the force errors over all atoms kept, their
    per-element split (``_per_A_H``, ...) left to metrics.json."""
    cfg, start = acac_run
    metrics = {
        "steps": 6,
        "val_forces_mae_meV_per_A": 123.456789,
        "val_forces_mae_meV_per_A_H": 99.5,
        "val_forces_rmse_change_meV_per_A": -12.34567,
        "val_stress_mae_eV_per_A3": 0.000412345,
    }
    capsys.readouterr()
    assert finished(cfg, start, tmp_path / "run", monkeypatch, metrics) == metrics
    assert json.loads(capsys.readouterr().out) == {
        "steps": 6,
        "val_forces_mae_meV_per_A": 123.5,
        "val_forces_rmse_change_meV_per_A": -12.35,
        "val_stress_mae_eV_per_A3": 0.0004123,
    }


def test_a_head_warm_up_whose_length_was_never_settled_lasted_the_whole_run(acac_run, tmp_path, monkeypatch):
    """A warm-up of a fraction of the run is settled once the run's total is known; a run that
    ended before (nothing settled it) trained the new head alone throughout: metrics.json says so
    with the run's steps, not 0 or null. A warm-up of steps says its own."""
    cfg, start = acac_run
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="full", head_warmup=0.5)
    metrics = finished(cfg, start, tmp_path / "fraction", monkeypatch, {"steps": 6})
    assert metrics["head_warmup_steps"] == 6
    cfg.finetune.head_warmup = 2
    metrics = finished(cfg, start_of(potential()), tmp_path / "steps", monkeypatch, {"steps": 6})
    assert metrics["head_warmup_steps"] == 2


def test_a_run_from_scratch_has_no_before_numbers(acac_run, tmp_path, monkeypatch):
    """Before fine-tuning, a pre-trained start is measured (the forgetting is after minus before);
    a start from scratch has no "before": random weights' errors would read as huge gains."""
    cfg, start = acac_run
    evaluated = []
    finished(cfg, start, tmp_path / "pre", monkeypatch, {"steps": 6}, evaluated)
    assert evaluated == ["before fine-tuning", "after fine-tuning"]
    evaluated.clear()
    scratch = Start("scratch", None, {}, {}, MoleculeDataConfig(), 0, None)
    cfg = dataclasses.replace(cfg, init="none", data=dataclasses.replace(cfg.data, head=None))
    finished(cfg, scratch, tmp_path / "scratch", monkeypatch, {"steps": 6}, evaluated)
    assert evaluated == ["after fine-tuning"]


def test_a_resumed_run_says_the_step_it_resumed_at(acac_run, tmp_path, monkeypatch):
    """A resumed run's times are those of its own process: metrics.json says from which step
    (the checkpoint's), so that its steps per second are not read as the whole run's."""
    cfg, start = acac_run
    out = tmp_path / "run"
    first = finished(cfg, start, out, monkeypatch)
    assert (first["steps"], first["frames_train"], first["frames_val"]) == (6, 5, 2)
    assert "resumed_at_step" not in first
    (out / "checkpoints").mkdir(exist_ok=True)
    torch.save({"global_step": 3}, out / "checkpoints" / "last.ckpt")  # where the first process stopped
    monkeypatch.setattr(forcefield_train, "check_resumable", lambda *args: None)  # no weights in it
    assert finished(cfg, start_of(potential()), out, monkeypatch, resume=True)["resumed_at_step"] == 3


# --- the strategy ---------------------------------------------------------------------------------
def test_every_interaction_block_may_be_frozen_but_no_more():
    """freeze_layers counts the element embedding and the interaction blocks: all of them (2 in
    the tiny model) frozen still leaves the readouts to train; one more is refused in its words."""
    start = start_of(potential())
    cfg = ForcefieldConfig(init="RUN")
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="freeze", freeze_layers=2)
    assert isinstance(check_strategy(cfg, start), Freeze)
    cfg.finetune.freeze_layers = 3
    with pytest.raises(ConfigError) as err:
        check_strategy(cfg, start)
    assert str(err.value) == (
        "finetune.freeze_layers: expected 0 to 2 (the element embedding and up to the 2 interaction "
        "blocks; the readouts always train), got 3"
    )


def test_a_head_warm_up_as_long_as_the_run_is_refused_against_its_steps():
    """A warm-up of all the run's steps would never train the shared blocks (a linear probe under
    another name): refused against the run's --max-steps, which the strategy alone does not know."""
    cfg = ForcefieldConfig(init="RUN")
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="full", head_warmup=6)
    cfg.train = dataclasses.replace(cfg.train, max_steps=6)
    with pytest.raises(ConfigError) as err:
        check_strategy(cfg, start_of(potential()))
    assert str(err.value) == (
        "finetune.head_warmup: 6 steps, at or past --max-steps 6: the backbone would never train (that "
        "is --strategy linear-probe); give fewer steps or a fraction of the run"
    )
    cfg.train.max_steps = 7
    check_strategy(cfg, start_of(potential()))


# --- the export's record -------------------------------------------------------------------------
def test_the_export_records_how_each_head_reads_its_frames_and_how_pretraining_read_its_files():
    """A later fine-tune reads --eval files and replays pre-training frames with this record: the
    head trained reads as this run read its files (kcal/mol), the others as the start says
    (Hartree); pre-training's reading is passed on only where the start recorded it."""
    backbone = types.SimpleNamespace(head_names=["pbe"], cfg=molecules_tiny().model)
    hartree = MoleculeDataConfig(paths=["pre.xyz"], energy_unit="Hartree")
    cfg = ForcefieldConfig(init="RUN")
    cfg.data = dataclasses.replace(cfg.data, paths=["new.xyz"], energy_unit="kcal/mol")
    sets = types.SimpleNamespace(
        references_method="refit", eval_references=None, head="acac", eval_head="pbe", corpus=[]
    )
    start = start_of(backbone, data=hartree)
    record = export_config(cfg, start, sets, backbone)
    assert record["head_data"] == {"pbe": reading(hartree), "acac": reading(cfg.data)}
    assert record["pretraining_data"]["energy_unit"] == "Hartree"
    assert record["pretrained_reading"] is None  # a new head: the old one keeps its references
    # the pre-trained head itself fine-tuned: it now reads as this run did; the references it
    # had are of pre-training's level, read as pre-training read its files
    moved = types.SimpleNamespace(**{**vars(sets), "head": "pbe", "eval_references": [-1.0, -2.0, -3.0]})
    record = export_config(cfg, start, moved, backbone)
    assert record["head_data"] == {"pbe": reading(cfg.data)}
    assert record["pretrained_reading"] == reading(hartree)
    # a start that does not record how pre-training read its files: nothing passed on, not defaults
    record = export_config(cfg, start_of(backbone, recorded=False), sets, backbone)
    assert record["pretraining_data"] is None
    assert record["head_data"] == {"acac": reading(cfg.data)}


# --- evaluate on a finished run -------------------------------------------------------------------
def test_evaluate_refuses_a_run_that_is_not_a_force_field_fine_tune(tmp_path):
    """scipt evaluate through the force-field task on a pre-training export (no task recorded) or
    another task's run: refused in one line naming what to run, not read as a fine-tune."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    for config in ({"domain": "molecules"}, {"domain": "molecules", "task": "surrogate"}):
        (tmp_path / "model" / "config.json").write_text(json.dumps(config))
        with pytest.raises(UserError) as err:
            load_run_model(tmp_path)
        assert str(err.value) == f"{tmp_path}: not a force-field run (run 'scipt finetune forcefield' first)"


# --- second mutation pass: what each setting reaches --------------------------------------------
def test_strategies_a_potential_cannot_take_are_refused_in_their_words():
    """A potential has no task head for 'linear-probe' to train alone, and its top layer group
    holds the heads (under 'gradual' the new head would wait untrained): both refused with the way
    out. From scratch only 'full' applies and there are no pre-training frames to replay."""
    start = start_of(potential())
    cfg = ForcefieldConfig(init="RUN")
    messages = {
        "linear-probe": "finetune.strategy: 'linear-probe' trains only a new head and a potential has none "
        "(freeze the lower blocks with 'freeze' instead)",
        "gradual": "finetune.strategy: 'gradual' unfreezes layer groups from the top, and a potential's top "
        "group holds its heads, so the new head would wait finetune.unfreeze_every steps untrained; use "
        "'freeze' (the lower blocks held for the whole run), 'ewc' or 'l2sp'",
    }
    for strategy, message in messages.items():
        cfg.finetune = dataclasses.replace(cfg.finetune, strategy=strategy)
        with pytest.raises(ConfigError) as err:
            check_strategy(cfg, start)
        assert str(err.value) == message
    scratch = Start("scratch", None, {}, {}, MoleculeDataConfig(), 0, None)
    cfg = ForcefieldConfig(init="none")
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc")
    with pytest.raises(ConfigError) as err:
        check_strategy(cfg, scratch)
    assert str(err.value) == (
        "finetune.strategy: 'ewc' needs a pre-trained model (--init RUN); from scratch only 'full' applies"
    )
    cfg.finetune.strategy = "full"
    assert check_strategy(cfg, scratch) is None  # built once the model is (run_finetune)
    cfg.replay = True
    with pytest.raises(ConfigError) as err:
        check_strategy(cfg, scratch)
    assert str(err.value) == "replay: replaying pre-training frames needs a pre-trained model (--init RUN)"


def test_ewc_of_the_pretrained_head_itself_anchors_the_whole_model_with_the_exported_fisher_blocks(
    acac_run, tmp_path, monkeypatch
):
    """Fine-tuning the start's own head (no new head), EWC holds every weight, the head's readout
    too, by the export's Fisher: a Fisher of zeros with identity blocks for one shared weight and
    ones for one readout weight; each move of 0.1 then costs lambda/2 x 0.1^2 = 0.01 (lambda 2), the
    shared one only through its blocks (0 by the diagonal), the readout's as a shared block's would."""
    cfg, _ = acac_run
    cfg.data.head = "default"
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc", ewc_lambda=2.0)
    model = potential()
    params = dict(model.named_parameters())
    shared = next(n for n, p in params.items() if n.startswith("blocks.0.") and p.dim() == 2)
    readout = "readout.0.weight"
    assert readout in model.head_parameter_names("default")
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    fisher[readout] = torch.ones_like(params[readout])
    blocks = {shared: torch.eye(params[shared].shape[1]).expand(params[shared].shape[0], -1, -1).clone()}
    start = Start(
        "pre-trained", model, {}, fisher_extras(fisher, blocks, {shared: 1}), MoleculeDataConfig(), 0, None
    )
    built = built_module(cfg, start, tmp_path / "run", monkeypatch)
    backbone, strategy = built["backbone"], built["strategy"]
    assert backbone.head_names == ["default"] and readout not in backbone.shared_parameter_names()
    assert float(strategy.penalty(backbone).detach()) == 0.0
    with torch.no_grad():
        params[shared].view(-1)[0] += 0.1
    assert float(strategy.penalty(backbone).detach()) == pytest.approx(0.5 * 2.0 * 0.1**2, rel=1e-5)
    with torch.no_grad():
        params[readout].view(-1)[0] += 0.1
    assert float(strategy.penalty(backbone).detach()) == pytest.approx(2 * 0.5 * 2.0 * 0.1**2, rel=1e-5)


def test_validation_force_errors_average_over_force_components_not_frames():
    """Two acetylacetone frames (C5H8O2, 15 atoms each): the energy terms average 2 values, the force
    terms 2 x 15 x 3 = 90, which weight each validation batch's force errors (sciPT.module)."""
    counts = ForceFieldLoss(ObjectiveConfig()).metric_counts(acac_batch(2))
    assert (counts["loss_energy"], counts["loss_forces"], counts["forces_mae_meV_per_A"]) == (2, 90, 90)


def test_the_batches_follow_the_runs_seed_and_replay_fraction():
    """The run's seed orders the training frames, with replay or without: the same seed the same
    order, another seed another; finetune.replay_fraction sets each batch's share of pre-training
    frames (0.5 of 4: 2 and 2, where the default 0.25 gives 3 and 1)."""
    task, replay = numbered(8), numbered(4, first=100)

    def order(seed: int) -> list:
        data = FrameData(task, [], TrainConfig(batch_size=4, seed=seed))
        return [float(data.train_set[g].x) for g in range(8)]

    def stream(seed: int) -> list:
        data = FrameData(
            task, [], TrainConfig(batch_size=4, max_steps=4, seed=seed), replay, replay_fraction=0.5
        )
        return [(b.task.x.flatten().tolist(), b.replay.x.flatten().tolist()) for b in data.train_dataloader()]

    assert order(1) == order(1) and order(1) != order(2)
    assert sorted(order(1)) == [float(i) for i in range(8)]
    assert all(len(t) == 2 and len(r) == 2 for t, r in stream(1))
    assert stream(1) == stream(1)
    assert [t for t, _ in stream(1)] != [t for t, _ in stream(2)]


def test_every_checkpoint_records_the_start_it_was_trained_from():
    """A resume compares the start's digest with the one its checkpoint keeps: saved under
    START_KEY in every checkpoint; a run from scratch (no digest) records nothing."""
    checkpoint = {"global_step": 2}
    StartRecord({"config.json": "a", "model.safetensors": "b"}).on_save_checkpoint(None, None, checkpoint)
    assert checkpoint == {"global_step": 2, START_KEY: {"config.json": "a", "model.safetensors": "b"}}
    checkpoint = {"global_step": 2}
    StartRecord(None).on_save_checkpoint(None, None, checkpoint)
    assert checkpoint == {"global_step": 2}


def test_the_export_passes_on_what_pretraining_read_and_its_seed_only_from_a_pretrained_start():
    """The start's record of the files pre-training trained and validated on, and its seed, go on
    to the fine-tune's export, each under its own name (a later fine-tune replays the ones and
    holds out the others); from scratch no pre-training's reading is passed on, even one marked
    recorded."""
    backbone = types.SimpleNamespace(head_names=["pbe"], cfg=molecules_tiny().model)
    cfg = ForcefieldConfig(init="RUN")
    sets = types.SimpleNamespace(
        references_method="refit", eval_references=None, head="acac", eval_head="pbe", corpus=["new.xyz"]
    )
    export = {"pretrained_on": ["pre.xyz"], "validated_on": ["val.xyz"]}
    start = Start("pre-trained", backbone, export, {}, MoleculeDataConfig(paths=["pre.xyz"]), 5, None)
    record = export_config(cfg, start, sets, backbone)
    assert (record["pretrained_on"], record["validated_on"]) == (["pre.xyz"], ["val.xyz"])
    assert record["pretraining_seed"] == 5 and record["finetuned_on"] == ["new.xyz"]
    assert record["pretraining_data"]["paths"] == ["pre.xyz"]
    scratch = Start("scratch", None, {}, {}, MoleculeDataConfig(), 0, None, True)
    record = export_config(ForcefieldConfig(init="none"), scratch, sets, backbone)
    assert record["pretraining_data"] is None and record["pretrained_on"] == []


def test_settings_for_a_new_head_are_refused_when_the_run_trains_the_pretrained_head(
    acac_run, tmp_path, monkeypatch
):
    """old_head_distillation, finetune.head_warmup and finetune.ewc_online_every act while a new
    head learns beside the old one: with --data.head naming the model's own head each is refused in
    its words, before the run directory is written."""
    cfg, _ = acac_run
    cfg.data.head = "default"
    changes = {
        "old_head_distillation": (
            dict(old_head_distillation=1.0),
            "old_head_distillation: keeps an old head while a new one learns, but this run trains the "
            "model's head 'default' itself (name a new head with --data.head)",
        ),
        "head_warmup": (
            dict(finetune=dataclasses.replace(cfg.finetune, strategy="full", head_warmup=2)),
            "finetune.head_warmup: trains a new head alone before the shared blocks join, but this run has "
            "no new head (start from a pre-trained model, --init RUN, and name a new head with --data.head)",
        ),
        "ewc_online_every": (
            dict(finetune=dataclasses.replace(cfg.finetune, strategy="ewc", ewc_online_every=2)),
            "finetune.ewc_online_every: re-estimates the old head's Fisher on the new frames while a new "
            "head learns, but this run trains the model's head 'default' itself (name a new head with "
            "--data.head)",
        ),
    }
    for name, (change, message) in changes.items():
        model = potential()
        fisher = {n: torch.ones_like(p) for n, p in model.named_parameters()}
        start = Start("pre-trained", model, {}, fisher_extras(fisher), MoleculeDataConfig(), 0, None)
        with pytest.raises(ConfigError) as err:
            built_module(dataclasses.replace(cfg, **change), start, tmp_path / name, monkeypatch)
        assert str(err.value) == message
        assert not (tmp_path / name).exists()


def test_a_new_head_is_trained_as_a_head_beside_the_old_one_kept(acac_run, tmp_path, monkeypatch):
    """With a new head: the old head frozen and the new one trained, the new head's parameters at
    their own learning-rate factor, the old head's predictions kept as old_head_distillation says
    (the teacher read through the old head), the model in training mode (in eval mode its forces
    keep no graph and the force loss trains nothing), batches counted in frames, and the run seeded
    by train.seed."""
    cfg, _ = acac_run
    cfg.old_head_distillation = 5.0
    cfg.train.seed = 11
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="full", head_lr_multiplier=3.0)
    teachers, attach = [], forcefield_train.attach_teacher

    def attach_teacher(backbone, graphs, head, batch_size):
        teachers.append(head)
        attach(backbone, graphs, head, batch_size)

    monkeypatch.setattr(forcefield_train, "attach_teacher", attach_teacher)
    built = built_module(cfg, start_of(potential().eval()), tmp_path / "run", monkeypatch)
    backbone, strategy = built["backbone"], built["strategy"]
    assert backbone.head_names == ["default", "acac"] and backbone.head == "acac"
    assert built["seed"] == 11
    assert all(m.training for m in backbone.modules())
    assert built["head_lr_multiplier"] == 3.0
    assert built["head_parameters"] and sorted(built["head_parameters"]) == sorted(
        backbone.head_parameter_names("acac")
    )
    strategy.setup(backbone)
    params = dict(backbone.named_parameters())
    assert not any(params[n].requires_grad for n in backbone.head_parameter_names("default"))
    assert all(params[n].requires_grad for n in backbone.head_parameter_names("acac"))
    keep = built["loss_fn"].keep
    assert teachers == ["default"] and (keep.head, keep.strength) == ("default", 5.0)
    assert built["batch_size_fn"](acac_batch(2)) == 2


def test_the_pretrained_head_itself_trains_as_the_rest_of_the_model(acac_run, tmp_path, monkeypatch):
    """Fine-tuning the start's own head: no head learns at a factor of its own (the readout is
    pre-trained weights like the blocks), and without old_head_distillation no old head's term is
    added (nor a teacher computed)."""
    cfg, _ = acac_run
    cfg.data.head = "default"
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="full", head_lr_multiplier=3.0)
    monkeypatch.setattr(forcefield_train, "attach_teacher", lambda *args: pytest.fail("a teacher computed"))
    built = built_module(cfg, start_of(potential()), tmp_path / "run", monkeypatch)
    assert built["backbone"].head_names == ["default"]
    assert tuple(built["head_parameters"]) == ()
    assert built["loss_fn"].keep is None and built["replay_loss_fn"] is None


def test_the_trainer_validates_only_with_frames_checkpoints_as_in_training_and_resumes_its_checkpoint(
    acac_run, tmp_path, monkeypatch
):
    """Without validation frames the trainer runs no validation; every checkpoint carries the
    export record of a model still training (after_training False) of the force-field task; a
    resumed run fits from the run's last checkpoint, a new one from nothing."""
    cfg, start = acac_run
    cfg.data = dataclasses.replace(cfg.data, val_paths=[], val_fraction=0.0)
    calls, out = {}, tmp_path / "run"
    finished(cfg, start, out, monkeypatch, {"steps": 6}, calls=calls)
    assert calls["build_trainer"]["enable_val"] is False
    assert calls["fit"]["ckpt_path"] is None
    (record,) = [c for c in calls["build_trainer"]["callbacks"] if isinstance(c, ExportRecord)]
    assert record.record["after_training"] is False and record.record["config"]["task"] == "forcefield"
    (out / "checkpoints").mkdir(exist_ok=True)
    torch.save({"global_step": 3}, out / "checkpoints" / "last.ckpt")
    monkeypatch.setattr(forcefield_train, "check_resumable", lambda *args: None)  # no weights in it
    finished(cfg, start_of(potential()), out, monkeypatch, {"steps": 6}, resume=True, calls=calls)
    assert calls["fit"]["ckpt_path"] == out / "checkpoints" / "last.ckpt"


def test_a_resume_from_another_start_or_other_weights_is_refused(acac_run, tmp_path, monkeypatch):
    """A resume checks its checkpoint before anything is rewritten: the start's digest against the
    one the checkpoint recorded (another model at --init: refused naming what differs), and the
    checkpoint's weights against those the settings build."""
    cfg, start = acac_run
    out = tmp_path / "run"
    finished(cfg, start, out, monkeypatch, {"steps": 6})
    (out / "checkpoints").mkdir(exist_ok=True)
    last = out / "checkpoints" / "last.ckpt"
    torch.save({"global_step": 3, START_KEY: {"config.json": "a", "model.safetensors": "b"}}, last)
    monkeypatch.setattr(
        forcefield_train, "export_digest", lambda init: {"config.json": "a", "model.safetensors": "c"}
    )
    monkeypatch.setattr(forcefield_train, "load_start", lambda cfg: start_of(potential()))
    with pytest.raises(ConfigError) as err:
        run_finetune(cfg, out, resume=True)
    assert str(err.value) == (
        f"--init RUN: the model changed since this run began (model.safetensors differ from the one "
        f"recorded in {last}): restore the model the run started from, or start a new run in another --out"
    )
    torch.save({"global_step": 3, "state_dict": {"backbone.extra": torch.zeros(2)}}, last)
    with pytest.raises(ConfigError) as err:
        run_finetune(cfg, out, resume=True)
    assert str(err.value).startswith(
        f"--resume: {last} holds other weights than these settings build (1 only in the checkpoint (first: "
        "extra); "
    )
