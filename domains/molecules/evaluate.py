"""Errors of a potential on labelled frames: the evaluation every molecules model shares.

:func:`evaluate_potential` runs a potential over graphs and returns exact MAE and RMSE (meV): energy
per atom and per frame, forces over Cartesian components, overall and per element
(:class:`.objectives.ErrorAccumulator`), with the values behind them for parity plots. A set
evaluated with other reference energies than the model's (frames at the level of theory of the
pre-training, after fine-tuning at another) goes through :func:`swapped_references`.

:func:`evaluate_run` is ``scipt evaluate RUN --data FRAMES.xyz`` for any run holding a molecules
model: a pre-training run (:class:`~sciPT.domains.molecules.MoleculesDomain`) or a force-field
fine-tuning run (the ``forcefield`` task, which adds its choice of reference energies). The frames
are read with the keys and units the chosen head was trained with, as the run's export records them
(``head_data``: a fine-tune's old head reads them as pre-training did; an export without the record,
with the run's own), and ``--energy-key``/``--forces-key`` override them; frames
of one atom are skipped (they have no force and only fix references); an element the model never saw
is refused. Frames without forces are scored on their energies, and the force errors are over the
atoms of the frames that have forces (``forces_frames`` counts them when some have none; a file in
which no frame has forces is refused unless ``--forces-key none``). Frames whose cell has a volume
and that carry a stress under the run's ``data.stress_key`` (or ``--stress-key``) add stress errors
over the Voigt components in eV/Angstrom^3 (``stress_mae_eV_per_A3``, ``stress_rmse_eV_per_A3`` and
``stress_frames``). The evaluation goes to its own folder (:meth:`sciPT.run.RunDir.evaluation`):
``metrics.json`` (the names of :class:`.objectives.ErrorAccumulator`, plus ``frames`` and
``atoms``), ``plots/parity_energy.png``, ``plots/parity_forces.png`` and ``report.md``, whose tables
and plots are :mod:`.report`'s.

``scipt predict`` on the same runs, reading frames as :func:`evaluate_run` does (with
:func:`add_reading_arguments`, :func:`run_data_config`): :mod:`.predict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sciPT import io
from sciPT.config import from_dict
from sciPT.errors import DataError, UserError
from sciPT.run import say
from sciPT.runconfig import positive_int

from .data import MoleculeDataConfig, missing_forces_note, read_frames
from .dataset import batch_ranges, batches, collate, shows_progress, structure_key, to_graphs
from .graphs import sees_images
from .objectives import ErrorAccumulator, force_atoms
from .references import ISOLATED_ATOMS_HINT, check_elements, graph_composition, isolated_atom, outside_span
from .report import element_rows, force_lines, metric_rows, parity_plots, stress_lines


@dataclass
class Evaluation:
    """Metrics of one set and the values behind them.

    Attributes:
        metrics: ``{name: value}`` as :meth:`ErrorAccumulator.compute` names them.
        energy: ``(true, predicted)`` energies per atom, eV/atom, one per frame.
        forces: ``(true, predicted)`` force components, eV/Angstrom.
    """

    metrics: dict[str, float]
    energy: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))
    forces: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))

    def prefixed(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}": v for k, v in self.metrics.items()}


@torch.no_grad()
def evaluate_potential(model, graphs: list, batch_size: int = 32, desc: str = "evaluating") -> Evaluation:
    """Energies, forces and, of the frames that carry one, stresses of ``model`` on ``graphs``
    against their labels; forces over the atoms of the frames that carry forces (``forces_frames``
    counts those frames when some have none)."""
    model.eval()
    device = next(model.parameters()).device
    errors = ErrorAccumulator()
    e_true, e_pred, f_true, f_pred = [], [], [], []
    ranges = batch_ranges(graphs, batch_size)
    for start, stop in tqdm(ranges, desc=desc, leave=False, disable=not shows_progress(graphs)):
        batch = collate(graphs[start:stop]).to(device)
        mask = force_atoms(batch)
        pred = model(batch, forces=bool(mask.any()), stress=bool(batch.has_stress.any()))
        errors.update(pred, batch)
        natoms = batch.natoms.reshape(-1).double().cpu()
        if "energy" in batch:
            e_true.append((batch.energy.reshape(-1).cpu() / natoms).numpy())
            e_pred.append((pred["energy"].cpu() / natoms).numpy())
        if bool(mask.any()):
            mask = mask.cpu()
            f_true.append(batch.forces.cpu().double()[mask].reshape(-1).numpy())
            f_pred.append(pred["forces"].cpu().double()[mask].reshape(-1).numpy())
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    metrics = errors.compute()
    if errors.frames_with_forces and errors.frames_with_forces < errors.frames:
        metrics["forces_frames"] = errors.frames_with_forces
    if errors.frames_with_stress:
        metrics["stress_frames"] = errors.frames_with_stress
    return Evaluation(metrics, (cat(e_true), cat(e_pred)), (cat(f_true), cat(f_pred)))


@contextmanager
def swapped_references(model, references: list[float] | None):
    """Evaluate ``model`` with other per-element reference energies (same element order) in its
    active head, and put its own back afterwards; ``None`` changes nothing."""
    if references is None:
        yield model
        return
    buffer = model.head_module().reference_energies
    saved = buffer.clone()
    buffer.copy_(torch.tensor(references, dtype=torch.float64))
    try:
        yield model
    finally:
        buffer.copy_(saved)


@contextmanager
def using_head(model, head: str | None):
    """Make ``head`` the model's active head for the block (``None`` changes nothing)."""
    if head is None:
        yield model
        return
    saved = model.head
    model.select_head(head)
    try:
        yield model
    finally:
        model.head = saved


