"""From files to training graphs: splitting, element table, references, statistics, sampling.

:func:`prepare` is what pre-training (and a fine-tuning task) calls: it reads every file of a
:class:`.data.MoleculeDataConfig`, sets isolated atoms aside as references
(:func:`.references.isolated_atom`), fixes the element table, the reference energies and the data
statistics the potential is normalised with (:class:`.potential_config.PotentialConfig`), and builds
the graphs. Everything is validated before
anything is trained or written. Frames without forces among frames with them are fitted on their
energies (:mod:`.data`); one line on standard error counts them.

Statistics (training frames only, after the references are subtracted):
    energy_shift: mean energy per atom, eV/atom.
    energy_scale: root-mean-square force component of the frames with forces, eV/Angstrom
        (NequIP's choice: the network's output unit then matches the typical force); the standard
        deviation of per-atom energies when there are no forces; 1 for unlabelled data.
    avg_num_neighbors: mean number of edges per atom within the cut-off.
    periodic_images: whether any training frame has a periodic image within the cut-off
        (:func:`.graphs.sees_images`): predictions for such structures by a head trained on none
        are warned of.

:class:`FrameDataset` indexes samples by a global number ``g`` (:mod:`sciPT.data`): sample ``g``
is frame ``perm_e[g mod n]`` of the permutation ``perm_e`` seeded by ``(seed, e = g div n)``, so every
epoch sees every frame once, ranks never share a sample, and a resumed run continues exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data
from tqdm.auto import tqdm

from sciPT.errors import ConfigError, DataError
from sciPT.files import file_sha256, resolve_data_path
from sciPT.run import say

from .data import (
    SMILES_SUFFIXES,
    Frame,
    MoleculeDataConfig,
    missing_forces_note,
    read_frames,
    require_forces,
    unit_factors,
)
from .graphs import frame_to_graph, sees_images
from .potential_config import PotentialConfig
from .references import (
    ISOLATED_ATOMS_HINT,
    check_elements,
    composition_matrix,
    composition_span,
    element_table,
    fit_reference_energies,
    isolated_atom,
    isolated_atom_energies,
    outside_span,
    undetermined_note,
)


def load_frames(
    paths: list[str], cfg: MoleculeDataConfig, *, labelled: bool, forces_optional: bool = False
) -> list[Frame]:
    """Every frame of ``paths``; unless ``forces_optional``, refused when none has forces
    (:func:`.data.require_forces`: files of energy-only frames may sit beside files with forces)."""
    frames: list[Frame] = []
    for path in paths:
        frames += read_frames(path, cfg, labelled=labelled, forces_optional=True)
    if not forces_optional:
        require_forces(frames)
    return frames


def structure_key(numbers, positions, cell) -> bytes:
    """What makes two structures the same: elements, positions (to 1e-6 Angstrom) and cell, as
    bytes (labels aside: a copy relabelled is still the same input; ``+ 0.0`` makes -0 and 0 one)."""
    parts = (
        np.asarray(numbers).astype(np.int64),
        np.round(positions, 6) + 0.0,
        np.round(np.asarray(cell).reshape(3, 3), 6) + 0.0,
    )
    return b"".join(a.tobytes() for a in parts)


def frame_key(frame: Frame) -> bytes:
    """:func:`structure_key` of a frame, and its periodicity."""
    return structure_key(frame.numbers, frame.positions, frame.cell) + frame.pbc.astype(bool).tobytes()


@dataclass
class FrameSplit:
    """:func:`split_frames`' result: the two sides, and what its rules moved (for the note)."""

    train: list[Frame]
    val: list[Frame]
    copies: int = 0  # frames that are copies of an earlier one, kept on its side
    kept_for_elements: int = 0  # drawn for validation, kept in training: their element is nowhere else


