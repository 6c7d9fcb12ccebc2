"""What the force-field task reads before its run exists (:mod:`sciPT.tasks.forcefield_data`): the
names and held-out verdicts of its test sets, the pre-training frames replay reads, the start's
recorded settings and the refusals of references that cannot apply. Built from a few shipped
frames, without pre-training a model."""

import dataclasses
import types

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from sciPT.domains.molecules.data import (
    ACETYLACETONE_ISOLATED,
    ACETYLACETONE_TRAIN,
    ETHANOL_TRAIN,
    MoleculeDataConfig,
    read_frames,
)
from sciPT.domains.molecules.dataset import split_frames
from sciPT.domains.molecules.evaluate import labelled_graphs, reading
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.domains.molecules.references import graph_composition
from sciPT.errors import ConfigError, DataError
from sciPT.files import file_sha256, resolve_data_path
from sciPT.tasks import forcefield_data
from sciPT.tasks.forcefield_config import ForcefieldConfig
from sciPT.tasks.forcefield_data import (
    Sets,
    Start,
    eval_data_config,
    head_readings,
    load_sets,
    load_start,
    not_held_out,
    pretraining_frames,
    refit_span,
    set_name,
)
from sciPT.trainer import TrainConfig

ETHANOL = resolve_data_path(ETHANOL_TRAIN).resolve()
ACAC = resolve_data_path(ACETYLACETONE_TRAIN).resolve()


def scratch_config(train, val=None, test=(), **kw) -> ForcefieldConfig:
    cfg = ForcefieldConfig(test=[str(p) for p in test], **kw)
    cfg.data = dataclasses.replace(
        cfg.data, paths=[str(train)], val_paths=[str(val)] if val else [], val_fraction=0.0 if val else 0.1
    )
    return cfg


def pretrained_start(data: MoleculeDataConfig, seed=0, export=None, recorded=True, cutoff=5.0) -> Start:
    """A start whose backbone only answers for its cutoff (what replay reads it for)."""
    backbone = types.SimpleNamespace(cfg=types.SimpleNamespace(cutoff=cutoff))
    return Start("pre-trained", backbone, export or {}, {}, data, seed, None, recorded)


def isolated(symbol: str, energy: float) -> Atoms:
    atom = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
    atom.calc = SinglePointCalculator(atom, energy=energy, forces=np.zeros((1, 3)))
    return atom


# --- set names ------------------------------------------------------------------------------------
def test_set_names_are_file_stems_made_unique_from_2():
    """A test set's name prefixes its metrics: the stem of its file, never the suffix, and a second
    file of one stem (or one named like the validation set) gets _2, then _3."""
    taken = {"val"}
    assert set_name("some/dir/acac.test.xyz", taken) == "acac"
    assert set_name("other/acac.xyz", taken) == "acac_2"
    assert set_name("third/acac.extxyz", taken) == "acac_3"
    assert set_name("val.xyz", taken) == "val_2"
    assert set_name("a-b c.xyz", taken) == "a_b_c"
    assert set_name("---.xyz", taken) == "set"
    assert taken == {"val", "acac", "acac_2", "acac_3", "val_2", "a_b_c", "set"}


# --- test sets from scratch -----------------------------------------------------------------------
@pytest.fixture
def acac(tmp_path):
    """Five acetylacetone training frames, two validation frames, one unseen frame."""
    frames = read(ACAC, index=":8")
    paths = {"train": tmp_path / "train.xyz", "val": tmp_path / "val.xyz"}
    write(paths["train"], frames[:5])
    write(paths["val"], frames[5:7])
    return paths, frames


def test_a_test_file_named_val_does_not_take_the_validation_sets_name(acac, tmp_path):
    """Metrics of a test set named "val" would overwrite the validation metrics."""
    (paths, frames), other = acac, tmp_path / "elsewhere"
    other.mkdir()
    write(other / "val.xyz", frames[7:8])
    sets, _ = load_sets(scratch_config(paths["train"], paths["val"], [other / "val.xyz"]), Start(*_SCRATCH))
    assert list(sets.test) == ["val_2"] and sets.sources == {"val_2": str(other / "val.xyz")}
    assert sets.not_held_out == {}  # an unseen frame: held out


