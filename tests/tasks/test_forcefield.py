"""The force-field task: EWC through a real exported Fisher, references, replay, a run end to end,
and its refusals."""

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ase.io import read, write

from sciPT.checkpoint import from_pretrained
from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.domains.molecules.dataset import batches, collate, prepare
from sciPT.domains.molecules.evaluate import evaluate_potential
from sciPT.domains.molecules.ewc import (
    PRETRAINING_LOSS,
    FisherConfig,
    energy_force_fisher,
    energy_force_gauss_newton,
    ewc_scale,
    fisher_batches,
)
from sciPT.domains.molecules.graphs import atoms_to_graph
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.finetune import load_fisher
from sciPT.pretrain import pretrain
from sciPT.run import RunDir
from sciPT.tasks.forcefield_config import ForcefieldConfig
from sciPT.tasks.forcefield_data import composition, load_sets, load_start, refit_references
from sciPT.tasks.forcefield_train import check_strategy, run_finetune

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules"
ETHANOL = SHIPPED / "ethanol" / "train.xyz"
ACAC = SHIPPED / "acetylacetone" / "train_300K.xyz"


def pretrain_config(fisher_frames: int = 256):
    cfg = molecules_tiny()
    cfg.data = dataclasses.replace(
        cfg.data,
        paths=[str(ETHANOL)],
        max_frames=40,
        val_fraction=0.1,
        isolated_atoms=str(SHIPPED / "ethanol" / "isolated_atoms.xyz"),
    )
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=8, val_every=4, checkpoint_every=4, val_batches=1, batch_size=4, log_every=1
    )
    cfg.fisher = FisherConfig(frames=fisher_frames)
    return cfg


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny potential pre-trained for 8 steps on 36 ethanol frames, exported with its Fisher."""
    out = tmp_path_factory.mktemp("ff") / "pre"
    cfg = pretrain_config()
    pretrain("molecules", cfg, out)
    return out, cfg


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small acetylacetone train/val/test files and an ethanol (old task) file."""
    folder = tmp_path_factory.mktemp("ff-data")
    acac = read(ACAC, index=":20")
    paths = {
        "train": folder / "acac_train.xyz",
        "val": folder / "acac_val.xyz",
        "test": folder / "acac_test.xyz",
        "old": folder / "ethanol_old.xyz",
    }
    write(paths["train"], acac[:12])
    write(paths["val"], acac[12:16])
    write(paths["test"], acac[16:])
    write(paths["old"], read(SHIPPED / "ethanol" / "test_MD.xyz", index=":6"))
    return paths


def finetune_config(init, files, strategy="ewc", steps=4, replay_frames=1000, **finetune) -> ForcefieldConfig:
    cfg = ForcefieldConfig(
        init=str(init), test=[str(files["test"])], eval=[str(files["old"])], replay_frames=replay_frames
    )
    cfg.data = dataclasses.replace(cfg.data, paths=[str(files["train"])], val_paths=[str(files["val"])])
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy=strategy, **finetune)
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=steps, val_every=2, checkpoint_every=2, val_batches=1, batch_size=4, log_every=1
    )
    return cfg


# --- EWC --------------------------------------------------------------------------------------
def test_ewc_penalty_is_zero_at_the_pretrained_weights_and_grows_where_the_fisher_is_large(pretrained, files):
    cfg = finetune_config(pretrained[0], files, ewc_lambda=3.0)
    start = load_start(cfg)
    strategy = check_strategy(cfg, start)
    model = start.backbone
    assert float(strategy.penalty(model).detach()) == 0.0
    fisher = load_fisher(start.extras)
    assert set(fisher) == {n for n, _ in model.named_parameters()}
    # the weight the pre-training loss cares most about, and one it cares little about
    entries = [
        (float(v), name, i) for name, f in fisher.items() for i, v in enumerate(f.reshape(-1)) if v > 0
    ]
    (f_big, big, i_big), (f_small, small, i_small) = max(entries), min(entries)
    assert f_big > 100 * f_small
    params = dict(model.named_parameters())
    penalties = {}
    for name, index, f in ((big, i_big, f_big), (small, i_small, f_small)):
        with torch.no_grad():
            params[name].view(-1)[index] += 0.1
        penalties[name] = float(strategy.penalty(model).detach())
        assert penalties[name] == pytest.approx(0.5 * 3.0 * f * 0.1**2, rel=1e-5)
        with torch.no_grad():
            params[name].view(-1)[index] -= 0.1
    assert penalties[big] > 100 * penalties[small]


def test_the_exported_fisher_is_the_gauss_newton_fisher_of_the_pretraining_loss(pretrained):
    path, cfg = pretrained
    pre = from_pretrained(path)
    stored = load_fisher(pre.extras)
    # rebuild the pre-training frames exactly as pre-training split them
    graphs = prepare(cfg.data, cfg.model, labelled=True, seed=cfg.train.seed).train
    chosen = fisher_batches(graphs, cfg.fisher, cfg.train.seed)
    assert len(chosen) == len(graphs) == 36 and all(b.num_graphs == 1 for b in chosen)
    model = pre.model.train()
    expected, mean_loss = energy_force_gauss_newton(
        model, cfg.objective, chosen, seed=cfg.train.seed, progress=False
    )
    for name, value in expected.items():
        assert stored[name] == pytest.approx(value, rel=1e-4, abs=1e-12), name
    # by hand: the per-frame losses it reports are the pre-training objective's
    loss_fn = EnergyForceLoss(cfg.objective)
    losses = [float(loss_fn(model, batch)[0].detach()) for batch in chosen]
    assert float(pre.extras[PRETRAINING_LOSS]) == pytest.approx(np.mean(losses), rel=1e-5)
    assert mean_loss == pytest.approx(np.mean(losses), rel=1e-5)
    assert ewc_scale(pre.extras) == 1.0  # the Gauss-Newton Fisher's lambda_0


def test_the_fisher_sees_the_forces_through_a_double_backward(pretrained):
    model = from_pretrained(pretrained[0]).model
    graphs = labelled_graphs(ETHANOL, model, ":3")
    forces_only, _ = energy_force_fisher(
        model, ObjectiveConfig(energy_weight=0.0), [collate([g]) for g in graphs], progress=False
    )
    energy_only, _ = energy_force_fisher(
        model, ObjectiveConfig(forces_weight=0.0), [collate([g]) for g in graphs], progress=False
    )
    both, _ = energy_force_fisher(model, ObjectiveConfig(), [collate([g]) for g in graphs], progress=False)
    # a loss on forces alone reaches the weights only through d(-dE/dx)/dw: every weight but the
    # last bias, a constant per atom, which moves the energy and no force
    assert {n for n, f in forces_only.items() if float(f.sum()) == 0} == {"readout.2.bias"}
    assert float(energy_only["readout.2.bias"]) > 0
    assert float(both["readout.2.bias"]) == pytest.approx(float(energy_only["readout.2.bias"]))
    assert not torch.allclose(both["readout.2.weight"], energy_only["readout.2.weight"])