def split_frames(frames: list[Frame], fraction: float, seed: int) -> FrameSplit:
    """A random ``fraction`` of ``frames`` (at least one when ``fraction > 0``) held out.

    Copies of one structure (:func:`frame_key`) are drawn as one, so none is scored as held out
    while its twin is trained on (a file read twice held every validation frame in training), and
    so are the frames of one molecule where the file names it (:attr:`.data.Frame.molecule`: a
    distilled corpus's conformers and their normal-mode samples, whose validation frames were
    near copies of training frames, so its loss measured no new molecule); a
    group larger than what is left of the fraction is passed over for the next drawn. A
    frame drawn for validation that holds an element no training frame holds stays in training:
    the model would get a reference energy of zero and untrained weights for that element. Without
    copies or such elements the split is the frame-by-frame draw of earlier versions."""
    if fraction <= 0 or len(frames) < 2:
        return FrameSplit(frames, [])
    keys = [frame_key(f) for f in frames]
    group_of: dict[tuple, int] = {}
    groups = np.array(
        [
            group_of.setdefault(("molecule", f.molecule) if f.molecule else ("frame", key), len(group_of))
            for f, key in zip(frames, keys)
        ]
    )
    order = np.random.default_rng(seed).permutation(len(group_of))
    sizes = np.bincount(groups)
    n_val = max(1, int(round(fraction * len(frames))))
    # whole groups, in the drawn order, each that still fits in n_val frames (singletons: the first
    # n_val drawn); a group that would overshoot is passed over, so 40 copies of one frame drawn
    # early cannot triple the validation set
    chosen, held_frames = [], 0
    for g in order:
        if held_frames >= n_val:
            break
        if held_frames + sizes[g] <= n_val:
            chosen.append(g)
            held_frames += int(sizes[g])
    drawn = np.isin(groups, chosen)
    held = drawn.copy()
    trained = {int(z) for f, h in zip(frames, held) if not h for z in np.unique(f.numbers)}
    for i in np.flatnonzero(drawn):  # in file order; one frame (and its copies) per new element
        elements = set(np.unique(frames[i].numbers).tolist())
        if held[i] and not elements <= trained:
            held[groups == groups[i]] = False
            trained |= elements
    return FrameSplit(
        [f for f, h in zip(frames, held) if not h],
        [f for f, h in zip(frames, held) if h],
        copies=len(frames) - len(set(keys)),
        kept_for_elements=int(drawn.sum() - held.sum()),
    )


def to_graphs(frames: list[Frame], cutoff: float, desc: str = "graphs") -> list[Data]:
    return [
        frame_to_graph(f, cutoff) for f in tqdm(frames, desc=desc, leave=False, disable=len(frames) < 500)
    ]


def choose_references(
    method: str, train: list[Frame], elements: list[str], isolated: dict[str, float], named: str | None = None
) -> tuple[dict[str, float], str]:
    """The reference energies of every element and the method that gave them.

    ``named``: the file of isolated atoms the user gave (``data.isolated_atoms``). ``auto`` falls
    back to least squares where the data's own isolated atoms miss an element, but not where such a
    file was named: it is used or refused (it was read and silently replaced by fitted references,
    the note then advising the flag just given)."""
    missing = [s for s in elements if s not in isolated]
    if method == "auto":
        if isolated and not missing:
            method = "isolated"
        elif named:
            method = "isolated"  # refused below, naming the file
        else:
            method = "lstsq" if any(f.energy is not None for f in train) else "none"
    if method == "isolated":
        if missing:
            raise DataError(missing_isolated_message(missing, train, elements, isolated, named))
        return {s: isolated[s] for s in elements}, "isolated"
    if method == "lstsq":
        return fit_reference_energies(train, elements), "lstsq"
    return {s: 0.0 for s in elements}, "none"