@torch.no_grad()
def energy_mae(model, graphs: list, head: str, batch_size: int = 32) -> float:
    """The energy MAE per atom (meV) of ``model`` through ``head`` on the ``graphs`` that have an
    energy: energies alone (no forces), with the head's own references."""
    device = next(model.parameters()).device
    errors = []
    for batch in batches([g for g in graphs if "energy" in g], batch_size):
        batch = batch.to(device)
        pred = model(batch, forces=False, head=head)["energy"].double().cpu()
        natoms = batch.natoms.reshape(-1).double().cpu()
        errors.append(((pred - batch.energy.reshape(-1).double().cpu()) / natoms).abs().numpy())
    return 1000 * float(np.concatenate(errors).mean()) if errors else float("nan")


def other_head_warning(model, graphs: list, ev: Evaluation, name: str, batch_size: int = 32) -> str:
    """A warning that the frames look like another head's level of theory ("" if not).

    Two levels of theory differ by an energy per element, which reaches a set of frames as a
    near-constant offset: the energies' mean error is then most of their MAE. That alone does not
    tell a head of another level from an undertrained one (a potential after a few steps is off by
    its own near-constant amount), so it only sends the other heads through the frames; the warning
    names those whose energy MAE is less than half this head's."""
    true, pred = ev.energy
    others = [h for h in model.head_names if h != model.head]
    if not others or not len(true):
        return ""
    error = 1000 * (pred - true)
    bias, mae = float(error.mean()), float(np.abs(error).mean())
    if abs(bias) <= mae / 2:
        return ""
    better = {h: m for h in others if (m := energy_mae(model, graphs, h, batch_size)) < mae / 2}
    if not better:
        return ""
    heads, maes = ", ".join(better), ", ".join(f"{m:.1f}" for m in better.values())
    through = (
        f"through head {heads} the energy MAE is {maes} meV/atom: if the frames are at its level"
        if len(better) == 1
        else f"through heads {heads} the energy MAEs are {maes} meV/atom: if the frames are at one of their levels"
    )
    return (
        f"warning: {name} through head {model.head}: energies off by {bias:+.1f} meV/atom on average "
        f"(MAE {mae:.1f}), as between two levels of theory; {through}, evaluate with "
        + " or ".join(f"--head {h}" for h in better)
    )


# --- a run on a file ----------------------------------------------------------------------------
def labelled_graphs(
    path: str, data: MoleculeDataConfig, elements: list[str], cutoff: float, *, forces_optional: bool = False
) -> list:
    """The frames of ``path`` other than isolated atoms (:func:`.references.isolated_atom`), checked against the model's elements, as
    graphs; a file with none is refused, and so is one in which no frame has forces under
    ``data.forces_key`` unless ``forces_optional`` (frames without forces are scored on their
    energies, and one line says how many they are: a fine-tune's test and eval sets, read with the
    keys of their level of theory, where a mistyped key would otherwise score energies alone)."""
    frames = read_frames(path, data, stress_optional=True, forces_optional=forces_optional)
    frames = [f for f in frames if not isolated_atom(f, cutoff)]
    if not frames:
        raise DataError(f"{path}: no frame to evaluate on besides isolated atoms")
    if forces_optional and data.forces_key is not None:
        note = missing_forces_note(frames, data, consequence="their energies are scored, not their forces")
        if note:
            print(f"{path}: {note}", file=sys.stderr)
    check_elements(frames, elements)
    return to_graphs(frames, cutoff, f"graphs {Path(path).name}")