_SCRATCH = ("scratch", None, {}, {}, MoleculeDataConfig(), 0, None)


def test_the_validation_and_training_files_given_as_test_sets_are_not_held_out(acac, capsys):
    """The fine-tune's own validation file chose its checkpoint: scored as a test set, its errors
    are not held-out errors, and the warning names the file given."""
    paths, _ = acac
    cfg = scratch_config(paths["train"], paths["val"], [paths["val"], paths["train"]])
    sets, _ = load_sets(cfg, Start(*_SCRATCH))
    assert sets.not_held_out == {
        "val_2": f"{paths['val']}: the very file this model was fine-tuned (or validated) on "
        f"({paths['val'].resolve()}, same SHA-256)",
        "train": f"{paths['train']}: the very file this model was fine-tuned (or validated) on "
        f"({paths['train'].resolve()}, same SHA-256)",
    }
    said = capsys.readouterr().err
    assert f"warning: {sets.not_held_out['train']}: its errors are not held-out errors\n" in said


def test_every_copied_training_frame_is_counted(acac, tmp_path):
    """A test file holding every training frame (in another order, another file) is all copies:
    none of the training frames may be missed, the first included."""
    paths, frames = acac
    copied = tmp_path / "copied.xyz"
    write(copied, frames[4::-1])
    sets, _ = load_sets(scratch_config(paths["train"], paths["val"], [copied]), Start(*_SCRATCH))
    assert len(sets.train) == 5
    assert sets.not_held_out == {
        "copied": f"{copied}: 5 of 5 frames are copies of fine-tuning frames (elements, positions and cell)"
    }


def test_a_partly_copied_test_set_counts_its_copies_out_of_its_own_frames(acac, tmp_path):
    """Two of a three-frame test file are training frames: "2 of 3", the share of the test set
    whose errors are not held-out errors (not out of the five training frames)."""
    paths, frames = acac
    partly = tmp_path / "partly.xyz"
    write(partly, [frames[3], frames[7], frames[1]])
    sets, _ = load_sets(scratch_config(paths["train"], paths["val"], [partly]), Start(*_SCRATCH))
    assert sets.not_held_out == {
        "partly": f"{partly}: 2 of 3 frames are copies of fine-tuning frames (elements, positions and cell)"
    }


def test_a_test_set_outside_the_references_span_is_recorded_without_the_warning_prefix(
    acac, tmp_path, capsys
):
    """Acetylacetone frames fix one combination of the H, C, O references: ethanol is outside it.
    The record (for the report) is the warning's text, said once with its prefix."""
    paths, _ = acac
    ethanol = tmp_path / "ethanol.xyz"
    write(ethanol, read(ETHANOL, index=":2"))
    sets, _ = load_sets(scratch_config(paths["train"], paths["val"], [ethanol]), Start(*_SCRATCH))
    assert list(sets.unfixed) == ["ethanol"]
    line = sets.unfixed["ethanol"]
    assert not line.startswith("warning:") and line.startswith("ethanol")
    assert f"warning: {line}\n" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["refit", "keep"])
def test_a_pretrained_references_method_from_scratch_is_refused(acac, method):
    paths, _ = acac
    cfg = scratch_config(paths["train"], paths["val"], references=method)
    with pytest.raises(ConfigError) as err:
        load_sets(cfg, Start(*_SCRATCH))
    assert str(err.value) == (
        f"references: '{method}' needs a pre-trained model (--init RUN); from scratch use 'data' or 'auto'"
    )


@pytest.mark.parametrize("method", ["refit", "keep"])
def test_isolated_atoms_beside_kept_or_refit_references_are_refused_first(acac, method):
    """'keep' ignores an isolated-atoms file as 'refit' does: refused, naming the method given."""
    paths, _ = acac
    cfg = scratch_config(paths["train"], paths["val"], references=method)
    cfg.data.isolated_atoms = str(resolve_data_path(ACETYLACETONE_ISOLATED).resolve())
    with pytest.raises(ConfigError) as err:
        load_sets(cfg, Start(*_SCRATCH))
    assert str(err.value).startswith(
        f"isolated_atoms: references '{method}' (the default from a pre-trained model)"
    )