def missing_isolated_message(
    missing: list[str], train: list[Frame], elements: list[str], isolated: dict[str, float], named: str | None
) -> str:
    """The refusal of isolated-atom references that miss ``missing``. With a named file: which of
    them the data holds and which only the model's element table (``--model.elements``, or a
    pre-trained model's), and what fixes each; least squares is offered only where the training
    compositions fix every reference (otherwise its note sends the user back to the file)."""
    have = f"(have: {', '.join(isolated) or 'none'})"
    if not named:
        plural = "s" if len(missing) > 1 else ""
        return f"data.isolated_atoms: no isolated-atom energy for element{plural} {', '.join(missing)} {have}"
    present = {s for f in train for s in f.symbols}
    of_data = [s for s in missing if s in present]
    of_table = [s for s in missing if s not in present]
    parts, fixes = [], []
    if of_data:
        parts.append(f"element{'s' if len(of_data) > 1 else ''} {', '.join(of_data)} of the data")
        fixes.append(f"add {', '.join(of_data)} to the file (isolated atoms at the data's level of theory)")
    if of_table:
        them = "them" if len(of_table) > 1 else "it"
        parts.append(
            f"element{'s' if len(of_table) > 1 else ''} {', '.join(of_table)}, in no training frame, only in "
            "the model's element table"
        )
        fixes.append(
            f"add {', '.join(of_table)} to {'it too' if of_data else 'the file'}, or, pre-training, "
            f"drop {them} from --model.elements (a fine-tune keeps its start's table: the file must "
            f"hold {them})"
        )
    message = (
        f"data.isolated_atoms: no isolated-atom energy in {named} or the data for "
        f"{' and '.join(parts)} {have}: {'; '.join(fixes)}"
    )
    labelled = [f for f in train if f.energy is not None]
    if not of_table and labelled:
        rows = composition_span(composition_matrix(labelled, elements))
        if len(rows) == len(elements):
            message += (
                "; or, without the file, fit the references on the training energies, whose "
                "compositions fix them all (--data.references lstsq)"
            )
    return message


def statistics(train: list[Frame], graphs: list[Data], refs: dict[str, float]) -> dict[str, float]:
    """``energy_shift``, ``energy_scale`` and ``avg_num_neighbors`` (module docstring)."""
    atoms = sum(len(f.numbers) for f in train)
    edges = sum(g.edge_index.shape[1] for g in graphs)
    stats = {"avg_num_neighbors": max(edges / max(atoms, 1), 1.0), "energy_shift": 0.0, "energy_scale": 1.0}
    labelled = [f for f in train if f.energy is not None]
    if labelled:
        per_atom = np.array([(f.energy - sum(refs[s] for s in f.symbols)) / len(f.numbers) for f in labelled])
        stats["energy_shift"] = float(per_atom.mean())
        if len(per_atom) > 1 and per_atom.std() > 0:
            stats["energy_scale"] = float(per_atom.std())
    forces = [f.forces for f in train if f.forces is not None]
    if forces:
        rms = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
        if rms > 0:
            stats["energy_scale"] = rms
    return stats


def provenance(paths: list[str], frames: list[Frame]) -> list[dict]:
    """``[{path, sha256, bytes, records (frames), residues (atoms)}]`` of the data files (the
    generic pre-training report names its columns records and residues)."""
    out = []
    for path in paths:
        resolved = resolve_data_path(path)
        mine = [f for f in frames if f.source.startswith(f"{path}:")]
        out.append(
            {
                # absolute, as the sequence corpora record theirs: replay and contamination checks
                # read it from wherever they run (as given, it named the file of another folder)
                "path": str(resolved.resolve()),
                "sha256": file_sha256(resolved),
                "bytes": resolved.stat().st_size,
                "records": len(mine),
                "residues": int(sum(len(f.numbers) for f in mine)),
            }
        )
    return out