# how a file's frames are read: its label keys, units and periodicity (not which files, nor how many)
READING_FIELDS = (
    "energy_key",
    "forces_key",
    "stress_key",
    "energy_unit",
    "length_unit",
    "force_unit",
    "stress_unit",
    "periodic",
)


def reading(data: MoleculeDataConfig) -> dict:
    """``data``'s :data:`READING_FIELDS`: how frames at its level of theory are read (an export's
    ``head_data`` keeps one per head)."""
    return {k: getattr(data, k) for k in READING_FIELDS}


def read_as(data: MoleculeDataConfig, settings: dict | None, where: str = "head_data") -> MoleculeDataConfig:
    """``data`` with the reading settings ``settings`` (:func:`reading`, as recorded) in place of
    its own (``None``: ``data`` as it is)."""
    if not settings:
        return data
    recorded = from_dict(
        MoleculeDataConfig, {k: v for k, v in settings.items() if k in READING_FIELDS}, where
    )
    return dataclasses.replace(data, **reading(recorded))


def run_data_config(
    run, args, head: str | None = None, settings: dict | None = None, where: str = ""
) -> MoleculeDataConfig:
    """How a run read its frames (keys, units, periodicity), with ``--energy-key``/``--forces-key``/
    ``--stress-key`` from ``args`` on top; no files. ``head``: frames at that head's level of
    theory, read as its training read them where the run's export records it (``head_data``: a
    fine-tune's old head, read as pre-training read its files); an export without the record reads
    them as the run did. ``settings``: the reading to use instead (:func:`reading`, from where
    ``where`` says: a fine-tune's frames at its pre-trained references' level)."""
    saved = run.read_config().get("data") or {}
    data = from_dict(MoleculeDataConfig, saved, str(run.config)) if saved else MoleculeDataConfig()
    if settings is not None:
        data = read_as(data, settings, where or f"{run.path}: model/config.json")
    elif head is not None:
        from sciPT.checkpoint import read_export_config

        recorded = (read_export_config(run.path).get("head_data") or {}).get(head)
        data = read_as(data, recorded, f"{run.path}: model/config.json: head_data: {head}")
    overrides = {
        k: getattr(args, k)
        for k in ("energy_key", "forces_key", "stress_key")
        if getattr(args, k, None) is not None
    }
    for key in ("energy_key", "forces_key", "stress_key"):
        # no such errors, even where frames carry the quantity; the words the configs take for none
        if key in overrides and overrides[key].lower() in ("none", "null"):
            overrides[key] = None
    return dataclasses.replace(data, paths=[], val_paths=[], max_frames=None, **overrides)


def add_reading_arguments(parser, *, keys: bool = True) -> None:
    """``--head``, ``--frames-per-batch`` and, with ``keys`` (evaluate: predict reads no labels),
    ``--energy-key``, ``--forces-key`` and ``--stress-key``."""
    parser.add_argument(
        "--head",
        help="the model head (level of theory) to predict with (default: the one fine-tuned last, "
        "i.e. the only one of a model with one head)",
    )
    if keys:
        parser.add_argument(
            "--energy-key",
            help="energy key of the frames (default: the one recorded for --head's level, head_data, "
            "else the run's data.energy_key; none: no energy errors, e.g. a file of forces alone)",
        )
        parser.add_argument(
            "--forces-key",
            help="forces key of the frames; frames without it are scored on their energies (default: "
            "--head's recorded one, else the run's data.forces_key; none: no force errors, e.g. a "
            "file of energies alone)",
        )
        parser.add_argument(
            "--stress-key",
            help="stress key of the frames, read where the cell has a volume, in the stress unit "
            "recorded for --head's level, else the run's data.stress_unit (default: --head's recorded "
            "key, else the run's data.stress_key; none: no stress errors)",
        )
    parser.add_argument(
        "--frames-per-batch",
        type=positive_int,
        default=32,
        help="frames per evaluation batch, at most 16,384 atoms in all but for a batch of one frame (default: 32)",
    )


SCORED_OFFSET = "so the energy errors are not the model's (forces are unaffected)"
PREDICTED_OFFSET = (
    "so their predicted energies are not absolute (differences between frames of one composition, "
    "forces and stress are unaffected)"
)