def labelled_graphs(path, model, index=":"):
    """Graphs of the frames of ``path`` with their energies and forces (the task's own reading
    path is what is under test, so these are built independently)."""
    graphs = []
    for atoms in read(path, index=index):
        graph = atoms_to_graph(atoms, model.cfg.cutoff)
        graph.energy = torch.tensor([atoms.get_potential_energy()], dtype=torch.float64)
        graph.forces = torch.from_numpy(atoms.get_forces())
        graphs.append(graph)
    return graphs


# --- references and replay ----------------------------------------------------------------------
def test_refit_moves_the_references_by_the_minimum_norm_correction(pretrained, files):
    model = from_pretrained(pretrained[0]).model
    graphs = labelled_graphs(files["train"], model)
    before = np.array(model.cfg.reference_energies)
    with torch.no_grad():
        residual = np.concatenate(
            [(b.energy - model(b, forces=False)["energy"]).numpy() for b in batches(graphs, 5)]
        )
    refs = np.array(refit_references(model, graphs, batch_size=5))
    # every frame is C5H8O2: the minimum-norm solution of n . delta = mean residual is
    # delta = n * mean / |n|^2, with n = (8, 5, 2) atoms of (H, C, O)
    n = np.array([8.0, 5.0, 2.0])
    assert refs - before == pytest.approx(n * residual.mean() / (n @ n), rel=1e-9)
    model.set_reference_energies(dict(zip(model.elements, refs)))
    with torch.no_grad():
        after = np.concatenate(
            [(b.energy - model(b, forces=False)["energy"]).numpy() for b in batches(graphs, 5)]
        )
    assert after.mean() == pytest.approx(0.0, abs=1e-9)
    assert np.ptp(after) == pytest.approx(np.ptp(residual), rel=1e-9)


def test_replayed_frames_are_moved_to_the_new_references(pretrained, files):
    cfg = finetune_config(pretrained[0], files, strategy="replay", replay_frames=10)
    cfg.data.head = "train"  # the pre-trained head (named after its file): one head, both levels
    start = load_start(cfg)
    old = np.array(start.references)
    sets, backbone = load_sets(cfg, start)
    shift = np.array(backbone.cfg.reference_energies) - old
    assert np.abs(shift).max() > 1e-3  # acetylacetone is another level of theory
    assert len(sets.replay) == 10
    # the replayed frames are pre-training frames (never its held-out validation frames), their
    # energies moved by n . shift
    frames = read(ETHANOL, index=":40")
    held_out = np.random.default_rng(0).permutation(40)[:4]  # val_fraction 0.1, seed 0
    key = lambda positions: round(float(positions[0, 0]), 8)  # noqa: E731
    originals = {key(a.positions): (i, a.get_potential_energy()) for i, a in enumerate(frames)}
    for graph, counts in zip(sets.replay, composition(sets.replay, backbone.elements)):
        index, original = originals[key(graph.pos)]
        assert index not in held_out
        assert float(graph.energy) == pytest.approx(original + counts @ shift, abs=1e-9)


def test_refit_references_record_the_compositions_they_are_fixed_on(pretrained, files, capsys):
    """Pre-training fixed every reference (isolated atoms). At a new level of theory (a new head)
    only the acetylacetone frames fix them: one composition, one combination of three; on the
    pre-trained head, the old references stay fixed."""
    cfg = finetune_config(pretrained[0], files, strategy="full")
    start = load_start(cfg)
    assert start.backbone.reference_span() is None
    capsys.readouterr()
    _, backbone = load_sets(cfg, start)
    span = np.array(backbone.reference_span())
    counts = composition(labelled_graphs(files["train"], backbone, ":1"), backbone.elements)[0]  # C5H8O2
    assert span.shape == (1, 3) and np.allclose(np.abs(span[0]), counts / np.linalg.norm(counts))
    said = capsys.readouterr().err
    assert "the compositions of the fine-tuning frames fix 1 of the 3 element references" in said
    assert (
        "isolated atoms at this level of theory fix them all (--references data --isolated-atoms FILE, "
        "for a model pre-trained with isolated atoms)\n"
    ) in said
    assert backbone.reference_span(backbone.head_names[0]) is None  # the pre-trained head's: all fixed
    cfg.data.head = "train"  # the pre-trained head itself
    _, same = load_sets(cfg, load_start(cfg))
    assert same.reference_span() is None


def test_isolated_atoms_given_to_a_refit_are_refused_not_ignored(pretrained, files):
    """The default refit read the file and ignored it. Taken as the references ('data') they suit a
    model pre-trained on isolated-atom references, as this one was."""
    cfg = finetune_config(pretrained[0], files, strategy="full")
    cfg.data.isolated_atoms = str(SHIPPED / "acetylacetone" / "isolated_atoms.xyz")
    with pytest.raises(ConfigError) as err:
        load_sets(cfg, load_start(cfg))
    assert str(err.value) == (
        "isolated_atoms: references 'refit' (the default from a pre-trained model) fit the new level's "
        "references on the training frames and do not read isolated atoms; --references data takes them "
        "from the file, which suits a model pre-trained with isolated atoms (--data.isolated-atoms)"
    )
    cfg.references = "data"
    sets, backbone = load_sets(cfg, load_start(cfg))
    assert sets.references_method == "data (isolated)" and backbone.reference_span() is None


def test_a_new_level_of_theory_gets_a_head_and_replay_goes_through_the_old_one(pretrained, files):
    cfg = finetune_config(pretrained[0], files, strategy="ewc", replay_frames=6)
    cfg.replay = True  # EWC + replay
    start = load_start(cfg)
    old_refs = list(start.backbone.cfg.reference_energies)
    sets, backbone = load_sets(cfg, start)
    assert backbone.head_names == ["train", "acac_train"] and backbone.head == "acac_train"
    assert (sets.head, sets.eval_head, sets.eval_references) == ("acac_train", "train", None)
    # the old head keeps its references; the new one is refit to acetylacetone's
    assert backbone.cfg.reference_energies == old_refs
    assert np.abs(np.array(backbone.cfg.heads[0].reference_energies) - old_refs).max() > 1e-3
    # replayed frames keep their own energies: they are compared through the old head
    frames = {
        round(float(a.positions[0, 0]), 8): a.get_potential_energy() for a in read(ETHANOL, index=":40")
    }
    assert len(sets.replay) == 6
    for graph in sets.replay:
        assert float(graph.energy) == pytest.approx(frames[round(float(graph.pos[0, 0]), 8)], abs=1e-9)