def potential(*heads: str) -> EquivariantPotential:
    """The tiny architecture for H, C and O, untrained, with ``heads`` added after ``default``."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        molecules_tiny().model, elements=["H", "C", "O"], reference_energies=[-13.6, -1025.3, -2035.6]
    )
    model = EquivariantPotential(cfg)
    for head in heads:
        model.add_head(head)
    return model


def test_a_new_head_of_a_one_head_model_owns_the_last_interaction_block(acac):
    """The first head added owns the last interaction block as well as its readout (the
    documented default, which forgot far less): the old head keeps its copy of it untouched."""
    paths, _ = acac
    backbone = potential()
    assert backbone.cfg.head_blocks == 0
    cfg = scratch_config(paths["train"], paths["val"], init="RUN")
    cfg.data.head = "acac"
    sets, tuned = load_sets(cfg, Start("pre-trained", backbone, {}, {}, MoleculeDataConfig(), 0, None, False))
    assert (sets.head, sets.eval_head) == ("acac", "default")
    assert tuned.cfg.head_blocks == 1
    assert any(n.startswith("extra_heads.0.blocks.") for n in tuned.head_parameter_names("acac"))


def test_the_old_task_goes_through_the_newest_head_by_default_and_the_new_head_copies_it(acac):
    """Without --eval-head, the eval sets and replayed frames go through the model's newest head
    (the last level of theory it learnt), and a new head starts as a copy of that one."""
    paths, _ = acac
    backbone = potential("pbe")
    with torch.no_grad():
        for p in backbone.head_module("pbe").readout.parameters():
            p.add_(0.5)  # pbe's readout is not the default head's
    pbe = {k: v.clone() for k, v in backbone.head_module("pbe").readout.state_dict().items()}
    cfg = scratch_config(paths["train"], paths["val"], init="RUN")
    cfg.data.head = "acac"
    sets, tuned = load_sets(cfg, Start("pre-trained", backbone, {}, {}, MoleculeDataConfig(), 0, None, False))
    assert tuned.head_names == ["default", "pbe", "acac"]
    assert (sets.head, sets.eval_head) == ("acac", "pbe")
    copied = tuned.head_module("acac").readout.state_dict()
    assert all(torch.equal(copied[k], pbe[k]) for k in pbe)


def test_the_pretrained_references_are_kept_for_the_old_task_only_when_its_head_is_the_one_trained(acac):
    """Fine-tuning the eval head itself moves its references: the old task is then scored under
    the ones it had. Fine-tuning another existing head leaves the eval head's own references in
    place, and nothing is swapped in (its errors would be scored under another level's)."""
    paths, _ = acac
    cfg = scratch_config(paths["train"], paths["val"], init="RUN", eval_head="pbe")
    cfg.data.head = "default"
    sets, _ = load_sets(
        cfg, Start("pre-trained", potential("pbe"), {}, {}, MoleculeDataConfig(), 0, None, False)
    )
    assert (sets.head, sets.eval_head, sets.eval_references) == ("default", "pbe", None)
    cfg.data.head = "pbe"
    backbone = potential("pbe")
    before = backbone.head_module("pbe").reference_energies.tolist()
    sets, tuned = load_sets(cfg, Start("pre-trained", backbone, {}, {}, MoleculeDataConfig(), 0, None, False))
    assert sets.eval_references == before
    assert tuned.head_module("pbe").reference_energies.tolist() != before  # refit to acetylacetone's


def test_eval_sets_outside_the_old_heads_reference_span_are_named(acac, tmp_path, capsys):
    """The old head's references were fitted on acetylacetone alone: ethanol eval frames carry an
    offset nobody measured through it, and the report names the set (it did for test sets only)."""
    paths, frames = acac
    ethanol = tmp_path / "ethanol.xyz"
    write(ethanol, read(ETHANOL, index=":2"))
    backbone = potential()
    acac_counts = np.array([[8.0, 5.0, 2.0]])  # C5H8O2, as (H, C, O)
    backbone.set_reference_span((acac_counts / np.linalg.norm(acac_counts)).tolist())
    cfg = scratch_config(paths["train"], paths["val"], init="RUN", eval=[str(ethanol)])
    cfg.data.head = "acac"
    sets, _ = load_sets(cfg, Start("pre-trained", backbone, {}, {}, MoleculeDataConfig(), 0, None, False))
    assert list(sets.unfixed) == ["ethanol"]
    assert sets.unfixed["ethanol"].startswith(
        "ethanol: 2 of 2 frames have compositions the reference energies of head default were not "
        "fitted on (its training compositions fix 1 of 3 element references)"
    )
    assert f"warning: {sets.unfixed['ethanol']}\n" in capsys.readouterr().err


# --- pre-training frames for replay ---------------------------------------------------------------
@pytest.fixture
def ethanol_run(tmp_path):
    """Twenty ethanol frames and two isolated atoms in one pre-training file; the twenty alone, as
    read."""
    frames = read(ETHANOL, index=":20")
    path = tmp_path / "pre" / "train.xyz"
    path.parent.mkdir()
    write(path, [isolated("H", -13.6), *frames[:10], isolated("O", -2040.0), *frames[10:]])
    write(tmp_path / "plain.xyz", frames)
    return path, read_frames(tmp_path / "plain.xyz")


def positions(frames) -> list:
    return [np.round(np.asarray(f.positions), 6).tolist() for f in frames]


def test_replay_skips_isolated_atoms_and_holds_out_pretrainings_validation_with_its_seed(ethanol_run):
    """Pre-training took its references from the isolated atoms and trained on the rest with a
    tenth held out by its seed: replay reads those training frames, not the held-out ones."""
    path, frames = ethanol_run
    data = MoleculeDataConfig(paths=[str(path)], val_fraction=0.1)
    start = pretrained_start(data, seed=7)
    replayed = pretraining_frames(start, ForcefieldConfig(init="RUN"))
    expected = split_frames(frames, 0.1, 7).train
    assert len(replayed) == 18 and positions(replayed) == positions(expected)
    assert positions(expected) != positions(split_frames(frames, 0.1, 0).train)  # the seed matters here


def test_replay_reads_every_frame_of_a_run_with_validation_files(ethanol_run):
    path, frames = ethanol_run
    data = MoleculeDataConfig(paths=[str(path)], val_paths=["v.xyz"], val_fraction=0.1)
    replayed = pretraining_frames(pretrained_start(data, seed=7), ForcefieldConfig(init="RUN"))
    assert positions(replayed) == positions(frames)


def test_replay_of_a_pretraining_file_changed_since_is_refused(ethanol_run):
    """Replaying other frames than the model was trained on would be silent forgetting."""
    path, _ = ethanol_run
    recorded = {"pretrained_on": [{"path": str(path.resolve()), "sha256": "0" * 64}]}
    start = pretrained_start(MoleculeDataConfig(), export=recorded, recorded=False)
    with pytest.raises(DataError) as err:
        pretraining_frames(start, ForcefieldConfig(init="RUN"))
    assert str(err.value) == (
        f"{path.resolve()}: changed since pre-training (sha256 differs from the one recorded with RUN)"
    )
    recorded["pretrained_on"][0]["sha256"] = file_sha256(path)
    assert len(pretraining_frames(start, ForcefieldConfig(init="RUN"))) == 20


def test_a_relative_pretraining_path_is_replayed_from_where_pretraining_ran(
    ethanol_run, tmp_path, monkeypatch
):
    """The run's config says pre/train.xyz; the fine-tune runs in another folder, where no such file
    is: the absolute path recorded with the export is read."""
    path, frames = ethanol_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = MoleculeDataConfig(paths=["pre/train.xyz"], val_fraction=0.0)
    export = {"pretrained_on": [{"path": str(path.resolve()), "sha256": file_sha256(path)}]}
    replayed = pretraining_frames(pretrained_start(data, export=export), ForcefieldConfig(init="RUN"))
    assert positions(replayed) == positions(frames)


def test_a_test_set_holding_pretrainings_validation_file_is_held_out_its_training_file_is_not(tmp_path):
    """Pre-training never trained on its validation files (validated_on): a test set of them is
    held out; its training file (pretrained_on) is not."""
    frames = read(ETHANOL, index=":6")
    pre, val = tmp_path / "pre.xyz", tmp_path / "preval.xyz"
    write(pre, frames[:4])
    write(val, frames[4:])
    export = {
        "pretrained_on": [{"path": str(pre.resolve()), "sha256": file_sha256(pre)}],
        "validated_on": [{"path": str(val.resolve()), "sha256": file_sha256(val)}],
    }
    start = pretrained_start(MoleculeDataConfig(), export=export)
    graphs = {
        name: labelled_graphs(str(p), MoleculeDataConfig(), ["H", "C", "O"], 5.0)
        for name, p in (("pre", pre), ("preval", val))
    }
    sets = Sets([], [], graphs, {}, [], [], "refit", "h", "h", None, {"pre": str(pre), "preval": str(val)})
    assert not_held_out(sets, start) == {
        "pre": f"{pre}: the very file this model was pre-trained on ({pre.resolve()}, same SHA-256)"
    }


def test_a_frame_both_pretrained_and_fine_tuned_on_is_counted_as_a_fine_tuning_copy(tmp_path):
    """A test frame that pre-training and this fine-tune both trained on is named by the later
    use, the fine-tuning, once: not also counted as a pre-training copy."""
    frames = read(ETHANOL, index=":4")
    pre, test = tmp_path / "pre.xyz", tmp_path / "test.xyz"
    write(pre, frames)
    write(test, frames[2:])
    export = {"pretrained_on": [{"path": str(pre.resolve()), "sha256": file_sha256(pre)}]}
    start = pretrained_start(MoleculeDataConfig(), export=export)

    def graphs(path):
        return labelled_graphs(str(path), MoleculeDataConfig(), ["H", "C", "O"], 5.0)

    train = graphs(pre)[3:]  # the fine-tune trained on the last frame again
    sets = Sets(train, [], {"test": graphs(test)}, {}, [], [], "refit", "h", "h", None, {"test": str(test)})
    assert not_held_out(sets, start) == {
        "test": f"{test}: 1 of 2 frames are copies of fine-tuning frames and 1 of 2 frames are copies "
        "of pre-training frames (elements, positions and cell)"
    }


def test_pretraining_files_not_on_this_machine_are_named_as_not_compared(acac, tmp_path):
    """Test frames cannot be compared with pre-training files that are not here: the run must
    say which (a copy among them would go unseen), not pass the sets as held out in silence."""
    paths, frames = acac
    write(tmp_path / "unseen.xyz", frames[7:8])
    gone = str(tmp_path / "elsewhere" / "pre.xyz")
    export = {"pretrained_on": [{"path": gone, "sha256": "0" * 64}]}
    start = pretrained_start(MoleculeDataConfig(), export=export)
    graphs = {
        "unseen": labelled_graphs(str(tmp_path / "unseen.xyz"), MoleculeDataConfig(), ["H", "C", "O"], 5.0)
    }
    sets = Sets([], [], graphs, {}, [], [], "refit", "h", "h", None, {"unseen": str(tmp_path / "unseen.xyz")})
    assert not_held_out(sets, start) == {}
    assert sets.pretraining_unchecked == [f"{gone} (not a file on this machine)"]


def test_only_the_frames_pretraining_read_of_its_file_are_pretraining_copies(tmp_path):
    """Pre-training with max_frames 2 read the first two frames of its file: a test frame further
    on in it was never trained on, and is held out."""
    frames = read(ETHANOL, index=":4")
    pre, test = tmp_path / "pre.xyz", tmp_path / "test.xyz"
    write(pre, frames)
    write(test, [frames[1], frames[3]])
    export = {"pretrained_on": [{"path": str(pre.resolve()), "sha256": file_sha256(pre)}]}
    start = pretrained_start(MoleculeDataConfig(max_frames=2), export=export)
    graphs = labelled_graphs(str(test), MoleculeDataConfig(), ["H", "C", "O"], 5.0)
    sets = Sets([], [], {"test": graphs}, {}, [], [], "refit", "h", "h", None, {"test": str(test)})
    assert not_held_out(sets, start) == {
        "test": f"{test}: 1 of 2 frames are copies of pre-training frames (elements, positions and cell)"
    }


# --- the start's record -----------------------------------------------------------------------------
def fake_export(monkeypatch, config: dict):
    """``from_pretrained`` answering with an export of ``config`` (and a one-head model)."""
    model = types.SimpleNamespace(cfg=types.SimpleNamespace(reference_energies=[-1.0, -2.0]))
    pre = types.SimpleNamespace(config=config, model=model, extras={})
    monkeypatch.setattr(forcefield_data, "from_pretrained", lambda init, domain: pre)


def test_a_model_folder_inside_its_run_takes_the_runs_data_settings_and_seed(tmp_path, monkeypatch):
    """``--init RUN/model`` of an export that records nothing: the run's config.yaml beside the
    folder says how pre-training read and split its files (replay holds the same frames out)."""
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {
        "domain": "molecules",
        "data": {"paths": ["d/train.xyz"], "val_fraction": 0.2},
        "train": {"seed": 5},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    fake_export(monkeypatch, {})
    for init in (run, run / "model"):
        start = load_start(ForcefieldConfig(init=str(init)))
        assert start.pretrain_data_recorded
        assert (start.pretrain_data.paths, start.pretrain_data.val_fraction) == (["d/train.xyz"], 0.2)
        assert start.pretrain_seed == 5
        assert start.references == [-1.0, -2.0]


def test_refit_span_at_a_new_level_is_that_of_the_fine_tuning_frames_alone(capsys):
    """Fine-tuning frames of two compositions fix two of three references at a new level (however
    many the pre-trained head had fixed); frames spanning all three fix every one (None)."""
    elements = ["H", "C", "O"]
    backbone = types.SimpleNamespace(elements=elements, reference_span=lambda: None)

    class G(types.SimpleNamespace):  # a labelled graph: its atomic numbers, "energy" in it
        def __contains__(self, key):
            return hasattr(self, key)

    two = [G(z=torch.tensor([1, 1, 8]), energy=0.0), G(z=torch.tensor([6, 1, 1, 1, 1]), energy=0.0)]
    span = np.array(refit_span(backbone, two, new_level=True))
    assert span.shape == (2, 3)
    counts = graph_composition(two, elements)
    assert np.allclose(counts @ span.T @ span, counts)  # the span holds both compositions
    assert "fix 2 of the 3 element references" in capsys.readouterr().err
    three = [*two, G(z=torch.tensor([8, 8]), energy=0.0)]
    assert refit_span(backbone, three, new_level=True) is None
    assert capsys.readouterr().err == ""
    # on the same head whose references were all fixed, they stay fixed
    assert refit_span(backbone, two, new_level=False) is None


def test_a_model_folder_that_records_nothing_is_replayed_with_the_defaults_and_says_so(tmp_path, monkeypatch):
    """No config.yaml beside it and no record in the export: replay cannot know how pre-training
    read its files, and the start must say so (the warning hangs on it)."""
    (tmp_path / "bare" / "model").mkdir(parents=True)
    fake_export(monkeypatch, {})
    start = load_start(ForcefieldConfig(init=str(tmp_path / "bare" / "model")))
    assert not start.pretrain_data_recorded
    assert (start.pretrain_data, start.pretrain_seed) == (MoleculeDataConfig(), 0)
    # an export that records it (a fine-tune's) is read as recorded, config.yaml or not
    fake_export(
        monkeypatch, {"pretraining_data": {"paths": ["p.xyz"], "max_frames": 7}, "pretraining_seed": 3}
    )
    start = load_start(ForcefieldConfig(init=str(tmp_path / "bare" / "model")))
    assert start.pretrain_data_recorded and start.pretrain_seed == 3
    assert (start.pretrain_data.paths, start.pretrain_data.max_frames) == (["p.xyz"], 7)


def test_a_forcefield_export_without_head_data_takes_its_trained_heads_reading_from_its_run(
    tmp_path, monkeypatch
):
    """A fine-tune exported before head_data: its run's config.yaml says how the head it trained
    read frames (Hartree here); an export recording head_data needs none of that."""
    run = tmp_path / "ft"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"init": "pre", "data": {"energy_unit": "Hartree"}}))
    fake_export(monkeypatch, {"task": "forcefield", "head": "acac"})
    start = load_start(ForcefieldConfig(init=str(run)))
    assert start.trained_reading == reading(MoleculeDataConfig(energy_unit="Hartree"))
    fake_export(monkeypatch, {"task": "forcefield", "head": "acac", "head_data": {}})
    assert load_start(ForcefieldConfig(init=str(run))).trained_reading is None
    # a config.yaml beside it that is not a fine-tune's (no init: a pre-training run's) says
    # nothing of how the fine-tune read its frames: unknown, not pre-training's Hartree
    (run / "config.yaml").write_text(
        yaml.safe_dump({"domain": "molecules", "data": {"energy_unit": "Hartree"}})
    )
    fake_export(monkeypatch, {"task": "forcefield", "head": "acac"})
    assert load_start(ForcefieldConfig(init=str(run))).trained_reading == {}