@dataclass
class PreparedData:
    """Graphs ready to train on, and the model config completed from the data."""

    train: list[Data]
    val: list[Data]
    model: PotentialConfig
    references_method: str
    # the files the weights are trained on (an export's ``pretrained_on``), by provenance
    corpus: list[dict] = field(default_factory=list)
    # validation frames of a composition outside the references' span (None: every one fixed)
    val_unfixed: int | None = None
    notes: list[str] = field(default_factory=list)
    # the validation files (``data.val_paths``; an export's ``validated_on``): never trained on, so
    # kept out of ``corpus``, whose files the contamination checks and replay read as training data
    validated_on: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        unfixed = {} if self.val_unfixed is None else {"frames_val_outside_reference_span": self.val_unfixed}
        notes = {"data_summary": list(self.notes)} if self.notes else {}
        return {
            **unfixed,
            **notes,
            "frames_train": len(self.train),
            "frames_val": len(self.val),
            "atoms_train": int(sum(g.num_nodes for g in self.train)),
            "elements": len(self.model.elements),
            "avg_num_neighbors": round(float(self.model.avg_num_neighbors), 3),
            "energy_scale_eV_per_A": round(self.model.energy_scale, 5),
            "energy_shift_eV_per_atom": round(self.model.energy_shift, 5),
        }


def prepare(
    cfg: MoleculeDataConfig, model: PotentialConfig, *, labelled: bool, seed: int = 0
) -> PreparedData:
    """Read, validate and graph the data; fill the data-derived fields of ``model`` that are
    still at their defaults (elements, reference energies, shift, scale, neighbours).

    A fine-tuning task passes the pre-trained model's config: its element table is then enforced
    (an unknown element is an error) and its references kept; to take the new data's references
    instead (another level of theory), pass ``reference_energies=[]`` and apply the result with
    :meth:`.model.EquivariantPotential.set_reference_energies`.
    """
    if not cfg.paths:
        raise ConfigError("data.paths: no structure file given (pass --data FRAMES.xyz)")
    if not 0 <= cfg.val_fraction < 1:
        raise ConfigError(f"data.val_fraction: expected a fraction in [0, 1), got {cfg.val_fraction}")
    if cfg.max_frames is not None and cfg.max_frames < 1:
        raise ConfigError(f"data.max_frames: expected a positive integer, got {cfg.max_frames}")
    if cfg.num_conformers < 1:
        raise ConfigError(f"data.num_conformers: expected a positive integer, got {cfg.num_conformers}")
    unit_factors(cfg)
    for unit, key in (("force_unit", "forces_key"), ("stress_unit", "stress_key")):
        # a unit for labels no key reads was accepted and ignored: refused, not ignored
        if getattr(cfg, unit) is not None and getattr(cfg, key) is None:
            raise ConfigError(
                f"data.{unit}: {getattr(cfg, unit)!r} given, but data.{key} is none, so nothing is read "
                f"in it; name the frames' key (--data.{key.replace('_', '-')}) or leave the unit out"
            )
    if labelled:
        smiles = [p for p in cfg.paths if Path(p).suffix.lower() in SMILES_SUFFIXES]
        if smiles:
            # structures without energies or forces: a labelled fit had nothing to fit, trained on
            # nothing and exported references of zero
            raise DataError(
                f"{smiles[0]}: SMILES carry no energies or forces to fit; expected labelled frames "
                "(extended XYZ), or --objective.kind denoise, or a --teacher to label them"
            )
    if labelled and cfg.energy_key is None and cfg.forces_key is None:
        raise ConfigError(
            "data.energy_key, data.forces_key: both null, so there is nothing to fit "
            "(for unlabelled structures use objective.kind denoise)"
        )
    frames = load_frames(cfg.paths, cfg, labelled=labelled)
    isolated = isolated_atom_energies([f for f in frames if f.energy is not None], model.cutoff)
    frames = [f for f in frames if not isolated_atom(f, model.cutoff)]
    isolated = {**isolated, **isolated_atoms_file(cfg, model.cutoff)}
    if cfg.val_paths:
        # the training files proved the forces key: validation frames may all be energy-only
        train, val = frames, load_frames(cfg.val_paths, cfg, labelled=labelled, forces_optional=True)
        # scored as the random split and `scipt evaluate` score them: isolated atoms left out
        val = [f for f in val if not isolated_atom(f, model.cutoff)]
    else:
        split = split_frames(frames, cfg.val_fraction, seed)
        train, val = split.train, split.val
        notes = (
            (split.copies, "are copies of another frame (elements, positions and cell): drawn with them"),
            (
                split.kept_for_elements,
                "drawn for validation stay in training: their element is in no training frame",
            ),
        )
        named = cfg.paths[0] + (" ..." if len(cfg.paths) > 1 else "")
        for count, words in notes:
            if count:
                say(f"note: {named}: {count} of {len(frames)} frames {words}")
    if not train:
        raise DataError(f"{cfg.paths[0]}: no frame to train on besides isolated atoms")
    note = missing_forces_note(train + val, cfg)
    if note:
        say(note)

    # the training frames alone make the table: an element only a validation frame holds would
    # get a reference energy of 0 (least squares' minimum norm) and weights never trained for it
    if not model.elements:
        check_elements(
            val,
            element_table(train),
            f"occurs in no training frame ({', '.join(element_table(train))}): the model would "
            "never be trained on it (move such frames into the training data)",
        )
    elements = list(model.elements) or element_table(train)
    check_elements(train + val, elements)
    train_graphs = to_graphs(train, model.cutoff, "training graphs")
    val_graphs = to_graphs(val, model.cutoff, "validation graphs")
    filled, method = fill_model(model, cfg, elements, train, train_graphs, isolated)
    # a file's frame count includes those the random split held out of it for validation
    corpus = provenance(list(cfg.paths), train + val)
    prepared = PreparedData(
        train_graphs, val_graphs, filled, method, corpus, validated_on=provenance(list(cfg.val_paths), val)
    )
    # references given (a fine-tune's, refitted after this) are checked by whoever fits them
    if filled.reference_span is not None and method != "given":
        scored = [f for f in val if f.energy is not None]
        span = np.array(filled.reference_span, dtype=float).reshape(-1, len(elements))
        prepared.val_unfixed = int(outside_span(composition_matrix(scored, elements), span).sum())
        if prepared.val_unfixed:
            # the validation loss then measures mostly that offset, whatever the model learnt
            prepared.notes.append(
                f"warning: {prepared.val_unfixed} of {len(scored)} validation frames have compositions "
                "the reference energies were not fitted on (the training frames fix "
                f"{len(span)} of {len(elements)} element references): their energies carry an offset "
                "nobody measured, which the validation energy loss includes; " + ISOLATED_ATOMS_HINT
            )
    for line in prepared.notes:
        say(line)
    return prepared


