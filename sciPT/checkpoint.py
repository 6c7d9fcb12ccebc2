"""Export and safe loading of models.

Two artifacts per model:

- a resumable Lightning checkpoint (``RUN/checkpoints/last.ckpt``), read only with
  ``torch.load(..., weights_only=True)``;
- an export, ``model/config.json`` (domain name and everything needed to rebuild the network)
  plus ``model/model.safetensors`` (the weights), loaded by :func:`from_pretrained`.

Nothing is ever unpickled: configs are JSON, weights are safetensors.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import pickle
import re
import shutil
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import io
from .errors import ConfigError, UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def export_model(
    directory: str | Path,
    module: nn.Module,
    config: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` for ``module`` into ``directory``.

    Args:
        directory: the export folder (created if needed).
        module: the network; its ``state_dict`` is saved (tied tensors are cloned apart).
        config: JSON-safe; must contain ``"domain"`` so :func:`from_pretrained` can rebuild it.
        extra_tensors: more tensors stored beside the weights under their own names, such as an
            EWC Fisher diagonal (``"fisher.<param>"``).
    """
    if "domain" not in config:
        raise ValueError("export config must name its 'domain'")
    directory = Path(directory)
    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in module.state_dict().items()}
    for name, value in (extra_tensors or {}).items():
        tensors[name] = value.detach().to("cpu").contiguous()
    # the two files replace an earlier export together (sciPT.io.staged_folder): a re-export killed
    # half-way must not leave new weights under the old config; anything else in the folder stays
    with io.staged_folder(directory) as staging:
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.name in (WEIGHTS_NAME, CONFIG_NAME):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, staging / entry.name, symlinks=True)
                else:  # a link is kept as a link, whether it points anywhere or not
                    shutil.copy2(entry, staging / entry.name, follow_symlinks=False)
        # one metadata entry: safetensors keeps them in a hash map, written in a random order, and
        # the same weights must give the same bytes (the sciPT format is in config.json)
        save_file(tensors, str(staging / WEIGHTS_NAME), metadata={"format": "pt"})
        # safetensors creates the file owner-only; an export is shared as any file the user writes
        (staging / WEIGHTS_NAME).chmod(0o666 & ~io._umask())
        io.write_json(staging / CONFIG_NAME, {"sciPT_format": FORMAT_VERSION, **config})
    return directory