def test_head_readings_by_what_the_start_records():
    """Which head's frames are read with which units: the first head as pre-training read its
    files where that is recorded; a fine-tuned head as its run read them; an unknown one left out
    rather than taken for pre-training's."""
    pre = MoleculeDataConfig(energy_unit="kcal/mol")
    backbone = types.SimpleNamespace(head_names=["pbe", "ccsd"])

    def start(recorded=True, export=None, trained_reading=None):
        return Start("pre-trained", backbone, export or {}, {}, pre, 0, None, recorded, trained_reading)

    assert head_readings(start()) == {"pbe": reading(pre)}
    assert head_readings(start(recorded=False)) == {}  # not recorded: not the defaults either
    ccsd = {"energy_unit": "Hartree"}
    assert head_readings(start(export={"head_data": {"ccsd": ccsd}})) == {"ccsd": ccsd, "pbe": reading(pre)}
    hartree = reading(MoleculeDataConfig(energy_unit="Hartree"))
    assert head_readings(start(export={"head": "pbe"}, trained_reading=hartree)) == {"pbe": hartree}
    # the first head fine-tuned (a chain) with its run's reading unknown: left out
    assert head_readings(start(export={"head": "pbe"}, trained_reading={})) == {}
    # another head fine-tuned so: the first keeps pre-training's
    assert head_readings(start(export={"head": "ccsd"}, trained_reading={})) == {"pbe": reading(pre)}