def isolated_atoms_file(cfg: MoleculeDataConfig, cutoff: float) -> dict[str, float]:
    """The energies of ``cfg.isolated_atoms`` (every frame an isolated atom; read with the data's
    energy key and units, no forces or stress), ``{}`` without one; they override the data's own."""
    if not cfg.isolated_atoms:
        return {}
    iso_cfg = dataclasses.replace(cfg, forces_key=None, stress_key=None, max_frames=None)
    return isolated_atom_energies(read_frames(cfg.isolated_atoms, iso_cfg), cutoff, only=True)


def fill_model(
    model, cfg, elements: list[str], frames: list, graphs: list, isolated: dict, sample: str | None = None
):
    """``model`` with what the data decides: the element table, the reference energies (given, or
    chosen by ``cfg.references`` on ``frames``), and the energy shift, scale and neighbour count
    measured on ``frames`` wherever the config leaves the default, and whether one of ``graphs``
    has periodic images within the cut-off. Returns it and how the references were chosen.

    ``sample``: ``frames`` are a sample of the training data (a streamed corpus's first frames),
    named so in the note on the compositions they fix; the data's other compositions are unknown,
    so no ``reference_span`` is recorded (it would call frames trained on unfixed).
    ``periodic_images`` is then the sample's alone: images met only in the rest of the corpus go
    unrecorded, and predictions on such structures are warned of needlessly."""
    if model.reference_energies:
        refs, method = dict(zip(elements, model.reference_energies)), "given"
    else:
        refs, method = choose_references(cfg.references, frames, elements, isolated, cfg.isolated_atoms)
    span = model.reference_span if method == "given" else None
    if method == "lstsq":
        rows = composition_span(composition_matrix([f for f in frames if f.energy is not None], elements))
        span = rows.tolist() if len(rows) < len(elements) and sample is None else None
        hint = "isolated atoms at this level of theory (--data.isolated-atoms FILE) fix them all"
        if sample is None:
            note = undetermined_note(rows, elements, "the training frames", hint)
        else:
            # fitted on the sample alone, trained on every shard: a frame of another composition is
            # trained on an energy offset by the references (its loss, not only its evaluation)
            note = undetermined_note(
                rows,
                elements,
                sample,
                f"{hint} (or a --data.stats-frames large enough to reach them)",
                "the corpus's frames of other compositions, if any, are trained on energies offset "
                "by an amount nobody measured",
            )
        if note:
            say(note)
    stats = statistics(frames, graphs, refs)
    defaults = PotentialConfig()
    filled = dataclasses.replace(
        model,
        elements=elements,
        reference_energies=[refs[s] for s in elements],
        reference_span=span,
        periodic_images=any(sees_images(g) for g in graphs),
        energy_shift=stats["energy_shift"]
        if model.energy_shift == defaults.energy_shift
        else model.energy_shift,
        energy_scale=stats["energy_scale"]
        if model.energy_scale == defaults.energy_scale
        else model.energy_scale,
        avg_num_neighbors=model.avg_num_neighbors or stats["avg_num_neighbors"],
    )
    return filled, method


