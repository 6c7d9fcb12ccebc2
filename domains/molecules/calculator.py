"""An ASE calculator for exported sciPT potentials.

::

    from ase.io import read
    from sciPT.domains.molecules.calculator import SciPTCalculator

    atoms = read("ethanol.xyz")
    atoms.calc = SciPTCalculator("runs/forcefield")       # a run directory or its model/ folder
    atoms.get_potential_energy(), atoms.get_forces()

Any exported molecules model loads: a pre-training run (``scipt pretrain molecules``) or a
fine-tuned one (``scipt finetune forcefield``). Structures go through the domain's own graph
building (:func:`.graphs.frame_to_graph`), so the checks of training apply here too: non-finite
coordinates, atoms closer than 0.1 Angstrom, an element outside the model's table (naming the
atom) and periodic axes whose cell vectors are zero or dependent raise
:class:`sciPT.errors.DataError`. Only the periodic axes need cell vectors: a slab with
``pbc=[True, True, False]`` may have a zero third one.

Properties, in ASE units (eV, eV/Angstrom, eV/Angstrom^3): ``energy`` (= ``free_energy``: the
potential has no electronic entropy), ``energies`` (per atom, ``atoms.get_potential_energies()``;
they sum to ``energy``), ``forces`` and, for a periodic structure, ``stress`` (Voigt
order ``xx, yy, zz, yz, xz, xy``, ASE's sign convention). A structure without periodic boundaries,
or a slab whose third cell vector is zero, has no volume and no stress: asking for one raises ASE's
``PropertyNotImplementedError``, never returns NaN.

Heads: a model fine-tuned on several levels of theory has one head per level
(:mod:`.model`); ``head="NAME"`` chooses the one to predict with, by default the one fine-tuned last
(the head a fine-tuned export records; else the newest, the only one of a single-head model). An unknown name is a
:class:`sciPT.errors.UserError` naming the heads there are.

Precision: the model runs in its exported dtype unless ``dtype`` is given; molecular dynamics that
must conserve energy tightly is best run in float64 (``dtype="float64"``), which changes only the
arithmetic, not the weights.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from sciPT.checkpoint import from_pretrained
from sciPT.errors import ConfigError

from .data import atoms_to_frame, has_volume
from .evaluate import PREDICTED_OFFSET, periodic_images_warning, unfixed_references_warning
from .graphs import frame_to_graph
from .model import EquivariantPotential
from .references import check_elements

_DTYPES = {"float32": "float32", "float64": "float64", torch.float32: "float32", torch.float64: "float64"}


def torch_device(device: str | torch.device, key: str = "--device") -> torch.device:
    """``device`` as a torch device this machine can run on, or a one-line
    :class:`sciPT.errors.ConfigError` naming ``key`` (a flag, ``--device``, or a setting, ``device``):
    torch refuses a bad name, or CUDA in a CPU build, with a traceback, and only once the model
    moves there."""
    flag = key.startswith("--")
    named, cpu = (f"{key} {device}", f"{key} cpu") if flag else (f"{key} {str(device)!r}", f"{key} 'cpu'")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{named}: not a torch device (expected cpu, cuda, cuda:N, ...)") from None
    if parsed.type == "cuda":
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            raise ConfigError(f"{named}: this torch build has no CUDA (a CPU build); use {cpu}")
        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"{named}: this machine has no CUDA device torch can see; use {cpu}")
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(
                f"{named}: this machine has {count} CUDA device{'s' if count > 1 else ''} "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{named}: MPS is not available on this machine; use {cpu}")
    elif parsed.type == "meta":
        raise ConfigError(f"{named}: meta tensors hold no values, a model cannot run there; use {cpu}")
    elif parsed.type != "cpu":
        try:
            torch.empty(0, device=parsed)
        except Exception as err:  # each backend fails in its own way
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"{named}: not available on this machine ({message})") from None
    return parsed


def load_potential(
    model_dir,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    head: str | None = None,
) -> EquivariantPotential:
    """The exported potential of ``model_dir`` (a run or its ``model/``), in eval mode on
    ``device``, converted to ``dtype`` (``"float32"``, ``"float64"`` or a torch dtype) if given,
    predicting with head ``head`` (default: the one fine-tuned last, module docstring)."""
    device = torch_device(device, "device")  # before the model loads: a typo costs nothing
    potential = from_pretrained(model_dir, domain="molecules").model
    if head is not None:  # before any conversion: a typo is reported at once
        potential.check_head(head)
    if dtype is not None:
        if dtype not in _DTYPES:
            raise ConfigError(f"dtype: expected float32 or float64, got {dtype!r}")
        if _DTYPES[dtype] != potential.cfg.dtype:
            # rebuilt rather than cast: the model creates its constants in its own dtype
            converted = EquivariantPotential(dataclasses.replace(potential.cfg, dtype=_DTYPES[dtype]))
            converted.load_state_dict(potential.state_dict())
            # the config holds the heads, not which one the export was fine-tuned on (the loader
            # sets that): without it the rebuilt model would predict with the newest head
            converted.default_head = potential.default_head
            potential = converted
    return potential.select_head(head).to(device).eval()


class SciPTCalculator(Calculator):
    """ASE calculator of an exported :class:`.model.EquivariantPotential`.

    Args:
        model_dir: a run directory (``RUN``) or its export (``RUN/model``).
        device: torch device the model runs on.
        dtype: ``"float32"`` or ``"float64"`` (or a torch dtype); ``None`` keeps the exported one.
        head: the head (level of theory) to predict with; ``None``: the one fine-tuned last.
        **kwargs: passed to :class:`ase.calculators.calculator.Calculator`.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model_dir,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype | None = None,
        head: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.model_dir = model_dir
        self.device = torch_device(device, "device")
        self.model = load_potential(model_dir, self.device, dtype, head)
        self.head = self.model.head
        self.cutoff = float(self.model.cfg.cutoff)
        self._compositions_seen: set[tuple[int, ...]] = set()
        self._images_warned = False

    def unfixed_references(self, graph, name: str) -> str | None:
        """The warning that ``graph``'s composition lies outside what the head's reference energies
        were fitted on (its energy then carries an offset nobody measured), the first time this
        composition is seen; ``None`` otherwise."""
        composition = tuple(sorted(graph.z.tolist()))
        if composition in self._compositions_seen:
            return None
        self._compositions_seen.add(composition)
        return unfixed_references_warning(self.model, [graph.cpu()], name, consequence=PREDICTED_OFFSET)

    def periodic_images(self, graph, name: str) -> str | None:
        """The warning that ``graph`` has periodic images within the cut-off though the head was
        trained on molecules alone, the first time a structure has them; ``None`` otherwise."""
        if self._images_warned:
            return None
        line = periodic_images_warning(self.model, [graph], name)
        self._images_warned = line is not None
        return line

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        frame = atoms_to_frame(self.atoms, "structure", labelled=False)
        periodic = has_volume(frame.cell, frame.pbc)
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress: the structure has no periodic boundaries, hence no volume and no stress"
                if not frame.pbc.any()
                else "stress: the structure's cell has no volume (a non-periodic axis has a zero "
                "cell vector), hence no stress"
            )
        # here rather than in the model, which sees a batch and could not name the structure's atom
        check_elements([frame], self.model.elements)
        graph = frame_to_graph(frame, self.cutoff)
        unfixed = self.unfixed_references(graph, f"{self.atoms.get_chemical_formula()} structure")
        if unfixed:
            # once per composition: molecular dynamics calls this every step
            warnings.warn(unfixed.removeprefix("warning: "), stacklevel=2)
        images = self.periodic_images(graph, f"{self.atoms.get_chemical_formula()} structure")
        if images:
            # once: a crystal has its images at every step
            warnings.warn(images.removeprefix("warning: "), stacklevel=2)
        graph = graph.to(self.device)
        out = self.model(graph, forces=True, stress=periodic, create_graph=False)
        energy = float(out["energy"][0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["atomic_energies"].double().cpu().numpy(),
            "forces": out["forces"].double().cpu().numpy(),
        }
        if periodic:
            stress = out["stress"][0].double().cpu().numpy()
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