def test_a_run_config_without_a_seed_is_split_with_the_default_seed_pretraining_used(tmp_path, monkeypatch):
    """Pre-training without train.seed in its config.yaml split its frames with TrainConfig's
    default seed: replay must hold out the same validation frames, so the start takes that seed."""
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"domain": "molecules", "data": {"paths": ["d/train.xyz"], "val_fraction": 0.2}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    fake_export(monkeypatch, {})
    assert load_start(ForcefieldConfig(init=str(run))).pretrain_seed == TrainConfig().seed


def test_eval_files_of_a_head_whose_reading_is_unrecorded_are_read_with_the_runs_units_and_said(capsys):
    """The --eval files (the old level of theory) are read with the units its head was trained
    with; where the start records none, with the fine-tune's own, and one line says so, naming the
    units: only when there are --eval files to read."""
    backbone = types.SimpleNamespace(head_names=["pbe"])
    bare = Start("pre-trained", backbone, {}, {}, MoleculeDataConfig(), 0, None, False)
    cfg = ForcefieldConfig(init="RUN", eval=["old.xyz"])
    cfg.data = dataclasses.replace(cfg.data, paths=["new.xyz"], energy_unit="kcal/mol", length_unit="Bohr")
    assert eval_data_config(cfg, bare, "pbe") is cfg.data
    assert capsys.readouterr().err == (
        "warning: RUN does not record how frames at the level of theory of its head 'pbe' are read: "
        "the --eval files are read with this fine-tune's keys and units (energies in kcal/mol, "
        "lengths in Bohr)\n"
    )
    assert eval_data_config(dataclasses.replace(cfg, eval=[]), bare, "pbe") is cfg.data
    assert capsys.readouterr().err == ""  # no --eval files: nothing read, nothing to say
    # recorded (pre-training read its files in Hartree): the eval files are read so, in silence
    hartree = MoleculeDataConfig(energy_unit="Hartree")
    recorded = dataclasses.replace(bare, pretrain_data=hartree, pretrain_data_recorded=True)
    read_as = eval_data_config(cfg, recorded, "pbe")
    assert (read_as.energy_unit, read_as.length_unit, read_as.paths) == ("Hartree", "Angstrom", ["new.xyz"])
    assert capsys.readouterr().err == ""