# --- end to end ----------------------------------------------------------------------------------
def test_finetune_writes_a_run_that_reloads_and_measures_both_molecules(
    pretrained, files, tmp_path, monkeypatch
):
    import sciPT.tasks.forcefield_train as forcefield_train

    built = []
    module = forcefield_train.FinetuneModule

    def record(backbone, *args, **kwargs):
        built.append((backbone, kwargs))
        return module(backbone, *args, **kwargs)

    monkeypatch.setattr(forcefield_train, "FinetuneModule", record)
    cfg = finetune_config(pretrained[0], files, ewc_lambda=10.0)
    cfg.finetune.head_lr_multiplier = 3.0
    run = run_finetune(cfg, tmp_path / "run")
    # the new head, inside the potential, is optimised as a head: its own rate and weight decay
    ((potential, kwargs),) = built
    assert kwargs["head_lr_multiplier"] == 3.0
    assert sorted(kwargs["head_parameters"]) == sorted(potential.head_parameter_names("acac_train"))
    assert kwargs["head_parameters"] and not set(kwargs["head_parameters"]) & set(
        potential.shared_parameter_names()
    )
    config = yaml.safe_load((run.path / "config.yaml").read_text())
    assert config["task"] == "forcefield" and config["finetune"]["strategy"] == "ewc"
    metrics = run.read_metrics()
    assert metrics["steps"] == 4 and metrics["frames_train"] == 12 and metrics["frames_val"] == 4
    for prefix in ("val", "test_acac_test", "eval_ethanol_old"):
        for suffix in ("", "_before"):
            for key in (
                "energy_mae_meV_per_atom",
                "energy_rmse_meV",
                "forces_mae_meV_per_A",
                "forces_rmse_meV_per_A",
                "forces_rmse_meV_per_A_C",
            ):
                assert np.isfinite(metrics[f"{prefix}{suffix}_{key}"])
        # the change of the force RMSE is after minus before: negative where fine-tuning helped
        after, before = (metrics[f"{prefix}{s}_forces_rmse_meV_per_A"] for s in ("", "_before"))
        assert after != before
        assert metrics[f"{prefix}_forces_rmse_change_meV_per_A"] == pytest.approx(after - before, rel=1e-9)
    # the old molecule before fine-tuning: exactly the pre-trained model's own errors
    pre = from_pretrained(pretrained[0]).model
    old = labelled_graphs(files["old"], pre)
    reference = evaluate_potential(pre, old).metrics
    assert metrics["eval_ethanol_old_before_forces_rmse_meV_per_A"] == pytest.approx(
        reference["forces_rmse_meV_per_A"], rel=1e-9
    )
    assert metrics["eval_ethanol_old_before_energy_mae_meV"] == pytest.approx(
        reference["energy_mae_meV"], rel=1e-9
    )
    for png in ("loss", "parity_energy", "parity_forces", "eval_parity_forces", "before_after"):
        assert (run.plots / f"{png}.png").stat().st_size > 1000
    assert "## Before and after" in run.report.read_text()

    exported = from_pretrained(run.path)
    assert exported.config["task"] == "forcefield" and exported.extras == {}
    # a new level of theory: a new head; the old one (frozen) still has its pre-trained weights
    assert exported.model.head_names == ["train", "acac_train"] and exported.model.head == "acac_train"
    assert (exported.config["head"], exported.config["eval_head"]) == ("acac_train", "train")
    assert exported.config["pretrained_references"] is None
    for name, p in pre.named_parameters():
        if name.startswith("readout."):
            assert torch.equal(dict(exported.model.named_parameters())[name], p), name
    assert exported.model.cfg.reference_energies == pre.cfg.reference_energies
    assert exported.config["references"] == "refit"
    atoms = read(files["test"], index=0)
    atoms.calc = SciPTCalculator(run.path)
    graph = atoms_to_graph(atoms, exported.model.cfg.cutoff)
    assert atoms.get_potential_energy() == pytest.approx(
        float(exported.model(graph, forces=False)["energy"][0]), abs=1e-6
    )


