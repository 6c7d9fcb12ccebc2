"""The fits a promoter run has completed, kept so that ``--resume`` continues it (:class:`FitStore`).

A promoter run fits many small models: every model on every fold, and every start at every
fraction of the labels and seed. Each is minutes on a CPU, and a run on a large set is hours; a job
stopped by its time limit would otherwise start again from the first fold. As each fit completes,
its held-out predictions and metrics are written to ``RUN/fits/<fit>.json`` (a temporary file, then
a rename, so a fit is there whole or not at all); a run continued with ``--resume`` reads them back
and fits only what is missing. Every fit is seeded by its fold or seed alone, so the continued run
writes what a run never stopped would have written (``tests/tasks/test_promoter_fits.py``).

Kept fits hold only for the settings, data and start they were made with. ``fits/fingerprint.json``
records all three, and a continued run that differs in any of them is refused, naming what
changed, except in the settings no fit reads (:data:`FIT_FREE_KEYS`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sciPT import io
from sciPT.config import flatten
from sciPT.errors import ConfigError

if TYPE_CHECKING:
    from sciPT.domains.dna.data import LabelledSequences

    from .promoter_config import PromoterConfig
    from .promoter_start import Start

FITS = "fits"
"""The run directory's folder of kept fits."""

FIT_FREE_KEYS = (
    "init",  # the start's weights are compared instead: a moved run or model still continues
    "inputs",  # the data are compared instead; the final model's --val and --test are read after
    "export",
    "baselines",  # each model's fits are kept apart: turning baselines on fits only theirs
    "label_fractions",  # each fraction's fits are kept apart
    "fraction_seeds",
)
"""Settings a continued run may change: those no kept fit depends on (the final model and the
report read them after the fits), and the paths, whose contents are compared instead."""


class FitStore:
    """The completed fits of one run, in its folder :data:`FITS`.

    Args:
        run_path: the run directory.
        fingerprint: what the fits depend on (:func:`fingerprint`).
        resume: continue from the fits kept there: refused where they were made with another
            fingerprint. Otherwise the run is new, and the fingerprint is written.
    """

    FINGERPRINT = "fingerprint.json"

    def __init__(self, run_path: str | Path, fingerprint: dict[str, Any], resume: bool = False):
        self.folder = Path(run_path) / FITS
        kept = self.folder / self.FINGERPRINT
        if resume and kept.is_file():
            refuse_changes(io.read_json(kept), fingerprint, kept)
        else:
            io.write_json(kept, fingerprint)
        self.found = completed_fits(run_path)
        """How many completed fits were there when the run began (0 unless continued)."""

    def path(self, key: str) -> Path:
        return self.folder / f"{slug(key)}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of fit ``key``, or ``None`` if it has not completed."""
        path = self.path(key)
        return io.read_json(path) if path.is_file() else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        io.write_json(self.path(key), record)


def completed_fits(run_path: str | Path) -> int:
    """How many fits the run in ``run_path`` has kept."""
    folder = Path(run_path) / FITS
    return sum(p.name != FitStore.FINGERPRINT for p in folder.glob("*.json"))


def kept_fits(run_path: Path) -> str:
    """What a promoter run stopped mid-way (Ctrl-C, SIGTERM) keeps, and how to go on: its completed
    fits, not checkpoints (the command line's line after a stop)."""
    n = completed_fits(run_path)
    kept = f"the run keeps its {n} completed fit(s)" if n else "no fit was completed yet"
    return f"{kept}: the same command with --resume continues it"


def slug(key: str) -> str:
    """A file name for a fit's key: ``fold 1, k-mer LR`` -> ``fold-1-k-mer-lr``."""
    return re.sub(r"[^a-z0-9.]+", "-", key.lower()).strip("-")


def fingerprint(cfg: PromoterConfig, data: LabelledSequences, start: Start, length: int) -> dict[str, Any]:
    """What a run's fits depend on: its settings (less :data:`FIT_FREE_KEYS`), the length the
    sequences are cropped or padded to, digests of the training data and the start's weights, and
    of the groups the folds keep together (the contamination check's k and threshold decide which
    near copies are grouped), and whether any group joins near copies. ``early_stops_grouped``
    marks fits whose early-stopping and inner splits keep near copies together too (the folds alone
    did before)."""
    from .promoter_evaluation import held_out_groups

    groups = held_out_groups(cfg, data)
    return {
        "settings": fit_settings(cfg),
        "length": length,
        "data": data_digest(data),
        "start": start_digest(start),
        "held_out": hashlib.sha256(np.asarray(groups.group, dtype=np.int64).tobytes()).hexdigest(),
        "near_grouped": bool(groups.near.any()),
        "early_stops_grouped": True,
    }


def fit_settings(cfg: PromoterConfig) -> dict[str, Any]:
    """The settings a run's fits read (all but :data:`FIT_FREE_KEYS`), flat, passed through JSON as
    they are read back (a tuple must compare equal to the list it becomes)."""
    settings = {
        key: value for key, (value, _) in flatten(cfg, "").items() if key.split(".")[0] not in FIT_FREE_KEYS
    }
    return json.loads(json.dumps(settings, default=str))


def data_digest(data: LabelledSequences) -> str:
    digest = hashlib.sha256()
    for codes, label in zip(data.codes, data.labels):
        digest.update(np.asarray(codes, dtype=np.int64).tobytes())
        digest.update(f"|{int(label)};".encode())
    return digest.hexdigest()


def start_digest(start: Start) -> str:
    """A digest of the start's architecture, tokenizer and weights; the same for every scratch
    start of one architecture (scratch builds its weights from each fit's seed)."""
    from sciPT.module import state_digest

    architecture = hashlib.sha256(repr((start.model_cfg, start.tokenizer.to_dict())).encode())
    return state_digest(start.backbone_state or {}, architecture)


def refuse_changes(kept: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    """Stop a continued run whose fits would not be comparable with those kept. A setting the kept
    fingerprint lacks is one added to the task since: those fits were made with its default."""
    from .promoter_config import PromoterConfig

    then = {**fit_settings(PromoterConfig()), **kept["settings"]}
    changed = sorted(k for k in set(then) | set(now["settings"]) if then.get(k) != now["settings"].get(k))
    parts = [f"other settings ({', '.join(changed)})"] if changed else []
    if kept["length"] != now["length"]:
        parts.append(f"another sequence length ({kept['length']} then, {now['length']} now)")
    if kept["data"] != now["data"]:
        parts.append("other training sequences or labels")
    if kept["start"] != now["start"]:
        parts.append("another start's weights")
    if "held_out" in kept:
        if kept["held_out"] != now["held_out"]:
            parts.append("other groups of near copies kept together (another contamination_k or _threshold)")
    elif now["near_grouped"]:
        # fits kept before near copies were grouped: their folds kept only exact copies together
        parts.append("folds that did not keep near copies together (an earlier version)")
    if "held_out" in kept and "early_stops_grouped" not in kept and now["near_grouped"]:
        # fits kept while only the folds grouped near copies
        parts.append("early-stopping splits that did not keep near copies together (an earlier version)")
    if parts:
        raise ConfigError(
            f"--resume: {where.parent} holds fits made with {'; '.join(parts)}; "
            "continue with what they were made with, or start a new run (another --out)"
        )