def unfixed_references_warning(
    model, graphs: list, name: str, head: str | None = None, consequence: str = SCORED_OFFSET
) -> str | None:
    """A warning where frames have compositions the references of ``head`` (default: the active
    one) were not fitted on (:attr:`.potential_config.PotentialConfig.reference_span`): their
    energies carry an offset nobody measured; ``consequence`` says what that means where the
    warning is given (errors scored, or energies predicted) (``None``: all fixed)."""
    head = head or model.head
    span = model.reference_span(head)
    if span is None or not graphs:
        return None
    n_elements = len(model.elements)
    counts = graph_composition(graphs, model.elements)
    outside = outside_span(counts, np.array(span, dtype=float).reshape(-1, n_elements))
    if not outside.any():
        return None
    return (
        f"warning: {name}: {int(outside.sum())} of {len(graphs)} frames have compositions the reference "
        f"energies of head {head} were not fitted on (its training compositions fix "
        f"{len(span)} of {n_elements} element references): their energies carry an offset nobody "
        f"measured, {consequence}; " + ISOLATED_ATOMS_HINT
    )


def periodic_images_warning(model, graphs: list, name: str, head: str | None = None) -> str | None:
    """A warning where frames have periodic images within the cut-off (:func:`.graphs.sees_images`)
    and head ``head`` (default: the active one) was trained on none
    (:attr:`.potential_config.PotentialConfig.periodic_images` ``False``; ``None``, not recorded,
    warns of nothing); of several frames, it counts those with images."""
    head = head or model.head
    if model.periodic_images(head) is not False:
        return None
    seen = sum(sees_images(g) for g in graphs)
    if not seen:
        return None
    counted = f"{seen} of {len(graphs)} frames: " if len(graphs) > 1 else ""
    return (
        f"warning: {name}: {counted}periodic images within the cutoff, but head {head} was trained on "
        "molecules alone (no training frame had one): its energies, forces and stress here are outside "
        "what it learnt"
    )


def trained_file(path: str, recorded: list[tuple[str, list[dict] | None]]) -> tuple[str, str] | None:
    """Which recorded training file ``path`` is, byte for byte: ``(how the model used it, the
    path recorded)`` from the first of ``recorded`` (``(how, [{"path", "sha256"}, ...])``, an
    export's ``finetuned_on`` / ``pretrained_on``) that holds its SHA-256; ``None``: none does."""
    from sciPT.files import file_sha256, resolve_data_path

    digest = file_sha256(resolve_data_path(path))
    for how, entries in recorded:
        for entry in entries or []:
            if entry.get("sha256") == digest:
                return how, entry.get("path")
    return None


def graph_key(graph) -> bytes:
    """:func:`structure_key` of a graph (its frame's elements, positions and cell)."""
    return structure_key(graph.z.numpy(), graph.pos.numpy(), graph.cell.numpy())


# Comparing frames reads the training files again, as training did, building every frame (about
# 4 MB/s and 14x the file's size in memory, measured on extended XYZ): past this many bytes the
# comparison would hold up a run for minutes and gigabytes, so it is skipped, and said. A file's
# frames are read once: their keys are kept in the cache, by its SHA-256 and the reading settings.
FRAME_CHECK_MAX_BYTES = 256 * 1024**2


def key_digest(key: bytes) -> bytes:
    """16 bytes standing for a :func:`structure_key` (what the cache keeps)."""
    return hashlib.blake2b(key, digest_size=16).digest()


@dataclass
class TrainingFrames:
    """:func:`training_frames`' result: how the model used each frame it was trained on (by the
    :func:`key_digest` of its :func:`structure_key`), and the recorded files left unread, each
    with why."""

    how: dict[bytes, str] = field(default_factory=dict)
    unchecked: list[str] = field(default_factory=list)

    def add(self, key: bytes, how: str, *, replace: bool = False) -> None:
        """Record the frame of structure key ``key`` as used ``how``; an earlier use stays unless
        ``replace``."""
        digest = key_digest(key)
        if replace or digest not in self.how:
            self.how[digest] = how

    def copies(self, graphs: list) -> dict[str, int]:
        """How many of ``graphs`` are copies of training frames, by how the model used them."""
        counts: dict[str, int] = {}
        for graph in graphs:
            how = self.how.get(key_digest(graph_key(graph)))
            if how is not None:
                counts[how] = counts.get(how, 0) + 1
        return counts