def test_replay_trains_on_mixed_batches(pretrained, files, tmp_path):
    run = run_finetune(
        finetune_config(
            pretrained[0], files, strategy="replay", replay_frames=8, replay_fraction=0.5, steps=2
        ),
        tmp_path / "replay",
    )
    assert run.read_metrics()["frames_replay"] == 8
    header = (run.logs / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/replay_loss" in header


def test_old_head_distillation_trains_the_new_head_and_leaves_the_old_one_frozen(pretrained, files, tmp_path):
    cfg = finetune_config(pretrained[0], files, strategy="ewc", ewc_lambda=0.0, steps=2)
    cfg.old_head_distillation = 5.0
    run = run_finetune(cfg, tmp_path / "lwf")
    header = (run.logs / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/loss_old_head" in header
    logged = [line.split(",") for line in (run.logs / "metrics.csv").read_text().splitlines()[1:]]
    column = header.index("train/loss_old_head")
    values = [float(row[column]) for row in logged if row[column]]
    # the first step starts at the teacher (zero); by the second the shared blocks have moved
    assert values[0] == pytest.approx(0.0, abs=1e-12) and values[-1] > 0
    exported = from_pretrained(run.path).model
    pre = from_pretrained(pretrained[0]).model
    for name in pre.head_parameter_names("train"):
        assert torch.equal(dict(exported.named_parameters())[name], dict(pre.named_parameters())[name])


def test_a_running_fisher_estimate_is_taken_at_each_due_step_the_shared_blocks_moved(
    pretrained, files, tmp_path
):
    cfg = finetune_config(
        pretrained[0], files, ewc_lambda=1.0, steps=3, ewc_online_every=2, ewc_online_frames=4
    )
    run = run_finetune(cfg, tmp_path / "online")
    rows = list(csv.DictReader((run.logs / "metrics.csv").open()))
    estimates = [float(r["train/fisher_estimates"]) for r in rows if r.get("train/fisher_estimates")]
    # at step 0 (w0), not at step 1 (not due), at step 2 (the shared blocks have moved)
    assert estimates == [1.0, 1.0, 2.0]
    growth = [float(r["train/fisher_growth"]) for r in rows if r.get("train/fisher_growth")]
    assert all(g > 0 for g in growth)


def test_a_running_fisher_estimate_needs_a_new_head(pretrained, files, tmp_path):
    cfg = finetune_config(pretrained[0], files, ewc_lambda=1.0, ewc_online_every=2)
    cfg.data = dataclasses.replace(cfg.data, head="train")
    with pytest.raises(ConfigError) as err:
        run_finetune(cfg, tmp_path / "one-head")
    assert str(err.value) == (
        "finetune.ewc_online_every: re-estimates the old head's Fisher on the new frames while a new "
        "head learns, but this run trains the model's head 'train' itself (name a new head with --data.head)"
    )
    assert not (tmp_path / "one-head").exists()


# --- refusals -----------------------------------------------------------------------------------
def test_an_element_the_pretrained_model_never_saw(pretrained, files, tmp_path):
    frames = read(files["train"], index=":3")
    frames[1].numbers[0] = 9  # a fluorine
    bad = tmp_path / "fluorine.xyz"
    write(bad, frames)
    cfg = finetune_config(pretrained[0], files)
    cfg.data.paths = [str(bad)]
    with pytest.raises(DataError) as err:
        run_finetune(cfg, tmp_path / "run")
    assert str(err.value) == (
        f"{bad}: frame 1: atom 0: element F is not in the model's element table (H, C, O): "
        "the model never saw it"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(init="none", strategy="ewc"),
            "finetune.strategy: 'ewc' needs a pre-trained model (--init RUN); from scratch only 'full' applies",
        ),
        (
            dict(strategy="linear-probe"),
            "finetune.strategy: 'linear-probe' trains only a new head and a potential has none (freeze the "
            "lower blocks with 'freeze' instead)",
        ),
        (
            dict(train="molecules.smi"),
            "molecules.smi: SMILES are structures without energies or forces; a force field is fitted to "
            "labelled frames (pre-train on SMILES with objective.kind denoise instead)",
        ),
        (
            dict(init="none", references="keep"),
            "references: 'keep' needs a pre-trained model (--init RUN); from scratch use 'data' or 'auto'",
        ),
        (
            dict(init="none", replay=True),
            "replay: replaying pre-training frames needs a pre-trained model (--init RUN)",
        ),
        (
            dict(replay=True, replay_fraction=0.05),
            "finetune.replay_fraction: 0.05 of a batch of 4 is 0 pre-training examples; expected at "
            "least 1 and fewer than the batch size",
        ),
        (  # refused once the run directory and the "before" evaluation were written
            dict(strategy="replay", replay_fraction=0.05),
            "finetune.replay_fraction: 0.05 of a batch of 4 is 0 pre-training examples; expected at "
            "least 1 and fewer than the batch size",
        ),
        (  # the new head, in the top group, trained on nothing for unfreeze_every steps
            dict(strategy="gradual"),
            "finetune.strategy: 'gradual' unfreezes layer groups from the top, and a potential's top "
            "group holds its heads, so the new head would wait finetune.unfreeze_every steps untrained; "
            "use 'freeze' (the lower blocks held for the whole run), 'ewc' or 'l2sp'",
        ),
        (  # the readouts frozen too: "optimizer got an empty parameter list" after the run was written
            dict(strategy="freeze", freeze_layers=3),
            "finetune.freeze_layers: expected 0 to 2 (the element embedding and up to the 2 interaction "
            "blocks; the readouts always train), got 3",
        ),
        (
            dict(eval_head="PBE"),
            "eval_head: PBE: no such head; the model's heads are: train",
        ),
        (
            dict(head="train", old_head_distillation=1.0),
            "old_head_distillation: keeps an old head while a new one learns, but this run trains "
            "the model's head 'train' itself (name a new head with --data.head)",
        ),
        (
            dict(init="none", old_head_distillation=1.0),
            "old_head_distillation: keeps an old head while a new one learns, which needs a "
            "pre-trained model (--init RUN)",
        ),
        (
            dict(head="train", head_blocks=1),
            "head_blocks: sets the blocks a new head owns, but this run trains the model's head 'train' "
            "(its heads own 0); name a new head with --data.head",
        ),
        (
            # recorded in config.yaml and not used: the start was fine-tuned in float32
            dict(dtype="float64"),
            "model.dtype: the pre-trained start (--init {init}) brings its own model; the model keys "
            "apply to --init none (a float64 fine-tune starts from a float64 pre-trained model)",
        ),
        (
            dict(cutoff=6.0),
            "model.cutoff: the pre-trained start (--init {init}) brings its own model; the model keys "
            "apply to --init none",
        ),
        (
            dict(init="none", head_blocks=1),
            "head_blocks: the blocks a head added to a pre-trained model owns (--init RUN); from scratch, "
            "set model.head_blocks",
        ),
        (
            dict(head="train", head_warmup=2),
            "finetune.head_warmup: trains a new head alone before the shared blocks join, but this run "
            "has no new head (start from a pre-trained model, --init RUN, and name a new head with "
            "--data.head)",
        ),
        (
            dict(init="none", head_warmup=2),
            "finetune.head_warmup: trains a new head alone before the shared blocks join, but this run "
            "has no new head (start from a pre-trained model, --init RUN, and name a new head with "
            "--data.head)",
        ),
    ],
)
def test_configuration_refusals(pretrained, files, tmp_path, change, message):
    cfg = finetune_config(pretrained[0], files, strategy=change.get("strategy", "full"))
    if "init" in change:
        cfg.init = change["init"]
    if "train" in change:
        cfg.data.paths = [change["train"]]
    if "references" in change:
        cfg.references = change["references"]
    cfg.replay = change.get("replay", False)
    cfg.finetune.replay_fraction = change.get("replay_fraction", cfg.finetune.replay_fraction)
    cfg.eval_head = change.get("eval_head")
    cfg.data.head = change.get("head")
    cfg.old_head_distillation = change.get("old_head_distillation", 0.0)
    cfg.head_blocks = change.get("head_blocks")
    cfg.finetune.head_warmup = change.get("head_warmup", 0)
    cfg.finetune.freeze_layers = change.get("freeze_layers", cfg.finetune.freeze_layers)
    for key in ("dtype", "cutoff"):
        if key in change:
            cfg.model = dataclasses.replace(cfg.model, **{key: change[key]})
    with pytest.raises(UserError) as err:
        run_finetune(cfg, tmp_path / "run")
    assert str(err.value) == message.format(init=cfg.init)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "run").exists()


def test_ewc_from_a_model_without_a_fisher(files, tmp_path):
    pretrain(
        "molecules",
        dataclasses.replace(
            pretrain_config(fisher_frames=0), train=dataclasses.replace(pretrain_config().train, max_steps=1)
        ),
        tmp_path / "nofisher",
    )
    assert load_fisher(from_pretrained(tmp_path / "nofisher").extras) is None
    with pytest.raises(ConfigError) as err:
        run_finetune(finetune_config(tmp_path / "nofisher", files), tmp_path / "run")
    assert str(err.value).startswith(
        "finetune.strategy: 'ewc' needs the Fisher diagonal of the "
        "pre-training loss and the pre-trained model has none"
    )
    assert not (tmp_path / "run").exists()


def test_a_time_budget_alone_sizes_the_fine_tuning(pretrained, files, tmp_path, monkeypatch):
    """--max-time without --max-steps: 2 s a (faked) step, 60 s: sized after step 13 (26 s) to end at
    0.97 * 60 s: 13 + floor(32.2 / 2) = 29 steps, not the config's 4; replay batches (an epoch-based
    loader, 3 batches an epoch) run as many epochs as that takes."""
    import lightning.pytorch as pl

    from sciPT import callbacks
    from sciPT.trainer import time_only

    class Tick(pl.Callback):
        now = 0.0

        def on_train_batch_start(self, *args):
            Tick.now += 2.0

    monkeypatch.setattr(callbacks, "clock", lambda: Tick.now)
    cfg = finetune_config(pretrained[0], files, strategy="replay", replay_frames=8)
    cfg.train = time_only(dataclasses.replace(cfg.train, max_time="1"), steps_set=False, time_set=True)
    import sciPT.tasks.forcefield_train as ff

    build = ff.build_trainer
    monkeypatch.setattr(
        ff,
        "build_trainer",
        lambda *a, callbacks=None, **kw: build(*a, **kw, callbacks=[*(callbacks or []), Tick()]),
    )
    metrics = run_finetune(cfg, tmp_path / "run").read_metrics()
    assert metrics["steps"] == metrics["steps_sized_from_time"] == 29