class FrameDataset(Dataset):
    """Graphs indexed by a global sample number (module docstring); ``shuffle=False`` cycles in
    order (validation)."""

    def __init__(self, graphs: list[Data], seed: int = 0, shuffle: bool = True):
        self.graphs, self.seed, self.shuffle = graphs, seed, shuffle
        self._epoch, self._perm = -1, np.arange(len(graphs))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, g: int) -> Data:
        n = len(self.graphs)
        epoch, i = divmod(int(g), n)
        if self.shuffle and epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(n)
            self._epoch = epoch
        return self.graphs[int(self._perm[i])]


def collate(items: list[Data]) -> Batch:
    return Batch.from_data_list(items)


# An evaluation batch holds at most this many atoms, whatever its frame count: a batch costs about
# 78 KB an atom (measured: tiny preset, 3,000-atom water boxes, forces and stress), so 32 frames of
# 10,000 atoms would take 25 GB; a frame larger than this is a batch of its own.
ATOMS_PER_BATCH = 16_384


def batch_ranges(
    graphs: list[Data], batch_size: int, max_atoms: int = ATOMS_PER_BATCH
) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive batches of ``graphs``: at most ``batch_size`` frames and,
    but for a batch of one frame, at most ``max_atoms`` atoms."""
    ranges, start, atoms = [], 0, 0
    for i, graph in enumerate(graphs):
        if i > start and (i - start >= batch_size or atoms + graph.num_nodes > max_atoms):
            ranges.append((start, i))
            start, atoms = i, 0
        atoms += graph.num_nodes
    if start < len(graphs):
        ranges.append((start, len(graphs)))
    return ranges


def batches(graphs: list[Data], batch_size: int):
    """Consecutive batches of ``graphs`` (evaluation), as :func:`batch_ranges` cuts them."""
    for start, stop in batch_ranges(graphs, batch_size):
        yield collate(graphs[start:stop])


def shows_progress(graphs: list[Data]) -> bool:
    """Whether an evaluation of ``graphs`` is long enough for a progress bar: 200 frames, or as
    many atoms as a few full batches (100 frames of 10,000 atoms ran two minutes without one)."""
    return len(graphs) >= 200 or sum(g.num_nodes for g in graphs) >= 4 * ATOMS_PER_BATCH
