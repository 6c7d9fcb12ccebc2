"""What a force-field fine-tune starts from and reads, checked before its run directory exists.

The start (a pre-trained potential and what came with it, or scratch), every set of frames (training,
validation, ``--test``, ``--eval``, replayed pre-training frames), the head trained and the reference
energies. What each choice does is the task's documentation (:mod:`sciPT.tasks.forcefield`: Start,
Heads, Reference energies, Replay); this module implements it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.config import from_dict, load_yaml
from sciPT.domains.molecules.data import MoleculeDataConfig, head_name, read_frames
from sciPT.domains.molecules.dataset import batches, prepare, split_frames, to_graphs
from sciPT.domains.molecules.evaluate import (
    TrainingFrames,
    copies_line,
    graph_key,
    labelled_graphs,
    read_as,
    reading,
    trained_file,
    training_frames,
    unfixed_references_warning,
)
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.references import composition_span, isolated_atom, undetermined_note
from sciPT.domains.molecules.references import graph_composition as composition
from sciPT.errors import ConfigError, DataError
from sciPT.files import file_sha256, resolve_data_path
from sciPT.run import say
from sciPT.streaming import is_pattern

if TYPE_CHECKING:
    from .forcefield_config import ForcefieldConfig

# interaction blocks a head added to a one-head model owns (ForcefieldConfig.head_blocks)
DEFAULT_HEAD_BLOCKS = 1


# --- the starting point-----------------------------------------------------------------------
@dataclass
class Start:
    """The potential fine-tuning starts from, and what came with it."""

    name: str  # "pre-trained" or "scratch"
    backbone: EquivariantPotential | None
    export: dict
    extras: dict
    pretrain_data: MoleculeDataConfig  # how its pre-training read its files (for replay)
    pretrain_seed: int
    references: list[float] | None  # the pre-trained reference energies (eV, element order)
    # False: nothing recorded how pre-training read its files (an export written before the export
    # recorded it, outside its run directory): replay reads them with the defaults, and says so
    pretrain_data_recorded: bool = True
    # a start fine-tuned before exports recorded head_data: how its run read frames through the head
    # it trained (its config.yaml), {} where that is not at hand; None for any other start
    trained_reading: dict | None = None


def _run_config(init: str) -> dict:
    """The config.yaml of the run an export belongs to (``{}`` if it is not in a run)."""
    path = Path(init)
    for candidate in (path / "config.yaml", path.parent / "config.yaml"):
        if candidate.is_file() and (candidate.parent / "model").is_dir():
            return load_yaml(candidate) or {}
    return {}


def load_start(cfg: ForcefieldConfig) -> Start:
    if cfg.init == "none":
        return Start("scratch", None, {}, {}, MoleculeDataConfig(), 0, None)
    pre = from_pretrained(cfg.init, domain="molecules")
    saved = _run_config(cfg.init)
    data, seed, recorded = MoleculeDataConfig(), 0, True
    if pre.config.get("pretraining_data") is not None:  # a fine-tuned export carries its start's
        data = from_dict(MoleculeDataConfig, pre.config["pretraining_data"], f"{cfg.init}: pretraining_data")
        seed = int(pre.config.get("pretraining_seed", 0))
    elif saved.get("domain") == "molecules" and saved.get("data"):
        data = from_dict(MoleculeDataConfig, saved["data"], f"{cfg.init}: config.yaml: data")
        seed = int((saved.get("train") or {}).get("seed", 0))
    else:
        recorded = False
    trained_reading = None
    if pre.config.get("task") == "forcefield" and "head_data" not in pre.config:
        own = saved.get("data") if saved.get("init") is not None else None  # a forcefield run's config
        trained_reading = (
            reading(from_dict(MoleculeDataConfig, own, f"{cfg.init}: config.yaml: data")) if own else {}
        )
    return Start(
        "pre-trained",
        pre.model,
        pre.config,
        pre.extras,
        data,
        seed,
        list(pre.model.cfg.reference_energies),
        recorded,
        trained_reading,
    )


def head_readings(start: Start) -> dict[str, dict]:
    """How frames at each level of theory of the start are read (:func:`.evaluate.reading`: keys,
    units, periodicity), by head: as its export records (``head_data``), and for the head
    pre-training trained (the first) as pre-training read its files, where that is recorded
    (``start.pretrain_data``), unless the start is a fine-tune of that head exported before
    ``head_data`` (its run's ``config.yaml`` then says, :attr:`Start.trained_reading`); a head with
    none of these is left out."""
    if start.backbone is None:
        return {}
    out = dict(start.export.get("head_data") or {})
    trained = start.export.get("head")
    if start.trained_reading is not None and trained:
        # a fine-tune exported before head_data: the head it trained was read as its run read its
        # files, not as pre-training did (the same head at other units, in a chain)
        if start.trained_reading:
            out[trained] = start.trained_reading
        elif trained == start.backbone.head_names[0]:
            return out  # unknown: left out, not taken for pre-training's
    if start.pretrain_data_recorded:
        out.setdefault(start.backbone.head_names[0], reading(start.pretrain_data))
    return out


def eval_data_config(cfg: ForcefieldConfig, start: Start, eval_head: str) -> MoleculeDataConfig:
    """How the ``--eval`` files (frames at the level of theory of ``eval_head``) are read: with the
    keys and units that head was trained with (:func:`head_readings`), else, where the start records
    none, with the fine-tune's own (one line says so)."""
    if start.backbone is None:
        return cfg.data
    settings = head_readings(start).get(eval_head)
    if settings is None:
        if cfg.eval:
            say(
                f"warning: {cfg.init} does not record how frames at the level of theory of its head "
                f"'{eval_head}' are read: the --eval files are read with this fine-tune's keys and units "
                f"(energies in {cfg.data.energy_unit}, lengths in {cfg.data.length_unit})"
            )
        return cfg.data
    return read_as(cfg.data, settings, f"{cfg.init}: how head '{eval_head}' reads its frames")


# --- reference energies -------------------------------------------------------------------------
@torch.no_grad()
def refit_references(backbone: EquivariantPotential, graphs: list, batch_size: int) -> list[float]:
    """The active head's references plus the least-squares per-element correction of its energy errors
    on ``graphs`` (minimum-norm when the compositions do not fix every element)."""
    backbone.eval()
    labelled = [g for g in graphs if "energy" in g]
    current = backbone.head_module().reference_energies.tolist()
    if not labelled:
        return list(current)
    residual = np.concatenate(
        [
            (b.energy.reshape(-1) - backbone(b, forces=False)["energy"]).numpy()
            for b in batches(labelled, batch_size)
        ]
    )
    delta, *_ = np.linalg.lstsq(composition(labelled, backbone.elements), residual, rcond=None)
    return [float(r + d) for r, d in zip(current, delta)]


def refit_span(backbone: EquivariantPotential, graphs: list, new_level: bool) -> list[list[float]] | None:
    """The compositions the refit references are fixed on (:attr:`PotentialConfig.reference_span`):
    at a new level of theory (a new head), those of ``graphs`` alone, whatever pre-training fixed
    at its own level; on the same head, those and the head's own (``None``: every element)."""
    n = len(backbone.elements)
    labelled = [g for g in graphs if "energy" in g]
    rows = composition_span(composition(labelled, backbone.elements)) if labelled else np.zeros((0, n))
    if not new_level:
        before = backbone.reference_span()
        if before is None:
            return None
        rows = composition_span(np.vstack([np.array(before, dtype=float).reshape(-1, n), rows]))
    note = undetermined_note(
        rows,
        backbone.elements,
        "the fine-tuning frames",
        "isolated atoms at this level of theory fix them all (--references data --isolated-atoms FILE, "
        "for a model pre-trained with isolated atoms)",
    )
    if note:
        say(note)
    return rows.tolist() if len(rows) < n else None


# --- data --------------------------------------------------------------------------------------
@dataclass
class Sets:
    """Every graph the run uses, validated before the run directory exists."""

    train: list
    val: list
    test: dict[str, list]
    eval: dict[str, list]
    replay: list
    corpus: list
    references_method: str
    head: str  # the head trained
    eval_head: str  # the head the eval sets and the replayed frames go through
    eval_references: list[float] | None  # swapped in for them (one head trained on both levels)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # test and eval sets' files, by name
    not_held_out: dict[str, str] = dataclasses.field(default_factory=dict)  # sets that are not: why
    unfixed: dict[str, str] = dataclasses.field(default_factory=dict)  # sets outside the references' span
    pretraining_unchecked: list[str] = dataclasses.field(default_factory=list)  # files not compared


def set_name(path: str, taken: set[str]) -> str:
    """A metric-friendly name of a data file (its stem, other characters as ``_``), unique."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", Path(path).name.split(".")[0]).strip("_") or "set"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _graphs(
    paths: list[str],
    data: MoleculeDataConfig,
    elements: list[str],
    cutoff: float,
    names: set[str],
    sources: dict[str, str],
) -> dict[str, list]:
    out = {}
    for path in paths:
        name = set_name(path, names)
        sources[name] = path
        # the training frames proved the forces key: a test or eval file may hold energies alone
        out[name] = labelled_graphs(path, data, elements, cutoff, forces_optional=True)
    return out


def not_held_out(sets: Sets, start: Start) -> dict[str, str]:
    """For each test and eval set that is not held out, why (one line): it is a file this model
    was fine-tuned (or validated) or pre-trained on, by SHA-256, or some of its frames are copies
    of fine-tuning or pre-training frames (the pre-training files read again, where they are on
    this machine as recorded: :func:`training_frames`; those left unread are in
    ``sets.pretraining_unchecked``). Pre-training's validation files (``validated_on``, never
    trained on) are not among them: a set holding their frames is held out from the weights."""
    recorded = [
        ("fine-tuned (or validated)", sets.corpus),
        ("pre-trained", start.export.get("pretrained_on")),
    ]
    test_sets = [*sets.test.items(), *sets.eval.items()]
    seen = TrainingFrames()
    if test_sets and start.export.get("pretrained_on"):
        pretrained = [("pre-training", start.export["pretrained_on"], start.pretrain_data.max_frames)]
        seen = training_frames(pretrained, start.pretrain_data)
        sets.pretraining_unchecked = seen.unchecked
    for graph in sets.train:
        seen.add(graph_key(graph), "fine-tuning", replace=True)
    out = {}
    for name, graphs in test_sets:
        path = sets.sources[name]
        if found := trained_file(path, recorded):
            how, where = found
            out[name] = f"{path}: the very file this model was {how} on ({where}, same SHA-256)"
        elif counts := seen.copies(graphs):
            out[name] = f"{path}: {copies_line(counts, len(graphs))}"
    return out


def pretraining_frames(start: Start, cfg: ForcefieldConfig) -> list:
    """The frames the model was pre-trained on: the training files of its run's config, read and
    split as pre-training did (same ``max_frames``, validation held out with the same seed), or,
    for an export outside its run directory, every frame of the training files recorded with it
    (``pretrained_on``; its validation files, ``validated_on``, are never replayed)."""
    data = start.pretrain_data
    recorded = {str(resolve_data_path(e["path"])): e for e in start.export.get("pretrained_on") or []}
    paths = [as_recorded(path, recorded) for path in data.paths] or list(recorded)
    if not paths:
        raise ConfigError(
            f"finetune.strategy: 'replay' needs the pre-training frames, and "
            f"{cfg.init} records none (pretrained_on is empty)"
        )
    if not start.pretrain_data_recorded:
        print(
            f"warning: {cfg.init} does not record how its pre-training read {', '.join(map(str, paths))}: "
            "replay reads them with the default settings (energies in eV, forces in eV/Angstrom, the "
            "default keys, every frame); if pre-training read them otherwise, replay from its run "
            "directory",
            file=sys.stderr,
        )
    frames = []
    for path in paths:
        resolved = resolve_data_path(path)
        if resolved.is_dir() or is_pattern(path):
            raise DataError(
                f"{path}: {cfg.init} was pre-trained on this folder or pattern of shards, streamed; "
                "replay reads whole files, not a streamed corpus"
            )
        if not resolved.is_file():
            raise DataError(
                f"{path}: pre-training file of {cfg.init} is not on this machine (replay needs it)"
            )
        entry = recorded.get(str(resolved), {})
        if entry.get("sha256") and file_sha256(resolved) != entry["sha256"]:
            raise DataError(
                f"{path}: changed since pre-training (sha256 differs from the one recorded with {cfg.init})"
            )
        # pre-training checked its set as a whole: one of its files may hold energies alone
        frames += [
            f
            for f in read_frames(path, data, forces_optional=True)
            if not isolated_atom(f, start.backbone.cfg.cutoff)
        ]
    if data.paths and not data.val_paths:
        frames = split_frames(frames, data.val_fraction, start.pretrain_seed).train
    return frames


def as_recorded(path: str, recorded: dict) -> str:
    """A relative path of the pre-training run's config as the absolute path recorded with its
    export, where exactly one recorded path ends with it: read as given, it names a file of the
    folder the fine-tune runs in, not of the one pre-training ran in."""
    tail = tuple(part for part in Path(path).parts if part not in (".", ".."))
    if Path(path).is_absolute() or not tail:
        return path
    matches = [r for r in recorded if Path(r).is_absolute() and Path(r).parts[-len(tail) :] == tail]
    return matches[0] if len(matches) == 1 else path


def replay_graphs(start: Start, cfg: ForcefieldConfig, shift: np.ndarray) -> list:
    """At most ``replay_frames`` pre-training frames (:func:`pretraining_frames`), their energies
    moved to the new references by ``shift`` (eV per atom of each element)."""
    frames = pretraining_frames(start, cfg)
    keep = np.sort(np.random.default_rng(cfg.train.seed).permutation(len(frames))[: cfg.replay_frames])
    graphs = to_graphs([frames[int(i)] for i in keep], start.backbone.cfg.cutoff, "replay graphs")
    for g, n in zip(graphs, composition(graphs, start.backbone.elements)):
        if "energy" in g:
            g.energy = g.energy + float(n @ shift)
    return graphs


def load_sets(cfg: ForcefieldConfig, start: Start) -> tuple[Sets, EquivariantPotential]:
    """Read and check every file; settle the backbone and its reference energies."""
    method = cfg.references
    if method == "auto":
        method = "data" if start.backbone is None else "refit"
    if method in ("refit", "keep") and cfg.data.isolated_atoms:
        # read and ignored, they looked used. Taken as the references ('data'), they suit only a
        # network pre-trained on isolated-atom references: one pre-trained on least-squares ones
        # learnt its atomic energies around those, and was then ~5 eV/atom off
        raise ConfigError(
            f"isolated_atoms: references '{method}' (the default from a pre-trained model) fit the new "
            "level's references on the training frames and do not read isolated atoms; --references "
            "data takes them from the file, which suits a model pre-trained with isolated atoms "
            "(--data.isolated-atoms)"
        )
    if start.backbone is None and method in ("refit", "keep"):
        raise ConfigError(
            f"references: '{method}' needs a pre-trained model (--init RUN); from "
            "scratch use 'data' or 'auto'"
        )
    head = head_name(cfg.data)
    eval_references = None
    if start.backbone is None:
        prepared = prepare(
            cfg.data, dataclasses.replace(cfg.model, head=head, heads=[]), labelled=True, seed=cfg.train.seed
        )
        backbone = EquivariantPotential(prepared.model)
        method = f"data ({prepared.references_method})"
        eval_head = head
    else:
        backbone = start.backbone
        eval_head = (
            backbone.check_head(cfg.eval_head, "eval_head:") if cfg.eval_head else backbone.head_names[-1]
        )
        new_level = head not in backbone.head_names
        if head in backbone.head_names:
            if cfg.head_blocks not in (None, backbone.cfg.head_blocks):
                raise ConfigError(
                    f"head_blocks: sets the blocks a new head owns, but this run trains the model's "
                    f"head '{head}' (its heads own {backbone.cfg.head_blocks}); name a new head with --data.head"
                )
            backbone.select_head(head)
            if eval_head == head:  # old frames through the head being moved to new references
                eval_references = list(backbone.head_module().reference_energies.tolist())
        else:
            blocks = cfg.head_blocks
            if blocks is None and len(backbone.head_names) == 1:
                blocks = DEFAULT_HEAD_BLOCKS
            backbone.add_head(head, copy_from=eval_head, blocks=blocks)
        model_cfg = dataclasses.replace(
            backbone.cfg, reference_energies=list(backbone.head_module().reference_energies.tolist())
        )
        if method == "data":
            model_cfg = dataclasses.replace(model_cfg, reference_energies=[])
        prepared = prepare(cfg.data, model_cfg, labelled=True, seed=cfg.train.seed)
        if method == "data":
            backbone.set_reference_energies(dict(zip(backbone.elements, prepared.model.reference_energies)))
            backbone.set_reference_span(prepared.model.reference_span)
            method = f"data ({prepared.references_method})"
        elif method == "refit":
            refs = refit_references(backbone, prepared.train, cfg.eval_batch_size)
            backbone.set_reference_energies(dict(zip(backbone.elements, refs)))
            backbone.set_reference_span(refit_span(backbone, prepared.train, new_level))
        # the head trained here: a new one learns from these frames alone, an old one adds them to
        # its own (None, unrecorded, stays None unless these have images); other heads keep theirs
        images = prepared.model.periodic_images
        backbone.set_periodic_images(images if new_level else images or backbone.periodic_images())
    names: set[str] = {"val"}
    sources: dict[str, str] = {}
    elements, cutoff = backbone.elements, backbone.cfg.cutoff
    test = _graphs(cfg.test, cfg.data, elements, cutoff, names, sources)
    # frames of the old task: read as the eval head's training read its files, not as this fine-tune reads its own
    evals = _graphs(cfg.eval, eval_data_config(cfg, start, eval_head), elements, cutoff, names, sources)
    replay = []
    if start.backbone is not None and (cfg.replay or cfg.finetune.strategy == "replay"):
        shift = np.zeros(len(elements))
        if eval_references is not None:  # one head for both levels: old energies moved to the new references
            shift = backbone.head_module().reference_energies.numpy() - np.array(eval_references)
        replay = replay_graphs(start, cfg, shift)
    sets = Sets(
        prepared.train,
        prepared.val,
        test,
        evals,
        replay,
        # the fine-tune's own validation files stay in its record (finetuned_on), named as such
        # by the checks ("fine-tuned (or validated)"), unlike pre-training's (validated_on)
        prepared.corpus + prepared.validated_on,
        method,
        head,
        eval_head,
        eval_references,
        sources,
    )
    sets.not_held_out = not_held_out(sets, start)
    for line in sets.not_held_out.values():
        say(f"warning: {line}: its errors are not held-out errors")
    if sets.pretraining_unchecked:
        say(
            "warning: test and eval frames not compared with these pre-training files: "
            + "; ".join(sets.pretraining_unchecked)
        )
    # test sets go through the trained head, eval sets through the eval head (forcefield_train);
    # eval sets given the pre-trained references instead (one head, both levels) are left out
    checks = [(name, graphs, head) for name, graphs in sets.test.items()]
    if eval_references is None:
        checks += [(name, graphs, eval_head) for name, graphs in sets.eval.items()]
    for name, graphs, through in checks:
        line = unfixed_references_warning(backbone, graphs, name, through)
        if line:
            sets.unfixed[name] = line[len("warning: ") :]
            say(line)
    return sets, backbone