def frame_digests(path: Path, sha256: str | None, data: MoleculeDataConfig) -> list[bytes]:
    """The :func:`key_digest` of every frame of ``path`` read with ``data`` as structures, from the
    cache where an earlier check kept them (``sha256``: the file's, which names them there)."""
    cached = None
    if sha256:
        settings = json.dumps(dataclasses.asdict(data), sort_keys=True, default=str).encode()
        name = f"{sha256}-{hashlib.sha256(settings).hexdigest()[:16]}.npy"
        try:
            cached = io.cache_dir("frame-keys") / name
            return [bytes(d) for d in np.load(cached, allow_pickle=False)]
        except (UserError, OSError, ValueError):
            pass  # not kept yet (or the cache cannot be read): read the file
    if path.stat().st_size > 16 * 1024**2:
        say(
            f"reading {path} to compare frames with it ({path.stat().st_size / 1e6:,.0f} MB; kept for next time)"
        )
    frames = read_frames(path, data, labelled=False)
    digests = [key_digest(structure_key(f.numbers, f.positions, f.cell)) for f in frames]
    if cached is not None:
        try:
            with io.atomic_path(cached) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.array(digests, dtype="S16"), allow_pickle=False)
        except (UserError, OSError):
            pass  # a cache that cannot be written: read again next time
    return digests


def training_frames(recorded: list[tuple], data: MoleculeDataConfig | None = None) -> TrainingFrames:
    """The frames of the recorded training files (``(how, [{"path", "sha256"}, ...], max_frames)``:
    the files as for :func:`trained_file`, and the first frames of each that training read) that
    are on this machine as they were (same SHA-256), read as structures (``data``: periodicity and
    units; a fourth element, a group's own, where its files were read otherwise) without their
    labels (:func:`frame_digests`). A frame in several groups keeps the first group's ``how``. A file missing, changed, unreadable (a
    streamed folder of shards) or past :data:`FRAME_CHECK_MAX_BYTES` in all is left out and named
    in ``unchecked``."""
    from sciPT.files import file_sha256, resolve_data_path

    default = data or MoleculeDataConfig()
    out, read_bytes = TrainingFrames(), 0
    for how, entries, max_frames, *own in recorded:
        data = dataclasses.replace(own[0] if own else default, paths=[], val_paths=[])
        for entry in entries or []:
            path = resolve_data_path(entry.get("path", ""))
            if not path.is_file():
                out.unchecked.append(f"{entry.get('path')} (not a file on this machine)")
                continue
            read_bytes += path.stat().st_size
            if read_bytes > FRAME_CHECK_MAX_BYTES:
                out.unchecked.append(
                    f"{entry.get('path')} (past the {FRAME_CHECK_MAX_BYTES:,} bytes this check reads)"
                )
                continue
            sha256 = file_sha256(path)
            if entry.get("sha256") and sha256 != entry["sha256"]:
                out.unchecked.append(f"{entry.get('path')} (changed since it was recorded: another SHA-256)")
                continue
            try:
                digests = frame_digests(path, sha256, dataclasses.replace(data, max_frames=max_frames))
            except UserError as err:
                out.unchecked.append(f"{entry.get('path')} (unreadable: {err})")
                continue
            for digest in digests:
                out.how.setdefault(digest, how)
    return out


def copies_line(counts: dict[str, int], total: int) -> str:
    """``"3 of 40 frames are copies of pre-training frames"`` (several uses joined by "and", in
    alphabetical order: fine-tuning before pre-training)."""
    parts = [f"{n} of {total} frames are copies of {how} frames" for how, n in sorted(counts.items())]
    return " and ".join(parts) + " (elements, positions and cell)"