def resolve_model_dir(path: str | Path) -> Path:
    """The export folder of ``path``: ``path`` itself or ``path/model`` (a run), whichever holds
    the config and the weights; one line where neither does."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / CONFIG_NAME).is_file() and (candidate / WEIGHTS_NAME).is_file():
            return candidate
    raise UserError(
        f"{path}: not an exported model (expected {CONFIG_NAME} and {WEIGHTS_NAME} in it or in "
        f"{path / 'model'})"
    )


@dataclass
class Pretrained:
    """A loaded export: the rebuilt network, its config and any extra tensors stored with it."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    extras: dict[str, torch.Tensor]

    @property
    def domain(self) -> str:
        return self.config["domain"]


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; one line where it cannot be read (copied in part, a disk
    fault), naming it, as for a damaged ``config.json``."""
    from safetensors import SafetensorError

    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise UserError(f"{path}: not a readable safetensors file ({error})") from None


def read_export_config(path: str | Path) -> dict[str, Any]:
    model_dir = resolve_model_dir(path)
    return io.read_json(model_dir / CONFIG_NAME)


def from_pretrained(path: str | Path, *, domain: str | None = None) -> Pretrained:
    """Rebuild an exported model from a run directory or a model directory.

    Args:
        path: ``RUN`` or ``RUN/model``.
        domain: when given, a model of another domain is refused with a clear error.
    """
    from .registry import domains

    model_dir = resolve_model_dir(path)
    config = io.read_json(model_dir / CONFIG_NAME)
    if not isinstance(config, dict) or "domain" not in config:
        # a Hugging Face folder holds config.json and model.safetensors too
        hf = isinstance(config, dict) and "model_type" in config
        raise UserError(
            f"{model_dir / CONFIG_NAME}: names no sciPT domain, so {model_dir} is not a sciPT export"
            + (f" (a Hugging Face model folder: give it as hf:{path})" if hf else "")
        )
    if domain is not None and config.get("domain") != domain:
        raise UserError(f"{model_dir}: model of domain '{config.get('domain')}', expected a '{domain}' model")
    plugin = domains.get(config["domain"])
    model = plugin.load_backbone(config)
    tensors = read_weights(model_dir / WEIGHTS_NAME)
    own = set(model.state_dict())
    weights = {k: v for k, v in tensors.items() if k in own}
    extras = {k: v for k, v in tensors.items() if k not in own}
    missing = own - set(weights)
    if missing and config.get("task"):
        # a task's model that is more than the domain's backbone (a promoter classifier: its
        # backbone under a prefix, a head, stacks); a fine-tuned potential is a backbone and loads
        raise UserError(
            f"{model_dir}: the export of a fine-tuned '{config['task']}' model, not a pre-trained "
            f"{config.get('domain')} backbone: use it through 'scipt evaluate' or 'predict', or "
            "load it with the task's own loader"
        )
    if missing:
        raise UserError(f"{model_dir / WEIGHTS_NAME}: missing weights {sorted(missing)[:3]}")
    model.load_state_dict(weights, strict=True)
    model.eval()
    return Pretrained(path=model_dir, config=config, model=model, extras=extras)


def export_digest(path: str | Path) -> dict[str, str]:
    """The SHA-256 of an export's ``config.json`` and ``model.safetensors`` (``path``: ``RUN`` or
    ``RUN/model``), by file name: what a run started from the export records, so that its resume can
    tell whether the export was rewritten meanwhile (:func:`check_start_unchanged`)."""
    model_dir = resolve_model_dir(path)
    digests = {}
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        digest = hashlib.sha256()
        with open(model_dir / name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        digests[name] = digest.hexdigest()
    return digests


START_KEY = "sciPT_start_digest"
"""Where a checkpoint keeps the :func:`export_digest` of the model its run started from."""


def check_start_unchanged(
    checkpoint: dict[str, Any], path: str | Path, init: str | Path, digest: dict[str, str]
) -> None:
    """Refuse to resume from ``checkpoint`` (read from ``path``) when the model the run started from,
    ``init``, is not the one it recorded there (``digest``: :func:`export_digest` of it now): the
    resumed run would anchor to other weights, and measure "before" on another model, without a
    word. A checkpoint saved before starts were recorded is not checked."""
    recorded = checkpoint.get(START_KEY)
    if not recorded:
        return
    changed = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if recorded.get(name) != digest.get(name)]
    if changed:
        raise ConfigError(
            f"--init {init}: the model changed since this run began ({' and '.join(changed)} "
            f"differ from the one recorded in {path}): restore the model the run started from, or "
            "start a new run in another --out"
        )


class UnreadableCheckpoint(UserError):
    """A checkpoint file that ``torch.load`` cannot read."""


def check_resumable(
    checkpoint: dict[str, Any],
    path: str | Path,
    backbone: nn.Module,
    config: str | Path,
    objective: nn.Module | None = None,
) -> None:
    """Refuse to resume from ``checkpoint`` (read from ``path``) when its backbone weights (``backbone.*``
    in its ``state_dict``), and its objective's (``objective.*``, a masked-LM head; where
    ``objective`` is given), are not the names and shapes of those the run's settings built:
    Lightning would fail to load them only after the run directory's config and logs were
    rewritten, and every later ``--resume`` would fail the same way. ``config``: the run's settings
    file, named in the message."""
    # backbone weights by their own names (as the message has always named them), the objective's
    # by "objective.<name>"
    modules = {"backbone": backbone, **({"objective": objective} if objective is not None else {})}

    def shown(prefix: str, name: str) -> str:
        return name if prefix == "backbone" else f"{prefix}.{name}"

    saved = {
        shown(*k.split(".", 1)): tuple(v.shape)
        for k, v in checkpoint.get("state_dict", {}).items()
        if k.split(".", 1)[0] in modules
    }
    built = {
        shown(prefix, k): tuple(v.shape) for prefix, m in modules.items() for k, v in m.state_dict().items()
    }
    if saved == built:
        return
    only_saved, only_built = sorted(saved.keys() - built.keys()), sorted(built.keys() - saved.keys())
    reshaped = sorted(k for k in saved.keys() & built.keys() if saved[k] != built[k])
    parts = [
        f"{len(names)} {what} (first: {names[0]})"
        for names, what in (
            (only_saved, "only in the checkpoint"),
            (only_built, "only in the model these settings build"),
            (reshaped, "of another shape"),
        )
        if names
    ]
    raise ConfigError(
        f"--resume: {path} holds other weights than these settings build ({'; '.join(parts)}): resume "
        f"with the settings the run was started with ({config}), or start a new run in another --out"
    )


def _resolvable(name: str) -> bool:
    """Whether ``module.attribute``, a global a checkpoint names, could be an object here: not
    when a part is empty, when its module is imported and holds no such attribute, or when no
    installed package has its first part (a name cut short: ``torch._utils._rebuild_tenso``,
    ``to``). Nothing is imported to find out (the name comes from the file)."""
    parts = name.split(".")
    if not all(parts):
        return False
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None:
            obj = module
            for attr in parts[i:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    try:
        return importlib.util.find_spec(parts[0]) is not None
    except (ImportError, ValueError):  # not a module name at all
        return False


def load_lightning_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """Read a Lightning checkpoint without unpickling arbitrary objects (``mmap``: its tensors are
    mapped, not read, for a look at its counters). A file cut short or damaged (a job killed while
    saving, a full disk) is a :class:`UserError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError:
            if not mmap:
                raise
            # mapping refuses anything but a whole zip file and says only that: read it to learn why
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found and not _resolvable(found.group(1)) and not zipfile.is_zipfile(path):
            # a file in torch's old format (not a zip) cut inside a global's name
            # ("torch._utils._rebuild_tenso"); in a whole zip file it is an object of a package not here
            raise UnreadableCheckpoint(
                f"{path}: not a readable checkpoint, cut short or damaged (a job killed while saving it, "
                f"or a full disk?): it names {found.group(1)}, which does not exist"
            ) from None
        raise UnreadableCheckpoint(
            f"{path}: holds a Python object ({found.group(1)}) besides tensors and plain data, which is "
            "never unpickled here"
            if found
            else f"{path}: not a checkpoint (no torch file)"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, IndexError, struct.error) as error:
        # what a file cut short raises (a seek past its end is EINVAL); a file that cannot be read
        # at all (permissions, an I/O error, memory) is not called damaged: it may be whole
        if isinstance(error, OSError) and error.errno != errno.EINVAL:
            raise
        reason = str(error).split(". ")[0].splitlines()[0] if str(error) else type(error).__name__
        raise UnreadableCheckpoint(
            f"{path}: not a readable checkpoint, cut short or damaged (a job killed while saving it, or "
            f"a full disk?): {reason}"
        ) from None