def test_a_time_budget_of_minutes_without_a_preset_takes_small(capsys, tmp_path, monkeypatch):
    import argparse

    from sciPT.registry import tasks
    from sciPT.runconfig import add_run_arguments, resolve_config

    task = tasks.get("forcefield")
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, task, "runs/x")

    def channels(argv):
        return resolve_config(task, parser.parse_args(argv), table).model.channels

    small, tiny = task.presets()["small"]().model.channels, task.presets()["tiny"]().model.channels
    assert small != tiny
    assert channels([]) == tiny  # no budget: the quick tiny run
    assert channels(["--max-time", "2"]) == tiny  # below 2.5 minutes, not measured: tiny
    assert capsys.readouterr().err == ""
    assert channels(["--max-time", "2.5"]) == small
    # the budget chose a larger model than the run named: one line says so
    assert capsys.readouterr().err == (
        "--max-time 2.5: no --preset named, so the 'small' preset, which that budget trains best "
        "(--preset tiny for the tiny model)\n"
    )
    assert channels(["--max-time", "00:00:20:00", "--preset", "tiny"]) == tiny  # named: kept
    assert capsys.readouterr().err == ""
    # a budget in --config chooses as the flag does
    config = tmp_path / "budget.yaml"
    config.write_text("train:\n  max_time: '2.5'\n")
    assert channels(["--config", str(config)]) == small
    assert capsys.readouterr().err == (
        f"{config}: train.max_time 2.5: no --preset named, so the 'small' preset, which that budget "
        "trains best (--preset tiny for the tiny model)\n"
    )
    # a process Lightning launched beside rank 0 chooses alike, in silence
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert channels(["--max-time", "2.5"]) == small
    assert capsys.readouterr().err == ""


def test_a_resume_with_settings_that_build_other_weights_is_refused_before_anything_is_rewritten(
    pretrained, files, tmp_path
):
    """Fine-tuned with a new head, then resumed as if the old head were the one trained: the weights
    differ, so the resume stops in one line, leaving the run's settings and log as they were (it
    used to rewrite both and then fail in Lightning, and every later --resume failed too)."""
    out = tmp_path / "run"
    cfg = finetune_config(pretrained[0], files, strategy="full", steps=2)
    run_finetune(cfg, out)
    settings, log = (out / "config.yaml").read_text(), (out / "logs" / "metrics.csv").read_text()
    other = finetune_config(pretrained[0], files, strategy="full", steps=4)
    other.data = dataclasses.replace(other.data, head="train")  # the pre-trained head: no new one
    with pytest.raises(ConfigError) as err:
        run_finetune(other, out, resume=True)
    assert str(err.value).startswith(
        f"--resume: {out / 'checkpoints' / 'last.ckpt'} holds other weights than "
    )
    assert str(err.value).endswith(
        f"resume with the settings the run was started with ({out / 'config.yaml'}), or start a new "
        "run in another --out"
    )
    assert "only in the checkpoint (first: extra_heads.0." in str(err.value)
    assert (out / "config.yaml").read_text() == settings
    assert (out / "logs" / "metrics.csv").read_text() == log
    # resumed as it was started, it goes on
    again = finetune_config(pretrained[0], files, strategy="full", steps=4)
    run_finetune(again, out, resume=True)
    assert RunDir(out).read_metrics()["steps"] == 4


def test_a_resume_from_an_init_model_rewritten_since_the_run_began_is_refused(pretrained, files, tmp_path):
    """The pre-trained run continued and re-exported after the fine-tune began: resumed, the EWC
    anchor and Fisher were read from the new export without a word (the penalty of another model
    from the first resumed step on). The run records the SHA-256 of its start; a resume from a
    changed one stops in one line, before anything is rewritten, and goes on once it is restored."""
    import shutil

    from sciPT.checkpoint import export_model

    init, out = tmp_path / "init", tmp_path / "run"
    shutil.copytree(pretrained[0], init)
    original = (init / "model" / "model.safetensors").read_bytes()
    run_finetune(finetune_config(init, files, steps=2), out)
    settings, log = (out / "config.yaml").read_text(), (out / "logs" / "metrics.csv").read_text()

    pre = from_pretrained(init)
    with torch.no_grad():
        next(pre.model.parameters()).add_(1e-3)
    config = {k: v for k, v in pre.config.items() if k != "sciPT_format"}
    export_model(init / "model", pre.model, config, pre.extras)  # as a continued pre-training does
    with pytest.raises(ConfigError) as err:
        run_finetune(finetune_config(init, files, steps=4), out, resume=True)
    assert str(err.value) == (
        f"--init {init}: the model changed since this run began (model.safetensors differ from the "
        f"one recorded in {out / 'checkpoints' / 'last.ckpt'}): restore the model the run started "
        "from, or start a new run in another --out"
    )
    assert (out / "config.yaml").read_text() == settings
    assert (out / "logs" / "metrics.csv").read_text() == log

    (init / "model" / "model.safetensors").write_bytes(original)
    run_finetune(finetune_config(init, files, steps=4), out, resume=True)
    assert RunDir(out).read_metrics()["steps"] == 4


def test_replay_reads_the_pretraining_files_as_recorded_from_a_model_folder_outside_its_run(
    pretrained, files, tmp_path, capsys
):
    """The export records how pre-training read and split its files: a model folder copied away
    from its run (no config.yaml beside it) replays the same frames, and a fine-tune of it passes
    the record on."""
    import shutil

    run, pre_cfg = pretrained
    bare = tmp_path / "bare" / "model"
    shutil.copytree(run / "model", bare)
    cfg = finetune_config(bare, files, strategy="full", steps=2)
    cfg.replay = True
    start = load_start(cfg)
    in_run = load_start(finetune_config(run, files))
    assert start.pretrain_data == in_run.pretrain_data == pre_cfg.data
    assert start.pretrain_seed == in_run.pretrain_seed == pre_cfg.train.seed
    assert start.pretrain_data_recorded
    # an export written before the record: the defaults, and a warning that says so
    config = json.loads((bare / "config.json").read_text())
    del config["pretraining_data"], config["pretraining_seed"]
    (bare / "config.json").write_text(json.dumps(config))
    old = load_start(cfg)
    assert not old.pretrain_data_recorded
    from sciPT.tasks.forcefield_data import pretraining_frames

    pretraining_frames(old, cfg)
    assert f"warning: {bare} does not record how its pre-training read " in capsys.readouterr().err
    # a fine-tune from the recorded export passes the record on to its own export
    out = tmp_path / "ft"
    run_finetune(finetune_config(run, files, strategy="full", steps=2), out)
    exported = json.loads((out / "model" / "config.json").read_text())
    assert exported["pretraining_data"]["paths"] == list(pre_cfg.data.paths)
    assert exported["pretraining_seed"] == pre_cfg.train.seed


