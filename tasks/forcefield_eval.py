"""A force-field potential evaluated: its sets before and after fine-tuning, and a finished run.

The errors of a potential on labelled frames (:func:`~sciPT.domains.molecules.evaluate.evaluate_potential`),
their tables and parity plots are the molecules domain's (:mod:`sciPT.domains.molecules.evaluate`,
:mod:`sciPT.domains.molecules.report`), shared with the evaluation of a pre-training run; this module
applies them to a fine-tune's sets (the old task's through the old head and references) and to
``scipt evaluate`` / ``scipt predict`` on a force-field run.
"""

from __future__ import annotations

from sciPT.checkpoint import from_pretrained, read_export_config
from sciPT.domains.molecules.evaluate import (
    READING_FIELDS,
    Evaluation,
    evaluate_potential,
    swapped_references,
    using_head,
)
from sciPT.domains.molecules.evaluate import evaluate_run as evaluate_model
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.predict import predict_run as predict_model
from sciPT.errors import ConfigError, UserError
from sciPT.run import RunDir

from .forcefield_data import Sets


def evaluate_sets(backbone, sets: Sets, batch_size: int, label: str) -> dict[str, Evaluation]:
    """``{"val" | "test_<name>" | "eval_<name>": Evaluation}``; eval sets through the old head
    (``sets.eval_head``), under the pre-trained references when that head is the one trained."""
    out = {}
    groups = ([("val", {"": sets.val})] if sets.val else []) + [("test", sets.test), ("eval", sets.eval)]
    for prefix, group in groups:
        for name, graphs in group.items():
            key = f"{prefix}_{name}" if name else prefix
            old = prefix == "eval"
            with (
                using_head(backbone, sets.eval_head if old else None),
                swapped_references(backbone, sets.eval_references if old else None),
            ):
                out[key] = evaluate_potential(backbone, graphs, batch_size, desc=f"{key} ({label})")
    return out


# --- evaluate / predict on a finished run--------------------------------------------------------
def load_run_model(path) -> tuple[EquivariantPotential, dict]:
    exported = read_export_config(path)
    if exported.get("task") != "forcefield":
        raise UserError(f"{path}: not a force-field run (run 'scipt finetune forcefield' first)")
    return from_pretrained(path, domain="molecules").model, exported


def pretrained_reading(exported: dict, model: EquivariantPotential) -> dict | None:
    """How frames at the level of a fine-tune's pre-trained references (``--references
    pretrained``) are read, from its export ``exported``: as its start read frames through the head
    the fine-tune moved to new references (``pretrained_reading``); in an export written before that
    record, as pre-training read its files (``pretraining_data``) where the moved head is the one
    pre-training trained (the model's first). ``None`` where the export does not say: a
    ``pretrained_reading`` of null (the start did not record it), or, before that record, one
    written before exports recorded how each head reads its frames (no ``head_data``), one whose
    start did not record pre-training's files, or a head added by an earlier fine-tune; those
    frames are then read as the run read its own."""
    if "pretrained_reading" in exported:  # recorded since 2026-12-06; null where the start did not say
        recorded = exported["pretrained_reading"] or {}
        return {k: v for k, v in recorded.items() if k in READING_FIELDS} or None
    data = exported.get("pretraining_data")
    if "head_data" not in exported or not data or exported.get("head") != model.head_names[0]:
        return None
    return {k: data[k] for k in READING_FIELDS if k in data}


def evaluate_run(run: RunDir, args) -> dict:
    """``scipt evaluate`` on a force-field run: the molecules evaluation, with ``--references``.
    With ``pretrained`` the frames are at the pre-trained level: read as the fine-tune's start read
    frames at that level (:func:`pretrained_reading`), not with the fine-tune's keys and units."""
    model, exported = load_run_model(run.path)
    refs, settings = None, None
    if getattr(args, "references", "model") == "pretrained":
        refs = exported.get("pretrained_references")
        if not refs:
            raise ConfigError(
                f"--references pretrained: {run.path} kept no pre-trained references (fine-tuned "
                "from scratch, or on a head of its own: pass --head with the old head instead)"
            )
        model.select_head(getattr(args, "head", None), "--head")
        moved = exported.get("head")  # the head whose references the fine-tune moved
        if moved is not None and model.head != moved:
            # the old references are the level of theory of that head's training, not this one's
            raise ConfigError(
                f"--references pretrained: the pre-trained references of {run.path} are those of "
                f"head {moved!r}; head {model.head!r} has its own (pass --head {moved}, or drop "
                "--references pretrained)"
            )
        settings = pretrained_reading(exported, model)
    note = f"Force-field run; reference energies: {'the pre-trained' if refs else 'the model'}'s."
    recorded = "pretrained_reading" if "pretrained_reading" in exported else "pretraining_data"
    if settings is not None:
        how = (
            f"the fine-tune's start read frames through head '{model.head}'"
            if recorded == "pretrained_reading"
            else "pre-training read its files"
        )
        note += (
            f" Frames read as {how} (energies in {settings.get('energy_unit', 'eV')}, lengths in "
            f"{settings.get('length_unit', 'Angstrom')})."
        )
    elif refs:
        note += (
            " Frames read with this run's own keys and units: its model does not record how frames at "
            "the pre-trained level are read."
        )
    where = f"{run.path}: model/config.json: {recorded}"
    reading = (settings, where) if settings is not None else None
    return evaluate_model(run, args, model, references=refs, notes=[note], head_reading=reading)


def predict_run(run: RunDir, args) -> int:
    """``scipt predict`` on a force-field run: the molecules prediction of its potential."""
    model, _ = load_run_model(run.path)
    return predict_model(run, args, model)