def trained_on_this_file(run, data: str, graphs: list) -> list[str]:
    """Warnings where ``data`` is, byte for byte, a file the run's model was pre-trained or
    fine-tuned on (:func:`trained_file`), or where some of its frames (``graphs``) are copies of
    frames of those files (:func:`training_frames`): their errors are then those of training
    data, not of held-out frames. Training files that could not be compared are named too.

    Pre-training's validation files (``validated_on``; an export written before it was recorded
    lists them in ``pretrained_on``, and is read as it says) were never trained on: ``data`` being
    one of them is a note, not a warning."""
    from sciPT.checkpoint import read_export_config

    config = read_export_config(run.path)
    tuned, pre = config.get("finetuned_on"), config.get("pretrained_on")
    found = trained_file(data, [("fine-tuned", tuned), ("pre-trained", pre)])
    if found is not None:
        how, where = found
        return [
            f"warning: {data} is the very file this model was {how} on ({where}, same SHA-256): these "
            "are errors on training data (and on its validation frames), not on held-out frames"
        ]
    out = []
    validated = trained_file(data, [("validated", config.get("validated_on"))])
    if validated is not None:
        out.append(
            f"note: {data} is this model's pre-training validation file ({validated[1]}, same SHA-256): "
            "held out (never trained on), though pre-training reported its loss on it"
        )
    # the first frames of each file that training read, read as training read them: the run's own
    # files by its config, a fine-tuned model's pre-training files by the settings its export
    # carries (another length unit left every copy unfound, the evaluated file being read as its
    # head's level is, since head_data)
    own_data = run_data_config(run, None)
    own = (run.read_config().get("data") or {}).get("max_frames")
    earlier = (config.get("pretraining_data") or {}).get("max_frames") if tuned else own
    earlier_data = (
        read_as(own_data, config.get("pretraining_data"), "pretraining_data") if tuned else own_data
    )
    seen = training_frames(
        [("fine-tuning", tuned, own, own_data), ("pre-training", pre, earlier, earlier_data)]
    )
    if counts := seen.copies(graphs):
        out.append(
            f"warning: {data}: {copies_line(counts, len(graphs))}: their errors are not held-out errors"
        )
    if seen.unchecked:
        out.append(
            f"warning: {data}: not compared frame by frame with these training files: {'; '.join(seen.unchecked)}"
        )
    return out


def evaluate_run(
    run,
    args,
    model,
    *,
    references: list[float] | None = None,
    notes: list[str] = (),
    head_reading: tuple[dict, str] | None = None,
) -> dict:
    """Score ``model`` (a run's potential) on the frames of ``args.data``; write the evaluation
    into its own folder (``args.out`` or ``RUN/evaluations/<name>``) and return its metrics.

    ``references``: per-element reference energies to use instead of the model's; ``notes``: lines
    for the report (what the model is, which references); ``head_reading``: how to read the frames
    (:func:`reading`) and where that was recorded, instead of the chosen head's record (frames at
    the level of ``references``).
    """
    model.select_head(getattr(args, "head", None), "--head")
    settings, where = head_reading or (None, "")
    data = run_data_config(run, args, model.head, settings, where)
    graphs = labelled_graphs(args.data, data, model.elements, model.cfg.cutoff)
    name, size = Path(args.data).name, getattr(args, "frames_per_batch", None) or 32
    with swapped_references(model, references):
        ev = evaluate_potential(model, graphs, size, desc=f"evaluating {name}")
    metrics = {"frames": len(graphs), "atoms": int(sum(g.num_nodes for g in graphs)), **ev.metrics}
    notes = [*notes, f"Head: {model.head} (the model's heads: {', '.join(model.head_names)})."]
    # an offset the references never fixed comes before the other heads' (conditional) advice:
    # frames at this head's level would follow that advice to the wrong level
    unfixed = unfixed_references_warning(model, graphs, name)
    other = other_head_warning(model, graphs, ev, name, size)
    if unfixed and other:  # one offset, two causes: the second is not the whole story
        other += " (part of the offset may be the unmeasured reference offset above)"
    images = periodic_images_warning(model, graphs, name)
    warnings = [
        *trained_on_this_file(run, args.data, graphs),
        *(line for line in (unfixed, other, images) if line),
    ]
    notes += [line[0].upper() + line[1:] for line in warnings]
    with run.evaluation(args.data, getattr(args, "out", None)) as out:
        figures = parity_plots(
            {name: ev}, out.plot_path("parity_energy.png"), out.plot_path("parity_forces.png"), f"({name})"
        )
        out.write_metrics(metrics)
        out.write_report(
            [
                *notes,
                *([""] if notes else []),
                f"{metrics['frames']} frames, {metrics['atoms']} atoms (frames of one atom "
                "skipped). Energies per atom and per frame, forces over Cartesian components; "
                "meV and meV/Å.",
                *force_lines(metrics),
                "",
                *metric_rows({name: ev.metrics}),
                "",
                *stress_lines(ev.metrics),
                *element_rows({name: ev.metrics}),
                "",
                *[f"![{p.stem}](plots/{p.name})" for p in figures],
            ],
            title=f"Evaluation on {name}",
        )
    for line in warnings:  # once the evaluation is written: a refused --out is the only line then
        print(line, file=sys.stderr)
    print(json.dumps(metrics, indent=1))
    return metrics