def test_replay_of_a_streamed_pretraining_corpus_says_so(tmp_path):
    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.tasks.forcefield_data import Start, pretraining_frames

    (tmp_path / "shards").mkdir()
    for paths in ([str(tmp_path / "shards")], [str(tmp_path / "shards" / "*.xyz")]):
        start = Start("pre-trained", None, {}, {}, MoleculeDataConfig(paths=paths), 0, None)
        cfg = ForcefieldConfig(init="RUN")
        with pytest.raises(DataError) as err:
            pretraining_frames(start, cfg)
        assert str(err.value) == (
            f"{paths[0]}: RUN was pre-trained on this folder or pattern of shards, streamed; replay "
            "reads whole files, not a streamed corpus"
        )


def test_a_replay_run_resumed_mid_epoch_ends_where_the_uninterrupted_one_does(pretrained, files, tmp_path):
    """12 task frames in batches of 3 (and 1 replayed): 4 batches an epoch. Stopped at step 2 and
    resumed, the epoch-wise loader began its epoch again (the resumed run trained on other batches
    than the uninterrupted one); numbered by step, it continues where it stopped."""
    from safetensors.torch import load_file

    def replay_run(out, steps, resume=False):
        cfg = finetune_config(pretrained[0], files, strategy="replay", steps=steps, replay_fraction=0.25)
        run_finetune(cfg, out, resume=resume)
        return load_file(out / "model" / "model.safetensors")

    straight = replay_run(tmp_path / "straight", 6)
    replay_run(tmp_path / "stopped", 2)
    resumed = replay_run(tmp_path / "stopped", 6, resume=True)
    assert straight.keys() == resumed.keys()
    assert max(float((straight[k] - resumed[k]).abs().max()) for k in straight) < 1e-6


def test_a_relative_pretraining_path_is_read_where_pretraining_ran():
    """A run pre-trained as `--data d/train.xyz` from /work replays /work/d/train.xyz from any
    folder: its config's relative path is matched to the absolute one recorded with the export."""
    from sciPT.tasks.forcefield_data import as_recorded

    recorded = {"/work/d/train.xyz": {}, "/work/d/val.xyz": {}, "/elsewhere/train.xyz": {}}
    assert as_recorded("d/train.xyz", recorded) == "/work/d/train.xyz"
    assert as_recorded("./d/val.xyz", recorded) == "/work/d/val.xyz"
    assert as_recorded("train.xyz", recorded) == "train.xyz"  # two candidates: left as given
    assert as_recorded("other.xyz", recorded) == "other.xyz"
    assert as_recorded("/abs/train.xyz", recorded) == "/abs/train.xyz"


# --- pre-training's validation files ----------------------------------------------------------
@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """A tiny potential pre-trained for 2 steps on 16 ethanol frames with a validation file of 4
    others (``--data.val-paths``), and a file holding those 4 frames again in another order (the
    demo's ethanol_val.xyz holds frames of its pretrain_val.xyz so)."""
    folder = tmp_path_factory.mktemp("validated")
    frames = read(ETHANOL, index=":20")
    paths = {name: folder / f"{name}.xyz" for name in ("pre_train", "v", "v_again")}
    write(paths["pre_train"], frames[:16])
    write(paths["v"], frames[16:])
    write(paths["v_again"], frames[19:15:-1])
    cfg = molecules_tiny()
    cfg.data = dataclasses.replace(
        cfg.data,
        paths=[str(paths["pre_train"])],
        val_paths=[str(paths["v"])],
        isolated_atoms=str(SHIPPED / "ethanol" / "isolated_atoms.xyz"),
    )
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=2, val_every=2, checkpoint_every=2, val_batches=1, batch_size=4, log_every=1
    )
    pretrain("molecules", cfg, folder / "pre")
    return folder / "pre", paths


def test_pretraining_records_its_validation_files_apart_from_those_it_trained_on(validated):
    run, paths = validated
    exported = json.loads((run / "model" / "config.json").read_text())
    assert [(e["path"], e["records"]) for e in exported["pretrained_on"]] == [
        (str(paths["pre_train"].resolve()), 16)
    ]
    assert [(e["path"], e["records"]) for e in exported["validated_on"]] == [(str(paths["v"].resolve()), 4)]


def test_a_finetune_counts_the_pretraining_validation_frames_as_held_out_and_never_replays_them(
    validated, files, tmp_path, capsys
):
    run, paths = validated
    cfg = finetune_config(run, files, strategy="replay", steps=1, replay_frames=100)
    cfg.eval = [str(paths["v"]), str(paths["v_again"])]
    out = run_finetune(cfg, tmp_path / "ft").path
    assert "not held-out" not in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert not {k for k in metrics if k.endswith("_not_held_out")}
    assert "eval_v_energy_mae_meV_per_atom" in metrics and metrics["frames_replay"] == 16
    # the fine-tuned model keeps the record: evaluate on v.xyz still knows it for held out
    tuned = json.loads((out / "model" / "config.json").read_text())
    assert tuned["validated_on"] == json.loads((run / "model" / "config.json").read_text())["validated_on"]
    report = (out / "report.md").read_text()
    assert "**Not held out**" not in report
    assert (
        "Pre-trained on: pre_train.xyz (16 frames); validated on (never trained on): v.xyz (4 frames)"
        in report
    )
    # an export outside its run that records nothing of how pre-training read its files replays
    # every frame of its recorded training files: not those of its validation file
    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.tasks.forcefield_data import pretraining_frames

    bare = dataclasses.replace(
        load_start(cfg), pretrain_data=MoleculeDataConfig(), pretrain_data_recorded=False
    )
    assert len(pretraining_frames(bare, cfg)) == 16


def test_evaluate_calls_the_pretraining_validation_file_held_out(validated, tmp_path, capsys):
    from sciPT.cli import main

    run, paths = validated
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(paths["v"]), "--out", str(tmp_path / "v")]) == 0
    err = capsys.readouterr().err
    said = (
        f"note: {paths['v']} is this model's pre-training validation file ({paths['v'].resolve()}, same "
        "SHA-256): held out (never trained on), though pre-training reported its loss on it"
    )
    assert said in err.splitlines() and "warning" not in err
    assert "N" + said[1:] in (tmp_path / "v" / "report.md").read_text()
    assert main(["evaluate", str(run), "--data", str(paths["v_again"]), "--out", str(tmp_path / "w")]) == 0
    err = capsys.readouterr().err
    assert "not held-out" not in err and "pre-training validation file" not in err


# --- the old task's frames are read as pre-training read them -------------------------------
def in_units(files, folder, prefix: str, energy: float = 1.0, length: float = 1.0) -> dict:
    """``files`` with the acetylacetone sets rewritten in units of ``energy`` eV and ``length``
    Angstrom (``<prefix>_train.xyz``, ...); the ethanol file (the old level's) stays in eV and
    Angstrom."""
    out = dict(files)
    for name in ("train", "val", "test"):
        frames = read(files[name], index=":")
        for atoms in frames:
            e, f = atoms.get_potential_energy() / energy, atoms.get_forces() * length / energy
            atoms.calc = None
            atoms.positions /= length
            atoms.info["energy"], atoms.arrays["forces"] = e, f
        out[name] = folder / f"{prefix}_{name}.xyz"
        write(out[name], frames)
    return out


def test_eval_files_and_evaluate_of_the_old_head_are_read_with_the_pretraining_units(
    pretrained, files, tmp_path, capsys
):
    """A fine-tune on frames in kcal/mol reads its --eval files (ethanol, at the pre-training's
    level, in eV) as pre-training read its own, not in kcal/mol; so does evaluate --head of the
    old head, while the new head still reads its files as the fine-tune did."""
    from ase.units import kcal, mol

    from sciPT.cli import main

    kcal_files = in_units(files, tmp_path, "kcal", energy=kcal / mol)  # eV in one kcal/mol
    cfg = finetune_config(pretrained[0], kcal_files, steps=1)
    cfg.data = dataclasses.replace(cfg.data, energy_unit="kcal/mol", head="acac")
    run = run_finetune(cfg, tmp_path / "run")
    # before fine-tuning, the ethanol errors are the pre-trained model's own on the eV file
    pre = from_pretrained(pretrained[0]).model
    reference = evaluate_potential(pre, labelled_graphs(files["old"], pre)).metrics
    metrics = run.read_metrics()
    for key in ("energy_mae_meV", "energy_mae_meV_per_atom", "forces_mae_meV_per_A"):
        assert metrics[f"eval_ethanol_old_before_{key}"] == pytest.approx(reference[key], rel=1e-6), key
    exported = json.loads((run.path / "model" / "config.json").read_text())
    assert exported["head_data"]["train"]["energy_unit"] == "eV"
    assert exported["head_data"]["acac"]["energy_unit"] == "kcal/mol"
    # evaluate through the old head reads the eV file in eV: the fine-tuned model's own ethanol errors
    out = tmp_path / "old"
    args = ["evaluate", str(run.path), "--data", str(files["old"]), "--head", "train", "--out", str(out)]
    assert main(args) == 0
    old = json.loads((out / "metrics.json").read_text())
    for key in ("energy_mae_meV", "forces_mae_meV_per_A"):
        assert old[key] == pytest.approx(metrics[f"eval_ethanol_old_{key}"], rel=1e-6), key
    # the new head (the default) reads the kcal/mol test file as the fine-tune did
    out = tmp_path / "new"
    assert main(["evaluate", str(run.path), "--data", str(kcal_files["test"]), "--out", str(out)]) == 0
    new = json.loads((out / "metrics.json").read_text())
    assert new["energy_mae_meV"] == pytest.approx(metrics["test_kcal_test_energy_mae_meV"], rel=1e-6)


def test_evaluate_with_the_pretrained_references_reads_the_old_files_with_the_pretraining_units(
    pretrained, files, tmp_path, capsys
):
    """A fine-tune in kcal/mol of the pre-trained head itself (its references refitted, the
    pre-trained ones kept): evaluate --references pretrained scores frames at the pre-training's
    level, and read the eV ethanol file in kcal/mol (energies 23 times too small, the errors some
    thousand times the fine-tune's own figures for the file); it now reads it as pre-training did,
    as the fine-tune read its --eval copy."""
    from ase.units import kcal, mol

    from sciPT.cli import main

    cfg = finetune_config(pretrained[0], in_units(files, tmp_path, "kcal", energy=kcal / mol), steps=1)
    cfg.data = dataclasses.replace(cfg.data, energy_unit="kcal/mol", head="train")
    run = run_finetune(cfg, tmp_path / "run")
    exported = json.loads((run.path / "model" / "config.json").read_text())
    assert exported["head"] == exported["eval_head"] == "train" and exported["pretrained_references"]
    metrics = run.read_metrics()
    out = tmp_path / "pretrained"
    argv = ["evaluate", str(run.path), "--data", str(files["old"]), "--references", "pretrained"]
    assert main([*argv, "--out", str(out)]) == 0
    old = json.loads((out / "metrics.json").read_text())
    for key in ("energy_mae_meV", "energy_mae_meV_per_atom", "forces_mae_meV_per_A"):
        assert old[key] == pytest.approx(metrics[f"eval_ethanol_old_{key}"], rel=1e-6), key
    assert (
        "Frames read as the fine-tune's start read frames through head 'train' (energies in eV, lengths "
        "in Angstrom)."
    ) in (out / "report.md").read_text()
    capsys.readouterr()


@pytest.fixture(scope="module")
def bohr_run(pretrained, files, tmp_path_factory):
    """A fine-tune of a new head (acac) on acetylacetone frames in Bohr, from the model pre-trained
    in Angstrom (head train)."""
    from ase.units import Bohr

    folder = tmp_path_factory.mktemp("ff-bohr")
    cfg = finetune_config(pretrained[0], in_units(files, folder, "bohr", length=Bohr), steps=1)
    cfg.data = dataclasses.replace(cfg.data, length_unit="Bohr", head="acac")
    return run_finetune(cfg, folder / "run").path


def test_predict_through_the_old_head_reads_positions_in_its_length_unit(bohr_run, files, tmp_path, capsys):
    """predict --head train read the Angstrom ethanol file in the fine-tune's Bohr (bonds 0.53 times
    too short); it now reads it in the unit pre-training read its files with."""
    from sciPT.cli import main

    out = tmp_path / "predicted.xyz"
    argv = ["predict", str(bohr_run), "--input", str(files["old"]), "--head", "train"]
    assert main([*argv, "--output", str(out)]) == 0
    predicted, given = read(out, index=":"), read(files["old"], index=":")
    for p, g in zip(predicted, given, strict=True):
        assert np.allclose(p.positions, g.positions, atol=1e-6)
    calc = SciPTCalculator(bohr_run, head="train")
    assert predicted[0].get_potential_energy() == pytest.approx(calc.get_potential_energy(given[0]), abs=1e-5)
    capsys.readouterr()


def test_evaluate_finds_pretraining_copies_read_in_the_pretraining_unit(bohr_run, tmp_path, capsys):
    """The frames evaluated through the old head are read in its unit (Angstrom); the pre-training
    files they are compared with were read in the fine-tune's Bohr, so no copy was ever found."""
    from sciPT.cli import main

    copies = tmp_path / "copies.xyz"
    write(copies, read(ETHANOL, index=":3"))  # among the 40 frames pre-training read
    capsys.readouterr()
    argv = ["evaluate", str(bohr_run), "--data", str(copies), "--head", "train", "--out", str(tmp_path / "e")]
    assert main(argv) == 0
    assert f"warning: {copies}: 3 of 3 frames are copies of pre-training frames" in capsys.readouterr().err


def test_md_through_the_old_head_reads_the_structure_in_its_length_unit(bohr_run, files, tmp_path, capsys):
    """md --head train read the Angstrom starting structure in the fine-tune's Bohr; it now reads
    it as predict --head train does, in the unit pre-training read its files with."""
    from sciPT.cli import main

    given = read(files["old"], index=0)
    calc = SciPTCalculator(bohr_run, head="train")
    for where in (bohr_run, bohr_run / "model"):
        traj = tmp_path / f"{where.name}.xyz"
        argv = ["md", str(where), "--structure", str(files["old"]), "--head", "train", "--steps", "1"]
        assert main([*argv, "--temperature", "0", "--output", str(traj)]) == 0
        start = read(traj, index=0)
        assert np.allclose(start.positions, given.positions, atol=1e-6)
        assert start.get_potential_energy() == pytest.approx(calc.get_potential_energy(given), abs=1e-4)
    capsys.readouterr()


def test_the_pretrained_references_of_one_head_are_refused_for_another(bohr_run, files, tmp_path, capsys):
    """A fine-tune of head train (its references moved, the pre-trained ones kept) of a model that
    also has head acac: --references pretrained --head acac put train's old references under acac's
    energies without a word; it is refused in one line naming the head they belong to."""
    from sciPT.cli import main

    cfg = dataclasses.replace(finetune_config(bohr_run, files, strategy="full", steps=1), eval_head="train")
    cfg.data = dataclasses.replace(cfg.data, head="train")
    run = run_finetune(cfg, tmp_path / "run")
    exported = json.loads((run.path / "model" / "config.json").read_text())
    assert exported["head"] == "train" and exported["pretrained_references"]
    capsys.readouterr()
    argv = ["evaluate", str(run.path), "--data", str(files["old"]), "--references", "pretrained"]
    assert main([*argv, "--head", "acac", "--out", str(tmp_path / "e")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: --references pretrained: the pre-trained references of {run.path} are those of "
        "head 'train'; head 'acac' has its own (pass --head train, or drop --references pretrained)"
    )
    assert not (tmp_path / "e").exists()
    assert main([*argv, "--head", "train", "--out", str(tmp_path / "t")]) == 0


def test_a_second_fine_tune_of_the_same_head_evaluates_the_pretrained_level_as_its_start_read_it(
    pretrained, files, tmp_path, capsys
):
    """Pre-trained in eV, fine-tuned on head train in kcal/mol, then fine-tuned again on head train
    in eV: the second run's pre-trained references are the first fine-tune's (kcal/mol level), and
    --references pretrained read frames as pre-training read its files (eV), so a kcal/mol file of
    that level was read 23 times too large. It is read as the first fine-tune read its frames."""
    from ase.units import kcal, mol

    from sciPT.cli import main

    kcal_files = in_units(files, tmp_path, "kcal", energy=kcal / mol)
    first = finetune_config(pretrained[0], kcal_files, strategy="full", steps=1)
    first.data = dataclasses.replace(first.data, energy_unit="kcal/mol", head="train")
    run1 = run_finetune(first, tmp_path / "run1")
    second = dataclasses.replace(finetune_config(run1.path, files, strategy="full", steps=1), eval=[])
    second.data = dataclasses.replace(second.data, head="train")
    run2 = run_finetune(second, tmp_path / "run2")
    exported = json.loads((run2.path / "model" / "config.json").read_text())
    assert exported["pretrained_reading"]["energy_unit"] == "kcal/mol"
    # the kcal/mol acetylacetone test frames, at the first fine-tune's level: scored through the
    # first run's own model, and through the second with --references pretrained, in the same unit
    argv = ["evaluate", "--data", str(kcal_files["test"])]
    assert main([argv[0], str(run1.path), *argv[1:], "--out", str(tmp_path / "e1")]) == 0
    assert (
        main(
            [argv[0], str(run2.path), *argv[1:], "--references", "pretrained", "--out", str(tmp_path / "e2")]
        )
        == 0
    )
    e1 = json.loads((tmp_path / "e1" / "metrics.json").read_text())
    e2 = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    # one more step apart, the two models err alike (51 and 47 meV); read in eV, the kcal/mol
    # energies were 23 times too large and the error some hundred thousand meV
    assert e2["energy_mae_meV"] < 2 * e1["energy_mae_meV"]
    assert "energies in kcal/mol" in (tmp_path / "e2" / "report.md").read_text()
    capsys.readouterr()


def test_a_chain_from_a_fine_tune_exported_before_head_data_reads_its_head_as_its_run_did(
    pretrained, files, tmp_path
):
    """The chain above from a first fine-tune whose export predates head_data: its head 'train'
    was taken to read as pre-training did (eV), so the second run's --references pretrained read
    the kcal/mol frames 23 times too large. Its run's config.yaml says kcal/mol; without it the
    reading is not recorded (null), not guessed."""
    from ase.units import kcal, mol

    kcal_files = in_units(files, tmp_path, "kcal", energy=kcal / mol)
    first = finetune_config(pretrained[0], kcal_files, strategy="full", steps=1)
    first.data = dataclasses.replace(first.data, energy_unit="kcal/mol", head="train")
    run1 = run_finetune(first, tmp_path / "run1")
    config = run1.path / "model" / "config.json"
    older = json.loads(config.read_text())
    del older["head_data"], older["pretrained_reading"]
    config.write_text(json.dumps(older))
    second = dataclasses.replace(finetune_config(run1.path, files, strategy="full", steps=1), eval=[])
    second.data = dataclasses.replace(second.data, head="train")
    run2 = run_finetune(second, tmp_path / "run2")
    assert json.loads((run2.path / "model" / "config.json").read_text())["pretrained_reading"][
        "energy_unit"
    ] == ("kcal/mol")
    (run1.path / "config.yaml").unlink()  # the model folder alone: nothing says how it read its frames
    second.init = str(run1.path / "model")
    run3 = run_finetune(second, tmp_path / "run3")
    assert json.loads((run3.path / "model" / "config.json").read_text())["pretrained_reading"] is None
    from sciPT.cli import main

    out = tmp_path / "e3"
    argv = [
        "evaluate",
        str(run3.path),
        "--data",
        str(files["test"]),
        "--references",
        "pretrained",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert (
        "Frames read with this run's own keys and units: its model does not record how frames at the "
        "pre-trained level are read."
    ) in (out / "report.md").read_text()
